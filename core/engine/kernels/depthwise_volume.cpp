#include "core/engine/kernels/depthwise_volume.h"

#include <algorithm>

#include "core/engine/block_cache.h"
#include "core/engine/kernels/fast_math.h"

namespace aifgen::engine {
namespace {

using dnnl::memory;

memory::dims image_dims(const Shape& s) { return {1, s[1], s[2], s[3], s[4]}; }

// One output row (fixed depth and height) of a channels-last image: for each output column the
// taps inside the input, each a vector multiply-add across the c channels.
AIFGEN_MULTIVERSION void depthwise_row(const float* x, float* y, const float* taps, const float* bias, std::int64_t c,
                                       const std::int64_t* in, const VolumeWindow& w, std::int64_t od, std::int64_t oh,
                                       std::int64_t ow_count) {
  const std::int64_t d = in[0], h = in[1], wd = in[2];
  for (std::int64_t ow = 0; ow < ow_count; ++ow) {
    float* out = y + ow * c;
    for (std::int64_t k = 0; k < c; ++k) out[k] = bias[k];
    for (std::int64_t kd = 0; kd < w.kernel[0]; ++kd) {
      const std::int64_t id = od * w.stride[0] + kd - w.pad[0];
      if (id < 0 || id >= d) continue;
      for (std::int64_t kh = 0; kh < w.kernel[1]; ++kh) {
        const std::int64_t ih = oh * w.stride[1] + kh - w.pad[1];
        if (ih < 0 || ih >= h) continue;
        for (std::int64_t kw = 0; kw < w.kernel[2]; ++kw) {
          const std::int64_t iw = ow * w.stride[2] + kw - w.pad[2];
          if (iw < 0 || iw >= wd) continue;
          const float* src = x + ((id * h + ih) * wd + iw) * c;
          const float* tap = taps + ((kd * w.kernel[1] + kh) * w.kernel[2] + kw) * c;
#pragma omp simd
          for (std::int64_t k = 0; k < c; ++k) out[k] += tap[k] * src[k];
        }
      }
    }
  }
}

}  // namespace

DepthwiseVolumeKernel::DepthwiseVolumeKernel(const Tensor& weights, std::vector<float> bias, VolumeWindow window, const Shape& x,
                                             const Shape& y, const dnnl::engine& eng)
    : bias_(std::move(bias)), w_(window), x_(x), y_(y), eng_(eng) {
  const std::int64_t c = x[1], taps = w_.kernel[0] * w_.kernel[1] * w_.kernel[2];
  if (bias_.empty()) bias_.assign(static_cast<std::size_t>(c), 0.f);
  taps_.resize(static_cast<std::size_t>(taps * c));
  const float* wt = weights.as<float>();
  for (std::int64_t ch = 0; ch < c; ++ch)
    for (std::int64_t t = 0; t < taps; ++t) taps_[static_cast<std::size_t>(t * c + ch)] = wt[ch * taps + t];
  x_plain_ = memory::desc(image_dims(x), memory::data_type::f32, memory::format_tag::ncdhw);
  x_last_ = memory::desc(image_dims(x), memory::data_type::f32, memory::format_tag::ndhwc);
  y_plain_ = memory::desc(image_dims(y), memory::data_type::f32, memory::format_tag::ncdhw);
  y_last_ = memory::desc(image_dims(y), memory::data_type::f32, memory::format_tag::ndhwc);
  to_last_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng_, x_plain_, eng_, x_last_));
  from_last_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng_, y_last_, eng_, y_plain_));
}

std::size_t DepthwiseVolumeKernel::scratch_bytes(const Shape& x, const Shape& y) {
  return cache_line_rounded(static_cast<std::size_t>(x[1] * x[2] * x[3] * x[4]) * sizeof(float)) +
         cache_line_rounded(static_cast<std::size_t>(y[1] * y[2] * y[3] * y[4]) * sizeof(float));
}

void DepthwiseVolumeKernel::run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) {
  const std::int64_t c = x_[1], in_image = c * x_[2] * x_[3] * x_[4], out_image = c * y_[2] * y_[3] * y_[4];
  auto* xt = reinterpret_cast<float*>(ctx.scratchpad);
  auto* yt = reinterpret_cast<float*>(ctx.scratchpad + cache_line_rounded(static_cast<std::size_t>(in_image) * sizeof(float)));
  const std::int64_t dims[3] = {x_[2], x_[3], x_[4]};
  const std::int64_t od_count = y_[2], oh_count = y_[3], ow_count = y_[4];
  for (std::int64_t n = 0; n < x_[0]; ++n) {
    memory src(x_plain_, eng_, const_cast<float*>(in[0]->as<float>()) + n * in_image), src_last(x_last_, eng_, xt);
    to_last_.execute(*ctx.stream, src, src_last);
    ctx.stream->wait();
#pragma omp parallel for collapse(2) if (od_count * oh_count >= 2 && out_image >= (1 << 15)) schedule(static)
    for (std::int64_t od = 0; od < od_count; ++od)
      for (std::int64_t oh = 0; oh < oh_count; ++oh)
        depthwise_row(xt, yt + (od * oh_count + oh) * ow_count * c, taps_.data(), bias_.data(), c, dims, w_, od, oh, ow_count);
    memory dst_last(y_last_, eng_, yt), dst(y_plain_, eng_, out[0]->as<float>() + n * out_image);
    from_last_.execute(*ctx.stream, dst_last, dst);
    ctx.stream->wait();
  }
}

}  // namespace aifgen::engine

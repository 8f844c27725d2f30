#include "core/engine/nhwc_passthrough.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <utility>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/kernels/onednn_util.h"

namespace aifgen::engine {

bool is_nhwc(const TensorDesc& d) {
  if (!d.layout || d.shape.size() != 4) return false;
  const auto& md = d.layout->data;
  if (md.format_kind != dnnl_blocked || md.format_desc.blocking.inner_nblks != 0) return false;
  const auto* st = md.format_desc.blocking.strides;
  const auto n = d.shape;
  return st[1] == 1 && st[3] == n[1] && st[2] == n[3] * n[1] && st[0] == n[2] * n[3] * n[1] && md.padded_dims[1] == n[1];
}

std::int64_t channel_block(const TensorDesc& d) {
  if (d.shape.size() != 4 || d.dtype != DType::kF32) return 0;
  if (!d.layout) return 1;
  if (is_nhwc(d)) return d.shape[1];
  const std::int64_t block = padded_channel_block(d);
  return block > 0 && d.shape[1] % block == 0 ? block : 0;
}

Shape nhwc_physical(const Shape& s) { return {s[0], s[2], s[3], s[1]}; }
Shape nchw_logical(const Shape& p) { return {p[0], p[3], p[1], p[2]}; }

std::shared_ptr<const dnnl::memory::desc> nhwc_layout(const Shape& logical) {
  return std::make_shared<const dnnl::memory::desc>(to_dims(logical), dnnl::memory::data_type::f32, dnnl::memory::format_tag::acdb);
}

bool layout_free_elementwise(const onnx::NodeProto& n) {
  static const std::set<std::string> ops = {"Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "LeakyRelu",
                                            "Add", "Sub", "Mul", "Div", "Erf", "Sqrt", "Abs", "Neg", "Exp"};
  return (n.domain().empty() || n.domain() == "ai.onnx") && ops.count(n.op_type()) > 0;
}

bool is_channel_concat_or_split(const onnx::NodeProto& n, std::size_t rank) {
  if (rank != 4 || !(n.domain().empty() || n.domain() == "ai.onnx")) return false;
  if (n.op_type() != "Concat" && n.op_type() != "Split") return false;
  std::int64_t axis = 0;
  for (const auto& a : n.attribute())
    if (a.name() == "axis") axis = a.i();
  return axis == 1 || axis == -3;
}

onnx::NodeProto along_axis(const onnx::NodeProto& n, std::int64_t axis) {
  onnx::NodeProto r = n;
  bool set = false;
  for (auto& a : *r.mutable_attribute())
    if (a.name() == "axis") {
      a.set_i(axis);
      set = true;
    }
  if (!set) {
    auto* a = r.add_attribute();
    a->set_name("axis");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(axis);
  }
  return r;
}

std::shared_ptr<const dnnl::memory::desc> channel_blocked_layout(const Shape& logical, std::int64_t block) {
  return std::make_shared<const dnnl::memory::desc>(to_dims(logical), dnnl::memory::data_type::f32,
                                                    block == 16 ? dnnl::memory::format_tag::aBcd16b : dnnl::memory::format_tag::aBcd8b);
}

Shape blocked_physical(const Shape& s, std::int64_t block) { return {s[0], s[1] / block, s[2], s[3], block}; }

std::int64_t blocked_concat_block(const onnx::NodeProto& n, const std::vector<const TensorDesc*>& inputs) {
  // A Concat carrying a fused BatchNormalization (concat_batchnorm.h) scales along the logical
  // channel axis, which the blocked view splits in two: the planner tells its kernel the block
  // (kConcatChannelBlockAttr).
  if (inputs.size() < 2 || !is_channel_concat_or_split(n, 4)) return 0;
  for (const std::int64_t block : {16, 8}) {
    bool ok = true, one_blocked = false;
    for (const TensorDesc* d : inputs) {
      ok = ok && d && d->dtype == DType::kF32 && d->shape.size() == 4 && d->shape[1] % block == 0 && !is_nhwc(*d) &&
           d->shape[0] == inputs[0]->shape[0] && d->shape[2] == inputs[0]->shape[2] && d->shape[3] == inputs[0]->shape[3];
      if (!ok) break;
      one_blocked = one_blocked || channel_block(*d) == block;
    }
    if (ok && one_blocked) return block;
  }
  return 0;
}

std::unique_ptr<Kernel> make_channel_shuffle_nhwc(const Shape& physical, std::int64_t groups) {
  const std::int64_t c = physical[3], per_group = c / groups, rows = numel(physical) / std::max<std::int64_t>(c, 1);
  return make_kernel([c, per_group, groups, rows](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const float* x = in[0]->as<float>();
    float* y = out[0]->as<float>();
    parallel_chunks(rows * c, [&](std::int64_t b, std::int64_t e) {
      const std::int64_t r1 = e == rows * c ? rows : e / c;
      for (std::int64_t r = b / c; r < r1; ++r) {
        const float* xr = x + r * c;
        float* yr = y + r * c;
        if (groups == 2) {
          // ShuffleNet's case: interleave the two halves, a loop the compiler vectorizes
          // (the general strided loop below ran ~4x slower: one scalar store per channel).
          const float* lo = xr;
          const float* hi = xr + per_group;
          for (std::int64_t j = 0; j < per_group; ++j) {
            yr[2 * j] = lo[j];
            yr[2 * j + 1] = hi[j];
          }
          continue;
        }
        for (std::int64_t i = 0; i < groups; ++i)
          for (std::int64_t j = 0; j < per_group; ++j) yr[j * groups + i] = xr[i * per_group + j];
      }
    });
  });
}

std::unique_ptr<Kernel> make_interleave_halves_nhwc(const Shape& half, std::vector<std::pair<std::int64_t, std::int64_t>> ranges) {
  const std::int64_t c = half[3], rows = numel(half) / std::max<std::int64_t>(c, 1);
  return make_kernel([c, rows, ranges](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const float* a = in[0]->as<float>();
    const float* b = in[1]->as<float>();
    // Split by elements, as the shuffle above (parallel_chunks' threshold counts elements).
    parallel_chunks(rows * 2 * c, [&](std::int64_t b0, std::int64_t e0) {
      const std::int64_t r0 = b0 / (2 * c), r1 = e0 == rows * 2 * c ? rows : e0 / (2 * c);
      for (std::size_t k = 0; k < ranges.size(); ++k) {
        const std::int64_t from = ranges[k].first / 2, pairs = (ranges[k].second - ranges[k].first) / 2;
        float* y = out[k]->as<float>();
        for (std::int64_t r = r0; r < r1; ++r) {
          const float* ar = a + r * c + from;
          const float* br = b + r * c + from;
          float* yr = y + r * 2 * pairs;
          for (std::int64_t j = 0; j < pairs; ++j) {  // vectorized by the compiler, like the shuffle above
            yr[2 * j] = ar[j];
            yr[2 * j + 1] = br[j];
          }
        }
      }
    });
  });
}

std::int64_t padded_channel_block(const TensorDesc& d) {
  if (d.shape.size() != 4 || d.dtype != DType::kF32 || !d.layout) return 0;
  for (auto [tag, block] : {std::pair{dnnl::memory::format_tag::aBcd16b, 16}, std::pair{dnnl::memory::format_tag::aBcd8b, 8}})
    if (*d.layout == dnnl::memory::desc(to_dims(d.shape), dnnl::memory::data_type::f32, tag)) return block;
  return 0;
}

std::unique_ptr<Kernel> make_interleave_halves_blocked(const Shape& half, std::int64_t block, std::pair<std::int64_t, std::int64_t> range) {
  const std::int64_t n = half[0], plane = half[2] * half[3];
  const std::int64_t in_image = (half[1] + block - 1) / block * plane * block;  // floats per image of a and b
  const std::int64_t width = range.second - range.first;
  const std::int64_t out_blocks = (width + block - 1) / block;
  // Where each output channel comes from: shuffled channel s is input channel s/2 of a (s even)
  // or b (s odd), at lane s/2 % block of input block s/2 / block.
  std::vector<std::int64_t> from_b(static_cast<std::size_t>(width)), offset(static_cast<std::size_t>(width));
  for (std::int64_t j = 0; j < width; ++j) {
    const std::int64_t s = range.first + j, ic = s / 2;
    from_b[static_cast<std::size_t>(j)] = s % 2;
    offset[static_cast<std::size_t>(j)] = ic / block * plane * block + ic % block;
  }
  return make_kernel([=](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const float* halves[2] = {in[0]->as<float>(), in[1]->as<float>()};
    float* y = out[0]->as<float>();
    const std::int64_t unit = plane * block;  // one output block of one image
    parallel_chunks(n * out_blocks * unit, [&](std::int64_t b0, std::int64_t e0) {
      for (std::int64_t u = (b0 + unit - 1) / unit; u < (e0 + unit - 1) / unit; ++u) {
        const std::int64_t image = u / out_blocks, ob = u % out_blocks;
        const std::int64_t lanes = std::min(block, width - ob * block);
        const float* src[16];
        for (std::int64_t l = 0; l < lanes; ++l) {
          const auto j = static_cast<std::size_t>(ob * block + l);
          src[l] = halves[from_b[j]] + image * in_image + offset[j];
        }
        float* yp = y + u * unit;
        for (std::int64_t p = 0; p < plane; ++p) {
          for (std::int64_t l = 0; l < lanes; ++l) yp[p * block + l] = src[l][p * block];
          // oneDNN reads a padded block's spare lanes as zeros.
          for (std::int64_t l = lanes; l < block; ++l) yp[p * block + l] = 0.0f;
        }
      }
    });
  });
}

}  // namespace aifgen::engine

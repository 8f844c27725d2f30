// Resize (opset 10+) and Upsample, modes nearest and (multi)linear, with every coordinate
// transformation mode except tf_crop_and_resize; float32.
#include <cmath>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

struct Axis {
  std::vector<std::int64_t> i0, i1;
  std::vector<float> w;  // weight of i1
};

std::unique_ptr<Kernel> make_resize(const NodeCtx& ctx, std::vector<TensorDesc>& outs, bool upsample) {
  ctx.require_dtype(0, {DType::kF32});
  const auto& x = ctx.in(0).shape;
  const std::size_t rank = x.size();
  const std::string mode = ctx.attr_s("mode", "nearest");
  std::string coord = ctx.attr_s("coordinate_transformation_mode", "half_pixel");
  std::string nearest = ctx.attr_s("nearest_mode", "round_prefer_floor");
  if (upsample || ctx.opset() < 11) {  // Upsample and Resize-10: asymmetric, nearest rounds down
    coord = "asymmetric";
    nearest = "floor";
  }
  if (mode != "nearest" && mode != "linear") ctx.unsupported("mode '" + mode + "'");
  if (coord == "tf_crop_and_resize") ctx.unsupported("coordinate_transformation_mode tf_crop_and_resize");
  std::vector<float> scales;
  bool from_sizes = false;
  Shape y(rank);
  const std::size_t scales_input = (upsample || ctx.opset() < 11) ? 1 : 2;
  const Tensor* sizes = ctx.opset() >= 11 && !upsample && ctx.has_input(3) ? &ctx.constant_input(3, "sizes") : nullptr;
  if (sizes && sizes->numel() > 0) {
    auto s = to_int64_vector(*sizes);
    if (s.size() != rank) ctx.invalid("sizes has the wrong length");
    from_sizes = true;
    for (std::size_t i = 0; i < rank; ++i) {
      y[i] = s[i];
      scales.push_back(static_cast<float>(s[i]) / static_cast<float>(x[i]));
    }
  } else {
    if (upsample && ctx.opset() < 9) scales = ctx.attr_floats("scales");
    else {
      const auto& st = ctx.constant_input(scales_input, "scales");
      if (st.dtype != DType::kF32) ctx.invalid("scales must be float32");
      scales.assign(st.as<float>(), st.as<float>() + st.numel());
    }
    if (scales.size() != rank) ctx.invalid("scales has the wrong length");
    for (std::size_t i = 0; i < rank; ++i) y[i] = static_cast<std::int64_t>(std::floor(x[i] * scales[i]));
  }
  outs = {{DType::kF32, y}};
  std::vector<Axis> axes(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    auto& a = axes[d];
    const float scale = scales[d];
    for (std::int64_t o = 0; o < y[d]; ++o) {
      float xo = static_cast<float>(o), xi;
      if (coord == "half_pixel") xi = (xo + 0.5f) / scale - 0.5f;
      else if (coord == "pytorch_half_pixel") xi = y[d] > 1 ? (xo + 0.5f) / scale - 0.5f : 0.f;
      else if (coord == "align_corners") {
        // With scales, the spec's "resized length" is in * scale before flooring.
        float len = from_sizes ? static_cast<float>(y[d]) : static_cast<float>(x[d]) * scale;
        xi = len <= 1.f ? 0.f : xo * static_cast<float>(x[d] - 1) / (len - 1.f);
      }
      else if (coord == "asymmetric") xi = xo / scale;
      else if (coord == "tf_half_pixel_for_nn") xi = (xo + 0.5f) / scale;
      else ctx.unsupported("coordinate_transformation_mode '" + coord + "'");
      if (mode == "nearest") {
        float r;
        if (nearest == "round_prefer_floor") r = (xi - std::floor(xi) == 0.5f) ? std::floor(xi) : std::round(xi);
        else if (nearest == "round_prefer_ceil") r = std::round(xi);
        else if (nearest == "floor") r = std::floor(xi);
        else if (nearest == "ceil") r = std::ceil(xi);
        else ctx.unsupported("nearest_mode '" + nearest + "'");
        auto i = std::clamp<std::int64_t>(static_cast<std::int64_t>(r), 0, x[d] - 1);
        a.i0.push_back(i);
        a.i1.push_back(i);
        a.w.push_back(0.f);
      } else {
        xi = std::clamp(xi, 0.f, static_cast<float>(x[d] - 1));
        auto i0 = static_cast<std::int64_t>(std::floor(xi));
        a.i0.push_back(i0);
        a.i1.push_back(std::min(i0 + 1, x[d] - 1));
        a.w.push_back(xi - static_cast<float>(i0));
      }
    }
  }
  Shape in_strides(rank, 1);
  for (std::size_t i = rank; i-- > 1;) in_strides[i - 1] = in_strides[i] * x[i];
  const bool linear = mode == "linear";
  return make_kernel([axes, in_strides, y, linear](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const float* xs = in[0]->as<float>();
    float* ys = out[0]->as<float>();
    const std::size_t rank = y.size();
    const std::int64_t total = numel(y);
    if (!linear && rank > 0) {
      // Nearest: every output row gathers from one input row through the last axis' index map.
      const std::int64_t inner = y.back(), rows = total / std::max<std::int64_t>(inner, 1);
      std::vector<std::int64_t> col(static_cast<std::size_t>(inner));
      for (std::int64_t w = 0; w < inner; ++w) col[static_cast<std::size_t>(w)] = axes.back().i0[static_cast<std::size_t>(w)] * in_strides.back();
#pragma omp parallel for if (rows >= 8 && total > kParallelMinElements) schedule(static)
      for (std::int64_t r = 0; r < rows; ++r) {
        std::int64_t rem = r, off = 0;
        for (std::size_t d = rank - 1; d-- > 0;) {
          off += axes[d].i0[static_cast<std::size_t>(rem % y[d])] * in_strides[d];
          rem /= y[d];
        }
        const float* src = xs + off;
        float* dst = ys + r * inner;
        for (std::int64_t w = 0; w < inner; ++w) dst[w] = src[col[static_cast<std::size_t>(w)]];
      }
      return;
    }
#pragma omp parallel for if (total > kParallelMinElements) schedule(static)
    for (std::int64_t o = 0; o < total; ++o) {
      std::int64_t rem = o, idx[8];
      for (std::size_t d = rank; d-- > 0;) {
        idx[d] = rem % y[d];
        rem /= y[d];
      }
      (void)linear;
      float acc = 0;
      for (std::int64_t corner = 0; corner < (std::int64_t(1) << rank); ++corner) {
        float w = 1;
        std::int64_t off = 0;
        for (std::size_t d = 0; d < rank && w != 0; ++d) {
          const auto& a = axes[d];
          auto i = static_cast<std::size_t>(idx[d]);
          bool hi = (corner >> d) & 1;
          w *= hi ? a.w[i] : 1 - a.w[i];
          off += (hi ? a.i1[i] : a.i0[i]) * in_strides[d];
        }
        if (w != 0) acc += w * xs[off];
      }
      ys[o] = acc;
    }
  });
}

}  // namespace

void register_resize_kernels(KernelTable& t) {
  t["Resize"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) {
    if (c.in(0).shape.size() > 8) c.unsupported("rank > 8");
    return make_resize(c, o, false);
  };
  t["Upsample"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_resize(c, o, true); };
}

}  // namespace aifgen::engine

// QuantizeLinear and DequantizeLinear (opset 10 per-tensor, opset 13 per-axis), in float: the
// reference semantics of QDQ graphs, so any target's INT8 variant can run and be validated here.
// Convolutions fed by a Q -> DQ pair are planned separately as true int8 oneDNN convolutions
// (see session.cpp); these kernels cover every other Q/DQ node.
#include <cmath>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

// Element (o, c, i) of x viewed as [outer, channels, inner] uses scale[c] and zero_point[c].
struct AxisView {
  std::int64_t outer = 1, channels = 1, inner = 1;
};

AxisView axis_view(const NodeCtx& ctx, const Shape& x, std::int64_t scale_numel) {
  AxisView v;
  if (scale_numel == 1) {
    v.inner = numel(x);
    return v;
  }
  if (ctx.opset() < 13) ctx.invalid("per-axis scales need opset 13");
  if (x.empty()) ctx.invalid("per-axis scales need an input of rank 1 or more");
  const auto axis = normalize_axis(ctx, ctx.attr_i("axis", 1), static_cast<std::int64_t>(x.size()));
  for (std::int64_t i = 0; i < axis; ++i) v.outer *= x[static_cast<std::size_t>(i)];
  v.channels = x[static_cast<std::size_t>(axis)];
  for (std::size_t i = static_cast<std::size_t>(axis) + 1; i < x.size(); ++i) v.inner *= x[i];
  if (v.channels != scale_numel) ctx.invalid("the scale's length does not match the quantization axis");
  return v;
}

void check_scale_and_zero_point(const NodeCtx& ctx) {
  ctx.require_dtype(1, {DType::kF32});
  const auto& s = ctx.in(1).shape;
  if (s.size() > 1) ctx.invalid("the scale must be a scalar or 1-D");
  if (ctx.has_input(2) && ctx.in(2).shape != s) ctx.invalid("the zero point's shape differs from the scale's");
}

template <typename Q>
std::unique_ptr<Kernel> quantize_kernel(AxisView v) {
  return make_kernel([v](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const float* x = in[0]->as<float>();
    const float* scale = in[1]->as<float>();
    const Q* zp = in.size() > 2 && in[2] ? in[2]->as<Q>() : nullptr;
    Q* y = out[0]->as<Q>();
    constexpr float lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
#pragma omp parallel for collapse(2) if (v.outer * v.channels * v.inner > kParallelMinElements) schedule(static)
    for (std::int64_t o = 0; o < v.outer; ++o)
      for (std::int64_t c = 0; c < v.channels; ++c) {
        const float s = scale[c], z = zp ? static_cast<float>(zp[c]) : 0.f;
        const std::int64_t base = (o * v.channels + c) * v.inner;
        for (std::int64_t i = 0; i < v.inner; ++i)
          y[base + i] = static_cast<Q>(std::clamp(std::nearbyint(x[base + i] / s) + z, lo, hi));
      }
  });
}

template <typename Q>
std::unique_ptr<Kernel> dequantize_kernel(AxisView v) {
  return make_kernel([v](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const Q* x = in[0]->as<Q>();
    const float* scale = in[1]->as<float>();
    const Q* zp = in.size() > 2 && in[2] ? in[2]->as<Q>() : nullptr;
    float* y = out[0]->as<float>();
#pragma omp parallel for collapse(2) if (v.outer * v.channels * v.inner > kParallelMinElements) schedule(static)
    for (std::int64_t o = 0; o < v.outer; ++o)
      for (std::int64_t c = 0; c < v.channels; ++c) {
        const float s = scale[c];
        const std::int32_t z = zp ? static_cast<std::int32_t>(zp[c]) : 0;
        const std::int64_t base = (o * v.channels + c) * v.inner;
        for (std::int64_t i = 0; i < v.inner; ++i) y[base + i] = static_cast<float>(static_cast<std::int32_t>(x[base + i]) - z) * s;
      }
  });
}

std::unique_ptr<Kernel> make_quantize(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kF32});
  check_scale_and_zero_point(ctx);
  const DType q = ctx.has_input(2) ? ctx.in(2).dtype : DType::kU8;
  const auto v = axis_view(ctx, ctx.in(0).shape, numel(ctx.in(1).shape));
  outs = {{q, ctx.in(0).shape}};
  if (q == DType::kU8) return quantize_kernel<std::uint8_t>(v);
  if (q == DType::kI8) return quantize_kernel<std::int8_t>(v);
  ctx.unsupported("zero point type " + std::string(dtype_str(q)) + " (uint8 and int8 only)");
}

std::unique_ptr<Kernel> make_dequantize(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  check_scale_and_zero_point(ctx);
  const DType q = ctx.in(0).dtype;
  if (ctx.has_input(2) && ctx.in(2).dtype != q) ctx.invalid("the zero point's type differs from the input's");
  const auto v = axis_view(ctx, ctx.in(0).shape, numel(ctx.in(1).shape));
  outs = {{DType::kF32, ctx.in(0).shape}};
  if (q == DType::kU8) return dequantize_kernel<std::uint8_t>(v);
  if (q == DType::kI8) return dequantize_kernel<std::int8_t>(v);
  if (q == DType::kI32) return dequantize_kernel<std::int32_t>(v);
  ctx.unsupported("input type " + std::string(dtype_str(q)) + " (uint8, int8 and int32 only)");
}

}  // namespace

void register_quantize_kernels(KernelTable& t) {
  t["QuantizeLinear"] = make_quantize;
  t["DequantizeLinear"] = make_dequantize;
}

}  // namespace aifgen::engine

// Cast between numeric types and Clip (bounds as attributes before opset 11, inputs after).
#include <cmath>
#include <cstring>
#include <limits>

#include "core/engine/kernels/dispatch.h"
#include "core/numeric/half.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

std::unique_ptr<Kernel> make_cast(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  auto from = ctx.in(0).dtype;
  auto* to_attr = ctx.attr("to");
  if (!to_attr) ctx.invalid("missing 'to'");
  DType to;
  try {
    to = dtype_from_onnx(static_cast<int>(to_attr->i()));
  } catch (const std::exception&) {
    ctx.unsupported("cast to ONNX type " + std::to_string(to_attr->i()));
  }
  outs = {{to, ctx.in(0).shape}};
  // float16 travels as bit patterns; it converts to and from float32 only (what fp16 variants
  // and their emulation need).
  if (from == DType::kF16 || to == DType::kF16) {
    if (from == to) return make_kernel([](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
      std::memcpy(out[0]->data, in[0]->data, in[0]->bytes());
    });
    if (from == DType::kF32 && to == DType::kF16)
      return make_kernel([](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
        const float* x = in[0]->as<float>();
        auto* y = out[0]->as<std::uint16_t>();
        const auto n = in[0]->numel();
#pragma omp parallel for if (n > kParallelMinElements) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) y[i] = float_to_half_bits(x[i]);
      });
    if (from == DType::kF16 && to == DType::kF32)
      return make_kernel([](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
        const auto* x = in[0]->as<std::uint16_t>();
        float* y = out[0]->as<float>();
        const auto n = in[0]->numel();
#pragma omp parallel for if (n > kParallelMinElements) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) y[i] = half_bits_to_float(x[i]);
      });
    ctx.unsupported("float16 casts other than to and from float32");
  }
  std::unique_ptr<Kernel> k;
  dispatch_type(from, [&](auto zf) {
    using F = decltype(zf);
    dispatch_type(to, [&](auto zt) {
      using T = decltype(zt);
      k = make_kernel([](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
        const F* x = in[0]->as<F>();
        T* y = out[0]->as<T>();
        const auto n = in[0]->numel();
        for (std::int64_t i = 0; i < n; ++i) {
          if constexpr (std::is_same_v<T, bool>) y[i] = x[i] != F(0);
          else y[i] = static_cast<T>(x[i]);
        }
      });
    });
  });
  return k;
}

std::unique_ptr<Kernel> make_clip(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  auto dt = ctx.in(0).dtype;
  if (dt == DType::kF16 || dt == DType::kBool) ctx.unsupported("this type");
  outs = {ctx.in(0)};
  std::unique_ptr<Kernel> k;
  dispatch_type(dt, [&](auto zero) {
    using T = decltype(zero);
    T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
    bool lo_runtime = false, hi_runtime = false;
    if (ctx.opset() < 11) {
      lo = static_cast<T>(ctx.attr_f("min", -std::numeric_limits<float>::max()));
      hi = static_cast<T>(ctx.attr_f("max", std::numeric_limits<float>::max()));
    } else {
      if (ctx.has_input(1)) {
        if (const auto* c = ctx.maybe_constant(1)) lo = c->as<T>()[0];
        else lo_runtime = true;
      }
      if (ctx.has_input(2)) {
        if (const auto* c = ctx.maybe_constant(2)) hi = c->as<T>()[0];
        else hi_runtime = true;
      }
    }
    k = make_kernel([lo, hi, lo_runtime, hi_runtime](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
      T l = lo_runtime ? in[1]->as<T>()[0] : lo;
      T h = hi_runtime ? in[2]->as<T>()[0] : hi;
      const T* x = in[0]->as<T>();
      T* y = out[0]->as<T>();
      const auto n = in[0]->numel();
#pragma omp parallel for if (n > kParallelMinElements) schedule(static)
      for (std::int64_t i = 0; i < n; ++i) y[i] = std::min(std::max(x[i], l), h);
    });
  });
  return k;
}

}  // namespace

void register_cast_clip(KernelTable& t) {
  t["Cast"] = make_cast;
  t["Clip"] = make_clip;
}

}  // namespace aifgen::engine

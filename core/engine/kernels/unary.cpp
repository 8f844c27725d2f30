// Element-wise unary ops: activations and math functions, float32/float64 (some also integers),
// and Identity/Dropout copies.
#include <cmath>
#include <cstring>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/kernels/fast_math.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

struct Params {
  float alpha = 0, beta = 0, gamma = 0;
};

template <typename T, typename F>
std::unique_ptr<Kernel> unary_kernel(F fn, Params p) {
  return make_kernel([fn, p](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const T* x = in[0]->as<T>();
    T* y = out[0]->as<T>();
    const std::int64_t n = in[0]->numel();
#pragma omp parallel for simd if (n > kParallelMinElements) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) y[i] = static_cast<T>(fn(x[i], p));
  });
}

// Registers a float-only op (float32 and float64).
template <typename F>
void add_float_op(KernelTable& t, const char* name, F fn, Params (*params)(const NodeCtx&) = nullptr) {
  t[name] = [fn, params](const NodeCtx& ctx, std::vector<TensorDesc>& outs) -> std::unique_ptr<Kernel> {
    ctx.require_dtype(0, {DType::kF32, DType::kF64});
    outs = {ctx.in(0)};
    Params p = params ? params(ctx) : Params{};
    if (ctx.in(0).dtype == DType::kF64) return unary_kernel<double>([fn](double x, Params q) { return fn(x, q); }, p);
    return unary_kernel<float>([fn](float x, Params q) { return fn(x, q); }, p);
  };
}

// Registers an op valid for every numeric type (the function is written generically).
template <typename F>
void add_numeric_op(KernelTable& t, const char* name, F fn) {
  t[name] = [fn](const NodeCtx& ctx, std::vector<TensorDesc>& outs) -> std::unique_ptr<Kernel> {
    outs = {ctx.in(0)};
    std::unique_ptr<Kernel> k;
    auto dt = ctx.in(0).dtype;
    if (dt == DType::kBool || dt == DType::kF16) ctx.unsupported(std::string("type ") + dtype_str(dt));
    dispatch_type(dt, [&](auto zero) {
      using T = decltype(zero);
      if constexpr (!std::is_same_v<T, bool>) k = unary_kernel<T>([fn](T x, Params) { return fn(x); }, {});
    });
    return k;
  };
}

std::unique_ptr<Kernel> erf_kernel(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kF32, DType::kF64});
  outs = {ctx.in(0)};
  if (ctx.in(0).dtype == DType::kF64) return unary_kernel<double>([](double x, Params) { return std::erf(x); }, {});
  return make_kernel([](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const float* x = in[0]->as<float>();
    float* y = out[0]->as<float>();
    const std::int64_t n = in[0]->numel();
    parallel_chunks(n, [&](std::int64_t b, std::int64_t e) { erf_loop(x + b, y + b, e - b); });
  });
}

// Gelu (opset 20; the engine's fused form of the opset-13 decomposition, see
// transformer_patterns.h). approximate="tanh" is refused rather than computed as the erf form.
std::unique_ptr<Kernel> gelu_kernel(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kF32});
  if (ctx.attr_s("approximate", "none") != "none") ctx.unsupported("approximate=" + ctx.attr_s("approximate", ""));
  outs = {ctx.in(0)};
  return make_kernel([](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const float* x = in[0]->as<float>();
    float* y = out[0]->as<float>();
    parallel_chunks(in[0]->numel(), [&](std::int64_t b, std::int64_t e) { gelu_loop(x + b, y + b, e - b); });
  });
}

std::unique_ptr<Kernel> copy_kernel() {
  return make_kernel([](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    std::memcpy(out[0]->data, in[0]->data, in[0]->bytes());
  });
}

Params alpha_beta(const NodeCtx& c, float a, float b) { return {c.attr_f("alpha", a), c.attr_f("beta", b), 0}; }

}  // namespace

void register_elementwise_unary(KernelTable& t) {
  add_numeric_op(t, "Relu", [](auto x) { return x > 0 ? x : decltype(x)(0); });
  add_numeric_op(t, "Abs", [](auto x) {
    if constexpr (std::is_unsigned_v<decltype(x)>) return x;
    else return x < 0 ? decltype(x)(-x) : x;
  });
  add_numeric_op(t, "Neg", [](auto x) { return decltype(x)(-x); });
  add_numeric_op(t, "Sign", [](auto x) { return decltype(x)(x > 0 ? 1 : (x < 0 ? -1 : 0)); });
  t["Sigmoid"] = [](const NodeCtx& ctx, std::vector<TensorDesc>& outs) -> std::unique_ptr<Kernel> {
    ctx.require_dtype(0, {DType::kF32, DType::kF64});
    outs = {ctx.in(0)};
    if (ctx.in(0).dtype == DType::kF64) return unary_kernel<double>([](double x, Params) { return 1 / (1 + std::exp(-x)); }, {});
    return make_kernel([](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
      const float* x = in[0]->as<float>();
      float* y = out[0]->as<float>();
      parallel_chunks(in[0]->numel(), [&](std::int64_t b, std::int64_t e) { sigmoid_loop(x + b, y + b, e - b); });
    });
  };
  add_float_op(t, "Tanh", [](auto x, Params) { return std::tanh(x); });
  t["Erf"] = erf_kernel;
  t["Gelu"] = gelu_kernel;
  add_float_op(t, "Sqrt", [](auto x, Params) { return std::sqrt(x); });
  add_float_op(t, "Exp", [](auto x, Params) { return std::exp(x); });
  add_float_op(t, "Log", [](auto x, Params) { return std::log(x); });
  add_float_op(t, "Reciprocal", [](auto x, Params) { return 1 / x; });
  add_float_op(t, "Floor", [](auto x, Params) { return std::floor(x); });
  add_float_op(t, "Ceil", [](auto x, Params) { return std::ceil(x); });
  add_float_op(t, "Round", [](auto x, Params) { return std::nearbyint(x); });  // half to even
  add_float_op(t, "Sin", [](auto x, Params) { return std::sin(x); });
  add_float_op(t, "Cos", [](auto x, Params) { return std::cos(x); });
  add_float_op(t, "Softplus", [](auto x, Params) { return std::log1p(std::exp(x)); });
  add_float_op(t, "Softsign", [](auto x, Params) { return x / (1 + std::abs(x)); });
  add_float_op(t, "HardSigmoid",
               [](auto x, Params p) {
                 using T = decltype(x);
                 return std::max(T(0), std::min(T(1), T(p.alpha) * x + T(p.beta)));
               },
               [](const NodeCtx& c) { return alpha_beta(c, 0.2f, 0.5f); });
  add_float_op(t, "HardSwish", [](auto x, Params) {
    using T = decltype(x);
    return x * std::max(T(0), std::min(T(1), x / T(6) + T(0.5)));
  });
  add_float_op(t, "LeakyRelu", [](auto x, Params p) { return x >= 0 ? x : decltype(x)(p.alpha) * x; },
               [](const NodeCtx& c) { return alpha_beta(c, 0.01f, 0); });
  add_float_op(t, "Elu", [](auto x, Params p) { return x >= 0 ? x : decltype(x)(p.alpha) * (std::exp(x) - 1); },
               [](const NodeCtx& c) { return alpha_beta(c, 1.0f, 0); });
  add_float_op(t, "Selu",
               [](auto x, Params p) {
                 using T = decltype(x);
                 return T(p.gamma) * (x > 0 ? x : T(p.alpha) * (std::exp(x) - 1));
               },
               [](const NodeCtx& c) {
                 return Params{c.attr_f("alpha", 1.67326319217681884765625f), 0, c.attr_f("gamma", 1.05070102214813232421875f)};
               });
  t["Identity"] = [](const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
    outs = {ctx.in(0)};
    return copy_kernel();
  };
  // Dropout at inference is the identity; its optional mask output is all true. So is training
  // mode with a ratio of 0 (Swin Transformer's attention dropout exports that way).
  t["Dropout"] = [](const NodeCtx& ctx, std::vector<TensorDesc>& outs) -> std::unique_ptr<Kernel> {
    if (ctx.has_input(2)) {
      const auto* training = ctx.maybe_constant(2);
      const auto* ratio = ctx.maybe_constant(1);
      const bool zero_ratio = ratio && ratio->numel() == 1 && ratio->dtype == DType::kF32 && ratio->as<float>()[0] == 0.f;
      if (!training || (training->as<bool>()[0] && !zero_ratio)) ctx.unsupported("training mode with a non-zero ratio");
    }
    outs = {ctx.in(0), {DType::kBool, ctx.in(0).shape}};
    return make_kernel([](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
      std::memcpy(out[0]->data, in[0]->data, in[0]->bytes());
      std::memset(out[1]->data, 1, out[1]->bytes());
    });
  };
  t["Not"] = [](const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
    ctx.require_dtype(0, {DType::kBool});
    outs = {ctx.in(0)};
    return unary_kernel<bool>([](bool x, Params) { return !x; }, {});
  };
}

}  // namespace aifgen::engine

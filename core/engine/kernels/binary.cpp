// Broadcasting binary ops (arithmetic, comparison, logic), variadic Max/Min/Sum/Mean, Where.
#include <cmath>
#include <type_traits>
#include <cstring>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

// Runs fn over an N-ary broadcast with element types In... and output Out.
template <typename Out, typename A, typename B, typename F>
std::unique_ptr<Kernel> binary_kernel(const Shape& sa, const Shape& sb, const Shape& so, F fn) {
  auto plan = plan_broadcast({sa, sb}, so);
  return make_kernel([plan, fn](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const A* a = in[0]->as<A>();
    const B* b_ = in[1]->as<B>();
    Out* y = out[0]->as<Out>();
    const auto inner = plan.inner;
    const auto sa = plan.inner_stride[0], sb = plan.inner_stride[1];
    // One row per iteration; a single long row (same-shape operands) is split by columns
    // instead, so no thread of the team sits idle (an idle GOMP thread costs a wake-up).
    auto row = [&](std::int64_t r, std::int64_t b, std::int64_t e) {
      const A* pa = a + plan.row_offset[0][r];
      const B* pb = b_ + plan.row_offset[1][r];
      Out* py = y + r * inner;
      if (sa == 1 && sb == 1)
        for (std::int64_t i = b; i < e; ++i) py[i] = fn(pa[i], pb[i]);
      else if (sa == 1)
        for (std::int64_t i = b; i < e; ++i) py[i] = fn(pa[i], pb[0]);
      else if (sb == 1)
        for (std::int64_t i = b; i < e; ++i) py[i] = fn(pa[0], pb[i]);
      else
        for (std::int64_t i = b; i < e; ++i) py[i] = fn(pa[0], pb[0]);
    };
    if (plan.rows == 1) {
      parallel_chunks(inner, [&](std::int64_t b, std::int64_t e) { row(0, b, e); });
      return;
    }
#pragma omp parallel for if (plan.rows >= 8 && plan.rows * inner > kParallelMinElements) schedule(static)
    for (std::int64_t r = 0; r < plan.rows; ++r) row(r, 0, inner);
  });
}

Shape out_shape(const NodeCtx& ctx, const std::vector<Shape>& shapes) {
  Shape out;
  if (!broadcast_shape(shapes, out)) ctx.invalid("input shapes do not broadcast");
  return out;
}

enum class Kind { kArith, kCompare, kLogic };

template <typename F>
void add_binary(KernelTable& t, const char* name, Kind kind, F fn) {
  t[name] = [fn, kind, name](const NodeCtx& ctx, std::vector<TensorDesc>& outs) -> std::unique_ptr<Kernel> {
    auto dt = ctx.in(0).dtype;
    if (ctx.in(1).dtype != dt) ctx.unsupported("inputs of different types");
    if (dt == DType::kF16) ctx.unsupported("float16");
    if (kind == Kind::kLogic && dt != DType::kBool) ctx.unsupported("non-bool inputs");
    if (kind == Kind::kArith && dt == DType::kBool) ctx.unsupported("bool inputs");
    auto so = out_shape(ctx, {ctx.in(0).shape, ctx.in(1).shape});
    outs = {{kind == Kind::kArith ? dt : DType::kBool, so}};
    std::unique_ptr<Kernel> k;
    dispatch_type(dt, [&](auto zero) {
      using T = decltype(zero);
      if (kind == Kind::kArith) k = binary_kernel<T, T, T>(ctx.in(0).shape, ctx.in(1).shape, so, [fn](T a, T b) { return static_cast<T>(fn(a, b)); });
      else k = binary_kernel<bool, T, T>(ctx.in(0).shape, ctx.in(1).shape, so, [fn](T a, T b) { return static_cast<bool>(fn(a, b)); });
    });
    (void)name;
    return k;
  };
}

// Pow allows an exponent of another numeric type (opset 12+); computed in double.
std::unique_ptr<Kernel> make_pow(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  auto ta = ctx.in(0).dtype, tb = ctx.in(1).dtype;
  if (ta == DType::kF16 || tb == DType::kF16 || ta == DType::kBool || tb == DType::kBool) ctx.unsupported("this type combination");
  auto so = out_shape(ctx, {ctx.in(0).shape, ctx.in(1).shape});
  outs = {{ta, so}};
  std::unique_ptr<Kernel> k;
  dispatch_type(ta, [&](auto za) {
    using A = decltype(za);
    dispatch_type(tb, [&](auto zb) {
      using B = decltype(zb);
      if constexpr (std::is_same_v<A, float> && std::is_same_v<B, float>)
        k = binary_kernel<A, A, B>(ctx.in(0).shape, ctx.in(1).shape, so, [](float a, float b) {
          return b == 2.f ? a * a : (b == 0.5f ? std::sqrt(a) : std::pow(a, b));
        });
      else
        k = binary_kernel<A, A, B>(ctx.in(0).shape, ctx.in(1).shape, so, [](A a, B b) {
          return static_cast<A>(std::pow(static_cast<double>(a), static_cast<double>(b)));
        });
    });
  });
  return k;
}

// Mod: with fmod=0 (integers only) the result takes the divisor's sign, as Python's %; with
// fmod=1 the dividend's, as C's fmod. An integer divisor of 0 gives 0 instead of trapping.
std::unique_ptr<Kernel> make_mod(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto dt = ctx.in(0).dtype;
  if (ctx.in(1).dtype != dt) ctx.unsupported("inputs of different types");
  if (dt == DType::kF16 || dt == DType::kBool) ctx.unsupported(std::string("Mod on ") + dtype_str(dt));
  const bool fmod = ctx.attr_i("fmod", 0) != 0;
  const bool floating = dt == DType::kF32 || dt == DType::kF64;
  if (floating && !fmod) ctx.invalid("floating-point Mod needs fmod=1");
  auto so = out_shape(ctx, {ctx.in(0).shape, ctx.in(1).shape});
  outs = {{dt, so}};
  std::unique_ptr<Kernel> k;
  dispatch_type(dt, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_floating_point_v<T>) {
      k = binary_kernel<T, T, T>(ctx.in(0).shape, ctx.in(1).shape, so, [](T a, T b) { return std::fmod(a, b); });
    } else if constexpr (!std::is_same_v<T, bool>) {
      k = binary_kernel<T, T, T>(ctx.in(0).shape, ctx.in(1).shape, so, [fmod](T a, T b) -> T {
        if (b == 0) return 0;
        if constexpr (std::is_signed_v<T>) {
          if (b == -1) return 0;  // also avoids INT_MIN % -1 overflowing
          T r = static_cast<T>(a % b);
          if (!fmod && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
          return r;
        } else {
          return static_cast<T>(a % b);
        }
      });
    }
  });
  return k;
}

// PRelu: x where x >= 0, slope * x elsewhere; the slope broadcasts to X (unidirectionally: the
// output has X's shape). PyTorch exports nn.PReLU so (Conv-TasNet's separator, face detectors).
std::unique_ptr<Kernel> make_prelu(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto dt = ctx.in(0).dtype;
  if (ctx.in(1).dtype != dt) ctx.invalid("X and slope differ in type");
  if (dt == DType::kF16 || dt == DType::kBool) ctx.unsupported(std::string("PRelu on ") + dtype_str(dt));
  const auto so = out_shape(ctx, {ctx.in(0).shape, ctx.in(1).shape});
  if (so != ctx.in(0).shape) ctx.invalid("slope " + shape_str(ctx.in(1).shape) + " does not broadcast to X " + shape_str(ctx.in(0).shape));
  outs = {{dt, so}};
  std::unique_ptr<Kernel> k;
  dispatch_type(dt, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (!std::is_same_v<T, bool>)
      k = binary_kernel<T, T, T>(ctx.in(0).shape, ctx.in(1).shape, so, [](T x, T slope) { return x < T{0} ? static_cast<T>(slope * x) : x; });
  });
  return k;
}

// Max/Min/Sum/Mean over any number of inputs: folds pairwise through a temporary.
template <typename F>
void add_variadic(KernelTable& t, const char* name, F fn, bool mean) {
  t[name] = [fn, mean](const NodeCtx& ctx, std::vector<TensorDesc>& outs) -> std::unique_ptr<Kernel> {
    auto dt = ctx.in(0).dtype;
    if (dt == DType::kF16 || dt == DType::kBool) ctx.unsupported("this type");
    std::vector<Shape> shapes;
    for (std::size_t i = 0; i < ctx.num_inputs(); ++i) {
      if (ctx.in(i).dtype != dt) ctx.unsupported("inputs of different types");
      shapes.push_back(ctx.in(i).shape);
    }
    auto so = out_shape(ctx, shapes);
    outs = {{dt, so}};
    std::vector<BroadcastPlan> plans;
    for (const auto& s : shapes) plans.push_back(plan_broadcast({s}, so));
    std::unique_ptr<Kernel> k;
    dispatch_type(dt, [&](auto zero) {
      using T = decltype(zero);
      k = make_kernel([plans, fn, mean](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
        T* y = out[0]->as<T>();
        for (std::size_t k = 0; k < in.size(); ++k) {
          const T* x = in[k]->as<T>();
          const auto& p = plans[k];
          for (std::int64_t r = 0; r < p.rows; ++r)
            for (std::int64_t i = 0; i < p.inner; ++i) {
              T v = x[p.row_offset[0][r] + i * p.inner_stride[0]];
              T& o = y[r * p.inner + i];
              o = k == 0 ? v : static_cast<T>(fn(o, v));
            }
        }
        if (mean)
          for (std::int64_t i = 0; i < out[0]->numel(); ++i) y[i] = static_cast<T>(y[i] / static_cast<T>(in.size()));
      });
    });
    return k;
  };
}

std::unique_ptr<Kernel> make_where(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kBool});
  auto dt = ctx.in(1).dtype;
  if (ctx.in(2).dtype != dt) ctx.invalid("X and Y differ in type");
  auto so = out_shape(ctx, {ctx.in(0).shape, ctx.in(1).shape, ctx.in(2).shape});
  outs = {{dt, so}};
  auto plan = plan_broadcast({ctx.in(0).shape, ctx.in(1).shape, ctx.in(2).shape}, so);
  auto size = dtype_size(dt);
  return make_kernel([plan, size](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const bool* c = in[0]->as<bool>();
    const std::byte *x = in[1]->data, *y = in[2]->data;
    std::byte* o = out[0]->data;
    for (std::int64_t r = 0; r < plan.rows; ++r)
      for (std::int64_t i = 0; i < plan.inner; ++i) {
        bool pick = c[plan.row_offset[0][r] + i * plan.inner_stride[0]];
        const std::byte* src = pick ? x + (plan.row_offset[1][r] + i * plan.inner_stride[1]) * size
                                    : y + (plan.row_offset[2][r] + i * plan.inner_stride[2]) * size;
        std::memcpy(o + (r * plan.inner + i) * size, src, size);
      }
  });
}

}  // namespace

void register_elementwise_unary(KernelTable& t);
void register_cast_clip(KernelTable& t);

void register_elementwise_kernels(KernelTable& t) {
  register_elementwise_unary(t);
  register_cast_clip(t);
  add_binary(t, "Add", Kind::kArith, [](auto a, auto b) { return a + b; });
  add_binary(t, "Sub", Kind::kArith, [](auto a, auto b) { return a - b; });
  add_binary(t, "Mul", Kind::kArith, [](auto a, auto b) { return a * b; });
  // An integer division by zero is undefined in ONNX; it gives 0 here rather than a SIGFPE that
  // would take the service down with it.
  add_binary(t, "Div", Kind::kArith, [](auto a, auto b) {
    using T = decltype(a);
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return T{0};
      if constexpr (std::is_signed_v<T>)
        if (b == T{-1}) return static_cast<T>(0u - static_cast<std::make_unsigned_t<T>>(a));  // INT_MIN / -1 wraps
    }
    return static_cast<T>(a / b);
  });
  t["Mod"] = make_mod;
  add_binary(t, "Equal", Kind::kCompare, [](auto a, auto b) { return a == b; });
  add_binary(t, "Less", Kind::kCompare, [](auto a, auto b) { return a < b; });
  add_binary(t, "LessOrEqual", Kind::kCompare, [](auto a, auto b) { return a <= b; });
  add_binary(t, "Greater", Kind::kCompare, [](auto a, auto b) { return a > b; });
  add_binary(t, "GreaterOrEqual", Kind::kCompare, [](auto a, auto b) { return a >= b; });
  add_binary(t, "And", Kind::kLogic, [](auto a, auto b) { return a && b; });
  add_binary(t, "Or", Kind::kLogic, [](auto a, auto b) { return a || b; });
  add_binary(t, "Xor", Kind::kLogic, [](auto a, auto b) { return a != b; });
  t["Pow"] = make_pow;
  t["PRelu"] = make_prelu;
  t["Where"] = make_where;
  add_variadic(t, "Max", [](auto a, auto b) { return a > b || b != b ? a : b; }, false);
  add_variadic(t, "Min", [](auto a, auto b) { return a < b || b != b ? a : b; }, false);
  add_variadic(t, "Sum", [](auto a, auto b) { return a + b; }, false);
  add_variadic(t, "Mean", [](auto a, auto b) { return a + b; }, true);
}

}  // namespace aifgen::engine

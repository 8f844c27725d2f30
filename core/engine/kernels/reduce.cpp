// Reduce* ops over any set of axes (attribute before opset 13/18, input after), keepdims and
// noop_with_empty_axes; float32/float64/int32/int64. ArgMax and ArgMin over one axis.
#include <cmath>
#include <limits>
#include <optional>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

enum class Op { kSum, kMean, kMax, kMin, kProd, kSumSquare, kL1, kL2, kLogSumExp, kLogSum };

// One window's n elements, at(0) .. at(n - 1), reduced in double.
template <typename T, typename At>
T reduce_window(Op op, std::int64_t n, At at) {
  double acc = op == Op::kMax ? -std::numeric_limits<double>::infinity()
               : op == Op::kMin ? std::numeric_limits<double>::infinity()
               : op == Op::kProd ? 1.0 : 0.0;
  double m = -std::numeric_limits<double>::infinity();
  if (op == Op::kLogSumExp)
    for (std::int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(at(i)));
  for (std::int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(at(i));
    switch (op) {
      case Op::kSum: case Op::kMean: case Op::kLogSum: acc += v; break;
      case Op::kMax: acc = std::max(acc, v); break;
      case Op::kMin: acc = std::min(acc, v); break;
      case Op::kProd: acc *= v; break;
      case Op::kSumSquare: case Op::kL2: acc += v * v; break;
      case Op::kL1: acc += std::abs(v); break;
      case Op::kLogSumExp: acc += std::exp(v - m); break;
    }
  }
  if (op == Op::kMean) acc /= static_cast<double>(n);
  if (op == Op::kL2) acc = std::sqrt(acc);
  if (op == Op::kLogSum) acc = std::log(acc);
  if (op == Op::kLogSumExp) acc = m + std::log(acc);
  return static_cast<T>(acc);
}

// x as [outer, reduced, inner] when its reduced axes sit next to each other (axes of size 1
// count as either), which is how nearly every model reduces.
struct ReducedBlock {
  std::int64_t outer = 1, reduced = 1, inner = 1;
};
std::optional<ReducedBlock> one_reduced_block(const Shape& x, const std::vector<bool>& reduced) {
  ReducedBlock b;
  int part = 0;  // 0: before the reduced axes, 1: among them, 2: after them
  for (std::size_t d = 0; d < x.size(); ++d) {
    if (x[d] == 1) continue;
    if (reduced[d]) {
      if (part == 2) return std::nullopt;
      part = 1;
      b.reduced *= x[d];
    } else {
      if (part == 1) part = 2;
      (part == 0 ? b.outer : b.inner) *= x[d];
    }
  }
  return b;
}

std::unique_ptr<Kernel> make_reduce(const NodeCtx& ctx, std::vector<TensorDesc>& outs, Op op, std::int64_t axes_input_opset) {
  ctx.require_dtype(0, {DType::kF32, DType::kF64, DType::kI32, DType::kI64});
  const auto& x = ctx.in(0).shape;
  const auto rank = static_cast<std::int64_t>(x.size());
  std::vector<std::int64_t> axes;
  if (ctx.opset() >= axes_input_opset) {
    if (ctx.has_input(1)) axes = to_int64_vector(ctx.constant_input(1, "axes"));
  } else {
    axes = ctx.attr_ints("axes");
  }
  const bool keep = ctx.attr_i("keepdims", 1) != 0;
  const bool noop = axes.empty() && ctx.attr_i("noop_with_empty_axes", 0) != 0;
  std::vector<bool> reduced(x.size(), axes.empty() && !noop);
  if (rank == 0 && !axes.empty()) ctx.invalid("a scalar has no axes to reduce");
  for (auto a : axes) reduced[static_cast<std::size_t>(normalize_axis(ctx, a, rank))] = true;
  Shape y, kept_dims, red_dims, kept_strides, red_strides;
  Shape strides(x.size(), 1);
  for (std::size_t i = x.size(); i-- > 1;) strides[i - 1] = strides[i] * x[i];
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (reduced[i]) {
      if (keep) y.push_back(1);
      red_dims.push_back(x[i]);
      red_strides.push_back(strides[i]);
    } else {
      y.push_back(x[i]);
      kept_dims.push_back(x[i]);
      kept_strides.push_back(strides[i]);
    }
  }
  outs = {{ctx.in(0).dtype, y}};
  // Offsets of every reduced element relative to the window start, and of every window start.
  auto offsets = [](const Shape& dims, const Shape& st) {
    std::vector<std::int64_t> out(static_cast<std::size_t>(numel(dims)));
    std::vector<std::int64_t> idx(dims.size(), 0);
    for (auto& o : out) {
      std::int64_t off = 0;
      for (std::size_t d = 0; d < dims.size(); ++d) off += idx[d] * st[d];
      o = off;
      for (std::size_t d = dims.size(); d-- > 0;) {
        if (++idx[d] < dims[d]) break;
        idx[d] = 0;
      }
    }
    return out;
  };
  const std::int64_t windows = numel(kept_dims);
  std::unique_ptr<Kernel> k;
  if (const auto block = one_reduced_block(x, reduced)) {
    // Window w = (o, i) reads x[o][r][i] for every r: no table of offsets to build, which the
    // dynamic tail of a detector would otherwise pay on every run (SSDlite's ReduceMax over
    // its 27,000 boxes built an 860 KB table each time).
    dispatch_type(ctx.in(0).dtype, [&](auto zero) {
      using T = decltype(zero);
      k = make_kernel([b = *block, windows, op](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
        const T* x = in[0]->as<T>();
        T* y = out[0]->as<T>();
#pragma omp parallel for if (windows >= 8 && windows * b.reduced > kParallelMinElements) schedule(static)
        for (std::int64_t w = 0; w < windows; ++w) {
          const T* xb = x + (w / b.inner) * b.reduced * b.inner + w % b.inner;
          y[w] = reduce_window<T>(op, b.reduced, [xb, stride = b.inner](std::int64_t r) { return xb[r * stride]; });
        }
      });
    });
    return k;
  }
  auto red_off = offsets(red_dims, red_strides), base_off = offsets(kept_dims, kept_strides);
  dispatch_type(ctx.in(0).dtype, [&](auto zero) {
    using T = decltype(zero);
    k = make_kernel([red_off, base_off, op](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
      const T* x = in[0]->as<T>();
      T* y = out[0]->as<T>();
      const auto n = static_cast<std::int64_t>(red_off.size());
#pragma omp parallel for if (base_off.size() >= 8 && base_off.size() * red_off.size() > kParallelMinElements) schedule(static)
      for (std::size_t o = 0; o < base_off.size(); ++o) {
        const T* xb = x + base_off[o];
        y[o] = reduce_window<T>(op, n, [xb, &red_off](std::int64_t r) { return xb[red_off[static_cast<std::size_t>(r)]]; });
      }
    });
  });
  return k;
}


// ArgMax / ArgMin: the index of the largest (smallest) value along `axis`, the first one among
// equal values unless select_last_index (opset 12). A NaN counts as the extreme, as NumPy's
// argmax has it. Keypoint R-CNN finds each keypoint's heatmap peak so.
std::unique_ptr<Kernel> make_arg_extreme(const NodeCtx& ctx, std::vector<TensorDesc>& outs, bool largest) {
  ctx.require_dtype(0, {DType::kF32, DType::kF64, DType::kI32, DType::kI64});
  const auto& x = ctx.in(0).shape;
  const auto rank = static_cast<std::int64_t>(x.size());
  if (rank < 1) ctx.invalid("the input must have rank 1 or more");
  const auto axis = normalize_axis(ctx, ctx.attr_i("axis", 0), rank);
  const bool keep = ctx.attr_i("keepdims", 1) != 0;
  const bool last = ctx.opset() >= 12 && ctx.attr_i("select_last_index", 0) != 0;
  const std::int64_t dim = x[static_cast<std::size_t>(axis)];
  if (dim < 1) ctx.invalid("the reduced axis is empty");
  Shape y;
  for (std::int64_t d = 0; d < rank; ++d) {
    if (d != axis) y.push_back(x[static_cast<std::size_t>(d)]);
    else if (keep) y.push_back(1);
  }
  outs = {{DType::kI64, y}};
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t d = 0; d < axis; ++d) outer *= x[static_cast<std::size_t>(d)];
  for (std::int64_t d = axis + 1; d < rank; ++d) inner *= x[static_cast<std::size_t>(d)];
  std::unique_ptr<Kernel> k;
  dispatch_type(ctx.in(0).dtype, [&](auto zero) {
    using T = decltype(zero);
    k = make_kernel([=](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
      const T* src = in[0]->as<T>();
      auto* dst = out[0]->as<std::int64_t>();
      // Whether a should replace the best so far b (a later index): strictly beyond it, or equal
      // with select_last_index; a NaN beats numbers, and the first NaN stays unless `last`.
      auto better = [&](T a, T b) {
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(b)) return last && std::isnan(a);
          if (std::isnan(a)) return true;
        }
        return largest ? (a > b || (last && a == b)) : (a < b || (last && a == b));
      };
      for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t i = 0; i < inner; ++i) {
          const T* row = src + o * dim * inner + i;
          std::int64_t best = 0;
          for (std::int64_t j = 1; j < dim; ++j)
            if (better(row[j * inner], row[best * inner])) best = j;
          dst[o * inner + i] = best;
        }
    });
  });
  return k;
}

}  // namespace

void register_reduce_kernels(KernelTable& t) {
  auto add = [&t](const char* name, Op op, std::int64_t axes_input_opset) {
    t[name] = [op, axes_input_opset](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_reduce(c, o, op, axes_input_opset); };
  };
  add("ReduceSum", Op::kSum, 13);
  add("ReduceMean", Op::kMean, 18);
  add("ReduceMax", Op::kMax, 18);
  add("ReduceMin", Op::kMin, 18);
  add("ReduceProd", Op::kProd, 18);
  add("ReduceSumSquare", Op::kSumSquare, 18);
  add("ReduceL1", Op::kL1, 18);
  add("ReduceL2", Op::kL2, 18);
  add("ReduceLogSumExp", Op::kLogSumExp, 18);
  add("ReduceLogSum", Op::kLogSum, 18);
  t["ArgMax"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_arg_extreme(c, o, true); };
  t["ArgMin"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_arg_extreme(c, o, false); };
}

}  // namespace aifgen::engine

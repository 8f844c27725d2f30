// ScatterElements (below) and ScatterND (opset 11 to 18): a copy of `data` with the slices that `indices` name replaced by
// (or, opset 16+, combined with: add, mul, max, min) `updates`. Negative indices count from the
// end; an index outside the data is refused when the run meets it rather than written past the
// buffer. Swin Transformer builds its shifted-window attention mask this way (folded at plan time
// when, as there, every input is constant).
#include <cstring>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"
#include "core/base/error.h"

namespace aifgen::engine {
namespace {

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

template <typename T>
void combine(T* dst, const T* src, std::int64_t n, Reduction r) {
  for (std::int64_t i = 0; i < n; ++i) {
    switch (r) {
      case Reduction::kNone: dst[i] = src[i]; break;
      case Reduction::kAdd: dst[i] = static_cast<T>(dst[i] + src[i]); break;
      case Reduction::kMul: dst[i] = static_cast<T>(dst[i] * src[i]); break;
      case Reduction::kMax: dst[i] = src[i] > dst[i] ? src[i] : dst[i]; break;
      case Reduction::kMin: dst[i] = src[i] < dst[i] ? src[i] : dst[i]; break;
    }
  }
}

std::unique_ptr<Kernel> make_scatter_nd(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& data = ctx.in(0);
  const auto& idx = ctx.in(1);
  const auto& upd = ctx.in(2);
  ctx.require_dtype(1, {DType::kI64});
  if (upd.dtype != data.dtype) ctx.invalid("updates differ in type from data");
  if (idx.shape.empty()) ctx.invalid("indices must have rank >= 1");
  const std::size_t k = static_cast<std::size_t>(idx.shape.back());
  if (k < 1 || k > data.shape.size()) ctx.invalid("the last indices dim must be between 1 and the data rank");
  // updates: indices.shape[:-1] + data.shape[k:]
  Shape want(idx.shape.begin(), idx.shape.end() - 1);
  want.insert(want.end(), data.shape.begin() + static_cast<std::ptrdiff_t>(k), data.shape.end());
  if (upd.shape != want) ctx.invalid("updates must have shape " + shape_str(want) + ", not " + shape_str(upd.shape));
  const std::string red = ctx.opset() >= 16 ? ctx.attr_s("reduction", "none") : "none";
  Reduction r = red == "none" ? Reduction::kNone : red == "add" ? Reduction::kAdd : red == "mul" ? Reduction::kMul
              : red == "max" ? Reduction::kMax : red == "min" ? Reduction::kMin : (ctx.invalid("unknown reduction " + red), Reduction::kNone);
  if (data.dtype == DType::kBool && r != Reduction::kNone) ctx.unsupported("a reduction over bool");
  if (data.dtype == DType::kF16 && r != Reduction::kNone) ctx.unsupported("a reduction over float16");
  outs = {data};
  std::int64_t slice = 1;
  for (std::size_t d = k; d < data.shape.size(); ++d) slice *= data.shape[d];
  Shape dims(data.shape.begin(), data.shape.begin() + static_cast<std::ptrdiff_t>(k));
  const std::string node_name = ctx.node().name();
  const DType dt = data.dtype;
  return make_kernel([=](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const std::size_t size = dtype_size(dt);
    std::memcpy(out[0]->data, in[0]->data, out[0]->bytes());
    const auto* ix = in[1]->as<std::int64_t>();
    const std::int64_t n = in[1]->numel() / static_cast<std::int64_t>(k);
    for (std::int64_t u = 0; u < n; ++u) {
      std::int64_t off = 0;
      for (std::size_t d = 0; d < k; ++d) {
        std::int64_t i = ix[u * static_cast<std::int64_t>(k) + static_cast<std::int64_t>(d)];
        if (i < 0) i += dims[d];
        if (i < 0 || i >= dims[d])
          throw Error(ErrorCode::kInvalidArgument, "engine-bad-input",
                      "node '" + node_name + "' (ScatterND): index " + std::to_string(i) + " is outside axis " + std::to_string(d));
        off = off * dims[d] + i;
      }
      std::byte* dst = out[0]->data + static_cast<std::size_t>(off * slice) * size;
      const std::byte* src = in[2]->data + static_cast<std::size_t>(u * slice) * size;
      if (r == Reduction::kNone) {
        std::memcpy(dst, src, static_cast<std::size_t>(slice) * size);
        continue;
      }
      dispatch_type(dt, [&](auto zero) {
        using T = decltype(zero);
        if constexpr (!std::is_same_v<T, bool>) combine(reinterpret_cast<T*>(dst), reinterpret_cast<const T*>(src), slice, r);
      });
    }
  });
}


// ScatterElements (opset 11 to 18): a copy of `data` with data[..., indices[i], ...] (the index
// replacing position i's coordinate on `axis`) set to, or combined with, updates[i], for every
// position i of `indices` and `updates` (one shape, at most data's along each axis). Detection
// models' MultiScaleRoIAlign puts each pyramid level's pooled boxes back in order so.
std::unique_ptr<Kernel> make_scatter_elements(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& data = ctx.in(0);
  const auto& idx = ctx.in(1);
  ctx.require_dtype(1, {DType::kI64, DType::kI32});
  if (ctx.in(2).dtype != data.dtype) ctx.invalid("updates differ in type from data");
  if (ctx.in(2).shape != idx.shape) ctx.invalid("updates and indices must have one shape");
  const auto rank = static_cast<std::int64_t>(data.shape.size());
  if (rank < 1 || static_cast<std::int64_t>(idx.shape.size()) != rank) ctx.invalid("indices must have data's rank");
  for (std::int64_t d = 0; d < rank; ++d)
    if (idx.shape[static_cast<std::size_t>(d)] > data.shape[static_cast<std::size_t>(d)])
      ctx.invalid("indices are longer than data along axis " + std::to_string(d));
  const auto axis = normalize_axis(ctx, ctx.attr_i("axis", 0), rank);
  const std::string red = ctx.opset() >= 16 ? ctx.attr_s("reduction", "none") : "none";
  Reduction r = red == "none" ? Reduction::kNone : red == "add" ? Reduction::kAdd : red == "mul" ? Reduction::kMul
              : red == "max" ? Reduction::kMax : red == "min" ? Reduction::kMin : (ctx.invalid("unknown reduction " + red), Reduction::kNone);
  if ((data.dtype == DType::kBool || data.dtype == DType::kF16) && r != Reduction::kNone)
    ctx.unsupported(std::string("a reduction over ") + dtype_str(data.dtype));
  outs = {data};
  const Shape dshape = data.shape, ishape = idx.shape;
  const bool i64 = idx.dtype == DType::kI64;
  const std::string node_name = ctx.node().name();
  const DType dt = data.dtype;
  return make_kernel([=](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const std::size_t size = dtype_size(dt);
    std::memcpy(out[0]->data, in[0]->data, out[0]->bytes());
    const std::int64_t n = in[1]->numel();
    std::vector<std::int64_t> coord(static_cast<std::size_t>(rank), 0);
    for (std::int64_t u = 0; u < n; ++u) {
      std::int64_t k = i64 ? in[1]->as<std::int64_t>()[u] : in[1]->as<std::int32_t>()[u];
      const std::int64_t dim = dshape[static_cast<std::size_t>(axis)];
      if (k < 0) k += dim;
      if (k < 0 || k >= dim)
        throw Error(ErrorCode::kInvalidArgument, "engine-bad-input",
                    "node '" + node_name + "' (ScatterElements): index " + std::to_string(k) + " is outside an axis of length " +
                        std::to_string(dim));
      std::int64_t off = 0;
      for (std::int64_t d = 0; d < rank; ++d)
        off = off * dshape[static_cast<std::size_t>(d)] + (d == axis ? k : coord[static_cast<std::size_t>(d)]);
      std::byte* dst = out[0]->data + static_cast<std::size_t>(off) * size;
      const std::byte* src = in[2]->data + static_cast<std::size_t>(u) * size;
      if (r == Reduction::kNone) {
        std::memcpy(dst, src, size);
      } else {
        dispatch_type(dt, [&](auto zero) {
          using T = decltype(zero);
          if constexpr (!std::is_same_v<T, bool>) combine(reinterpret_cast<T*>(dst), reinterpret_cast<const T*>(src), 1, r);
        });
      }
      for (std::int64_t d = rank - 1; d >= 0; --d) {  // next position of indices, row-major
        if (++coord[static_cast<std::size_t>(d)] < ishape[static_cast<std::size_t>(d)]) break;
        coord[static_cast<std::size_t>(d)] = 0;
      }
    }
  });
}

}  // namespace

void register_scatter_kernels(KernelTable& t) {
  t["ScatterND"] = make_scatter_nd;
  t["ScatterElements"] = make_scatter_elements;
}

}  // namespace aifgen::engine

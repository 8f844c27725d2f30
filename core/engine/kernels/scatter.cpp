// ScatterElements (below) and ScatterND (opset 11 to 18): a copy of `data` with the slices that `indices` name replaced by
// (or, opset 16+, combined with: add, mul, max, min) `updates`. Negative indices count from the
// end; an index outside the data is refused when the run meets it rather than written past the
// buffer. Swin Transformer builds its shifted-window attention mask this way (folded at plan time
// when, as there, every input is constant).
#include <omp.h>

#include <atomic>
#include <cstring>
#include <vector>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"
#include "core/base/error.h"

namespace aifgen::engine {
namespace {

enum class Reduction { kNone, kAdd, kMul, kMax, kMin };

template <typename T>
inline void combine_one(T& dst, T src, Reduction r) {
  switch (r) {
    case Reduction::kNone: dst = src; break;
    case Reduction::kAdd: dst = static_cast<T>(dst + src); break;
    case Reduction::kMul: dst = static_cast<T>(dst * src); break;
    case Reduction::kMax: dst = src > dst ? src : dst; break;
    case Reduction::kMin: dst = src < dst ? src : dst; break;
  }
}

// ScatterND's form: a whole slice combined element by element.
template <typename T>
void combine(T* dst, const T* src, std::int64_t n, Reduction r) {
  for (std::int64_t i = 0; i < n; ++i) combine_one(dst[i], src[i], r);
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


// How ScatterElements walks `indices`: the trailing axes after `axis` on which indices and data
// agree merge into one contiguous inner axis (MultiScaleRoIAlign's [K, 256, 7, 7] index along
// axis 0 is K rows of 12,544), and every row is one position of the axes before it.
struct ScatterWalk {
  std::vector<std::int64_t> row_dims;     // indices' extents on the axes before the inner one
  std::vector<std::int64_t> data_stride;  // data's element stride on each of those axes
  std::int64_t inner = 1;                 // the inner axis' length (the same in indices and data)
  std::int64_t axis_stride = 1;           // data's stride along `axis`
  std::int64_t axis_length = 1;           // data's length along `axis`
  std::size_t axis_row_dim = 0;           // which row axis is `axis` (when !axis_is_inner)
  bool axis_is_inner = false;             // `axis` is the inner axis: the row fixes everything else
};

ScatterWalk plan_scatter_walk(const Shape& data, const Shape& indices, std::int64_t axis) {
  const auto rank = static_cast<std::int64_t>(data.size());
  std::vector<std::int64_t> stride(data.size(), 1);
  for (auto d = rank - 1; d > 0; --d) stride[static_cast<std::size_t>(d - 1)] = stride[static_cast<std::size_t>(d)] * data[static_cast<std::size_t>(d)];
  ScatterWalk w;
  w.axis_stride = stride[static_cast<std::size_t>(axis)];
  w.axis_length = data[static_cast<std::size_t>(axis)];
  // The merged inner axis: the axes after `axis` from the last inward while indices and data
  // agree on them (an axis where they differ ends it, as it must keep its own stride).
  auto first_inner = rank;
  while (first_inner - 1 > axis && indices[static_cast<std::size_t>(first_inner - 1)] == data[static_cast<std::size_t>(first_inner - 1)]) --first_inner;
  if (first_inner == rank) first_inner = rank - 1;  // no agreeing axis: the last one alone is inner
  for (auto d = first_inner; d < rank; ++d) w.inner *= indices[static_cast<std::size_t>(d)];
  w.axis_is_inner = first_inner == axis;
  for (std::int64_t d = 0; d < first_inner; ++d) {
    if (d == axis) w.axis_row_dim = w.row_dims.size();
    w.row_dims.push_back(indices[static_cast<std::size_t>(d)]);
    w.data_stride.push_back(stride[static_cast<std::size_t>(d)]);
  }
  return w;
}

// Scatters rows [row_begin, row_end) and, of each, inner positions [j_begin, j_end). Returns
// false, with the index in `bad`, at the first index outside data's axis.
template <typename T, typename I>
bool scatter_rows(const ScatterWalk& w, const I* idx, const T* upd, T* out, std::int64_t row_begin, std::int64_t row_end,
                  std::int64_t j_begin, std::int64_t j_end, Reduction r, std::int64_t& bad) {
  const std::size_t dims = w.row_dims.size();
  // The row's coordinates and data offset (the axis' own coordinate left out), from row_begin
  // on by carrying, as an odometer does.
  std::vector<std::int64_t> coord(dims, 0);
  std::int64_t base = 0;
  for (std::size_t d = dims, rest = static_cast<std::size_t>(row_begin); d-- > 0;) {
    const auto extent = static_cast<std::size_t>(w.row_dims[d]);
    coord[d] = static_cast<std::int64_t>(rest % extent);
    rest /= extent;
    if (w.axis_is_inner || d != w.axis_row_dim) base += coord[d] * w.data_stride[d];
  }
  const std::int64_t length = w.axis_length;
  for (std::int64_t row = row_begin; row < row_end; ++row) {
    const I* ix = idx + row * w.inner;
    const T* src = upd + row * w.inner;
    for (std::int64_t j = j_begin; j < j_end; ++j) {
      std::int64_t k = static_cast<std::int64_t>(ix[j]);
      if (k < 0) k += length;
      if (static_cast<std::uint64_t>(k) >= static_cast<std::uint64_t>(length)) {
        bad = static_cast<std::int64_t>(ix[j]);
        return false;
      }
      T& dst = w.axis_is_inner ? out[base + k] : out[base + k * w.axis_stride + j];
      combine_one(dst, src[j], r);
    }
    for (std::size_t d = dims; d-- > 0;) {
      const bool counts = w.axis_is_inner || d != w.axis_row_dim;
      if (++coord[d] < w.row_dims[d]) {
        if (counts) base += w.data_stride[d];
        break;
      }
      if (counts) base -= (coord[d] - 1) * w.data_stride[d];
      coord[d] = 0;
    }
  }
  return true;
}

// ScatterElements (opset 11 to 18): a copy of `data` with data[..., indices[i], ...] (the index
// replacing position i's coordinate on `axis`) set to, or combined with, updates[i], for every
// position i of `indices` and `updates` (one shape, at most data's along each axis). Detection
// models' MultiScaleRoIAlign puts each pyramid level's pooled boxes back in order so, 10 million
// elements per call in Keypoint R-CNN's box head.
//
// Threads share the work only where no two of them can meet at one destination, so repeated
// indices land in index order as on one thread: when `axis` is the inner axis, each row is one
// destination row and the threads share rows; otherwise a destination's inner coordinate is
// its update's, and the threads share the inner axis.
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
  const ScatterWalk walk = plan_scatter_walk(data.shape, idx.shape, axis);
  const bool i64 = idx.dtype == DType::kI64;
  const std::string node_name = ctx.node().name();
  const DType dt = data.dtype;
  return make_kernel([=](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    std::memcpy(out[0]->data, in[0]->data, out[0]->bytes());
    const std::int64_t total = in[1]->numel();
    if (total == 0) return;
    const std::int64_t rows = total / walk.inner;
    const int threads = total > kParallelMinElements ? omp_get_max_threads() : 1;
    std::atomic<bool> failed{false};
    std::int64_t bad = 0;
    auto run = [&](auto element, auto index) {
      using T = decltype(element);
      using I = decltype(index);
      const auto* ix = in[1]->as<I>();
      const auto* up = reinterpret_cast<const T*>(in[2]->data);
      auto* dst = reinterpret_cast<T*>(out[0]->data);
#pragma omp parallel num_threads(threads) if (threads > 1)
      {
        const std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
        std::int64_t rb = 0, re = rows, jb = 0, je = walk.inner;
        if (walk.axis_is_inner) {
          rb = rows * t / nt;
          re = rows * (t + 1) / nt;
        } else {
          jb = walk.inner * t / nt;
          je = walk.inner * (t + 1) / nt;
        }
        std::int64_t mine = 0;
        if (rb < re && jb < je && !scatter_rows<T, I>(walk, ix, up, dst, rb, re, jb, je, r, mine) && !failed.exchange(true)) bad = mine;
      }
    };
    // bool and float16 are only copied (a reduction over them is refused when planned): moved
    // as bytes and 16-bit words.
    auto with_index = [&](auto element) {
      if (i64) run(element, std::int64_t{});
      else run(element, std::int32_t{});
    };
    if (dt == DType::kF16) with_index(std::uint16_t{});
    else if (dt == DType::kBool) with_index(std::uint8_t{});
    else dispatch_type(dt, [&](auto zero) { with_index(zero); });
    if (failed)
      throw Error(ErrorCode::kInvalidArgument, "engine-bad-input",
                  "node '" + node_name + "' (ScatterElements): index " + std::to_string(bad) + " is outside an axis of length " +
                      std::to_string(walk.axis_length));
  });
}

}  // namespace

void register_scatter_kernels(KernelTable& t) {
  t["ScatterND"] = make_scatter_nd;
  t["ScatterElements"] = make_scatter_elements;
}

}  // namespace aifgen::engine

// Ops that pick elements by their values, as detection models' post-processing does: TopK,
// GatherND, NonZero and NonMaxSuppression.
//
// NonZero and NonMaxSuppression give outputs whose length depends on the values they read, so
// their factories need every input known (a constant, or a value the dynamic tail has computed
// at run time: dynamic_tail.h) and compute the result there; the kernel only copies it out.
// TopK with a known k has a planned shape and runs as any other kernel.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/engine/kernels/box_suppression.h"
#include "core/engine/kernels/dispatch.h"
#include "core/engine/kernels/fast_math.h"
#include "core/engine/registry.h"
#include "core/base/error.h"

namespace aifgen::engine {
namespace {

// A kernel that writes results its factory already computed.
std::unique_ptr<Kernel> precomputed(std::vector<Tensor> results) {
  return make_kernel([results = std::move(results)](const std::vector<const Tensor*>&, const std::vector<Tensor*>& out, RunContext&) {
    for (std::size_t i = 0; i < results.size(); ++i)
      if (results[i].bytes() > 0) std::memcpy(out[i]->data, results[i].data, results[i].bytes());
  });
}

// Order for TopK: the larger (or smaller) value first, NaN above every number as in NumPy and
// PyTorch, and the lower index first among equal values (ONNX TopK-11).
template <typename T>
struct TopKOrder {
  const T* row;
  std::int64_t stride;
  bool largest;
  bool operator()(std::int64_t a, std::int64_t b) const {
    const T x = row[a * stride], y = row[b * stride];
    if constexpr (std::is_floating_point_v<T>) {
      const bool nx = std::isnan(x), ny = std::isnan(y);
      if (nx || ny) return nx != ny ? (largest ? nx : ny) : a < b;
    }
    if (x != y) return largest ? x > y : x < y;
    return a < b;
  }
};

std::unique_ptr<Kernel> make_topk(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& x = ctx.in(0);
  const auto rank = static_cast<std::int64_t>(x.shape.size());
  if (rank < 1) ctx.invalid("TopK needs an input of rank 1 or more");
  const auto axis = normalize_axis(ctx, ctx.attr_i("axis", -1), rank);
  std::int64_t k = 0;
  if (ctx.opset() < 10) {
    k = ctx.attr_i("k", -1);
  } else {
    const auto ks = to_int64_vector(ctx.constant_input(1, "k"));
    if (ks.size() != 1) ctx.invalid("k must hold one value");
    k = ks[0];
  }
  const std::int64_t dim = x.shape[static_cast<std::size_t>(axis)];
  if (k < 0 || k > dim) ctx.invalid("k = " + std::to_string(k) + " is outside [0, " + std::to_string(dim) + "]");
  const bool largest = ctx.opset() < 11 || ctx.attr_i("largest", 1) != 0;
  // sorted=0 leaves the order to the implementation: sorted is one of the allowed orders.
  Shape out = x.shape;
  out[static_cast<std::size_t>(axis)] = k;
  outs = {{x.dtype, out}, {DType::kI64, out}};
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t d = 0; d < axis; ++d) outer *= x.shape[static_cast<std::size_t>(d)];
  for (std::int64_t d = axis + 1; d < rank; ++d) inner *= x.shape[static_cast<std::size_t>(d)];
  std::unique_ptr<Kernel> kernel;
  const bool typed = dispatch_type(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) {
      ctx.unsupported("TopK over bool");
    } else {
      kernel = make_kernel([=](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& o, RunContext&) {
        const T* src = in[0]->as<T>();
        T* values = o[0]->as<T>();
        auto* indices = o[1]->as<std::int64_t>();
        std::vector<std::int64_t> order(static_cast<std::size_t>(dim));
        for (std::int64_t r = 0; r < outer; ++r)
          for (std::int64_t c = 0; c < inner; ++c) {
            const T* row = src + r * dim * inner + c;
            std::iota(order.begin(), order.end(), std::int64_t{0});
            std::partial_sort(order.begin(), order.begin() + k, order.end(), TopKOrder<T>{row, inner, largest});
            for (std::int64_t j = 0; j < k; ++j) {
              const std::int64_t at = r * k * inner + j * inner + c;
              values[at] = row[order[static_cast<std::size_t>(j)] * inner];
              indices[at] = order[static_cast<std::size_t>(j)];
            }
          }
      });
    }
  });
  if (!typed) ctx.unsupported("TopK over float16");
  return kernel;
}

// GatherND-11/12/13: the slices of `data` that the last axis of `indices` names, the first
// batch_dims axes of both walked together.
std::unique_ptr<Kernel> make_gather_nd(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& data = ctx.in(0);
  const auto& idx = ctx.in(1);
  ctx.require_dtype(1, {DType::kI64});
  const auto b = static_cast<std::size_t>(ctx.opset() >= 12 ? ctx.attr_i("batch_dims", 0) : 0);
  if (idx.shape.empty()) ctx.invalid("indices must have rank 1 or more");
  if (b >= idx.shape.size() || b >= data.shape.size()) ctx.invalid("batch_dims must be less than both ranks");
  for (std::size_t d = 0; d < b; ++d)
    if (data.shape[d] != idx.shape[d]) ctx.invalid("data and indices differ in batch dim " + std::to_string(d));
  const auto m = static_cast<std::size_t>(idx.shape.back());
  if (m < 1 || b + m > data.shape.size()) ctx.invalid("the last indices dim must be between 1 and the data rank less batch_dims");
  Shape out(idx.shape.begin(), idx.shape.end() - 1);
  out.insert(out.end(), data.shape.begin() + static_cast<std::ptrdiff_t>(b + m), data.shape.end());
  outs = {{data.dtype, out}};
  std::int64_t batches = 1, per_batch_tuples = 1, slice = static_cast<std::int64_t>(dtype_size(data.dtype));
  for (std::size_t d = 0; d < b; ++d) batches *= data.shape[d];
  for (std::size_t d = b; d + 1 < idx.shape.size(); ++d) per_batch_tuples *= idx.shape[d];
  for (std::size_t d = b + m; d < data.shape.size(); ++d) slice *= data.shape[d];
  const Shape dims(data.shape.begin() + static_cast<std::ptrdiff_t>(b), data.shape.begin() + static_cast<std::ptrdiff_t>(b + m));
  const std::int64_t batch_elems = numel(Shape(data.shape.begin() + static_cast<std::ptrdiff_t>(b), data.shape.end())) *
                                   static_cast<std::int64_t>(dtype_size(data.dtype));
  const std::string name = ctx.node().name();
  return make_kernel([=](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& o, RunContext&) {
    const auto* ix = in[1]->as<std::int64_t>();
    std::byte* dst = o[0]->data;
    for (std::int64_t bt = 0; bt < batches; ++bt)
      for (std::int64_t t = 0; t < per_batch_tuples; ++t, dst += slice) {
        std::int64_t off = 0;
        for (std::size_t d = 0; d < m; ++d) {
          std::int64_t i = *ix++;
          if (i < 0) i += dims[d];
          if (i < 0 || i >= dims[d])
            throw Error(ErrorCode::kInvalidArgument, "engine-bad-input",
                        "node '" + name + "' (GatherND): index " + std::to_string(i) + " is outside an axis of length " +
                            std::to_string(dims[d]));
          off = off * dims[d] + i;
        }
        std::memcpy(dst, in[0]->data + bt * batch_elems + off * slice, static_cast<std::size_t>(slice));
      }
  });
}

// NonZero: the coordinates of the elements that are not zero, one row per axis, in row-major
// order (numpy.nonzero). A scalar counts as a one-element vector, as numpy.atleast_1d makes it.
std::unique_ptr<Kernel> make_nonzero(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const Tensor& x = ctx.constant_input(0, "NonZero's input (its output's length depends on its values)");
  const Shape shape = x.shape.empty() ? Shape{1} : x.shape;
  // Two passes: count, then write each hit's coordinates, stepping them as a row-major counter
  // (a division and a remainder per axis per hit made NonZero over RetinaNet's 8.2M scores at
  // threshold 0 the largest step of its run).
  const auto rank = static_cast<std::int64_t>(shape.size());
  Tensor result;
  const bool typed = dispatch_type(x.dtype, [&](auto zero) {
    using T = decltype(zero);
    const T* v = x.as<T>();
    const std::int64_t total = x.numel();
    std::int64_t n = 0;
    for (std::int64_t i = 0; i < total; ++i) n += v[i] != T{};
    result = Tensor::allocate_for_overwrite(DType::kI64, {rank, n});
    auto* coords = result.as<std::int64_t>();
    std::vector<std::int64_t> at(static_cast<std::size_t>(rank), 0);  // the coordinates of element i
    std::int64_t j = 0;
    for (std::int64_t i = 0; i < total; ++i) {
      if (v[i] != T{}) {
        for (std::int64_t d = 0; d < rank; ++d) coords[d * n + j] = at[static_cast<std::size_t>(d)];
        ++j;
      }
      for (std::int64_t d = rank - 1; d >= 0; --d) {
        if (++at[static_cast<std::size_t>(d)] < shape[static_cast<std::size_t>(d)]) break;
        at[static_cast<std::size_t>(d)] = 0;
      }
    }
  });
  if (!typed) ctx.unsupported("NonZero over float16");
  outs = {result.desc()};
  return precomputed({std::move(result)});
}

// NonMaxSuppression-10/11: per batch and class, boxes above score_threshold in order of score
// (the lower index first among equal scores), each kept unless its IoU with a box kept before
// exceeds iou_threshold, at most max_output_boxes_per_class of them (absent or 0: none, as the
// spec says). Output rows are [batch, class, box] in that order.
std::unique_ptr<Kernel> make_nms(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const Tensor& boxes = ctx.constant_input(0, "NonMaxSuppression's boxes (its output's length depends on the values)");
  const Tensor& scores = ctx.constant_input(1, "NonMaxSuppression's scores");
  ctx.require_dtype(0, {DType::kF32});
  ctx.require_dtype(1, {DType::kF32});
  if (boxes.shape.size() != 3 || boxes.shape[2] != 4) ctx.invalid("boxes must have shape [batches, boxes, 4]");
  if (scores.shape.size() != 3 || scores.shape[0] != boxes.shape[0] || scores.shape[2] != boxes.shape[1])
    ctx.invalid("scores must have shape [batches, classes, boxes] matching boxes " + shape_str(boxes.shape));
  auto scalar = [&](std::size_t i, const char* what) -> const Tensor* {
    if (!ctx.has_input(i)) return nullptr;
    const Tensor& t = ctx.constant_input(i, what);
    if (t.numel() != 1) ctx.invalid(std::string(what) + " must hold one value");
    return &t;
  };
  std::int64_t max_per_class = 0;
  if (const auto* t = scalar(2, "max_output_boxes_per_class")) max_per_class = std::max<std::int64_t>(0, to_int64_vector(*t)[0]);
  float iou_threshold = 0;
  if (const auto* t = scalar(3, "iou_threshold")) {
    ctx.require_dtype(3, {DType::kF32});
    iou_threshold = t->as<float>()[0];
    if (!(iou_threshold >= 0 && iou_threshold <= 1)) ctx.invalid("iou_threshold must be in [0, 1]");
  }
  const Tensor* score_threshold = scalar(4, "score_threshold");
  if (score_threshold) ctx.require_dtype(4, {DType::kF32});
  const std::int64_t center = ctx.attr_i("center_point_box", 0);
  if (center != 0 && center != 1) ctx.invalid("center_point_box must be 0 or 1");

  const std::int64_t batches = boxes.shape[0], classes = scores.shape[1], n = boxes.shape[1];
  std::vector<std::int64_t> rows, order;
  BoxEdges edges;
  for (std::int64_t bt = 0; bt < batches && max_per_class > 0; ++bt) {
    edges.clear();
    for (std::int64_t i = 0; i < n; ++i) edges.push(boxes.as<float>() + (bt * n + i) * 4, center == 1);
    for (std::int64_t c = 0; c < classes; ++c) {
      const float* s = scores.as<float>() + (bt * classes + c) * n;
      order.clear();
      for (std::int64_t i = 0; i < n; ++i)
        if (!score_threshold || s[i] > score_threshold->as<float>()[0]) order.push_back(i);
      std::stable_sort(order.begin(), order.end(), [s](std::int64_t a, std::int64_t b) { return s[a] > s[b]; });
      for (std::int64_t i : greedy_suppress(edges, order, iou_threshold, max_per_class)) rows.insert(rows.end(), {bt, c, i});
    }
  }
  Tensor result = Tensor::allocate_for_overwrite(DType::kI64, {static_cast<std::int64_t>(rows.size() / 3), 3});
  if (!rows.empty()) std::memcpy(result.data, rows.data(), result.bytes());
  outs = {result.desc()};
  return precomputed({std::move(result)});
}

}  // namespace

bool output_shape_depends_on_values(const onnx::NodeProto& node) {
  return (node.domain().empty() || node.domain() == "ai.onnx") &&
         (node.op_type() == "NonZero" || node.op_type() == "NonMaxSuppression");
}

void register_selection_kernels(KernelTable& t) {
  t["TopK"] = make_topk;
  t["GatherND"] = make_gather_nd;
  t["NonZero"] = make_nonzero;
  t["NonMaxSuppression"] = make_nms;
}

}  // namespace aifgen::engine

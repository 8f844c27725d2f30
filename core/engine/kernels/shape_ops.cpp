// Ops that only move data: Reshape, Flatten, Squeeze, Unsqueeze, Expand, Tile, ConstantOfShape,
// Range.
// (Transpose, Concat, Slice, Gather and Split live in layout_ops.cpp.)
#include <cmath>
#include <cstring>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

std::unique_ptr<Kernel> copy_kernel() {
  return make_kernel([](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    std::memcpy(out[0]->data, in[0]->data, out[0]->bytes());
  });
}

std::unique_ptr<Kernel> make_reshape(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  std::vector<std::int64_t> target;
  bool allowzero = false;
  if (ctx.opset() < 5) target = ctx.attr_ints("shape");
  else {
    target = to_int64_vector(ctx.constant_input(1, "the target shape"));
    allowzero = ctx.attr_i("allowzero", 0) != 0;
  }
  Shape out;
  std::string why;
  if (!reshape_target(in.shape, target, allowzero, out, why)) ctx.invalid(why);
  outs = {{in.dtype, out}};
  return copy_kernel();
}

std::unique_ptr<Kernel> make_flatten(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  auto rank = static_cast<std::int64_t>(in.shape.size());
  auto axis = ctx.attr_i("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) ctx.invalid("axis out of range");
  std::int64_t a = 1, b = 1;
  for (std::int64_t i = 0; i < rank; ++i) (i < axis ? a : b) *= in.shape[static_cast<std::size_t>(i)];
  outs = {{in.dtype, {a, b}}};
  return copy_kernel();
}

std::vector<std::int64_t> axes_of(const NodeCtx& ctx, std::size_t input_index) {
  if (ctx.opset() >= 13) {
    if (!ctx.has_input(input_index)) return {};
    return to_int64_vector(ctx.constant_input(input_index, "axes"));
  }
  return ctx.attr_ints("axes");
}

std::unique_ptr<Kernel> make_squeeze(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  auto rank = static_cast<std::int64_t>(in.shape.size());
  auto axes = axes_of(ctx, 1);
  std::vector<bool> drop(in.shape.size(), false);
  if (axes.empty()) {
    for (std::size_t i = 0; i < in.shape.size(); ++i) drop[i] = in.shape[i] == 1;
  } else {
    for (auto a : axes) {
      auto ax = normalize_axis(ctx, a, rank);
      if (in.shape[static_cast<std::size_t>(ax)] != 1) ctx.invalid("squeezed dim is not 1");
      drop[static_cast<std::size_t>(ax)] = true;
    }
  }
  Shape out;
  for (std::size_t i = 0; i < in.shape.size(); ++i)
    if (!drop[i]) out.push_back(in.shape[i]);
  outs = {{in.dtype, out}};
  return copy_kernel();
}

std::unique_ptr<Kernel> make_unsqueeze(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  auto axes = axes_of(ctx, 1);
  auto out_rank = static_cast<std::int64_t>(in.shape.size() + axes.size());
  std::vector<bool> inserted(static_cast<std::size_t>(out_rank), false);
  for (auto a : axes) {
    auto ax = normalize_axis(ctx, a, out_rank);
    if (inserted[static_cast<std::size_t>(ax)]) ctx.invalid("repeated axis");
    inserted[static_cast<std::size_t>(ax)] = true;
  }
  Shape out;
  std::size_t k = 0;
  for (std::int64_t i = 0; i < out_rank; ++i) out.push_back(inserted[static_cast<std::size_t>(i)] ? 1 : in.shape[k++]);
  outs = {{in.dtype, out}};
  return copy_kernel();
}

std::unique_ptr<Kernel> make_expand(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  auto target = to_int64_vector(ctx.constant_input(1, "the target shape"));
  Shape out;
  if (!broadcast_shape({in.shape, Shape(target.begin(), target.end())}, out)) ctx.invalid("shapes do not broadcast");
  outs = {{in.dtype, out}};
  auto plan = plan_broadcast({in.shape}, out);
  auto size = dtype_size(in.dtype);
  return make_kernel([plan, size](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const std::byte* x = in[0]->data;
    std::byte* y = out[0]->data;
    for (std::int64_t r = 0; r < plan.rows; ++r) {
      if (plan.inner_stride[0] == 1) {
        std::memcpy(y + r * plan.inner * size, x + plan.row_offset[0][r] * size, plan.inner * size);
      } else {
        for (std::int64_t i = 0; i < plan.inner; ++i)
          std::memcpy(y + (r * plan.inner + i) * size, x + plan.row_offset[0][r] * size, size);
      }
    }
  });
}

// Tile-6/13: the input repeated repeats[d] times along each axis d. Built outward from the last
// axis: each input row is written repeats[-1] times, then each finished block is copied along
// the axis above it (a copy of what was just written, so every byte is read from the output).
std::unique_ptr<Kernel> make_tile(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  const auto repeats = to_int64_vector(ctx.constant_input(1, "repeats"));
  if (repeats.size() != in.shape.size()) ctx.invalid("repeats must have one value per input axis");
  Shape out = in.shape;
  for (std::size_t d = 0; d < out.size(); ++d) {
    if (repeats[d] < 0) ctx.invalid("repeats must not be negative");
    out[d] *= repeats[d];
  }
  outs = {{in.dtype, out}};
  const auto size = static_cast<std::int64_t>(dtype_size(in.dtype));
  const Shape shape = in.shape;
  return make_kernel([shape, repeats, size](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& o, RunContext&) {
    if (o[0]->numel() == 0) return;
    const auto rank = shape.size();
    if (rank == 0) {
      std::memcpy(o[0]->data, in[0]->data, static_cast<std::size_t>(size));
      return;
    }
    // Tiles axis d of the block at (src, dst): the input's sub-block of axes d.. is at src,
    // its tiled form is written at dst. Returns the bytes written.
    auto tile = [&](auto& self, std::size_t d, const std::byte* src, std::byte* dst) -> std::int64_t {
      std::int64_t in_block = size, written = 0;
      for (std::size_t k = d + 1; k < rank; ++k) in_block *= shape[k];
      if (d + 1 == rank) {
        std::memcpy(dst, src, static_cast<std::size_t>(in_block * shape[d]));
        written = in_block * shape[d];
      } else {
        for (std::int64_t i = 0; i < shape[d]; ++i) written += self(self, d + 1, src + i * in_block, dst + written);
      }
      for (std::int64_t r = 1; r < repeats[d]; ++r) std::memcpy(dst + r * written, dst, static_cast<std::size_t>(written));
      return written * repeats[d];
    };
    tile(tile, 0, in[0]->data, o[0]->data);
  });
}

std::unique_ptr<Kernel> make_constant_of_shape(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  auto dims = to_int64_vector(ctx.constant_input(0, "the shape"));
  Tensor value = Tensor::allocate(DType::kF32, {1});
  if (const auto* a = ctx.attr("value")) value = tensor_from_proto(a->t());
  outs = {{value.dtype, Shape(dims.begin(), dims.end())}};
  return make_kernel([value](const std::vector<const Tensor*>&, const std::vector<Tensor*>& out, RunContext&) {
    auto size = dtype_size(value.dtype);
    for (std::int64_t i = 0; i < out[0]->numel(); ++i) std::memcpy(out[0]->data + i * size, value.data, size);
  });
}

std::unique_ptr<Kernel> make_range(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  auto dt = ctx.in(0).dtype;
  std::unique_ptr<Kernel> k;
  dispatch_type(dt, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) ctx.unsupported("bool");
    else {
      T start = ctx.constant_input(0, "start").as<T>()[0], limit = ctx.constant_input(1, "limit").as<T>()[0],
        delta = ctx.constant_input(2, "delta").as<T>()[0];
      if (delta == 0) ctx.invalid("delta is 0");
      auto n = static_cast<std::int64_t>(std::max(0.0, std::ceil((double(limit) - double(start)) / double(delta))));
      outs = {{dt, {n}}};
      k = make_kernel([start, delta](const std::vector<const Tensor*>&, const std::vector<Tensor*>& out, RunContext&) {
        T* y = out[0]->as<T>();
        for (std::int64_t i = 0; i < out[0]->numel(); ++i) y[i] = static_cast<T>(start + static_cast<T>(i) * delta);
      });
    }
  });
  return k;
}

}  // namespace

void register_layout_kernels(KernelTable& t);

void register_shape_kernels(KernelTable& t) {
  t["Reshape"] = make_reshape;
  t["Flatten"] = make_flatten;
  t["Squeeze"] = make_squeeze;
  t["Unsqueeze"] = make_unsqueeze;
  t["Expand"] = make_expand;
  t["Tile"] = make_tile;
  t["ConstantOfShape"] = make_constant_of_shape;
  t["Range"] = make_range;
  register_layout_kernels(t);
}

}  // namespace aifgen::engine

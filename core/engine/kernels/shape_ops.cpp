// Ops that only move data: Reshape, Flatten, Squeeze, Unsqueeze, Expand, Tile, ConstantOfShape,
// Range.
// (Transpose, Concat, Slice, Gather and Split live in layout_ops.cpp.)
#include <algorithm>
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

// Calls f with an unsigned integer of `size` bytes, to move elements of that size (every element
// type the engine has is 1, 2, 4 or 8 bytes).
template <typename F>
void dispatch_size(std::size_t size, F&& f) {
  switch (size) {
    case 1: f(std::uint8_t{}); break;
    case 2: f(std::uint16_t{}); break;
    case 4: f(std::uint32_t{}); break;
    default: f(std::uint64_t{}); break;
  }
}

// `count` copies of the `size`-byte value at `value` from `dst` on: a memset for zero bytes, a
// typed fill otherwise (a memcpy per element was most of ConstantOfShape's and Expand's time in
// the R-CNNs' tails, which make [proposals, 256, 7, 7] zeros and index maps every run).
void fill_with(std::byte* dst, std::int64_t count, const std::byte* value, std::size_t size) {
  if (count <= 0) return;
  if (std::all_of(value, value + size, [](std::byte b) { return b == std::byte{0}; })) {
    std::memset(dst, 0, static_cast<std::size_t>(count) * size);
    return;
  }
  dispatch_size(size, [&](auto word) {
    using W = decltype(word);
    W v;
    std::memcpy(&v, value, sizeof(W));
    W* out = reinterpret_cast<W*>(dst);  // dst of a Tensor of this element size: aligned for it
    std::fill(out, out + count, v);
  });
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
      } else if (plan.inner_stride[0] == 0) {  // one value along the row: [R, 1] -> [R, K]
        fill_with(y + r * plan.inner * size, plan.inner, x + plan.row_offset[0][r] * size, size);
      } else {
        for (std::int64_t i = 0; i < plan.inner; ++i)
          std::memcpy(y + (r * plan.inner + i) * size, x + (plan.row_offset[0][r] + i * plan.inner_stride[0]) * size, size);
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

// DepthToSpace-1/11/13: [N, C*b*b, H, W] -> [N, C, H*b, W*b], output (c, h*b + i, w*b + j) read
// from input channel (i*b + j)*C + c (DCR, the default) or c*b*b + i*b + j (CRD). Besides
// models that use it, the engine runs a ConvTranspose whose kernel equals its stride as a 1x1
// Conv and a CRD DepthToSpace (conv_transpose_upsampling.h).
std::unique_ptr<Kernel> make_depth_to_space(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  if (in.shape.size() != 4) ctx.invalid("the input must be [N, C, H, W]");
  const std::int64_t b = ctx.attr_i("blocksize", 0);
  if (b < 1) ctx.invalid("blocksize must be positive");
  const std::string mode = ctx.attr_s("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") ctx.invalid("mode must be DCR or CRD, not " + mode);
  const std::int64_t n = in.shape[0], c = in.shape[1], h = in.shape[2], w = in.shape[3];
  if (c % (b * b) != 0) ctx.invalid("the channels are not a multiple of blocksize squared");
  const std::int64_t oc = c / (b * b);
  outs = {{in.dtype, {n, oc, h * b, w * b}}};
  const bool crd = mode == "CRD";
  const auto size = dtype_size(in.dtype);
  return make_kernel([n, oc, h, w, b, crd, size](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const std::byte* x = in[0]->data;
    std::byte* y = out[0]->data;
    const std::int64_t plane = h * w, out_w = w * b;
    // Each output channel is written whole by one thread, row by row in order: output row
    // r*b + i interleaves row r of the b input planes (i, 0..b-1).
#pragma omp parallel for if (n * oc > 1 && n * oc * plane * b * b > kParallelMinElements) schedule(static)
    for (std::int64_t nc = 0; nc < n * oc; ++nc) {
      const std::int64_t image = nc / oc, ch = nc % oc;
      dispatch_size(size, [&](auto word) {
        using W = decltype(word);
        W* d = reinterpret_cast<W*>(y) + nc * plane * b * b;
        const W* s = reinterpret_cast<const W*>(x) + image * oc * b * b * plane;
        for (std::int64_t r = 0; r < h; ++r)
          for (std::int64_t i = 0; i < b; ++i) {
            W* row = d + (r * b + i) * out_w;
            for (std::int64_t j = 0; j < b; ++j) {
              const W* src = s + (crd ? ch * b * b + i * b + j : (i * b + j) * oc + ch) * plane + r * w;
              for (std::int64_t q = 0; q < w; ++q) row[q * b + j] = src[q];
            }
          }
      });
    }
  });
}

std::unique_ptr<Kernel> make_constant_of_shape(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  auto dims = to_int64_vector(ctx.constant_input(0, "the shape"));
  Tensor value = Tensor::allocate(DType::kF32, {1});
  if (const auto* a = ctx.attr("value")) value = tensor_from_proto(a->t());
  outs = {{value.dtype, Shape(dims.begin(), dims.end())}};
  return make_kernel([value](const std::vector<const Tensor*>&, const std::vector<Tensor*>& out, RunContext&) {
    fill_with(out[0]->data, out[0]->numel(), value.data, dtype_size(value.dtype));
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
  t["DepthToSpace"] = make_depth_to_space;
  t["Range"] = make_range;
  register_layout_kernels(t);
}

}  // namespace aifgen::engine

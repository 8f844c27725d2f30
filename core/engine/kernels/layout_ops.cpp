// Data-movement ops with index arithmetic: Transpose, Concat, Slice, Gather, Split.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/engine/concat_batchnorm.h"
#include "core/engine/kernels/dispatch.h"
#include "core/engine/kernels/fast_math.h"
#include "core/engine/kernels/onednn_util.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

Shape row_major_strides(const Shape& s) {
  Shape st(s.size(), 1);
  for (std::size_t i = s.size(); i-- > 1;) st[i - 1] = st[i] * s[i];
  return st;
}

// Copies a strided N-d view (input element strides `in_strides`, start offset `base`) into a
// contiguous output of shape `out`.
void strided_copy(const std::byte* src, std::int64_t base, const Shape& in_strides, const Shape& out, std::byte* dst,
                  std::size_t size) {
  const std::size_t rank = out.size();
  if (numel(out) == 0) return;
  if (rank == 0) {
    std::memcpy(dst, src + base * size, size);
    return;
  }
  const std::int64_t inner = out.back(), inner_stride = in_strides.back();
  const std::int64_t rows = numel(out) / inner;
#pragma omp parallel for if (rows >= 8 && numel(out) > kParallelMinElements) schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t off = base, rem = r;
    for (std::size_t d = rank - 1; d-- > 0;) {
      off += (rem % out[d]) * in_strides[d];
      rem /= out[d];
    }
    std::byte* o = dst + r * inner * size;
    if (inner_stride == 1) std::memcpy(o, src + off * size, inner * size);
    else if (size == 4)
      for (std::int64_t i = 0; i < inner; ++i)
        reinterpret_cast<std::uint32_t*>(o)[i] = reinterpret_cast<const std::uint32_t*>(src)[off + i * inner_stride];
    else
      for (std::int64_t i = 0; i < inner; ++i) std::memcpy(o + i * size, src + (off + i * inner_stride) * size, size);
  }
}

// A Transpose's output axes and the input's element stride along each, with axes of length 1
// dropped and neighbours that the input also holds side by side merged: mvit's
// [1,2,25088,96] -> [1,2,96,25088] is a batch of two 25088 x 96 matrix transposes.
struct TransposeWalk {
  Shape out, in_strides;
};

TransposeWalk canonical_transpose(const Shape& out, const Shape& in_strides) {
  TransposeWalk w;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 1) continue;
    if (!w.out.empty() && w.in_strides.back() == in_strides[i] * out[i]) {
      w.out.back() *= out[i];
      w.in_strides.back() = in_strides[i];
      continue;
    }
    w.out.push_back(out[i]);
    w.in_strides.push_back(in_strides[i]);
  }
  return w;
}

// A transpose that moves the input's contiguous axis away from the last: each output row is read
// with a stride, one cache line per element, which strided_copy did at 2-3x ONNX Runtime's time
// (mvit_v1_b's 25088 x 192 transpose: 3.9 ms at 2 threads against 1.4). oneDNN's reorder of the
// strided view into a plain tensor moves such data in register-transposed tiles (its jit:uni
// reorder; 1.6 ms for that one at 1 thread, 2.6 with the row walk). Elements move as 32-bit words
// (an 8-byte element as two of them on an extra axis), so every bit is copied as it is.
std::unique_ptr<Kernel> transpose_by_reorder(const NodeCtx& ctx, const TransposeWalk& w, std::size_t element_size) {
  dnnl::memory::dims dims(w.out.begin(), w.out.end()), strides(w.in_strides.begin(), w.in_strides.end());
  if (element_size == 8) {
    for (auto& s : strides) s *= 2;
    dims.push_back(2);
    strides.push_back(1);
  }
  auto kernel = std::make_unique<ReorderKernel>(ctx.dnnl_engine(), dnnl::memory::desc(dims, dnnl::memory::data_type::s32, strides),
                                                dnnl::memory::desc(dims, dnnl::memory::data_type::s32, row_major(dims)));
  ctx.need_scratchpad(kernel->scratchpad_desc());
  return kernel;
}

// Below this many elements a transpose stays in cache and a primitive call costs more than the
// row walk saves.
constexpr std::int64_t kReorderTransposeMinElements = 4096;

std::unique_ptr<Kernel> make_transpose(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  auto rank = static_cast<std::int64_t>(in.shape.size());
  auto perm = ctx.attr_ints("perm");
  if (perm.empty())
    for (std::int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  if (static_cast<std::int64_t>(perm.size()) != rank) ctx.invalid("perm has the wrong length");
  Shape out(perm.size()), strides(perm.size());
  auto in_strides = row_major_strides(in.shape);
  std::vector<bool> seen(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) {
    auto p = normalize_axis(ctx, perm[i], rank);
    if (seen[static_cast<std::size_t>(p)]) ctx.invalid("perm repeats an axis");
    seen[static_cast<std::size_t>(p)] = true;
    out[i] = in.shape[static_cast<std::size_t>(p)];
    strides[i] = in_strides[static_cast<std::size_t>(p)];
  }
  outs = {{in.dtype, out}};
  auto size = dtype_size(in.dtype);
  TransposeWalk walk = canonical_transpose(out, strides);
  const bool moves_contiguous_axis = !walk.out.empty() && walk.in_strides.back() != 1;
  if (moves_contiguous_axis && (size == 4 || size == 8) && numel(out) >= kReorderTransposeMinElements &&
      walk.out.size() < DNNL_MAX_NDIMS)
    return transpose_by_reorder(ctx, walk, size);
  if (walk.out.empty()) walk = {{1}, {1}};  // every axis of length 1: one element
  return make_kernel([walk, size](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& o, RunContext&) {
    strided_copy(in[0]->data, 0, walk.in_strides, walk.out, o[0]->data, size);
  });
}

std::unique_ptr<Kernel> make_concat(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& first = ctx.in(0);
  auto rank = static_cast<std::int64_t>(first.shape.size());
  if (rank < 1) ctx.invalid("Concat needs inputs of rank 1 or more");
  auto axis = normalize_axis(ctx, ctx.attr_i("axis", 0), rank);
  Shape out = first.shape;
  out[static_cast<std::size_t>(axis)] = 0;
  std::vector<std::int64_t> chunk;  // bytes per outer row of each input
  auto size = dtype_size(first.dtype);
  for (std::size_t i = 0; i < ctx.num_inputs(); ++i) {
    const auto& d = ctx.in(i);
    if (d.dtype != first.dtype || d.shape.size() != first.shape.size()) ctx.invalid("inputs differ in type or rank");
    for (std::int64_t k = 0; k < rank; ++k)
      if (k != axis && d.shape[static_cast<std::size_t>(k)] != first.shape[static_cast<std::size_t>(k)]) ctx.invalid("inputs differ off the axis");
    out[static_cast<std::size_t>(axis)] += d.shape[static_cast<std::size_t>(axis)];
    std::int64_t c = static_cast<std::int64_t>(size);
    for (auto k = axis; k < rank; ++k) c *= d.shape[static_cast<std::size_t>(k)];
    chunk.push_back(c);
  }
  std::int64_t outer = 1;
  for (std::int64_t k = 0; k < axis; ++k) outer *= out[static_cast<std::size_t>(k)];
  outs = {{first.dtype, out}};
  // Each input's offset within an output row, and the row's length, in bytes.
  std::vector<std::int64_t> pos(chunk.size(), 0);
  for (std::size_t i = 1; i < chunk.size(); ++i) pos[i] = pos[i - 1] + chunk[i - 1];
  const std::int64_t row = pos.back() + chunk.back();
  // A BatchNormalization (and ReLU) fused into this Concat (concat_batchnorm.h): one scale and
  // shift per position along the axis, applied while copying.
  auto scale = ctx.attr_floats(kConcatScaleAttr), shift = ctx.attr_floats(kConcatShiftAttr);
  if (!scale.empty() || !shift.empty()) {
    if (first.dtype != DType::kF32) ctx.unsupported("a fused batch normalization of non-float32 values");
    const bool relu = ctx.attr_i(kConcatReluAttr, 0) != 0;
    if (const std::int64_t block = ctx.attr_i(kConcatChannelBlockAttr, 0); block > 0) {
      // On [N, C/B, H, W, B] views along axis 1: each (image, input, block) is one unit of
      // H*W pixels of B lanes, scaled by its B channels' parameters. The units are shared by
      // the step's threads (at batch 1 the plain path below has one row and one thread).
      if (rank != 5 || axis != 1 || out[4] != block || static_cast<std::int64_t>(scale.size()) != out[1] * block || shift.size() != scale.size())
        ctx.invalid("a channel-blocked Concat with a fused BatchNormalization needs [N, C/B, H, W, B] views along axis 1 and one scale per channel");
      struct Unit {
        std::size_t input;
        std::int64_t block_in, block_out;
      };
      std::vector<Unit> units;
      std::vector<std::int64_t> blocks_in;
      for (std::size_t i = 0, ob = 0; i < ctx.num_inputs(); ++i) {
        blocks_in.push_back(ctx.in(i).shape[1]);
        for (std::int64_t b = 0; b < ctx.in(i).shape[1]; ++b) units.push_back({i, b, static_cast<std::int64_t>(ob++)});
      }
      const std::int64_t images = out[0], out_blocks = out[1], pixels = out[2] * out[3];
      return make_kernel([units, blocks_in, images, out_blocks, pixels, block, relu, scale = std::move(scale), shift = std::move(shift)](
                             const std::vector<const Tensor*>& in, const std::vector<Tensor*>& o, RunContext&) {
        float* dst = o[0]->as<float>();
        const auto per_image = static_cast<std::int64_t>(units.size());
        const std::int64_t unit_floats = pixels * block;
        const int threads = omp_get_max_threads();
#pragma omp parallel for schedule(static) if (threads > 1)
        for (std::int64_t k = 0; k < images * per_image; ++k) {
          const std::int64_t image = k / per_image;
          const Unit& u = units[static_cast<std::size_t>(k % per_image)];
          const float* src = in[u.input]->as<float>() + (image * blocks_in[u.input] + u.block_in) * unit_floats;
          block_affine_relu(src, dst + (image * out_blocks + u.block_out) * unit_floats, pixels, block, scale.data() + u.block_out * block,
                            shift.data() + u.block_out * block, relu);
        }
      });
    }
    const auto channels = out[static_cast<std::size_t>(axis)];
    if (static_cast<std::int64_t>(scale.size()) != channels || shift.size() != scale.size())
      ctx.invalid("the BatchNormalization after this Concat has " + std::to_string(scale.size()) + " channels; the Concat makes " +
                  std::to_string(channels));
    std::int64_t inner = 1;
    for (auto k = axis + 1; k < rank; ++k) inner *= out[static_cast<std::size_t>(k)];
    std::vector<std::int64_t> first_channel(chunk.size(), 0);
    for (std::size_t i = 1; i < chunk.size(); ++i)
      first_channel[i] = first_channel[i - 1] + ctx.in(i - 1).shape[static_cast<std::size_t>(axis)];
    return make_kernel([chunk, pos, row, outer, inner, relu, first_channel, scale = std::move(scale), shift = std::move(shift)](
                           const std::vector<const Tensor*>& in, const std::vector<Tensor*>& o, RunContext&) {
      float* dst = o[0]->as<float>();
      const std::int64_t row_floats = row / 4;
      const int threads = omp_get_max_threads();
#pragma omp parallel for schedule(static) if (threads > 1 && outer >= threads)
      for (std::int64_t r = 0; r < outer; ++r)
        for (std::size_t i = 0; i < in.size(); ++i) {
          const std::int64_t floats = chunk[i] / 4, c0 = first_channel[i];
          channel_affine_relu(in[i]->as<float>() + r * floats, dst + r * row_floats + pos[i] / 4, floats / std::max<std::int64_t>(inner, 1),
                              inner, scale.data() + c0, shift.data() + c0, relu);
        }
    });
  }
  return make_kernel([chunk, pos, row, outer](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& o, RunContext&) {
    std::byte* dst = o[0]->data;
    // Row by row, every input's piece of the row: each output row is written whole by one
    // thread. A channel Concat of NHWC values has one row per pixel, thousands of them, whose
    // pieces the convolutions before it wrote on every core of the step; copied on one thread
    // (fire modules, SqueezeNet) it ran 3.5x slower at 2 threads than at 1, pulling the other
    // core's cache lines one piece at a time. The step's threads are the thread policy's call
    // (a Concat is weighted for it); only rows too few to share stay on one.
    const int threads = omp_get_max_threads();
    if (threads > 1 && outer < threads) {
      // Fewer rows than threads (a Concat of channel-blocked values at batch 1 is one row):
      // the threads share the output's bytes in contiguous ranges, each copying the parts of
      // the pieces that fall in its range.
      const std::int64_t total = outer * row;
#pragma omp parallel
      {
        const std::int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        const std::int64_t b = t * total / nt / 64 * 64, e = t + 1 == nt ? total : (t + 1) * total / nt / 64 * 64;
        for (std::int64_t r = b / row; r < outer && r * row < e; ++r)
          for (std::size_t i = 0; i < in.size(); ++i) {
            const std::int64_t lo = std::max(b, r * row + pos[i]), hi = std::min(e, r * row + pos[i] + chunk[i]);
            if (lo < hi) std::memcpy(dst + lo, in[i]->data + r * chunk[i] + (lo - r * row - pos[i]), static_cast<std::size_t>(hi - lo));
          }
      }
      return;
    }
#pragma omp parallel for schedule(static) if (threads > 1)
    for (std::int64_t r = 0; r < outer; ++r)
      for (std::size_t i = 0; i < in.size(); ++i) std::memcpy(dst + r * row + pos[i], in[i]->data + r * chunk[i], static_cast<std::size_t>(chunk[i]));
  });
}

std::unique_ptr<Kernel> make_slice(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  auto rank = static_cast<std::int64_t>(in.shape.size());
  std::vector<std::int64_t> starts, ends, axes, steps;
  if (ctx.opset() < 10) {
    starts = ctx.attr_ints("starts");
    ends = ctx.attr_ints("ends");
    axes = ctx.attr_ints("axes");
  } else {
    starts = to_int64_vector(ctx.constant_input(1, "starts"));
    ends = to_int64_vector(ctx.constant_input(2, "ends"));
    if (ctx.has_input(3)) axes = to_int64_vector(ctx.constant_input(3, "axes"));
    if (ctx.has_input(4)) steps = to_int64_vector(ctx.constant_input(4, "steps"));
  }
  if (axes.empty())
    for (std::size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<std::int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    ctx.invalid("starts/ends/axes/steps lengths differ");
  Shape out = in.shape, start(in.shape.size(), 0), step(in.shape.size(), 1);
  for (std::size_t i = 0; i < starts.size(); ++i) {
    auto ax = static_cast<std::size_t>(normalize_axis(ctx, axes[i], rank));
    std::int64_t dim = in.shape[ax], s = starts[i], e = ends[i], st = steps[i];
    if (st == 0) ctx.invalid("step 0");
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (st > 0) {
      s = std::clamp<std::int64_t>(s, 0, dim);
      e = std::clamp<std::int64_t>(e, 0, dim);
      out[ax] = e > s ? (e - s + st - 1) / st : 0;
    } else {
      s = std::clamp<std::int64_t>(s, 0, dim - 1);
      e = std::clamp<std::int64_t>(e, -1, dim - 1);
      out[ax] = s > e ? (s - e - st - 1) / -st : 0;
    }
    start[ax] = s;
    step[ax] = st;
  }
  auto in_strides = row_major_strides(in.shape);
  std::int64_t base = 0;
  Shape strides(in.shape.size());
  for (std::size_t d = 0; d < in.shape.size(); ++d) {
    base += start[d] * in_strides[d];
    strides[d] = in_strides[d] * step[d];
  }
  outs = {{in.dtype, out}};
  auto size = dtype_size(in.dtype);
  return make_kernel([base, strides, out, size](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& o, RunContext&) {
    strided_copy(in[0]->data, base, strides, out, o[0]->data, size);
  });
}

std::unique_ptr<Kernel> make_gather(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& data = ctx.in(0);
  const auto& idx = ctx.in(1);
  ctx.require_dtype(1, {DType::kI64, DType::kI32});
  auto rank = static_cast<std::int64_t>(data.shape.size());
  if (rank < 1) ctx.invalid("Gather needs data of rank 1 or more");
  auto axis = normalize_axis(ctx, ctx.attr_i("axis", 0), rank);
  Shape out(data.shape.begin(), data.shape.begin() + axis);
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), data.shape.begin() + axis + 1, data.shape.end());
  std::int64_t outer = 1, inner = static_cast<std::int64_t>(dtype_size(data.dtype));
  for (std::int64_t k = 0; k < axis; ++k) outer *= data.shape[static_cast<std::size_t>(k)];
  for (auto k = axis + 1; k < rank; ++k) inner *= data.shape[static_cast<std::size_t>(k)];
  const std::int64_t dim = data.shape[static_cast<std::size_t>(axis)];
  outs = {{data.dtype, out}};
  bool i64 = idx.dtype == DType::kI64;
  return make_kernel([outer, inner, dim, i64](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& o, RunContext&) {
    const auto n = in[1]->numel();
    for (std::int64_t r = 0; r < outer; ++r)
      for (std::int64_t j = 0; j < n; ++j) {
        std::int64_t k = i64 ? in[1]->as<std::int64_t>()[j] : in[1]->as<std::int32_t>()[j];
        if (k < 0) k += dim;
        if (k < 0 || k >= dim) throw std::out_of_range("Gather index out of range");
        std::memcpy(o[0]->data + (r * n + j) * inner, in[0]->data + (r * dim + k) * inner, inner);
      }
  });
}

std::unique_ptr<Kernel> make_split(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  auto rank = static_cast<std::int64_t>(in.shape.size());
  if (rank < 1) ctx.invalid("Split needs an input of rank 1 or more");
  auto axis = normalize_axis(ctx, ctx.attr_i("axis", 0), rank);
  const auto n_out = static_cast<std::size_t>(ctx.node().output_size());
  std::vector<std::int64_t> split;
  if (ctx.opset() >= 13 && ctx.has_input(1)) split = to_int64_vector(ctx.constant_input(1, "split"));
  else if (ctx.opset() < 13) split = ctx.attr_ints("split");
  const auto dim = in.shape[static_cast<std::size_t>(axis)];
  if (split.empty()) {
    auto each = (dim + static_cast<std::int64_t>(n_out) - 1) / static_cast<std::int64_t>(n_out);
    for (std::size_t i = 0; i < n_out; ++i) split.push_back(std::min(each, dim - each * static_cast<std::int64_t>(i)));
  }
  std::int64_t total = 0;
  for (auto s : split) total += s;
  if (split.size() != n_out || total != dim) ctx.invalid("split sizes do not add up");
  std::int64_t outer = 1, inner = static_cast<std::int64_t>(dtype_size(in.dtype));
  for (std::int64_t k = 0; k < axis; ++k) outer *= in.shape[static_cast<std::size_t>(k)];
  for (auto k = axis + 1; k < rank; ++k) inner *= in.shape[static_cast<std::size_t>(k)];
  for (auto s : split) {
    Shape o = in.shape;
    o[static_cast<std::size_t>(axis)] = s;
    outs.push_back({in.dtype, o});
  }
  return make_kernel([split, outer, inner, dim](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& o, RunContext&) {
    std::int64_t pos = 0;
    for (std::size_t i = 0; i < split.size(); ++i) {
      for (std::int64_t r = 0; r < outer; ++r)
        std::memcpy(o[i]->data + r * split[i] * inner, in[0]->data + (r * dim + pos) * inner, split[i] * inner);
      pos += split[i];
    }
  });
}

}  // namespace

void register_layout_kernels(KernelTable& t) {
  t["Transpose"] = make_transpose;
  t["Concat"] = make_concat;
  t["Slice"] = make_slice;
  t["Gather"] = make_gather;
  t["Split"] = make_split;
}

}  // namespace aifgen::engine

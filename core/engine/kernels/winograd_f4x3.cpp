#include "core/engine/kernels/winograd_f4x3.h"

#include <omp.h>

#include <algorithm>
#include <unordered_map>

#include "core/engine/kernels/fast_math.h"
#include "core/engine/kernels/onednn_util.h"

namespace aifgen::engine {
namespace {

using dnnl::memory;

constexpr int kTile = 4;     // outputs per tile side
constexpr int kInput = 6;    // inputs per tile side (kTile + 3 - 1)
constexpr int kPoints = 36;  // kInput * kInput: one matrix product each

std::size_t aligned(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

// B^T d for one column of 6 inputs (lanes of a channel block): rows of
// [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1].
template <int B>
[[gnu::always_inline]] inline void input_rows(const float (&d)[kInput][B], float (&t)[kInput][B]) {
#pragma omp simd
  for (int l = 0; l < B; ++l) {
    const float d0 = d[0][l], d1 = d[1][l], d2 = d[2][l], d3 = d[3][l], d4 = d[4][l], d5 = d[5][l];
    t[0][l] = 4.f * d0 - 5.f * d2 + d4;
    t[1][l] = -4.f * (d1 + d2) + d3 + d4;
    t[2][l] = 4.f * (d1 - d2) - d3 + d4;
    t[3][l] = 2.f * (d3 - d1) - d2 + d4;
    t[4][l] = 2.f * (d1 - d3) - d2 + d4;
    t[5][l] = 4.f * d1 - 5.f * d3 + d5;
  }
}

// A^T m for one column of 6 products: rows of [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0;
// 0 1 -1 8 -8 1].
template <int B>
[[gnu::always_inline]] inline void output_rows(const float (&m)[kInput][B], float (&o)[kTile][B]) {
#pragma omp simd
  for (int l = 0; l < B; ++l) {
    const float s12 = m[1][l] + m[2][l], d12 = m[1][l] - m[2][l], s34 = m[3][l] + m[4][l], d34 = m[3][l] - m[4][l];
    o[0][l] = m[0][l] + s12 + s34;
    o[1][l] = d12 + 2.f * d34;
    o[2][l] = s12 + 4.f * s34;
    o[3][l] = d12 + 8.f * d34 + m[5][l];
  }
}

// Transforms the 6x6 inputs of tile `tile` in channel block `cb` of the whole tensor (src:
// nChw{B}c, all groups) into v[point][group][tile within its chunk][channel of the group].
template <int B>
[[gnu::always_inline]] inline void input_transform(const WinogradF4x3Shape& s, std::int64_t tiles_h, std::int64_t tiles_w,
                                                   const float* src, std::int64_t tile, std::int64_t cb, float* v,
                                                   std::int64_t chunk) {
  const std::int64_t per_image = tiles_h * tiles_w, image = tile / per_image, ty = tile % per_image / tiles_w,
                     tx = tile % tiles_w;
  const std::int64_t group_blocks = s.channels / B, blocks = s.groups * group_blocks;
  const float* plane = src + (image * blocks + cb) * s.height * s.width * B;
  const std::int64_t y0 = ty * kTile - s.pad_top, x0 = tx * kTile - s.pad_left;
  float d[kInput][kInput][B];  // [column j][row i][lane]: columns first for the row pass below
  const bool inside = y0 >= 0 && x0 >= 0 && y0 + kInput <= s.height && x0 + kInput <= s.width;
  for (int i = 0; i < kInput; ++i) {
    const std::int64_t y = y0 + i;
    for (int j = 0; j < kInput; ++j) {
      const std::int64_t x = x0 + j;
      if (inside || (y >= 0 && y < s.height && x >= 0 && x < s.width)) {
        const float* p = plane + (y * s.width + x) * B;
#pragma omp simd
        for (int l = 0; l < B; ++l) d[j][i][l] = p[l];
      } else {
#pragma omp simd
        for (int l = 0; l < B; ++l) d[j][i][l] = 0.f;
      }
    }
  }
  // B^T d: each column j of inputs down its rows; then (B^T d) B: each row across its columns.
  float t[kInput][kInput][B];  // [row i][column j]
  for (int j = 0; j < kInput; ++j) {
    float col[kInput][B];
    input_rows<B>(d[j], col);
    for (int i = 0; i < kInput; ++i)
#pragma omp simd
      for (int l = 0; l < B; ++l) t[i][j][l] = col[i][l];
  }
  const std::int64_t point_stride = s.groups * chunk * s.channels;
  float* out = v + (cb / group_blocks * chunk + tile % chunk) * s.channels + cb % group_blocks * B;
  for (int i = 0; i < kInput; ++i) {
    float row[kInput][B];
    input_rows<B>(t[i], row);
    for (int j = 0; j < kInput; ++j) {
      float* o = out + (i * kInput + j) * point_stride;
#pragma omp simd
      for (int l = 0; l < B; ++l) o[l] = row[j][l];
    }
  }
}

// The 4x4 outputs of tile `tile` for output channel block `kb` of the whole tensor from
// m[point][group][tile within its chunk][output of the group], plus bias, residual and ReLU,
// written where they fall inside the destination.
template <int B>
[[gnu::always_inline]] inline void output_transform(const WinogradF4x3Shape& s, std::int64_t tiles_h, std::int64_t tiles_w,
                                                    const float* m, std::int64_t tile, std::int64_t kb, std::int64_t chunk,
                                                    const float* bias, const float* residual, bool relu, float* dst) {
  const std::int64_t per_image = tiles_h * tiles_w, image = tile / per_image, ty = tile % per_image / tiles_w,
                     tx = tile % tiles_w;
  const std::int64_t group_blocks = s.outputs / B, blocks = s.groups * group_blocks, point_stride = s.groups * chunk * s.outputs;
  const float* in = m + (kb / group_blocks * chunk + tile % chunk) * s.outputs + kb % group_blocks * B;
  // A^T m: each column j of products down its rows, into [column j][output row i].
  float t[kInput][kTile][B];
  for (int j = 0; j < kInput; ++j) {
    float col[kInput][B];
    for (int i = 0; i < kInput; ++i) {
      const float* p = in + (i * kInput + j) * point_stride;
#pragma omp simd
      for (int l = 0; l < B; ++l) col[i][l] = p[l];
    }
    output_rows<B>(col, t[j]);
  }
  const std::int64_t plane = (image * blocks + kb) * s.out_height * s.out_width * B;
  for (int i = 0; i < kTile; ++i) {
    const std::int64_t y = ty * kTile + i;
    if (y >= s.out_height) break;
    float row[kInput][B], out[kTile][B];
    for (int j = 0; j < kInput; ++j)
#pragma omp simd
      for (int l = 0; l < B; ++l) row[j][l] = t[j][i][l];
    output_rows<B>(row, out);
    for (int j = 0; j < kTile; ++j) {
      const std::int64_t x = tx * kTile + j;
      if (x >= s.out_width) break;
      const std::int64_t at = plane + (y * s.out_width + x) * B;
      float* o = dst + at;
      const float* r = residual ? residual + at : nullptr;
#pragma omp simd
      for (int l = 0; l < B; ++l) {
        float val = out[j][l] + bias[l];
        if (r) val += r[l];
        o[l] = relu ? (val > 0.f ? val : 0.f) : val;
      }
    }
  }
}

// The transforms of items [begin, end) of a chunk, an item being one (tile, channel block) pair
// of the tiles [first, first + count). Compiled for AVX-512, AVX2 and baseline x86-64 like the
// other hot loops (fast_math.h); the OpenMP regions stay outside, in plain functions, so each
// thread calls the clone the CPU picked.
AIFGEN_MULTIVERSION
void transform_input_items(const WinogradF4x3Shape& s, std::int64_t tiles_h, std::int64_t tiles_w, const float* src, std::int64_t first,
                           std::int64_t begin, std::int64_t end, std::int64_t chunk, float* v) {
  const std::int64_t blocks = s.groups * s.channels / s.block;
  for (std::int64_t k = begin; k < end; ++k) {
    const std::int64_t tile = first + k / blocks, cb = k % blocks;
    if (s.block == 16) input_transform<16>(s, tiles_h, tiles_w, src, tile, cb, v, chunk);
    else input_transform<8>(s, tiles_h, tiles_w, src, tile, cb, v, chunk);
  }
}

AIFGEN_MULTIVERSION
void transform_output_items(const WinogradF4x3Shape& s, std::int64_t tiles_h, std::int64_t tiles_w, const float* m, std::int64_t first,
                            std::int64_t begin, std::int64_t end, std::int64_t chunk, const float* bias, const float* residual, bool relu,
                            float* dst) {
  const std::int64_t blocks = s.groups * s.outputs / s.block;
  for (std::int64_t k = begin; k < end; ++k) {
    const std::int64_t tile = first + k / blocks, kb = k % blocks;
    if (s.block == 16) output_transform<16>(s, tiles_h, tiles_w, m, tile, kb, chunk, bias + kb * 16, residual, relu, dst);
    else output_transform<8>(s, tiles_h, tiles_w, m, tile, kb, chunk, bias + kb * 8, residual, relu, dst);
  }
}

// Runs fn(begin, end) over `items` split into one contiguous range per thread of the step.
template <typename Fn>
void per_thread_ranges(std::int64_t items, const Fn& fn) {
  const int threads = static_cast<int>(std::min<std::int64_t>(omp_get_max_threads(), items));
  if (threads <= 1) {
    fn(std::int64_t{0}, items);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const std::int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
    fn(items * t / n, items * (t + 1) / n);
  }
}

// U = G g G^T for one 3x3 kernel g, G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
// 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1], in double.
void transform_kernel(const float* g, double (&u)[kInput][kInput]) {
  auto column = [](double g0, double g1, double g2, double (&o)[kInput]) {
    o[0] = g0 / 4;
    o[1] = -(g0 + g1 + g2) / 6;
    o[2] = -(g0 - g1 + g2) / 6;
    o[3] = g0 / 24 + g1 / 12 + g2 / 6;
    o[4] = g0 / 24 - g1 / 12 + g2 / 6;
    o[5] = g2;
  };
  double t[3][kInput];  // G g^T: [kernel column][point row]
  for (int c = 0; c < 3; ++c) column(g[c], g[3 + c], g[6 + c], t[c]);
  for (int i = 0; i < kInput; ++i) {
    double row[kInput];
    column(t[0][i], t[1][i], t[2][i], row);
    for (int j = 0; j < kInput; ++j) u[i][j] = row[j];
  }
}

}  // namespace

std::optional<WinogradEpilogue> winograd_epilogue_for(const std::vector<PostOp>& ops) {
  WinogradEpilogue e;
  std::size_t i = 0;
  if (i < ops.size() && ops[i].kind == PostOp::Kind::kSum) {
    e.residual = true;
    ++i;
  }
  if (i < ops.size() && ops[i].kind == PostOp::Kind::kEltwise && ops[i].alg == dnnl::algorithm::eltwise_relu && ops[i].alpha == 0.f) {
    e.relu = true;
    ++i;
  }
  if (i != ops.size()) return std::nullopt;
  return e;
}

bool winograd_f4x3_supports(const WinogradF4x3Shape& s) {
  return (s.block == 8 || s.block == 16) && s.groups >= 1 && s.channels > 0 && s.channels % s.block == 0 && s.outputs > 0 &&
         s.outputs % s.block == 0 && s.images > 0 && s.height > 0 && s.width > 0 && s.out_height > 0 && s.out_width > 0 &&
         s.pad_top >= 0 && s.pad_left >= 0 && s.pad_top <= 2 && s.pad_left <= 2 &&
         s.out_height <= s.height + s.pad_top && s.out_width <= s.width + s.pad_left;
}

WinogradF4x3::WinogradF4x3(const WinogradF4x3Shape& shape, const float* weights, const float* bias, WinogradEpilogue epilogue,
                           const dnnl::engine& eng, std::size_t chunk_bytes, PackedWeights* shared)
    : shape_(shape), epilogue_(epilogue), eng_(eng) {
  const std::int64_t c = shape.channels, k = shape.outputs, groups = shape.groups, batch = kPoints * groups;
  tiles_h_ = (shape.out_height + kTile - 1) / kTile;
  tiles_w_ = (shape.out_width + kTile - 1) / kTile;
  tiles_ = shape.images * tiles_h_ * tiles_w_;
  const auto per_tile = static_cast<std::size_t>(batch * (c + k)) * sizeof(float);
  const std::int64_t most = std::max<std::int64_t>(1, static_cast<std::int64_t>(chunk_bytes / per_tile));
  const std::int64_t chunks = (tiles_ + most - 1) / most;
  chunk_ = (tiles_ + chunks - 1) / chunks;  // equal chunks: the last one wastes little
  bias_.assign(static_cast<std::size_t>(groups * k), 0.f);
  if (bias) std::copy(bias, bias + groups * k, bias_.begin());

  // One product per point and group: [chunk, C] x [C, K].
  const memory::desc src({batch, chunk_, c}, memory::data_type::f32, memory::format_tag::abc);
  const memory::desc wei_any({batch, c, k}, memory::data_type::f32, memory::format_tag::any);
  const memory::desc dst({batch, chunk_, k}, memory::data_type::f32, memory::format_tag::abc);
  pd_ = dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei_any, dst), scratchpad_attr(), eng);
  matmul_ = dnnl::matmul(pd_);

  // U[point][group][c][k], then packed for the matmul.
  auto pack = [&](memory& packed) {
    std::vector<float> u(static_cast<std::size_t>(batch * c * k));
    for (std::int64_t g = 0; g < groups; ++g)
      for (std::int64_t o = 0; o < k; ++o)
        for (std::int64_t i = 0; i < c; ++i) {
          double t[kInput][kInput];
          transform_kernel(weights + ((g * k + o) * c + i) * 9, t);
          for (int p = 0; p < kPoints; ++p)
            u[static_cast<std::size_t>(((p * groups + g) * c + i) * k + o)] = static_cast<float>(t[p / kInput][p % kInput]);
        }
    reorder_now(eng, memory::desc({batch, c, k}, memory::data_type::f32, memory::format_tag::abc), u.data(), packed);
  };
  // The packed layout (and so the key) holds groups, channels and outputs: the same weights
  // split into groups otherwise give another U.
  static constexpr char kTransform[] = "winograd F(4x4, 3x3) weights";
  packed_weights_ = shared ? shared->get(kTransform, weights, pd_.weights_desc(), eng, pack) : pack_weights(pd_.weights_desc(), eng, pack);

  v_offset_ = 0;
  m_offset_ = aligned(static_cast<std::size_t>(batch * chunk_ * c) * sizeof(float));
  matmul_scratch_offset_ = m_offset_ + aligned(static_cast<std::size_t>(batch * chunk_ * k) * sizeof(float));
  scratch_bytes_ = matmul_scratch_offset_ + aligned(pd_.scratchpad_desc().get_size());
}

void WinogradF4x3::run(const float* src, float* dst, const float* residual, std::byte* scratch, dnnl::stream& stream) const {
  auto* v = reinterpret_cast<float*>(scratch + v_offset_);
  auto* m = reinterpret_cast<float*>(scratch + m_offset_);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(pd_.src_desc(), eng_, v)},
                                       {DNNL_ARG_WEIGHTS, *packed_weights_},
                                       {DNNL_ARG_DST, wrap(pd_.dst_desc(), eng_, m)}};
  if (pd_.scratchpad_desc().get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, wrap(pd_.scratchpad_desc(), eng_, scratch + matmul_scratch_offset_));
  for (std::int64_t first = 0; first < tiles_; first += chunk_) {
    const std::int64_t count = std::min(chunk_, tiles_ - first);
    // Rows past the last tile of a short chunk are left as they are: their products land in
    // rows of m no output transform reads.
    per_thread_ranges(count * (shape_.groups * shape_.channels / shape_.block), [&](std::int64_t b, std::int64_t e) {
      transform_input_items(shape_, tiles_h_, tiles_w_, src, first, b, e, chunk_, v);
    });
    matmul_.execute(stream, args);
    stream.wait();
    const float* r = epilogue_.residual ? residual : nullptr;
    per_thread_ranges(count * (shape_.groups * shape_.outputs / shape_.block), [&](std::int64_t b, std::int64_t e) {
      transform_output_items(shape_, tiles_h_, tiles_w_, m, first, b, e, chunk_, bias_.data(), r, epilogue_.relu, dst);
    });
  }
}

}  // namespace aifgen::engine

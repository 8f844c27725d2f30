#include "core/engine/kernels/recurrent_rows.h"

#include <algorithm>
#include <cmath>

#include "core/engine/kernels/vector_isa.h"

#if defined(__x86_64__)
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics (_mm512_reduce_add_ps among them) start from an undefined
// vector, which -W(maybe-)uninitialized reports inside target("avx512f") functions (a false
// positive: every lane is written before it is read).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace aifgen::engine {
namespace {

// The batch rows are taken up to this many per pass over a block of R's rows.
constexpr std::int64_t kBatchGroup = 4;

void rows_scalar(const float* w, std::int64_t k, std::int64_t rows, const float* x, std::int64_t batch, const float* const* add,
                 float* const* y) {
  for (std::int64_t n = 0; n < batch; ++n)
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* wr = w + r * k;
      float a = 0;
      for (std::int64_t i = 0; i < k; ++i) a += wr[i] * x[n * k + i];
      y[n][r] = add[n][r] + a;
    }
}

#if defined(__x86_64__) && !defined(__clang__)

// R rows from w (row `at` of the step's block) against N batch rows of x: R * N independent FMA
// chains keep loads in flight while each FMA waits on its own chain's last, and each 16 lanes of
// R are loaded once for the N rows.
template <int R, int N>
__attribute__((target("avx512f"))) inline void dot_avx512(const float* w, std::int64_t k, const float* x, const float* const* add,
                                                          float* const* y, std::int64_t at) {
  __m512 acc[R][N];
#pragma GCC unroll 16
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) acc[j][n] = _mm512_setzero_ps();
  std::int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    __m512 xv[N];
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) xv[n] = _mm512_loadu_ps(x + n * k + i);
#pragma GCC unroll 16
    for (int j = 0; j < R; ++j) {
      const __m512 wv = _mm512_loadu_ps(w + j * k + i);
#pragma GCC unroll 4
      for (int n = 0; n < N; ++n) acc[j][n] = _mm512_fmadd_ps(wv, xv[n], acc[j][n]);
    }
  }
  if (i < k) {  // the last 1-15 columns by masked loads (masked-off lanes read as zero)
    const __mmask16 m = __mmask16((1u << (k - i)) - 1);
    __m512 xv[N];
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) xv[n] = _mm512_maskz_loadu_ps(m, x + n * k + i);
#pragma GCC unroll 16
    for (int j = 0; j < R; ++j) {
      const __m512 wv = _mm512_maskz_loadu_ps(m, w + j * k + i);
#pragma GCC unroll 4
      for (int n = 0; n < N; ++n) acc[j][n] = _mm512_fmadd_ps(wv, xv[n], acc[j][n]);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) y[n][at + j] = add[n][at + j] + _mm512_reduce_add_ps(acc[j][n]);
}

// Eight FMA chains or more: eight rows for one batch row, four for more.
template <int N>
__attribute__((target("avx512f"))) void rows_avx512(const float* w, std::int64_t k, std::int64_t rows, const float* x, const float* const* add,
                                                    float* const* y) {
  constexpr int kBlock = N == 1 ? 8 : 4;
  std::int64_t r = 0;
  for (; r + kBlock <= rows; r += kBlock) dot_avx512<kBlock, N>(w + r * k, k, x, add, y, r);
  for (; r < rows; ++r) dot_avx512<1, N>(w + r * k, k, x, add, y, r);
}

__attribute__((target("avx2,fma"))) inline float sum_lanes(__m256 v) {
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

// The AVX2 form of dot_avx512: sums of 8 lanes, the last 1-7 columns scalar.
template <int R, int N>
__attribute__((target("avx2,fma"))) inline void dot_avx2(const float* w, std::int64_t k, const float* x, const float* const* add,
                                                         float* const* y, std::int64_t at) {
  __m256 acc[R][N];
#pragma GCC unroll 16
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) acc[j][n] = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    __m256 xv[N];
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) xv[n] = _mm256_loadu_ps(x + n * k + i);
#pragma GCC unroll 16
    for (int j = 0; j < R; ++j) {
      const __m256 wv = _mm256_loadu_ps(w + j * k + i);
#pragma GCC unroll 4
      for (int n = 0; n < N; ++n) acc[j][n] = _mm256_fmadd_ps(wv, xv[n], acc[j][n]);
    }
  }
#pragma GCC unroll 16
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
    for (int n = 0; n < N; ++n) {
      float s = sum_lanes(acc[j][n]);
      for (std::int64_t t = i; t < k; ++t) s += w[j * k + t] * x[n * k + t];
      y[n][at + j] = add[n][at + j] + s;
    }
}

// At most 16 vector registers: eight rows for one batch row, four for two, two for three or four.
template <int N>
__attribute__((target("avx2,fma"))) void rows_avx2(const float* w, std::int64_t k, std::int64_t rows, const float* x, const float* const* add,
                                                   float* const* y) {
  constexpr int kBlock = N == 1 ? 8 : N == 2 ? 4 : 2;
  std::int64_t r = 0;
  for (; r + kBlock <= rows; r += kBlock) dot_avx2<kBlock, N>(w + r * k, k, x, add, y, r);
  for (; r < rows; ++r) dot_avx2<1, N>(w + r * k, k, x, add, y, r);
}

// One group of at most kBatchGroup batch rows.
void group_rows(VectorIsa isa, const float* w, std::int64_t k, std::int64_t rows, const float* x, std::int64_t batch, const float* const* add,
                float* const* y) {
  if (isa == VectorIsa::kAvx512) {
    switch (batch) {
      case 1: return rows_avx512<1>(w, k, rows, x, add, y);
      case 2: return rows_avx512<2>(w, k, rows, x, add, y);
      case 3: return rows_avx512<3>(w, k, rows, x, add, y);
      default: return rows_avx512<4>(w, k, rows, x, add, y);
    }
  }
  switch (batch) {
    case 1: return rows_avx2<1>(w, k, rows, x, add, y);
    case 2: return rows_avx2<2>(w, k, rows, x, add, y);
    case 3: return rows_avx2<3>(w, k, rows, x, add, y);
    default: return rows_avx2<4>(w, k, rows, x, add, y);
  }
}

#endif

void activate(float* y, std::int64_t n, RecurrentActivation act) {
  switch (act) {
    case RecurrentActivation::kRelu:
      for (std::int64_t i = 0; i < n; ++i) y[i] = y[i] < 0.f ? 0.f : y[i];
      return;
    case RecurrentActivation::kSigmoid:
      for (std::int64_t i = 0; i < n; ++i) y[i] = 1.f / (1.f + std::exp(-y[i]));
      return;
    case RecurrentActivation::kTanh:
      for (std::int64_t i = 0; i < n; ++i) y[i] = std::tanh(y[i]);
      return;
    case RecurrentActivation::kNone: return;
  }
}

}  // namespace

void recurrent_rows(const float* w, std::int64_t k, std::int64_t rows, const float* x, std::int64_t batch, const float* const* add,
                    float* const* y, RecurrentActivation act) {
  const VectorIsa isa = vector_isa();
  for (std::int64_t n = 0; n < batch; n += kBatchGroup) {
    const std::int64_t group = std::min(kBatchGroup, batch - n);
#if defined(__x86_64__) && !defined(__clang__)
    if (isa != VectorIsa::kScalar) {
      group_rows(isa, w, k, rows, x + n * k, group, add + n, y + n);
      continue;
    }
#endif
    rows_scalar(w, k, rows, x + n * k, group, add + n, y + n);
  }
  for (std::int64_t n = 0; n < batch; ++n) activate(y[n], rows, act);
}

const char* recurrent_rows_isa() { return vector_isa_name(vector_isa()); }

}  // namespace aifgen::engine

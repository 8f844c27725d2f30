#include "core/engine/kernels/recurrent_rows.h"

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

void rows_scalar(const float* w, std::int64_t k, const float* x, std::int64_t rows, const float* add, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* wr = w + r * k;
    float a = 0;
    for (std::int64_t i = 0; i < k; ++i) a += wr[i] * x[i];
    y[r] = add[r] + a;
  }
}

#if defined(__x86_64__) && !defined(__clang__)

// R rows from w, each with A sums of 16 lanes: R * A independent FMA chains keep loads in flight
// while each FMA waits on its own chain's last. x's vectors are loaded once for the R rows.
template <int R, int A>
__attribute__((target("avx512f"))) inline void dot_avx512(const float* w, std::int64_t k, const float* x, const float* add, float* y) {
  __m512 acc[R][A];
#pragma GCC unroll 16
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
    for (int a = 0; a < A; ++a) acc[j][a] = _mm512_setzero_ps();
  std::int64_t i = 0;
  for (; i + 16 * A <= k; i += 16 * A) {
    __m512 xv[A];
#pragma GCC unroll 4
    for (int a = 0; a < A; ++a) xv[a] = _mm512_loadu_ps(x + i + 16 * a);
#pragma GCC unroll 16
    for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
      for (int a = 0; a < A; ++a) acc[j][a] = _mm512_fmadd_ps(_mm512_loadu_ps(w + j * k + i + 16 * a), xv[a], acc[j][a]);
  }
  for (; i < k; i += 16) {  // the last columns, 16 at a time, by masked loads (masked-off lanes read as zero)
    const std::int64_t left = k - i;
    const __mmask16 m = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
#pragma GCC unroll 16
    for (int j = 0; j < R; ++j) acc[j][0] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w + j * k + i), xv, acc[j][0]);
  }
#pragma GCC unroll 16
  for (int j = 0; j < R; ++j) {
    __m512 sum = acc[j][0];
#pragma GCC unroll 4
    for (int a = 1; a < A; ++a) sum = _mm512_add_ps(sum, acc[j][a]);
    y[j] = add[j] + _mm512_reduce_add_ps(sum);
  }
}

__attribute__((target("avx512f"))) void rows_avx512(const float* w, std::int64_t k, const float* x, std::int64_t rows, const float* add,
                                                    float* y) {
  std::int64_t r = 0;
  for (; r + kRecurrentRowBlock <= rows; r += kRecurrentRowBlock) dot_avx512<kRecurrentRowBlock, 1>(w + r * k, k, x, add + r, y + r);
  for (; r < rows; ++r) dot_avx512<1, 4>(w + r * k, k, x, add + r, y + r);
}

__attribute__((target("avx2,fma"))) inline float sum_lanes(__m256 v) {
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

// The AVX2 form of dot_avx512: sums of 8 lanes, the last 1-7 columns scalar.
template <int R, int A>
__attribute__((target("avx2,fma"))) inline void dot_avx2(const float* w, std::int64_t k, const float* x, const float* add, float* y) {
  __m256 acc[R][A];
#pragma GCC unroll 16
  for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
    for (int a = 0; a < A; ++a) acc[j][a] = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 8 * A <= k; i += 8 * A) {
    __m256 xv[A];
#pragma GCC unroll 4
    for (int a = 0; a < A; ++a) xv[a] = _mm256_loadu_ps(x + i + 8 * a);
#pragma GCC unroll 16
    for (int j = 0; j < R; ++j)
#pragma GCC unroll 4
      for (int a = 0; a < A; ++a) acc[j][a] = _mm256_fmadd_ps(_mm256_loadu_ps(w + j * k + i + 8 * a), xv[a], acc[j][a]);
  }
  for (; i + 8 <= k; i += 8) {
    const __m256 xv = _mm256_loadu_ps(x + i);
#pragma GCC unroll 16
    for (int j = 0; j < R; ++j) acc[j][0] = _mm256_fmadd_ps(_mm256_loadu_ps(w + j * k + i), xv, acc[j][0]);
  }
#pragma GCC unroll 16
  for (int j = 0; j < R; ++j) {
    __m256 sum = acc[j][0];
#pragma GCC unroll 4
    for (int a = 1; a < A; ++a) sum = _mm256_add_ps(sum, acc[j][a]);
    float s = sum_lanes(sum);
    for (std::int64_t t = i; t < k; ++t) s += w[j * k + t] * x[t];
    y[j] = add[j] + s;
  }
}

__attribute__((target("avx2,fma"))) void rows_avx2(const float* w, std::int64_t k, const float* x, std::int64_t rows, const float* add,
                                                   float* y) {
  std::int64_t r = 0;
  for (; r + kRecurrentRowBlock <= rows; r += kRecurrentRowBlock) dot_avx2<kRecurrentRowBlock, 1>(w + r * k, k, x, add + r, y + r);
  for (; r < rows; ++r) dot_avx2<1, 4>(w + r * k, k, x, add + r, y + r);
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

void recurrent_rows(const float* w, std::int64_t k, const float* x, std::int64_t rows, const float* add, float* y,
                    RecurrentActivation act) {
  switch (vector_isa()) {
#if defined(__x86_64__) && !defined(__clang__)
    case VectorIsa::kAvx512: rows_avx512(w, k, x, rows, add, y); break;
    case VectorIsa::kAvx2: rows_avx2(w, k, x, rows, add, y); break;
#endif
    default: rows_scalar(w, k, x, rows, add, y);
  }
  activate(y, rows, act);
}

const char* recurrent_rows_isa() { return vector_isa_name(vector_isa()); }

}  // namespace aifgen::engine

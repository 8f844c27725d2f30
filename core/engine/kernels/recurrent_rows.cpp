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

// Rows are taken four at a time: x's vector is loaded once for four products.
constexpr int kRowBlock = 4;

void rows_scalar(const float* w, std::int64_t k, const float* x, std::int64_t rows, const float* add, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* wr = w + r * k;
    float a = 0;
    for (std::int64_t i = 0; i < k; ++i) a += wr[i] * x[i];
    y[r] = add[r] + a;
  }
}

#if defined(__x86_64__) && !defined(__clang__)

// R rows (1 or kRowBlock) from w, each with two sums of 16 lanes: 2 R independent FMA chains,
// enough to keep loads in flight while each FMA waits on its own chain's last.
template <int R>
__attribute__((target("avx512f"))) inline void dot_avx512(const float* w, std::int64_t k, const float* x, const float* add, float* y) {
  __m512 lo[R], hi[R];
#pragma GCC unroll 4
  for (int j = 0; j < R; ++j) lo[j] = hi[j] = _mm512_setzero_ps();
  std::int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    const __m512 x0 = _mm512_loadu_ps(x + i), x1 = _mm512_loadu_ps(x + i + 16);
#pragma GCC unroll 4
    for (int j = 0; j < R; ++j) {
      lo[j] = _mm512_fmadd_ps(_mm512_loadu_ps(w + j * k + i), x0, lo[j]);
      hi[j] = _mm512_fmadd_ps(_mm512_loadu_ps(w + j * k + i + 16), x1, hi[j]);
    }
  }
  if (i < k) {  // the last 1-31 columns, by masked loads (masked-off lanes read as zero)
    const std::int64_t left = k - i;
    const __mmask16 m0 = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
    const __mmask16 m1 = left > 16 ? __mmask16((1u << (left - 16)) - 1) : __mmask16(0);
    const __m512 x0 = _mm512_maskz_loadu_ps(m0, x + i), x1 = _mm512_maskz_loadu_ps(m1, x + i + 16);
#pragma GCC unroll 4
    for (int j = 0; j < R; ++j) {
      lo[j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, w + j * k + i), x0, lo[j]);
      hi[j] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, w + j * k + i + 16), x1, hi[j]);
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < R; ++j) y[j] = add[j] + _mm512_reduce_add_ps(_mm512_add_ps(lo[j], hi[j]));
}

__attribute__((target("avx512f"))) void rows_avx512(const float* w, std::int64_t k, const float* x, std::int64_t rows, const float* add,
                                                    float* y) {
  std::int64_t r = 0;
  for (; r + kRowBlock <= rows; r += kRowBlock) dot_avx512<kRowBlock>(w + r * k, k, x, add + r, y + r);
  for (; r < rows; ++r) dot_avx512<1>(w + r * k, k, x, add + r, y + r);
}

__attribute__((target("avx2,fma"))) inline float sum_lanes(__m256 v) {
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

// The AVX2 form of dot_avx512: two sums of 8 lanes per row, the last 1-15 columns scalar.
template <int R>
__attribute__((target("avx2,fma"))) inline void dot_avx2(const float* w, std::int64_t k, const float* x, const float* add, float* y) {
  __m256 lo[R], hi[R];
#pragma GCC unroll 4
  for (int j = 0; j < R; ++j) lo[j] = hi[j] = _mm256_setzero_ps();
  std::int64_t i = 0;
  for (; i + 16 <= k; i += 16) {
    const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + 8);
#pragma GCC unroll 4
    for (int j = 0; j < R; ++j) {
      lo[j] = _mm256_fmadd_ps(_mm256_loadu_ps(w + j * k + i), x0, lo[j]);
      hi[j] = _mm256_fmadd_ps(_mm256_loadu_ps(w + j * k + i + 8), x1, hi[j]);
    }
  }
#pragma GCC unroll 4
  for (int j = 0; j < R; ++j) {
    float s = sum_lanes(_mm256_add_ps(lo[j], hi[j]));
    for (std::int64_t t = i; t < k; ++t) s += w[j * k + t] * x[t];
    y[j] = add[j] + s;
  }
}

__attribute__((target("avx2,fma"))) void rows_avx2(const float* w, std::int64_t k, const float* x, std::int64_t rows, const float* add,
                                                   float* y) {
  std::int64_t r = 0;
  for (; r + kRowBlock <= rows; r += kRowBlock) dot_avx2<kRowBlock>(w + r * k, k, x, add + r, y + r);
  for (; r < rows; ++r) dot_avx2<1>(w + r * k, k, x, add + r, y + r);
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

// Hand-vectorized SiLU (see silu.h for why oneDNN's is not used).
#include "core/engine/kernels/silu.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <iterator>

#include "core/engine/kernels/vector_isa.h"

#if defined(__x86_64__)
#include <immintrin.h>
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), which -Wmaybe-uninitialized
// reports inside target("avx512f") functions (a false positive: the value is fully written).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace aifgen::engine {
namespace {

// e^t = 2^k * e^r with k = round(t / ln 2) and r = t - k ln 2 (ln 2 split in two so r stays exact),
// |r| <= ln(2)/2, where a degree-6 Taylor polynomial is within 1.2e-7. The argument t = -x is
// clamped to [-87, 80]: 2^k stays a normal float and 1 + e^t stays finite, so its reciprocal is
// too. Clamping cannot hide a NaN: the result is x times the factor.
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2Hi = 0.693145751953125f;
constexpr float kLn2Lo = 1.428606765330187e-06f;
constexpr float kMinArg = -87.f, kMaxArg = 80.f;
// e^r's Taylor coefficients, highest degree first (Horner's order).
constexpr float kExpTaylor[] = {1.f / 720.f, 1.f / 120.f, 1.f / 24.f, 1.f / 6.f, 0.5f, 1.f, 1.f};

void silu_scalar(float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.f + std::exp(-x[i]));
}

#if defined(__x86_64__) && !defined(__clang__)

__attribute__((target("avx512f"))) inline __m512 silu16(__m512 v) {
  __m512 t = _mm512_sub_ps(_mm512_setzero_ps(), v);
  t = _mm512_max_ps(_mm512_min_ps(t, _mm512_set1_ps(kMaxArg)), _mm512_set1_ps(kMinArg));
  const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(t, _mm512_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2Hi), t);
  r = _mm512_fnmadd_ps(k, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kExpTaylor[0]);
  for (std::size_t i = 1; i < std::size(kExpTaylor); ++i) p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kExpTaylor[i]));
  const __m512 d = _mm512_add_ps(_mm512_scalef_ps(p, k), _mm512_set1_ps(1.f));
  // 1/d: a 14-bit estimate, one Newton step (error squared: ~1e-8).
  __m512 inv = _mm512_rcp14_ps(d);
  inv = _mm512_mul_ps(inv, _mm512_fnmadd_ps(d, inv, _mm512_set1_ps(2.f)));
  return _mm512_mul_ps(v, inv);
}

__attribute__((target("avx512f"))) void silu_avx512(float* x, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, silu16(_mm512_loadu_ps(x + i)));
  if (i < n) {
    const auto m = static_cast<__mmask16>((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(x + i, m, silu16(_mm512_maskz_loadu_ps(m, x + i)));
  }
}

__attribute__((target("avx2,fma"))) inline __m256 silu8(__m256 v) {
  __m256 t = _mm256_sub_ps(_mm256_setzero_ps(), v);
  t = _mm256_max_ps(_mm256_min_ps(t, _mm256_set1_ps(kMaxArg)), _mm256_set1_ps(kMinArg));
  const __m256 k = _mm256_round_ps(_mm256_mul_ps(t, _mm256_set1_ps(kLog2e)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Hi), t);
  r = _mm256_fnmadd_ps(k, _mm256_set1_ps(kLn2Lo), r);
  __m256 p = _mm256_set1_ps(kExpTaylor[0]);
  for (std::size_t i = 1; i < std::size(kExpTaylor); ++i) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kExpTaylor[i]));
  // 2^k from its exponent bits: k is in [-126, 116] after the clamp.
  const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
  const __m256 d = _mm256_fmadd_ps(p, _mm256_castsi256_ps(bits), _mm256_set1_ps(1.f));
  // 1/d: a 12-bit estimate, one Newton step (~1.5e-7).
  __m256 inv = _mm256_rcp_ps(d);
  inv = _mm256_mul_ps(inv, _mm256_fnmadd_ps(d, inv, _mm256_set1_ps(2.f)));
  return _mm256_mul_ps(v, inv);
}

__attribute__((target("avx2,fma"))) void silu_avx2(float* x, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, silu8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n - i)), lane);
    _mm256_maskstore_ps(x + i, m, silu8(_mm256_maskload_ps(x + i, m)));
  }
}

#endif

void silu_serial(float* x, std::int64_t n) {
  switch (vector_isa()) {
#if defined(__x86_64__) && !defined(__clang__)
    case VectorIsa::kAvx512: silu_avx512(x, n); return;
    case VectorIsa::kAvx2: silu_avx2(x, n); return;
#endif
    default: silu_scalar(x, n);
  }
}

}  // namespace

bool silu_vectorized() { return vector_isa() != VectorIsa::kScalar; }

const char* silu_isa() { return vector_isa_name(vector_isa()); }

void silu_inplace(float* x, std::int64_t n) {
  // Below ~64 KiB a second thread costs more to wake than it saves.
  constexpr std::int64_t kPerThread = 16384;
  const int threads = static_cast<int>(std::clamp<std::int64_t>(n / kPerThread, 1, std::max(1, omp_get_max_threads())));
  if (threads == 1) return silu_serial(x, n);
#pragma omp parallel num_threads(threads)
  {
    // The team may be smaller than asked for; shares come from the size it has. Whole 16-float
    // (64-byte) runs per thread: threads do not split a cache line of an aligned buffer.
    const std::int64_t team = omp_get_num_threads();
    const std::int64_t share = (n / team + 15) / 16 * 16;
    const std::int64_t begin = std::min(n, share * omp_get_thread_num());
    const std::int64_t end = omp_get_thread_num() == team - 1 ? n : std::min(n, begin + share);
    silu_serial(x + begin, end - begin);
  }
}

}  // namespace aifgen::engine

// Multiversioned element-wise loops (see fast_math.h).
#include "core/engine/kernels/fast_math.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace aifgen::engine {
namespace {

// erf for float32 as x P(x^2) / Q(x^2), P and Q of degree 5, on x clamped to [-3.92, 3.92]
// (beyond it erf rounds to +-1 in float32, and +-1 is returned). The coefficients are a
// weighted least-squares fit to erf on [0, 3.92], reweighted towards the largest errors until
// they level out (Lawson's iteration), made for this file: 1.6e-8 from erf in exact arithmetic,
// 3.2e-7 at most once rounded in float32, and relative accuracy near 0 (P(0)/Q(0) =
// 2/sqrt(pi)). One division and no exp: the series-below-0.5 plus Abramowitz-Stegun-with-exp
// form it replaced computed both branches per vector, and GELU on vit_b_16's 197x3072 products
// took 0.71 ms a layer that way (one AVX2 thread), 0.34 ms this way. The price: near erf = -1
// the old form's error shrank with exp(-x^2) and this one's does not, so GELU's absolute error
// at x around -5 is 8.3e-7 where it was 2.6e-7 at worst (both far below the rounding of the
// float32 products that feed it).
inline float erf_f32(float x) {
  const float c = x < -3.92f ? -3.92f : (x > 3.92f ? 3.92f : x);
  const float t = c * c;
  const float p =
      ((((2.034551403e-06f * t + 2.874504711e-04f) * t + 3.867891795e-03f) * t + 5.305911269e-02f) * t + 1.927565159e-01f) * t +
      1.128379023e+00f;
  const float q =
      ((((3.806720194e-05f * t + 1.187972840e-03f) * t + 1.517145444e-02f) * t + 1.150811583e-01f) * t + 5.041576885e-01f) * t + 1.f;
  const float r = c * p / q;
  return x > 3.92f ? 1.f : (x < -3.92f ? -1.f : r);
}

}  // namespace

AIFGEN_MULTIVERSION void erf_loop(const float* x, float* y, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] = erf_f32(x[i]);
}

AIFGEN_MULTIVERSION void sigmoid_loop(const float* x, float* y, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] = 1.f / (1.f + exp_f32(-x[i]));
}

AIFGEN_MULTIVERSION float exp_shift_sum_loop(const float* x, float* y, std::int64_t n, float m) {
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::int64_t i = 0; i < n; ++i) {
    y[i] = exp_f32(x[i] - m);
    sum += y[i];
  }
  return sum;
}

AIFGEN_MULTIVERSION void softmax_row(const float* x, float* y, std::int64_t n) {
  float m = x[0];
#pragma omp simd reduction(max : m)
  for (std::int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (std::int64_t i = 0; i < n; ++i) {
    y[i] = exp_nonpositive_f32(x[i] - m);
    sum += y[i];
  }
  const float inv = 1.f / sum;
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] *= inv;
}

AIFGEN_MULTIVERSION void channel_affine_rows(const float* x, float* y, std::int64_t rows, std::int64_t c, const float* scale,
                                             const float* shift) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * c;
    float* yr = y + r * c;
#pragma omp simd
    for (std::int64_t k = 0; k < c; ++k) yr[k] = xr[k] * scale[k] + shift[k];
  }
}

AIFGEN_MULTIVERSION void channel_affine_relu(const float* x, float* y, std::int64_t channels, std::int64_t inner, const float* scale,
                                             const float* shift, bool relu) {
  if (inner == 1) {
    if (relu) {
#pragma omp simd
      for (std::int64_t k = 0; k < channels; ++k) y[k] = std::max(x[k] * scale[k] + shift[k], 0.f);
    } else {
#pragma omp simd
      for (std::int64_t k = 0; k < channels; ++k) y[k] = x[k] * scale[k] + shift[k];
    }
    return;
  }
  for (std::int64_t k = 0; k < channels; ++k) {
    const float a = scale[k], b = shift[k];
    const float* xk = x + k * inner;
    float* yk = y + k * inner;
    if (relu) {
#pragma omp simd
      for (std::int64_t i = 0; i < inner; ++i) yk[i] = std::max(xk[i] * a + b, 0.f);
    } else {
#pragma omp simd
      for (std::int64_t i = 0; i < inner; ++i) yk[i] = xk[i] * a + b;
    }
  }
}

// B known at compile time: the B scales and shifts stay in registers and each pixel is one or
// two vector operations (a run-time B left a short inner loop per pixel: densenet121's fused
// Concats 2.7 ms a run against 1.6).
template <int B>
static inline void block_affine_relu_fixed(const float* x, float* y, std::int64_t pixels, const float* scale, const float* shift, bool relu) {
  float a[B], b[B];
  for (int l = 0; l < B; ++l) {
    a[l] = scale[l];
    b[l] = shift[l];
  }
  const float floor = relu ? 0.f : -std::numeric_limits<float>::infinity();
  for (std::int64_t p = 0; p < pixels; ++p) {
#pragma omp simd
    for (int l = 0; l < B; ++l) y[p * B + l] = std::max(x[p * B + l] * a[l] + b[l], floor);
  }
}

AIFGEN_MULTIVERSION void block_affine_relu(const float* x, float* y, std::int64_t pixels, std::int64_t block, const float* scale,
                                           const float* shift, bool relu) {
  if (block == 8) return block_affine_relu_fixed<8>(x, y, pixels, scale, shift, relu);
  if (block == 16) return block_affine_relu_fixed<16>(x, y, pixels, scale, shift, relu);
  for (std::int64_t p = 0; p < pixels; ++p)
    for (std::int64_t l = 0; l < block; ++l) {
      const float v = x[p * block + l] * scale[l] + shift[l];
      y[p * block + l] = relu ? std::max(v, 0.f) : v;
    }
}

// Row sums for LayerNorm and the excitation products, written with GCC's vector extension:
// eight lanes, two running sums, so consecutive vector adds do not wait on each other (one
// running sum made a LayerNorm row of 96 floats 12 dependent adds per pass). `omp simd` loops
// over a 32-lane array kept the partial sums in memory in some clones and ran slower.
using Float8 = float __attribute__((vector_size(32)));

// The helpers take and return vectors by reference only: GCC warns that passing 32-byte vectors
// by value has a different ABI in AVX and non-AVX code, and these are inlined into every clone.
static inline void load8(Float8& v, const float* p) { std::memcpy(&v, p, sizeof v); }

static inline float add_lanes(const Float8& v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }

// The sum over i in [0, n) of a term given two ways: add8(acc, i) adds terms i..i+7 to the
// vector acc, term(i) is term i alone (the tail). Two running sums, added up at the end.
template <class Add8, class Term>
static inline float two_lane_sum(std::int64_t n, Add8 add8, Term term) {
  Float8 a = {}, b = {};
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    add8(a, i);
    add8(b, i + 8);
  }
  if (i + 8 <= n) {
    add8(a, i);
    i += 8;
  }
  const Float8 ab = a + b;
  float s = add_lanes(ab);
  for (; i < n; ++i) s += term(i);
  return s;
}

// sum of x[i], or of (x[i] - shift)^2 when `squares`, over [0, n).
template <bool squares>
static inline float row_sum(const float* x, std::int64_t n, float shift = 0.f) {
  return two_lane_sum(
      n,
      [&](Float8& acc, std::int64_t i) {
        Float8 v;
        load8(v, x + i);
        if constexpr (squares) {
          v -= shift;
          acc += v * v;
        } else {
          acc += v;
        }
      },
      [&](std::int64_t i) { return squares ? (x[i] - shift) * (x[i] - shift) : x[i]; });
}

// Four pixels' partial sums per lane, in registers: summing straight into `sums` made every
// pixel wait for the previous one's store (regnet_y_400mf's first squeeze, 48x56x56: 0.126 ms
// per block with the exchange, against ORT's 0.057 for its pool and Mul).
template <int B>
static inline void block_channel_sums_fixed(const float* x, std::int64_t pixels, float* sums) {
  float a0[B] = {}, a1[B] = {}, a2[B] = {}, a3[B] = {};
  std::int64_t p = 0;
  for (; p + 4 <= pixels; p += 4) {
    const float* q = x + p * B;
#pragma omp simd
    for (int l = 0; l < B; ++l) {
      a0[l] += q[l];
      a1[l] += q[B + l];
      a2[l] += q[2 * B + l];
      a3[l] += q[3 * B + l];
    }
  }
  for (; p < pixels; ++p)
#pragma omp simd
    for (int l = 0; l < B; ++l) a0[l] += x[p * B + l];
  for (int l = 0; l < B; ++l) sums[l] += (a0[l] + a1[l]) + (a2[l] + a3[l]);
}

AIFGEN_MULTIVERSION void block_channel_sums(const float* x, std::int64_t pixels, std::int64_t block, float* sums) {
  if (block == 8) return block_channel_sums_fixed<8>(x, pixels, sums);
  if (block == 16) return block_channel_sums_fixed<16>(x, pixels, sums);
  for (std::int64_t p = 0; p < pixels; ++p)
    for (std::int64_t l = 0; l < block; ++l) sums[l] += x[p * block + l];
}

AIFGEN_MULTIVERSION float dot_f32(const float* a, const float* b, std::int64_t n) {
  return two_lane_sum(
      n,
      [&](Float8& acc, std::int64_t i) {
        Float8 u, v;
        load8(u, a + i);
        load8(v, b + i);
        acc += u * v;
      },
      [&](std::int64_t i) { return a[i] * b[i]; });
}

AIFGEN_MULTIVERSION void axpy_f32(float a, const float* x, float* y, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

AIFGEN_MULTIVERSION void gelu_loop(const float* x, float* y, std::int64_t n) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.f + erf_f32(x[i] * 0.70710678118654752f));
}

AIFGEN_MULTIVERSION void layer_norm_rows(const float* x, float* y, std::int64_t rows, std::int64_t c, float eps, const float* scale,
                                         const float* bias, float* mean_out, float* inv_out) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * c;
    float* yr = y + r * c;
    const float mean = row_sum<false>(xr, c) / static_cast<float>(c);
    const float sq = row_sum<true>(xr, c, mean);
    const float inv = 1.f / std::sqrt(sq / static_cast<float>(c) + eps);
    if (mean_out) mean_out[r] = mean;
    if (inv_out) inv_out[r] = inv;
    if (bias) {
#pragma omp simd
      for (std::int64_t k = 0; k < c; ++k) yr[k] = (xr[k] - mean) * inv * scale[k] + bias[k];
    } else {
#pragma omp simd
      for (std::int64_t k = 0; k < c; ++k) yr[k] = (xr[k] - mean) * inv * scale[k];
    }
  }
}

AIFGEN_MULTIVERSION void shifted_sums(const float* x, std::int64_t n, float shift, double* sum, double* sum_sq) {
  double s = 0, q = 0;
  for (std::int64_t b = 0; b < n; b += 4096) {
    const std::int64_t e = std::min<std::int64_t>(n, b + 4096);
    float bs = 0, bq = 0;
#pragma omp simd reduction(+ : bs, bq)
    for (std::int64_t i = b; i < e; ++i) {
      const float d = x[i] - shift;
      bs += d;
      bq += d * d;
    }
    s += bs;
    q += bq;
  }
  *sum = s;
  *sum_sq = q;
}

AIFGEN_MULTIVERSION void centred_affine_loop(const float* x, float* y, std::int64_t n, float shift, float a, float b) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) y[i] = (x[i] - shift) * a + b;
}

AIFGEN_MULTIVERSION void lstm_cell_loop(const float* gi, const float* go, const float* gf, const float* gc, const float* pi,
                                        const float* po, const float* pf, float* c, float* h, std::int64_t n) {
#pragma omp simd
  for (std::int64_t j = 0; j < n; ++j) {
    const float i = 1.f / (1.f + exp_f32(-(gi[j] + pi[j] * c[j])));
    const float f = 1.f / (1.f + exp_f32(-(gf[j] + pf[j] * c[j])));
    const float next = f * c[j] + i * tanh_f32(gc[j]);
    const float o = 1.f / (1.f + exp_f32(-(go[j] + po[j] * next)));
    c[j] = next;
    h[j] = o * tanh_f32(next);
  }
}

AIFGEN_MULTIVERSION void gru_cell_loop(const float* gz, const float* gr, const float* xh, const float* rh, const float* h_prev, float* h,
                                       std::int64_t n) {
#pragma omp simd
  for (std::int64_t j = 0; j < n; ++j) {
    const float z = 1.f / (1.f + exp_f32(-gz[j]));
    const float r = 1.f / (1.f + exp_f32(-gr[j]));
    h[j] = (1.f - z) * tanh_f32(xh[j] + r * rh[j]) + z * h_prev[j];
  }
}

}  // namespace aifgen::engine

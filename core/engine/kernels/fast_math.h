// Vectorizable float32 exp for the element-wise kernels. glibc only offers vector expf under
// -ffast-math, which would also change NaN/Inf semantics everywhere; this one is written in
// plain arithmetic so `#pragma omp simd` loops vectorize, with relative error < 2e-7 on
// [-87, 88] and exact 0 / +Inf / NaN outside.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace aifgen::engine {

// 2^n exp(r) for x already clamped to [-87.3, 88.7]: n = round(x / ln2), r = x - n ln2 in
// [-ln2/2, ln2/2].
inline float exp_clamped_f32(float clamped) {
  // Round to nearest by the 1.5 * 2^23 trick (plain adds, so it vectorizes without SSE4.1).
  const float n = (clamped * 1.44269504088896341f + 12582912.f) - 12582912.f;
  const float r = clamped - n * 0.693145751953125f - n * 1.428606765330187e-06f;
  // Degree-6 Taylor polynomial of exp on the reduced range.
  float p = 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

inline float exp_f32(float x) {
  // Ternaries, not fminf/fmaxf: those stay library calls (NaN rules) and block vectorization.
  float clamped = x < -87.3f ? -87.3f : x;
  clamped = clamped > 88.7f ? 88.7f : clamped;
  float y = exp_clamped_f32(clamped);
  y = x < -87.3f ? 0.f : y;
  y = x > 88.7f ? INFINITY : y;
  return x != x ? x : y;
}

// exp_f32 for x <= 0 or NaN, a softmax's x - max: without the overflow clamp and the +Inf and
// NaN selects, a fifth of a 49-wide softmax row (Swin's windows: 55 -> 43 ns a row). NaN still
// gives NaN (through the arithmetic) and -Inf, a masked score, 0.
inline float exp_nonpositive_f32(float x) {
  const float y = exp_clamped_f32(x < -87.3f ? -87.3f : x);
  return x < -87.3f ? 0.f : y;
}

// tanh from exp_f32: 1 - 2 / (1 + e^2x), and an odd Taylor polynomial to x^7 for |x| < 1/16,
// where that form would lose the leading digits (error there below 1e-12). Absolute error below
// 2e-7 elsewhere; +-Inf give +-1, NaN gives NaN.
inline float tanh_f32(float x) {
  const float x2 = x * x;
  const float small = x * (1.f + x2 * (-1.f / 3.f + x2 * (2.f / 15.f + x2 * (-17.f / 315.f))));
  const float big = 1.f - 2.f / (1.f + exp_f32(2.f * x));
  return x < 0.0625f && x > -0.0625f ? small : big;
}

// Hot element-wise loops, compiled for AVX-512, AVX2+FMA and baseline x86-64 and picked at load
// time (the binary stays portable; oneDNN dispatches its own kernels the same way).
#if defined(__x86_64__) && !defined(__clang__)
#define AIFGEN_MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define AIFGEN_MULTIVERSION
#endif

void erf_loop(const float* x, float* y, std::int64_t n);
void sigmoid_loop(const float* x, float* y, std::int64_t n);
// y[i] = exp(x[i] - m); returns the sum of y.
float exp_shift_sum_loop(const float* x, float* y, std::int64_t n, float m);
// Softmax of one contiguous row of n > 0 values (x and y may be the same buffer): the max, the
// shifted exponentials and their sum, and the scaling, each a vector loop.
void softmax_row(const float* x, float* y, std::int64_t n);
// Exact GELU: 0.5 x (1 + erf(x / sqrt 2)).
void gelu_loop(const float* x, float* y, std::int64_t n);
// Normalizes each of `rows` rows of `c` values to mean 0, variance 1 (biased, + eps), then
// scales and shifts per position (bias may be null); each row's mean and 1/deviation go to
// mean_out/inv_out where not null.
void layer_norm_rows(const float* x, float* y, std::int64_t rows, std::int64_t c, float eps, const float* scale, const float* bias,
                     float* mean_out, float* inv_out);
// *sum = the sum of x[i] - shift, *sum_sq = the sum of its squares, over [0, n): float lanes
// within blocks of 4096 values, the blocks added in double, so a plane of a million values
// (Conv-TasNet's global layer norm) keeps float32's precision. With `shift` near the mean,
// x - shift is exact for the values near it and the two sums give the variance without the
// cancellation of sum(x^2) - n mean^2.
void shifted_sums(const float* x, std::int64_t n, float shift, double* sum, double* sum_sq);
// An LSTM cell's update (ONNX's equations, default activations) for n hidden units, from the
// gates' pre-activations (X W^T + R h_{t-1} + biases) in ONNX's order: i = s(gi + pi c),
// f = s(gf + pf c), c' = f c + i tanh(gc), o = s(go + po c'), h = o tanh(c'). c is updated in
// place; p* are the peepholes (zeros without them).
void lstm_cell_loop(const float* gi, const float* go, const float* gf, const float* gc, const float* pi, const float* po, const float* pf,
                    float* c, float* h, std::int64_t n);
// A linear-before-reset GRU cell's update for n hidden units: z = s(gz), r = s(gr),
// h = (1 - z) tanh(xh + r rh) + z h_prev, where xh = X W_h^T + W's candidate bias and
// rh = R_h h_prev + R's candidate bias.
void gru_cell_loop(const float* gz, const float* gr, const float* xh, const float* rh, const float* h_prev, float* h, std::int64_t n);
// y[i] = (x[i] - shift) * a + b over [0, n).
void centred_affine_loop(const float* x, float* y, std::int64_t n, float shift, float a, float b);
// y[r][k] = x[r][k] * scale[k] + shift[k] over `rows` rows of `c` channels (NHWC batch norm).
void channel_affine_rows(const float* x, float* y, std::int64_t rows, std::int64_t c, const float* scale, const float* shift);
// y[k][i] = x[k][i] * scale[k] + shift[k] for `channels` channels of `inner` values each (inner
// 1: NHWC pixels; H*W: NCHW planes), then max(0, y) when `relu`: a batch norm (and its ReLU)
// applied while a Concat copies its inputs.
void channel_affine_relu(const float* x, float* y, std::int64_t channels, std::int64_t inner, const float* scale, const float* shift,
                         bool relu);
// The same for one channel block of a blocked value: `pixels` pixels of `block` lanes each
// (nChw8c/nChw16c), lane l scaled by scale[l] and shifted by shift[l].
void block_affine_relu(const float* x, float* y, std::int64_t pixels, std::int64_t block, const float* scale, const float* shift,
                       bool relu);
// sums[l] += x[p][l] over `pixels` pixels of one channel block of `block` lanes (the squeeze
// of a squeeze-and-excitation block on nChw8c/nChw16c data).
void block_channel_sums(const float* x, std::int64_t pixels, std::int64_t block, float* sums);
// The dot product of n floats, and y[i] += a * x[i]: the small excitation products.
float dot_f32(const float* a, const float* b, std::int64_t n);
void axpy_f32(float a, const float* x, float* y, std::int64_t n);

}  // namespace aifgen::engine

// BatchNormalization (inference), InstanceNormalization, Softmax and LogSoftmax with the axis
// rules of each opset.
#include <algorithm>
#include <cmath>
#include <vector>

#include <omp.h>

#include "core/engine/kernels/fast_math.h"
#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

std::unique_ptr<Kernel> make_batchnorm(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  for (std::size_t i = 0; i < 5; ++i) ctx.require_dtype(i, {DType::kF32});
  if (ctx.attr_i("training_mode", 0) != 0) ctx.unsupported("training_mode");
  for (int i = 1; i < ctx.node().output_size(); ++i)
    if (!ctx.node().output(i).empty()) ctx.unsupported("training outputs (running mean/var)");
  const auto& x = ctx.in(0).shape;
  if (x.size() < 2) ctx.invalid("input rank < 2");
  const std::int64_t c = x[1];
  for (std::size_t i = 1; i < 5; ++i)
    if (numel(ctx.in(i).shape) != c) ctx.invalid("per-channel inputs must have C elements");
  const float eps = ctx.attr_f("epsilon", 1e-5f);
  outs = {ctx.in(0)};
  return make_kernel([eps](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const auto& s = in[0]->shape;
    const std::int64_t n = s[0], c = s[1], inner = in[0]->numel() / std::max<std::int64_t>(n * c, 1);
    const float *x = in[0]->as<float>(), *gamma = in[1]->as<float>(), *beta = in[2]->as<float>(),
                *mean = in[3]->as<float>(), *var = in[4]->as<float>();
    float* y = out[0]->as<float>();
#pragma omp parallel for if (n * c >= 8 && in[0]->numel() > kParallelMinElements) schedule(static)
    for (std::int64_t p = 0; p < n * c; ++p) {
      const std::int64_t ch = p % c;
      const float scale = gamma[ch] / std::sqrt(var[ch] + eps), shift = beta[ch] - mean[ch] * scale;
      for (std::int64_t i = 0; i < inner; ++i) y[p * inner + i] = x[p * inner + i] * scale + shift;
    }
  });
}

// The sums of x - shift and of its squares over one plane of n values: split over the run's
// threads when `team` (a plane too large for one thread while the planes are fewer than the
// threads), else on the calling thread.
void plane_sums(const float* x, std::int64_t n, float shift, bool team, double* sum, double* sum_sq) {
  if (!team) {
    shifted_sums(x, n, shift, sum, sum_sq);
    return;
  }
  std::vector<double> s(static_cast<std::size_t>(omp_get_max_threads()), 0.0), q(s.size(), 0.0);
  parallel_chunks(n, [&](std::int64_t b, std::int64_t e) {
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    shifted_sums(x + b, e - b, shift, &s[t], &q[t]);
  });
  *sum = *sum_sq = 0;
  for (std::size_t t = 0; t < s.size(); ++t) {
    *sum += s[t];
    *sum_sq += q[t];
  }
}

// One plane normalized: the mean from sums about the plane's first value, then the deviations'
// sums about that mean rounded to float (exact differences for the values near it), so a plane
// around 1000 with a spread of 0.01 keeps its spread; the output is centred before it is
// scaled ((x - mean) * a + b, not x * a + (b - mean * a), whose two terms near 1e5 cancel).
void normalize_plane(const float* x, float* y, std::int64_t n, float eps, float scale, float bias, bool team) {
  const double count = static_cast<double>(n);
  double s = 0, q = 0;
  plane_sums(x, n, x[0], team, &s, &q);
  const float mean = static_cast<float>(x[0] + s / count);
  plane_sums(x, n, mean, team, &s, &q);
  const double offset = s / count, variance = std::max(0.0, q / count - offset * offset);
  const double a = scale / std::sqrt(variance + eps);
  const float fa = static_cast<float>(a), fb = static_cast<float>(bias - offset * a);
  if (team) parallel_chunks(n, [&](std::int64_t b, std::int64_t e) { centred_affine_loop(x + b, y + b, e - b, mean, fa, fb); });
  else centred_affine_loop(x, y, n, mean, fa, fb);
}

// InstanceNormalization: each (n, c) plane normalized by its own mean and variance, then
// scaled and shifted per channel. PyTorch exports GroupNorm as this over [N, groups, rest]
// (FCOS's heads; Conv-TasNet's global layer norm is one group: one plane of 512 x 2000 values,
// whose passes are split over the threads).
std::unique_ptr<Kernel> make_instance_norm(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  for (std::size_t i = 0; i < 3; ++i) ctx.require_dtype(i, {DType::kF32});
  const auto& x = ctx.in(0).shape;
  if (x.size() < 3) ctx.invalid("input rank < 3 (N, C and at least one spatial axis)");
  const std::int64_t c = x[1];
  if (numel(ctx.in(1).shape) != c || numel(ctx.in(2).shape) != c) ctx.invalid("scale and B must have C elements");
  const float eps = ctx.attr_f("epsilon", 1e-5f);
  outs = {ctx.in(0)};
  return make_kernel([eps, c](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const std::int64_t planes = in[0]->shape[0] * c, inner = in[0]->numel() / std::max<std::int64_t>(planes, 1);
    if (inner == 0) return;
    const float *xp = in[0]->as<float>(), *scale = in[1]->as<float>(), *bias = in[2]->as<float>();
    float* yp = out[0]->as<float>();
    const bool team = planes < omp_get_max_threads() && inner > kParallelMinElements;
    if (team) {
      for (std::int64_t p = 0; p < planes; ++p) normalize_plane(xp + p * inner, yp + p * inner, inner, eps, scale[p % c], bias[p % c], true);
      return;
    }
#pragma omp parallel for if (planes >= 2 && in[0]->numel() > kParallelMinElements) schedule(static)
    for (std::int64_t p = 0; p < planes; ++p) normalize_plane(xp + p * inner, yp + p * inner, inner, eps, scale[p % c], bias[p % c], false);
  });
}

// "BatchNormalizationNHWC" (engine-internal, see nhwc_passthrough.h): the same inference
// normalization on a [N, H, W, C] view of an NHWC value, with constant statistics folded into
// one scale and shift per channel at plan time.
std::unique_ptr<Kernel> make_batchnorm_nhwc(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  for (std::size_t i = 0; i < 5; ++i) ctx.require_dtype(i, {DType::kF32});
  const auto& x = ctx.in(0).shape;
  if (x.size() != 4) ctx.invalid("expects a 4-D [N,H,W,C] view");
  const std::int64_t c = x[3];
  std::vector<float> scale(static_cast<std::size_t>(c)), shift(static_cast<std::size_t>(c));
  const float eps = ctx.attr_f("epsilon", 1e-5f);
  const float *gamma = ctx.constant_input(1, "scale").as<float>(), *beta = ctx.constant_input(2, "bias").as<float>(),
              *mean = ctx.constant_input(3, "mean").as<float>(), *var = ctx.constant_input(4, "variance").as<float>();
  for (std::size_t i = 1; i < 5; ++i)
    if (numel(ctx.in(i).shape) != c) ctx.invalid("per-channel inputs must have C elements");
  for (std::int64_t k = 0; k < c; ++k) {
    scale[static_cast<std::size_t>(k)] = gamma[k] / std::sqrt(var[k] + eps);
    shift[static_cast<std::size_t>(k)] = beta[k] - mean[k] * scale[static_cast<std::size_t>(k)];
  }
  outs = {ctx.in(0)};
  return make_kernel([scale = std::move(scale), shift = std::move(shift), c](const std::vector<const Tensor*>& in,
                                                                              const std::vector<Tensor*>& out, RunContext&) {
    const std::int64_t rows = in[0]->numel() / std::max<std::int64_t>(c, 1);
    const float* xp = in[0]->as<float>();
    float* yp = out[0]->as<float>();
    // One contiguous block of rows per thread; small tensors stay on the calling thread.
    parallel_chunks(rows * c, [&](std::int64_t b, std::int64_t e) {
      const std::int64_t r0 = b / c, r1 = e == rows * c ? rows : e / c;
      channel_affine_rows(xp + r0 * c, yp + r0 * c, r1 - r0, c, scale.data(), shift.data());
    });
  });
}

// LayerNormalization (opset 17, and the engine's fused form of the opset-13 decomposition; see
// transformer_patterns.h): normalization over the dims from `axis` on, float32, with constant
// or run-time scale and bias (one value per normalized position), and the optional Mean and
// InvStdDev outputs.
std::unique_ptr<Kernel> make_layer_norm(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kF32});
  const auto& x = ctx.in(0).shape;
  const auto rank = static_cast<std::int64_t>(x.size());
  if (rank < 1) ctx.invalid("a scalar cannot be normalized");
  const auto axis = normalize_axis(ctx, ctx.attr_i("axis", -1), rank);
  std::int64_t c = 1;
  for (auto i = axis; i < rank; ++i) c *= x[static_cast<std::size_t>(i)];
  for (std::size_t i = 1; i < 3; ++i)
    if (ctx.has_input(i)) {
      ctx.require_dtype(i, {DType::kF32});
      if (numel(ctx.in(i).shape) != c) ctx.unsupported("scale or bias that is not one value per normalized position");
    }
  const bool has_scale = ctx.has_input(1), has_bias = ctx.has_input(2);
  const float eps = ctx.attr_f("epsilon", 1e-5f);
  // Optional Mean and InvStdDev outputs: the input's shape with the normalized dims set to 1.
  Shape stats = x;
  for (auto i = axis; i < rank; ++i) stats[static_cast<std::size_t>(i)] = 1;
  outs = {{DType::kF32, x}, {DType::kF32, stats}, {DType::kF32, stats}};
  return make_kernel([c, eps, has_scale, has_bias](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const std::int64_t rows = in[0]->numel() / std::max<std::int64_t>(c, 1);
    std::vector<float> ones;
    const float* scale = has_scale ? in[1]->as<float>() : (ones.assign(static_cast<std::size_t>(c), 1.f), ones.data());
    const float* bias = has_bias ? in[2]->as<float>() : nullptr;
    const float* xp = in[0]->as<float>();
    float* yp = out[0]->as<float>();
    parallel_chunks(rows * c, [&](std::int64_t b, std::int64_t e) {
      const std::int64_t r0 = b / c, r1 = e == rows * c ? rows : e / c;
      layer_norm_rows(xp + r0 * c, yp + r0 * c, r1 - r0, c, eps, scale, bias, out[1]->as<float>() + r0, out[2]->as<float>() + r0);
    });
  });
}

std::unique_ptr<Kernel> make_softmax(const NodeCtx& ctx, std::vector<TensorDesc>& outs, bool log) {
  ctx.require_dtype(0, {DType::kF32});
  const auto& x = ctx.in(0).shape;
  const auto rank = static_cast<std::int64_t>(x.size());
  // Before opset 13 the input is coerced to 2-D at `axis` (default 1); from 13 the softmax runs
  // along `axis` (default -1) alone.
  const bool coerce = ctx.opset() < 13;
  auto axis = normalize_axis(ctx, ctx.attr_i("axis", coerce ? 1 : -1), rank);
  std::int64_t outer = 1, dim = 1, inner = 1;
  for (std::int64_t i = 0; i < rank; ++i) {
    auto d = x[static_cast<std::size_t>(i)];
    if (i < axis) outer *= d;
    else if (coerce || i == axis) dim *= d;
    else inner *= d;
  }
  outs = {ctx.in(0)};
  return make_kernel([outer, dim, inner, log](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    if (dim == 0) return;  // an empty softmax axis: nothing to read or write
    const float* x = in[0]->as<float>();
    float* y = out[0]->as<float>();
#pragma omp parallel for if (outer * inner >= 8 && outer * inner * dim > kParallelMinElements) schedule(static)
    for (std::int64_t r = 0; r < outer * inner; ++r) {
      const std::int64_t o = r / inner, i = r % inner;
      const float* xp = x + o * dim * inner + i;
      float* yp = y + o * dim * inner + i;
      if (inner == 1 && !log) {
        softmax_row(xp, yp, dim);
        continue;
      }
      float m = xp[0];
      for (std::int64_t k = 1; k < dim; ++k) m = std::max(m, xp[k * inner]);
      float sum = 0;
      for (std::int64_t k = 0; k < dim; ++k) {
        float e = std::exp(xp[k * inner] - m);
        if (!log) yp[k * inner] = e;
        sum += e;
      }
      if (log) {
        const float lse = static_cast<float>(std::log(sum));
        for (std::int64_t k = 0; k < dim; ++k) yp[k * inner] = xp[k * inner] - m - lse;
      } else {
        const float inv = static_cast<float>(1.0 / sum);
        for (std::int64_t k = 0; k < dim; ++k) yp[k * inner] *= inv;
      }
    }
  });
}

}  // namespace

void register_normalization_kernels(KernelTable& t) {
  t["BatchNormalization"] = make_batchnorm;
  t["BatchNormalizationNHWC"] = make_batchnorm_nhwc;  // engine-internal
  t["LayerNormalization"] = make_layer_norm;
  t["InstanceNormalization"] = make_instance_norm;
  t["Softmax"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_softmax(c, o, false); };
  t["LogSoftmax"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_softmax(c, o, true); };
}

}  // namespace aifgen::engine

// The engine's own vector erf and GELU (core/engine/kernels/fast_math.cpp) against the C
// library's erf in double, over the range where they differ from +-1 and beyond it; and the
// squeeze-and-excitation loops (channel-block sums, dot, axpy), LayerNorm's rows and softmax
// rows against plain double computations.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/engine/kernels/fast_math.h"

namespace aifgen {
namespace {

std::vector<float> sample_points() {
  std::vector<float> x;
  for (int i = -60000; i <= 60000; ++i) x.push_back(static_cast<float>(i) * 1e-4f);  // [-6, 6]
  for (float v : {1e-30f, -1e-30f, 1e-8f, 3.9199f, 3.9201f, 50.f, -50.f}) x.push_back(v);
  return x;
}

TEST(EngineFastMath, ErfIsWithinFourTenthsOfAMillionthAndRelativeNearZero) {
  const auto x = sample_points();
  std::vector<float> y(x.size());
  engine::erf_loop(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  double worst_abs = 0, worst_rel_small = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = std::erf(static_cast<double>(x[i]));
    worst_abs = std::max(worst_abs, std::abs(y[i] - want));
    if (std::abs(x[i]) < 0.5f && x[i] != 0.f) worst_rel_small = std::max(worst_rel_small, std::abs(y[i] - want) / std::abs(want));
  }
  EXPECT_LT(worst_abs, 4e-7);
  EXPECT_LT(worst_rel_small, 1e-6);  // tiny inputs keep their relative accuracy, not just 4e-7
  const float specials[] = {0.f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN()};
  float out[4];
  engine::erf_loop(specials, out, 4);
  EXPECT_EQ(out[0], 0.f);
  EXPECT_EQ(out[1], 1.f);
  EXPECT_EQ(out[2], -1.f);
  EXPECT_TRUE(std::isnan(out[3]));
}

// The recurrent cells' tanh: absolute error below 2e-7, relative accuracy kept near zero by the
// small-argument polynomial, and the edges.
TEST(EngineFastMath, TanhIsWithinTwoTenMillionthsAndRelativeNearZero) {
  const auto x = sample_points();
  double worst_abs = 0, worst_rel_small = 0;
  for (const float v : x) {
    const double want = std::tanh(static_cast<double>(v)), got = engine::tanh_f32(v);
    worst_abs = std::max(worst_abs, std::abs(got - want));
    if (std::abs(v) < 0.5f && v != 0.f) worst_rel_small = std::max(worst_rel_small, std::abs(got - want) / std::abs(want));
  }
  EXPECT_LT(worst_abs, 2e-7);
  EXPECT_LT(worst_rel_small, 2e-6);
  EXPECT_EQ(engine::tanh_f32(0.f), 0.f);
  EXPECT_EQ(engine::tanh_f32(std::numeric_limits<float>::infinity()), 1.f);
  EXPECT_EQ(engine::tanh_f32(-std::numeric_limits<float>::infinity()), -1.f);
  EXPECT_TRUE(std::isnan(engine::tanh_f32(std::numeric_limits<float>::quiet_NaN())));
}

// An LSTM and a GRU cell's update at every length of the vector loop's tail, against the cell
// equations in double.
TEST(EngineFastMath, CellUpdatesMatchTheirEquations) {
  for (std::int64_t n = 1; n <= 40; ++n) {
    std::vector<float> g(static_cast<std::size_t>(8 * n));
    for (std::size_t i = 0; i < g.size(); ++i) g[i] = 3.f * std::sin(0.9f * static_cast<float>(i) + static_cast<float>(n));
    const float *a = g.data(), *b = a + n, *c = b + n, *d = c + n, *e = d + n, *f = e + n, *k = f + n, *m = k + n;
    std::vector<float> cell(m, m + n), h(static_cast<std::size_t>(n), NAN), gru(static_cast<std::size_t>(n), NAN);
    engine::lstm_cell_loop(a, b, c, d, e, f, k, cell.data(), h.data(), n);
    engine::gru_cell_loop(a, b, c, d, e, gru.data(), n);
    auto s = [](double v) { return 1 / (1 + std::exp(-v)); };
    for (std::int64_t j = 0; j < n; ++j) {
      const double i = s(a[j] + e[j] * m[j]), fg = s(c[j] + k[j] * m[j]);
      const double next = fg * m[j] + i * std::tanh(d[j]);
      const double o = s(b[j] + f[j] * next);
      EXPECT_NEAR(cell[static_cast<std::size_t>(j)], next, 1e-6 * (1 + std::abs(next))) << n << " " << j;
      EXPECT_NEAR(h[static_cast<std::size_t>(j)], o * std::tanh(next), 1e-6) << n << " " << j;
      const double z = s(a[j]), r = s(b[j]);
      EXPECT_NEAR(gru[static_cast<std::size_t>(j)], (1 - z) * std::tanh(c[j] + r * d[j]) + z * e[j], 1e-6) << n << " " << j;
    }
  }
}

TEST(EngineFastMath, GeluMatchesTheErfDefinition) {
  const auto x = sample_points();
  std::vector<float> y(x.size());
  engine::gelu_loop(x.data(), y.data(), static_cast<std::int64_t>(x.size()));
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    const double want = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    worst = std::max(worst, std::abs(y[i] - want) / std::max(1.0, std::abs(want)));
  }
  EXPECT_LT(worst, 1e-6);
}

// Channel-block sums unroll four pixels for blocks of 8 and 16 and fall back to a plain loop
// otherwise; pixel counts that are not multiples of 4 exercise the tail.
TEST(EngineFastMath, BlockChannelSumsAddEveryPixelOfEveryLane) {
  for (std::int64_t block : {8, 16, 4}) {
    for (std::int64_t pixels : {0, 1, 3, 4, 7, 301}) {
      std::vector<float> x(static_cast<std::size_t>(pixels * block));
      for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) + 0.25f;
      std::vector<float> sums(static_cast<std::size_t>(block), 1.f);  // added to, not overwritten
      engine::block_channel_sums(x.data(), pixels, block, sums.data());
      for (std::int64_t l = 0; l < block; ++l) {
        double want = 1;
        for (std::int64_t p = 0; p < pixels; ++p) want += x[static_cast<std::size_t>(p * block + l)];
        EXPECT_NEAR(sums[static_cast<std::size_t>(l)], want, 1e-5 * (1 + std::abs(want))) << "block " << block << " pixels " << pixels << " lane " << l;
      }
    }
  }
}

TEST(EngineFastMath, DotAndAxpyMatchPlainSumsAtEveryLength) {
  for (std::int64_t n : {0, 1, 31, 32, 33, 100, 1152}) {
    std::vector<float> a(static_cast<std::size_t>(n)), b(a.size()), y(a.size());
    double want = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      a[static_cast<std::size_t>(i)] = std::cos(0.11f * static_cast<float>(i));
      b[static_cast<std::size_t>(i)] = 0.5f - std::sin(0.07f * static_cast<float>(i));
      y[static_cast<std::size_t>(i)] = static_cast<float>(i);
      want += static_cast<double>(a[static_cast<std::size_t>(i)]) * b[static_cast<std::size_t>(i)];
    }
    EXPECT_NEAR(engine::dot_f32(a.data(), b.data(), n), want, 1e-5 * (1 + std::abs(want))) << "n " << n;
    engine::axpy_f32(-2.f, a.data(), y.data(), n);
    for (std::int64_t i = 0; i < n; ++i)
      EXPECT_FLOAT_EQ(y[static_cast<std::size_t>(i)], static_cast<float>(i) - 2.f * a[static_cast<std::size_t>(i)]) << "n " << n << " @" << i;
  }
}

// Row lengths below, at and past the 32 partial sums, with a tail, and a ViT's 768; values
// with a large common offset, where a one-pass variance would lose the digits.
TEST(EngineFastMath, LayerNormRowsMatchATwoPassDoubleComputation) {
  for (std::int64_t c : {1, 5, 32, 33, 96, 100, 768}) {
    const std::int64_t rows = 3;
    std::vector<float> x(static_cast<std::size_t>(rows * c)), y(x.size()), scale(static_cast<std::size_t>(c)), bias(scale.size());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 1000.f + std::sin(0.3f * static_cast<float>(i)) * static_cast<float>(i % 7);
    for (std::size_t k = 0; k < scale.size(); ++k) {
      scale[k] = 0.5f + 0.01f * static_cast<float>(k);
      bias[k] = -0.25f * static_cast<float>(k % 3);
    }
    std::vector<float> mean(rows), inv(rows);
    const float eps = 1e-5f;
    engine::layer_norm_rows(x.data(), y.data(), rows, c, eps, scale.data(), bias.data(), mean.data(), inv.data());
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* xr = x.data() + r * c;
      double m = 0, v = 0;
      for (std::int64_t k = 0; k < c; ++k) m += xr[k];
      m /= static_cast<double>(c);
      for (std::int64_t k = 0; k < c; ++k) v += (xr[k] - m) * (xr[k] - m);
      const double want_inv = 1 / std::sqrt(v / static_cast<double>(c) + eps);
      EXPECT_NEAR(mean[static_cast<std::size_t>(r)], m, 2e-6 * std::abs(m)) << "c " << c << " row " << r;  // a few float ulps
      EXPECT_NEAR(inv[static_cast<std::size_t>(r)], want_inv, 1e-4 * want_inv) << "c " << c << " row " << r;
      for (std::int64_t k = 0; k < c; ++k) {
        const double want = (xr[k] - m) * want_inv * scale[static_cast<std::size_t>(k)] + bias[static_cast<std::size_t>(k)];
        EXPECT_NEAR(y[static_cast<std::size_t>(r * c + k)], want, 2e-3 * (1 + std::abs(want))) << "c " << c << " row " << r << " @" << k;
      }
    }
  }
}

// Rows as attention writes them: window widths, a ViT's 197, masked (-Inf) scores and scores
// far below the row's maximum (exp underflows to 0 there, as it does in double).
TEST(EngineFastMath, SoftmaxRowsMatchDoubleWithMaskedAndTinyEntries) {
  const float inf = std::numeric_limits<float>::infinity();
  for (std::int64_t n : {1, 7, 49, 197}) {
    std::vector<float> x(static_cast<std::size_t>(n)), y(x.size());
    for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = 4.f * std::sin(0.9f * static_cast<float>(i));
    if (n > 7) {
      x[3] = -inf;
      x[5] = -200.f;
    }
    engine::softmax_row(x.data(), y.data(), n);
    double m = -INFINITY, sum = 0;
    for (float v : x) m = std::max<double>(m, v);
    for (float v : x) sum += std::exp(v - m);
    double total = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double want = std::exp(x[static_cast<std::size_t>(i)] - m) / sum;
      EXPECT_NEAR(y[static_cast<std::size_t>(i)], want, 1e-6 * want + 1e-30) << "n " << n << " @" << i;
      total += y[static_cast<std::size_t>(i)];
    }
    EXPECT_NEAR(total, 1.0, 1e-5) << "n " << n;
    if (n > 7) {
      EXPECT_EQ(y[3], 0.f);
      EXPECT_EQ(y[5], 0.f);
    }
  }
  float nan_row[4] = {1.f, std::numeric_limits<float>::quiet_NaN(), 2.f, 3.f}, out[4];
  engine::softmax_row(nan_row, out, 4);
  EXPECT_TRUE(std::isnan(out[1]));
}

}  // namespace
}  // namespace aifgen

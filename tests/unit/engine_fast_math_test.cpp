// The engine's own vector erf and GELU (core/engine/kernels/fast_math.cpp) against the C
// library's erf in double, over the range where they differ from +-1 and beyond it.
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

}  // namespace
}  // namespace aifgen

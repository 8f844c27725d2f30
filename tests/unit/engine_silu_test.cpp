// The hand-vectorized SiLU (kernels/silu.h) against the formula in double precision, at every
// tail length of its vector loop, across threads and at the edges of its range; and a
// convolution whose SiLU it takes over (Conv -> Sigmoid -> Mul) against plain loops. Also run
// under DNNL_MAX_CPU_ISA=AVX2 (the engine_avx2 test), which selects the AVX2 version.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <dnnl.hpp>
#include <limits>
#include <random>
#include <string>

#include "core/engine/kernels/silu.h"
#include "core/engine/session.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

double silu_exact(double x) { return x / (1.0 + std::exp(-x)); }

std::vector<float> spread_values(std::size_t n, std::uint32_t seed, float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

TEST(EngineSilu, VersionFollowsOneDnnIsaCap) {
  const auto cap = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto has = [&](dnnl::cpu_isa level) { return (cap & static_cast<unsigned>(level)) == static_cast<unsigned>(level); };
  const std::string isa = silu_isa();
#if defined(__x86_64__)
  if (has(dnnl::cpu_isa::avx512_core)) EXPECT_EQ(isa, "avx512");
  else if (has(dnnl::cpu_isa::avx2)) EXPECT_EQ(isa, "avx2");
  else EXPECT_EQ(isa, "scalar");
#endif
  EXPECT_EQ(silu_vectorized(), isa != "scalar");
}

TEST(EngineSilu, MatchesFormulaAtEveryTailLength) {
  // Lengths 1..40 cover the masked tails of the 16- and 8-wide loops; values across [-30, 30]
  // and the steep part near 0.
  for (std::size_t n = 1; n <= 40; ++n) {
    auto x = spread_values(n, static_cast<std::uint32_t>(n), -30.f, 30.f);
    if (n > 2) x[1] = 1e-3f, x[2] = -1e-3f;
    auto y = x;
    silu_inplace(y.data(), static_cast<std::int64_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
      const double want = silu_exact(x[i]);
      EXPECT_NEAR(y[i], want, 1e-6 * std::abs(want) + 1e-30) << "x = " << x[i] << " at " << i << " of " << n;
    }
  }
}

TEST(EngineSilu, RelativeErrorBelowOneMillionthOverItsRange) {
  // Every float from -80 to 88 in small steps, where exp(-x) neither overflows nor vanishes.
  std::vector<float> x;
  for (float v = -80.f; v < 88.f; v += 0.0137f) x.push_back(v);
  auto y = x;
  silu_inplace(y.data(), static_cast<std::int64_t>(y.size()));
  double worst = 0;
  float worst_x = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double want = silu_exact(x[i]);
    if (want == 0) continue;
    const double rel = std::abs(y[i] - want) / std::abs(want);
    if (rel > worst) worst = rel, worst_x = x[i];
  }
  EXPECT_LT(worst, 1e-6) << "worst at x = " << worst_x;
}

TEST(EngineSilu, EdgesOfTheRange) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {nan, inf, 100.f, 88.5f, -85.f, -200.f, 0.f, -0.f, 1e-30f, -1e-30f, 3.f, -3.f, 5.f, -5.f, 7.f, -7.f, 9.f};
  auto y = x;
  silu_inplace(y.data(), static_cast<std::int64_t>(y.size()));
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(y[1], inf);
  EXPECT_NEAR(y[2], 100.f, 1e-5f);  // sigmoid(100) is 1 in float; the AVX2 reciprocal is 1 - 6e-8
  EXPECT_NEAR(y[3], 88.5f, 1e-4f);
  EXPECT_LE(std::abs(y[4]), 1e-30f);
  EXPECT_LE(std::abs(y[5]), 1e-30f);
  EXPECT_FALSE(std::isnan(y[5]));
  EXPECT_EQ(y[6], 0.f);
  EXPECT_EQ(y[7], 0.f);
  EXPECT_NEAR(y[8], 5e-31f, 1e-36f);
  for (std::size_t i = 10; i < x.size(); ++i) EXPECT_NEAR(y[i], silu_exact(x[i]), 1e-6 * std::abs(silu_exact(x[i])));
}

TEST(EngineSilu, ThreadsGiveTheSameBits) {
  // 1M values: large enough to be split among threads; each element's result must not depend
  // on which thread or which vector lane computed it.
  auto x = spread_values(1 << 20, 11, -20.f, 20.f);
  x.push_back(0.5f);  // an odd length: one thread's share ends in a masked tail
  auto one = x, two = x;
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  silu_inplace(one.data(), static_cast<std::int64_t>(one.size()));
  omp_set_num_threads(2);
  silu_inplace(two.data(), static_cast<std::int64_t>(two.size()));
  omp_set_num_threads(saved);
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
  EXPECT_NEAR(one.back(), silu_exact(0.5), 1e-7);
}

// x -> Conv (1x1, `m` channels; a count that is not a multiple of oneDNN's channel block pads a
// blocked destination) -> SiLU as Sigmoid and Mul -> optionally * 0.5 (then the SiLU is not the
// chain's last step and stays a oneDNN post-op) -> y.
void check_conv_silu(std::int64_t c, std::int64_t m, std::int64_t hw, bool then_scale) {
  auto xv = spread_values(static_cast<std::size_t>(c * hw * hw), 21, -2.f, 2.f);
  auto wv = spread_values(static_cast<std::size_t>(m * c), 22, -1.f, 1.f);
  auto bv = spread_values(static_cast<std::size_t>(m), 23, -1.f, 1.f);
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", std::to_string(c), std::to_string(hw), std::to_string(hw)});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::float_tensor("W", {m, c, 1, 1}, wv);
  *g->add_initializer() = testing::float_tensor("B", {m}, bv);
  *g->add_initializer() = testing::float_tensor("half", {}, {0.5f});
  *g->add_node() = testing::node("Conv", {"x", "W", "B"}, {"t"});
  *g->add_node() = testing::node("Sigmoid", {"t"}, {"s"});
  *g->add_node() = testing::node("Mul", {"t", "s"}, {then_scale ? "u" : "y"});
  if (then_scale) *g->add_node() = testing::node("Mul", {"u", "half"}, {"y"});
  SessionOptions opts;
  opts.profile = true;
  Session s(model, opts);
  Tensor in = Tensor::allocate(DType::kF32, {1, c, hw, hw});
  std::copy(xv.begin(), xv.end(), in.as<float>());
  auto out = s.run({in});
  ASSERT_EQ(out[0].shape, (Shape{1, m, hw, hw}));
  bool fused = false;
  for (const auto& p : s.profile()) fused = fused || p.op.find("Conv+Sigmoid+Mul") == 0;
  EXPECT_TRUE(fused) << "the SiLU was not fused into the convolution, so this test checks nothing of it";
  for (std::int64_t k = 0; k < m; ++k)
    for (std::int64_t p = 0; p < hw * hw; ++p) {
      double t = bv[static_cast<std::size_t>(k)];
      for (std::int64_t ci = 0; ci < c; ++ci) t += double(wv[static_cast<std::size_t>(k * c + ci)]) * xv[static_cast<std::size_t>(ci * hw * hw + p)];
      const double want = silu_exact(t) * (then_scale ? 0.5 : 1.0);
      ASSERT_NEAR(out[0].as<float>()[k * hw * hw + p], want, 1e-5 * (1 + std::abs(want))) << "channel " << k << " pixel " << p;
    }
}

TEST(EngineSilu, ConvEndingInSiluMatchesLoops) { check_conv_silu(24, 40, 9, false); }
TEST(EngineSilu, ConvWithSiluInsideTheChainMatchesLoops) { check_conv_silu(24, 40, 9, true); }
TEST(EngineSilu, WideConvEndingInSiluMatchesLoops) { check_conv_silu(16, 96, 20, false); }

}  // namespace
}  // namespace aifgen::engine

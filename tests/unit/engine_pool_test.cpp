// 3-D pooling at mvit_v1_b's shape ([1,192,8,56,56], 1x3x3 window, stride 1x2x2, pad 0x1x1),
// where oneDNN's kernel for the plain layout is its simple loop and the engine reorders the
// input into a channel-blocked layout for a jit kernel instead (pool.cpp): the results must be
// the definition's, max exactly and average to float rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::tensor_value;

constexpr std::int64_t C = 192, D = 8, H = 56, W = 56, OH = 28, OW = 28;

onnx::ModelProto pool_model(const char* op) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "192", "8", "56", "56"});
  auto n = node(op, {"x"}, {"y"});
  testing::add_ints_attr(n, "kernel_shape", {1, 3, 3});
  testing::add_ints_attr(n, "strides", {1, 2, 2});
  testing::add_ints_attr(n, "pads", {0, 1, 1, 0, 1, 1});
  *g->add_node() = n;
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "192", "8", "28", "28"});
  return m;
}

TEST(EnginePool, ThreeDPoolingAtMvitsShapeGivesTheDefinitionsValues) {
  std::mt19937 rng(8);
  std::normal_distribution<float> dist(0.f, 1.f);
  std::vector<float> x(static_cast<std::size_t>(C * D * H * W));
  for (auto& v : x) v = dist(rng);
  for (bool is_max : {true, false}) {
    Session s(pool_model(is_max ? "MaxPool" : "AveragePool"), {});
    const auto out = s.run({testing::float_tensor_of({1, C, D, H, W}, x)});
    ASSERT_EQ(out[0].shape, (Shape{1, C, D, OH, OW}));
    const float* y = out[0].as<float>();
    std::int64_t checked = 0;
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t d = 0; d < D; ++d)
        for (std::int64_t oh = 0; oh < OH; ++oh)
          for (std::int64_t ow = 0; ow < OW; ++ow) {
            float best = -INFINITY;
            double sum = 0;
            int count = 0;  // count_include_pad 0: the taps inside the input
            for (std::int64_t kh = 0; kh < 3; ++kh)
              for (std::int64_t kw = 0; kw < 3; ++kw) {
                const std::int64_t h = oh * 2 + kh - 1, w = ow * 2 + kw - 1;
                if (h < 0 || h >= H || w < 0 || w >= W) continue;
                const float v = x[static_cast<std::size_t>(((c * D + d) * H + h) * W + w)];
                best = std::max(best, v);
                sum += v;
                ++count;
              }
            const float got = y[((c * D + d) * OH + oh) * OW + ow];
            if (is_max) {
              ASSERT_EQ(got, best) << "max at c " << c << " d " << d << " " << oh << "," << ow;
            } else {
              ASSERT_NEAR(got, sum / count, 1e-5) << "average at c " << c << " d " << d << " " << oh << "," << ow;
            }
            ++checked;
          }
    EXPECT_EQ(checked, C * D * OH * OW);
  }
}

}  // namespace
}  // namespace aifgen::engine

// ConvTranspose whose kernel equals its stride, run as a 1x1 Conv and a DepthToSpace
// (conv_transpose_upsampling.h): the rewrite picks exactly the geometries it is exact for, and
// the session's results match the transposed convolution's definition computed here in double.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/engine/conv_transpose_upsampling.h"
#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::tensor_value;

struct Geometry {
  std::int64_t c = 6, m = 5, h = 4, w = 3, k = 2, stride = 2, pad = 0, group = 1;
  bool bias = true, bias_through_identity = false;
};

std::vector<float> random_values(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& e : v) e = u(rng);
  return v;
}

onnx::ModelProto conv_transpose_model(const Geometry& g) {
  auto m = testing::empty_model();
  auto* graph = m.mutable_graph();
  *graph->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"2", std::to_string(g.c), std::to_string(g.h), std::to_string(g.w)});
  const auto per_group = g.m / g.group;
  *graph->add_initializer() =
      testing::float_tensor("weight", {g.c, per_group, g.k, g.k}, random_values(static_cast<std::size_t>(g.c * per_group * g.k * g.k), 1));
  std::vector<std::string> inputs = {"x", "weight"};
  if (g.bias) {
    *graph->add_initializer() = testing::float_tensor("shared_bias", {g.m}, random_values(static_cast<std::size_t>(g.m), 2));
    if (g.bias_through_identity) *graph->add_node() = node("Identity", {"shared_bias"}, {"bias"});
    inputs.push_back(g.bias_through_identity ? "bias" : "shared_bias");
  }
  auto up = node("ConvTranspose", inputs, {"y"});
  testing::add_ints_attr(up, "strides", {g.stride, g.stride});
  if (g.pad) testing::add_ints_attr(up, "pads", {g.pad, g.pad, g.pad, g.pad});
  if (g.group != 1) testing::add_int_attr(up, "group", g.group);
  *graph->add_node() = up;
  *graph->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

TEST(EngineConvTranspose, OnlyKernelEqualsStrideWithoutPaddingOrGroupsIsRewritten) {
  auto count = [](const Geometry& g) {
    std::int64_t n = 0;
    return conv_transposes_as_pointwise(conv_transpose_model(g), &n) ? n : 0;
  };
  EXPECT_EQ(count({}), 1);
  EXPECT_EQ(count({.k = 3, .stride = 3}), 1);
  // A bias read through an Identity is left alone here: the session removes such aliases of
  // constants before this rewrite (the definition test below runs one through a Session).
  EXPECT_EQ(count({.k = 3, .stride = 3, .bias_through_identity = true}), 0);
  EXPECT_EQ(count({.bias = false}), 1);
  EXPECT_EQ(count({.k = 4, .stride = 2}), 0);  // overlapping windows (Keypoint R-CNN's)
  EXPECT_EQ(count({.k = 2, .stride = 2, .pad = 1}), 0);
  EXPECT_EQ(count({.c = 6, .m = 4, .group = 2}), 0);
}

TEST(EngineConvTranspose, UpsamplingByItsKernelMatchesTheDefinition) {
  for (const Geometry g : {Geometry{}, Geometry{.k = 3, .stride = 3, .bias_through_identity = true}, Geometry{.bias = false},
                           Geometry{.c = 16, .m = 24, .h = 7, .w = 5}}) {
    const auto model = conv_transpose_model(g);
    const auto x = random_values(static_cast<std::size_t>(2 * g.c * g.h * g.w), 3);
    const auto out = Session(model, {}).run({testing::float_tensor_of({2, g.c, g.h, g.w}, x)})[0];
    const std::int64_t oh = g.h * g.k, ow = g.w * g.k;
    ASSERT_EQ(out.shape, (Shape{2, g.m, oh, ow}));
    const auto w = random_values(static_cast<std::size_t>(g.c * g.m * g.k * g.k), 1);
    const auto b = random_values(static_cast<std::size_t>(g.m), 2);
    double worst = 0;
    for (std::int64_t n = 0; n < 2; ++n)
      for (std::int64_t o = 0; o < g.m; ++o)
        for (std::int64_t i = 0; i < oh; ++i)
          for (std::int64_t j = 0; j < ow; ++j) {
            double want = g.bias ? b[static_cast<std::size_t>(o)] : 0.0;
            for (std::int64_t c = 0; c < g.c; ++c)
              want += double(x[static_cast<std::size_t>(((n * g.c + c) * g.h + i / g.k) * g.w + j / g.k)]) *
                      w[static_cast<std::size_t>(((c * g.m + o) * g.k + i % g.k) * g.k + j % g.k)];
            worst = std::max(worst, std::abs(want - out.as<float>()[((n * g.m + o) * oh + i) * ow + j]));
          }
    EXPECT_LT(worst, 1e-5) << g.k << " " << g.c;
  }
}

}  // namespace
}  // namespace aifgen::engine

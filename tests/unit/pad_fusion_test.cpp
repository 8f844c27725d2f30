// A zero Pad of the spatial dims before a Conv or an AveragePool becomes the op's own padding
// (AveragePool then counting it), with the results of the two ops; Pads that cannot be expressed
// that way (non-zero value, channel pads, a pool that excludes its own padding) stay.
#include <gtest/gtest.h>

#include <cmath>

#include "core/engine/pad_fusion.h"
#include "core/engine/session.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;

// x[1,4,7,7] -> Pad(p1) -> Conv 3x3 (pads 1) -> Pad(p2, value) -> AveragePool 3x3 stride 2
// (count_include_pad, own pads) -> y. `barrier` puts an Identity after each Pad.
onnx::ModelProto padded_model(bool barrier, std::vector<std::int64_t> p2, float value, std::int64_t include, std::int64_t pool_pad) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "7", "7"});
  *g->add_initializer() = testing::random_tensor("w", {6, 4, 3, 3}, 71, -0.5f, 0.5f);
  *g->add_initializer() = testing::int64_tensor("p1", {0, 0, 2, 1, 0, 0, 0, 3});
  *g->add_initializer() = testing::int64_tensor("p2", p2);
  *g->add_initializer() = testing::float_tensor("v", {}, {value});
  auto pad_then = [&](const std::string& in, const std::string& pads, const std::string& out, bool with_value) {
    std::vector<std::string> ins = {in, pads};
    if (with_value) ins.push_back("v");
    *g->add_node() = node("Pad", ins, {barrier ? out + "_raw" : out});
    if (barrier) *g->add_node() = node("Identity", {out + "_raw"}, {out});
  };
  pad_then("x", "p1", "xp", false);
  auto conv = node("Conv", {"xp", "w"}, {"c"});
  testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
  *g->add_node() = conv;
  pad_then("c", "p2", "cp", true);
  auto pool = node("AveragePool", {"cp"}, {"y"});
  testing::add_ints_attr(pool, "kernel_shape", {3, 3});
  testing::add_ints_attr(pool, "strides", {2, 2});
  testing::add_ints_attr(pool, "pads", {pool_pad, pool_pad, pool_pad, pool_pad});
  testing::add_int_attr(pool, "count_include_pad", include);
  *g->add_node() = pool;
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

void expect_same(const onnx::ModelProto& a, const onnx::ModelProto& b) {
  Session sa(a, {}), sb(b, {});
  Tensor x = Tensor::allocate(DType::kF32, {1, 4, 7, 7});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.29f * static_cast<float>(i));
  auto ya = sa.run({x})[0], yb = sb.run({x})[0];
  ASSERT_EQ(ya.shape, yb.shape);
  for (std::int64_t i = 0; i < ya.numel(); ++i) ASSERT_NEAR(ya.as<float>()[i], yb.as<float>()[i], 1e-5f) << i;
}

TEST(PadFusion, ZeroSpatialPadsBecomeTheConsumersPadding) {
  const std::vector<std::int64_t> p2 = {0, 0, 1, 0, 0, 0, 1, 2};
  std::int64_t folded = 0;
  auto fused = fold_pads_into_consumers(padded_model(false, p2, 0.f, 0, 0), &folded);
  ASSERT_TRUE(fused.has_value());
  EXPECT_EQ(folded, 2);
  EXPECT_EQ(fused->graph().node_size(), 2);  // Conv, AveragePool
  expect_same(padded_model(false, p2, 0.f, 0, 0), padded_model(true, p2, 0.f, 0, 0));
  expect_same(padded_model(false, p2, 0.f, 1, 1), padded_model(true, p2, 0.f, 1, 1));
}

TEST(PadFusion, PadsThatAreNotPlainZeroPaddingStay) {
  std::int64_t folded = 0;
  // A non-zero value, a channel pad, a pool that excludes its own padding: only the first Pad
  // (before the Conv) folds.
  for (const auto& m : {padded_model(false, {0, 0, 1, 0, 0, 0, 1, 2}, 0.5f, 1, 0), padded_model(false, {0, 1, 1, 0, 0, 0, 1, 2}, 0.f, 1, 0),
                        padded_model(false, {0, 0, 1, 0, 0, 0, 1, 2}, 0.f, 0, 1)}) {
    ASSERT_TRUE(fold_pads_into_consumers(m, &folded).has_value());
    EXPECT_EQ(folded, 1);
  }
  expect_same(padded_model(false, {0, 0, 1, 0, 0, 0, 1, 2}, 0.5f, 1, 0), padded_model(true, {0, 0, 1, 0, 0, 0, 1, 2}, 0.5f, 1, 0));
}

}  // namespace
}  // namespace aifgen::engine

// Pooling moved through a channel Concat (pool_through_concat.h): the rewritten graph pools each
// Concat input and joins the pooled values, computes what the original does (at 1 and 2
// threads, where the 2-thread session also splits the new Concat into the next convolution),
// and leaves alone what it must.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "core/engine/concat_batchnorm.h"
#include "core/engine/pool_through_concat.h"
#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

// x[1,8,12,12] -> Conv 1x1 (8->16) = a; x -> Conv 3x3 pad 1 (8->24) = b; Concat(a, b) axis 1 ->
// `pool` (3x3, stride 2) -> Conv 1x1 (40->8) -> y. With `barrier`, an Identity sits between the
// Concat and the pool (the unrewritten reference).
onnx::ModelProto fire_and_pool(const std::string& pool, bool barrier = false) {
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "8", "12", "12"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("WA", {16, 8, 1, 1}, 1);
  *g->add_initializer() = testing::random_tensor("WB", {24, 8, 3, 3}, 2);
  *g->add_initializer() = testing::random_tensor("WC", {8, 40, 1, 1}, 3);
  *g->add_node() = testing::node("Conv", {"x", "WA"}, {"a"});
  auto b = testing::node("Conv", {"x", "WB"}, {"b"});
  testing::add_ints_attr(b, "pads", {1, 1, 1, 1});
  *g->add_node() = b;
  auto concat = testing::node("Concat", {"a", "b"}, {"cat"});
  testing::add_int_attr(concat, "axis", 1);
  *g->add_node() = concat;
  std::string pooled_in = "cat";
  if (barrier) {
    *g->add_node() = testing::node("Identity", {"cat"}, {"cat_copy"});
    pooled_in = "cat_copy";
  }
  auto p = testing::node(pool, {pooled_in}, {"pooled"});
  testing::add_ints_attr(p, "kernel_shape", {3, 3});
  testing::add_ints_attr(p, "strides", {2, 2});
  testing::add_ints_attr(p, "pads", {1, 1, 1, 1});
  *g->add_node() = p;
  *g->add_node() = testing::node("Conv", {"pooled", "WC"}, {"y"});
  return model;
}

std::vector<float> run_once(const onnx::ModelProto& model, int threads) { return testing::run_once(model, threads, {1, 8, 12, 12}, 11); }

using testing::count_ops;

TEST(EnginePoolThroughConcat, EachConcatInputIsPooledAndTheResultsMatch) {
  for (const std::string pool : {"MaxPool", "AveragePool"}) {
    SCOPED_TRACE(pool);
    const auto model = fire_and_pool(pool);
    std::int64_t moved = 0;
    auto rewritten = pool_through_concats(model, &moved);
    ASSERT_TRUE(rewritten);
    EXPECT_EQ(moved, 1);
    EXPECT_EQ(count_ops(*rewritten, pool), 2);
    // The Concat now joins the two pooled values and makes the old pool's output.
    for (const auto& n : rewritten->graph().node())
      if (n.op_type() == "Concat") {
        ASSERT_EQ(n.input_size(), 2);
        EXPECT_EQ(n.output(0), "pooled");
        for (const auto& in : n.input()) EXPECT_NE(in.find("through_concat"), std::string::npos) << in;
      }
    const auto want = run_once(fire_and_pool(pool, true), 1);
    for (int threads : {1, 2}) {
      const auto got = run_once(model, threads);
      ASSERT_EQ(got.size(), want.size());
      float largest = 0;
      for (float v : want) largest = std::max(largest, std::abs(v));
      ASSERT_GT(largest, 0.f);
      for (std::size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5f * largest) << threads << " threads, at " << i;
    }
  }
}

TEST(EnginePoolThroughConcat, LeavesAloneWhatItCannotMove) {
  EXPECT_FALSE(pool_through_concats(fire_and_pool("MaxPool", true))) << "the Concat read by an Identity";
  EXPECT_FALSE(pool_through_concats(fire_and_pool("GlobalAveragePool"))) << "not a windowed pool";
  // The Concat's output read by a second node.
  auto shared = fire_and_pool("MaxPool");
  *shared.mutable_graph()->add_node() = testing::node("Relu", {"cat"}, {"also"});
  *shared.mutable_graph()->add_output() = testing::tensor_value("also", onnx::TensorProto::FLOAT, {});
  EXPECT_FALSE(pool_through_concats(shared));
  // The Concat's output is a graph output.
  auto exposed = fire_and_pool("MaxPool");
  *exposed.mutable_graph()->add_output() = testing::tensor_value("cat", onnx::TensorProto::FLOAT, {});
  EXPECT_FALSE(pool_through_concats(exposed));
  // A MaxPool that also returns its indices (they would index the Concat's layout).
  auto indices = fire_and_pool("MaxPool");
  for (auto& n : *indices.mutable_graph()->mutable_node())
    if (n.op_type() == "MaxPool") n.add_output("where");
  EXPECT_FALSE(pool_through_concats(indices));
  // A Concat along H.
  auto along_h = fire_and_pool("MaxPool");
  for (auto& n : *along_h.mutable_graph()->mutable_node())
    if (n.op_type() == "Concat") n.mutable_attribute(0)->set_i(2);
  EXPECT_FALSE(pool_through_concats(along_h));
  // A Concat with a batch normalization fused into it (a negative scale would turn max into min).
  auto fused = fire_and_pool("MaxPool");
  for (auto& n : *fused.mutable_graph()->mutable_node())
    if (n.op_type() == "Concat") {
      auto* a = n.add_attribute();
      a->set_name(kConcatScaleAttr);
      a->set_type(onnx::AttributeProto::FLOATS);
      for (int c = 0; c < 40; ++c) a->add_floats(-1.f);
    }
  EXPECT_FALSE(pool_through_concats(fused));
}

}  // namespace
}  // namespace aifgen::engine

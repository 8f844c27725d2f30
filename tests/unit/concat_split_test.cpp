// The Concat -> Conv split (concat_split.h): the rewritten graph computes what the original does,
// the Concat is gone, and the cases it must leave alone are left alone.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/engine/concat_batchnorm.h"
#include "core/engine/concat_split.h"
#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

// x[1,8,9,9] -> Conv 1x1 (8->ca) -> Relu = a;  x -> Conv 3x3 pad 1 (8->cb) -> Relu = b;
// [x -> Conv 1x1 (8->cc) = c when three];  Concat(a, b[, c]) axis 1 -> Conv (kernel k, `group`)
// with bias, `m` output channels -> Relu -> y.
onnx::ModelProto fire_model(int inputs, std::int64_t k = 1, std::int64_t group = 1, std::int64_t axis = 1, std::int64_t m = 16) {
  const std::int64_t ca = 16, cb = 24, cc = 8, total = ca + cb + (inputs == 3 ? cc : 0);
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "8", "9", "9"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("WA", {ca, 8, 1, 1}, 1);
  *g->add_initializer() = testing::random_tensor("WB", {cb, 8, 3, 3}, 2);
  *g->add_initializer() = testing::random_tensor("WC", {cc, 8, 1, 1}, 3);
  *g->add_initializer() = testing::random_tensor("W", {m, total / group, k, k}, 4);
  *g->add_initializer() = testing::random_tensor("B", {m}, 5);
  *g->add_node() = testing::node("Conv", {"x", "WA"}, {"ta"});
  *g->add_node() = testing::node("Relu", {"ta"}, {"a"});
  auto cbn = testing::node("Conv", {"x", "WB"}, {"tb"});
  testing::add_ints_attr(cbn, "pads", {1, 1, 1, 1});
  *g->add_node() = cbn;
  *g->add_node() = testing::node("Relu", {"tb"}, {"b"});
  std::vector<std::string> parts = {"a", "b"};
  if (inputs == 3) {
    *g->add_node() = testing::node("Conv", {"x", "WC"}, {"c"});
    parts.push_back("c");
  }
  auto concat = testing::node("Concat", parts, {"cat"});
  testing::add_int_attr(concat, "axis", axis);
  *g->add_node() = concat;
  auto conv = testing::node("Conv", {"cat", "W", "B"}, {"z"});
  testing::add_int_attr(conv, "group", group);
  if (k == 3) testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
  *g->add_node() = conv;
  *g->add_node() = testing::node("Relu", {"z"}, {"y"});
  return model;
}

std::vector<float> run_once(const onnx::ModelProto& model, int threads) { return testing::run_once(model, threads, {1, 8, 9, 9}, 7); }

using testing::count_ops;

void expect_same_outputs(const onnx::ModelProto& a, const onnx::ModelProto& b) {
  const auto ya = run_once(a, 1), yb = run_once(b, 1);
  ASSERT_EQ(ya.size(), yb.size());
  float largest = 0;
  for (float v : ya) largest = std::max(largest, std::abs(v));
  ASSERT_GT(largest, 0.f);
  for (std::size_t i = 0; i < ya.size(); ++i) ASSERT_NEAR(ya[i], yb[i], 1e-5f * largest) << "at " << i;
}

TEST(EngineConcatSplit, TwoInputsBecomeTwoConvolutionsAndAnAdd) {
  const auto model = fire_model(2);
  std::int64_t split = 0;
  auto rewritten = split_concats_into_convs(model, &split);
  ASSERT_TRUE(rewritten);
  EXPECT_EQ(split, 1);
  EXPECT_EQ(count_ops(*rewritten, "Concat"), 0);
  EXPECT_EQ(count_ops(*rewritten, "Conv"), 4);
  EXPECT_EQ(count_ops(*rewritten, "Add"), 1);
  expect_same_outputs(model, *rewritten);
}

TEST(EngineConcatSplit, ThreeInputsAndA3x3ConvolutionAccumulateInOrder) {
  const auto model = fire_model(3, 3);
  auto rewritten = split_concats_into_convs(model);
  ASSERT_TRUE(rewritten);
  EXPECT_EQ(count_ops(*rewritten, "Concat"), 0);
  EXPECT_EQ(count_ops(*rewritten, "Add"), 2);
  expect_same_outputs(model, *rewritten);
}

TEST(EngineConcatSplit, SessionsWithATeamSplitAndStillMatchOneThread) {
  // At 2 threads the session applies the split itself; its result must be the 1-thread one.
  const auto model = fire_model(2);
  const auto one = run_once(model, 1), two = run_once(model, 2);
  ASSERT_EQ(one.size(), two.size());
  for (std::size_t i = 0; i < one.size(); ++i) ASSERT_NEAR(one[i], two[i], 1e-4f) << "at " << i;
}

TEST(EngineConcatSplit, LeavesAloneWhatItCannotSplit) {
  EXPECT_FALSE(split_concats_into_convs(fire_model(2, 1, 4))) << "grouped convolution";
  EXPECT_FALSE(split_concats_into_convs(fire_model(2, 1, 1, 2))) << "Concat along H";
  // 40 channels in: an output of 40 costs the split as much as the copy it saves; 39 does not.
  EXPECT_FALSE(split_concats_into_convs(fire_model(2, 1, 1, 1, 40))) << "output as wide as the Concat";
  EXPECT_TRUE(split_concats_into_convs(fire_model(2, 1, 1, 1, 39)));
  EXPECT_FALSE(split_concats_into_convs(fire_model(3, 1, 1, 1, 24))) << "two extra parts over 24 channels, 48 in";
  // The Concat's output read by a second node.
  auto shared = fire_model(2);
  *shared.mutable_graph()->add_node() = testing::node("Relu", {"cat"}, {"also"});
  *shared.mutable_graph()->add_output() = testing::tensor_value("also", onnx::TensorProto::FLOAT, {});
  EXPECT_FALSE(split_concats_into_convs(shared));
  // A batch normalization fused into the Concat (its output is not the plain channels).
  auto fused = fire_model(2);
  for (auto& n : *fused.mutable_graph()->mutable_node())
    if (n.op_type() == "Concat") {
      auto* a = n.add_attribute();
      a->set_name(kConcatScaleAttr);
      a->set_type(onnx::AttributeProto::FLOATS);
      for (int c = 0; c < 40; ++c) a->add_floats(2.f);
    }
  EXPECT_FALSE(split_concats_into_convs(fused));
  // Channel counts unknown: the Concat's inputs are graph inputs without a declared shape.
  auto unknown = testing::empty_model();
  auto* g = unknown.mutable_graph();
  *g->add_input() = testing::tensor_value("p", onnx::TensorProto::FLOAT, {});
  *g->add_input() = testing::tensor_value("q", onnx::TensorProto::FLOAT, {});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("W", {4, 8, 1, 1}, 1);
  auto concat = testing::node("Concat", {"p", "q"}, {"cat"});
  testing::add_int_attr(concat, "axis", 1);
  *g->add_node() = concat;
  *g->add_node() = testing::node("Conv", {"cat", "W"}, {"y"});
  EXPECT_FALSE(split_concats_into_convs(unknown));
  // ...and with declared shapes it splits.
  *g->mutable_input(0) = testing::tensor_value("p", onnx::TensorProto::FLOAT, {"1", "3", "5", "5"});
  *g->mutable_input(1) = testing::tensor_value("q", onnx::TensorProto::FLOAT, {"1", "5", "5", "5"});
  EXPECT_TRUE(split_concats_into_convs(unknown));
}

}  // namespace
}  // namespace aifgen::engine

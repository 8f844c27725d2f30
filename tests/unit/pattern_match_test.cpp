// with_nodes_replaced (pattern_match.h), the step every graph rewrite lands its matches with:
// dropped nodes go, a replaced node's place takes its replacement (one node or several), and the
// order of everything else is kept.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/engine/pattern_match.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

// A chain x -> Relu -> Sigmoid -> Tanh -> Abs -> y, nodes named n0..n3.
onnx::ModelProto chain() {
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  const std::vector<std::string> ops = {"Relu", "Sigmoid", "Tanh", "Abs"};
  for (std::size_t i = 0; i < ops.size(); ++i) {
    auto n = testing::node(ops[i], {i == 0 ? "x" : "v" + std::to_string(i - 1)}, {i + 1 == ops.size() ? "y" : "v" + std::to_string(i)});
    n.set_name("n" + std::to_string(i));
    *g->add_node() = n;
  }
  return model;
}

std::vector<std::string> names(const onnx::ModelProto& m) {
  std::vector<std::string> out;
  for (const auto& n : m.graph().node()) out.push_back(n.name());
  return out;
}

onnx::NodeProto named(const std::string& op, const std::string& name) {
  auto n = testing::node(op, {"x"}, {"z"});
  n.set_name(name);
  return n;
}

TEST(PatternMatch, DropsAndReplacesOneNodeByOneKeepingOrder) {
  const auto m = chain();
  std::vector<char> drop = {0, 1, 0, 0};
  std::unordered_map<int, onnx::NodeProto> rewritten = {{2, named("Neg", "r2")}};
  const auto out = with_nodes_replaced(m, drop, rewritten);
  EXPECT_EQ(names(out), (std::vector<std::string>{"n0", "r2", "n3"}));
  EXPECT_EQ(out.graph().node(1).op_type(), "Neg");
  EXPECT_EQ(m.graph().node_size(), 4) << "the input model is left as it was";
}

TEST(PatternMatch, ReplacesOneNodeBySeveralInTheirOrder) {
  const auto m = chain();
  std::vector<char> drop = {1, 0, 0, 0};
  std::unordered_map<int, std::vector<onnx::NodeProto>> rewritten = {
      {1, {named("Neg", "a"), named("Exp", "b"), named("Log", "c")}},
      {3, {}},  // an empty replacement removes the node as a drop would
  };
  const auto out = with_nodes_replaced(m, drop, rewritten);
  EXPECT_EQ(names(out), (std::vector<std::string>{"a", "b", "c", "n2"}));
}

TEST(PatternMatch, ShortDropVectorLeavesTheRestInPlace) {
  const auto m = chain();
  const auto out = with_nodes_replaced(m, std::vector<char>{1}, std::unordered_map<int, onnx::NodeProto>{});
  EXPECT_EQ(names(out), (std::vector<std::string>{"n1", "n2", "n3"}));
}

}  // namespace
}  // namespace aifgen::engine

// Raising models to opset 13 for QDQ: the result passes the checker and computes the same
// values as the original, including ops whose meaning changed at 13.
#include "core/passes/opset_upgrade.h"

#include <gtest/gtest.h>
#include <onnx/checker.h>

#include "core/engine/random_inputs.h"
#include "core/engine/session.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

std::int64_t opset(const onnx::ModelProto& m) { return m.opset_import(0).version(); }

// Opset 11: x[2,3,4] -> Softmax(axis=1: rows of 12 before 13) -> Unsqueeze(axes=[0]) ->
// Squeeze(axes=[0]) -> ReduceSum(axes=[2], keepdims=0) -> y[2,3]; symbolic batch so ranks are
// the only thing shape inference knows.
onnx::ModelProto opset11_model() {
  auto m = empty_model("old");
  m.mutable_opset_import(0)->set_version(11);
  m.set_ir_version(6);
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"N", "3", "4"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"N", "3"});
  auto sm = node("Softmax", {"x"}, {"s"});
  add_int_attr(sm, "axis", 1);
  *g->add_node() = sm;
  auto un = node("Unsqueeze", {"s"}, {"u"});
  add_ints_attr(un, "axes", {0});
  *g->add_node() = un;
  auto sq = node("Squeeze", {"u"}, {"q"});
  add_ints_attr(sq, "axes", {0});
  *g->add_node() = sq;
  auto rs = node("ReduceSum", {"q"}, {"y"});
  add_ints_attr(rs, "axes", {2});
  add_int_attr(rs, "keepdims", 0);
  *g->add_node() = rs;
  return m;
}

TEST(OpsetUpgrade, Opset11BecomesAnEquivalentOpset13Model) {
  auto old = opset11_model();
  auto up = upgrade_to_opset13(old);
  EXPECT_EQ(opset(up), 13);
  EXPECT_NO_THROW(onnx::checker::check_model(up));
  for (const auto& n : up.graph().node())
    if (n.op_type() == "Squeeze" || n.op_type() == "Unsqueeze" || n.op_type() == "ReduceSum") {
      EXPECT_EQ(n.input_size(), 2) << n.op_type() << " axes became an input";
      EXPECT_EQ(n.attribute_size(), n.op_type() == "ReduceSum" ? 1 : 0);
    }
  engine::SessionOptions o;
  o.input_shapes["x"] = {2, 3, 4};
  engine::Session a(old, o), b(up, o);
  auto in = engine::random_inputs(a.inputs(), 4);
  auto ya = a.run(in)[0], yb = b.run(in)[0];
  ASSERT_EQ(ya.shape, yb.shape);
  for (std::int64_t i = 0; i < ya.numel(); ++i) EXPECT_NEAR(ya.as<float>()[i], yb.as<float>()[i], 1e-6);
  // Softmax over rows of 12: the three row sums of one batch item add up to 1 (not 3).
  EXPECT_NEAR(yb.as<float>()[0] + yb.as<float>()[1] + yb.as<float>()[2], 1.0, 1e-5);
}

TEST(OpsetUpgrade, LastAxisSoftmaxNeedsNoRewrite) {
  auto m = opset11_model();
  m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->set_i(-1);
  auto up = upgrade_to_opset13(m);
  int nodes = 0;
  for (const auto& n : up.graph().node()) nodes += n.op_type() == "Flatten" || n.op_type() == "Reshape";
  EXPECT_EQ(nodes, 0);
}

}  // namespace
}  // namespace aifgen

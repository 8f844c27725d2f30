// Inputs that would make a naive kernel trap or write out of bounds get a defined answer or an
// error instead: integer Div and Mod by zero (and INT_MIN / -1) give 0 / a wrapped value, and a
// ScatterND index outside the data is refused, and ops that index an axis refuse scalars (found
// by fuzz_control_flow: a Scan body concatenating scalar steps read past an empty shape). The ONNX conformance cases cover the normal paths.
#include <gtest/gtest.h>

#include <climits>

#include "core/engine/session.h"
#include "core/base/error.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

onnx::ModelProto binary_model(const std::string& op, int elem_type) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("a", elem_type, {"4"});
  *g->add_input() = testing::tensor_value("b", elem_type, {"4"});
  *g->add_node() = testing::node(op, {"a", "b"}, {"y"});
  *g->add_output() = testing::tensor_value("y", elem_type, {});
  return m;
}

Tensor ints(std::vector<std::int32_t> v) {
  Tensor t = Tensor::allocate(DType::kI32, {static_cast<std::int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.as<std::int32_t>());
  return t;
}

TEST(EngineGuardedOps, IntegerDivisionAndModuloByZeroDoNotTrap) {
  Session div(binary_model("Div", onnx::TensorProto::INT32), {});
  auto q = div.run({ints({7, -7, INT_MIN, 9}), ints({0, 2, -1, -3})})[0];
  EXPECT_EQ(q.as<std::int32_t>()[0], 0);
  EXPECT_EQ(q.as<std::int32_t>()[1], -3);
  EXPECT_EQ(q.as<std::int32_t>()[2], INT_MIN);  // wraps, as two's complement hardware would
  EXPECT_EQ(q.as<std::int32_t>()[3], -3);
  Session mod(binary_model("Mod", onnx::TensorProto::INT32), {});
  auto r = mod.run({ints({7, -7, INT_MIN, 7}), ints({0, 3, -1, -3})})[0];
  EXPECT_EQ(r.as<std::int32_t>()[0], 0);
  EXPECT_EQ(r.as<std::int32_t>()[1], 2);   // Python's -7 % 3
  EXPECT_EQ(r.as<std::int32_t>()[2], 0);
  EXPECT_EQ(r.as<std::int32_t>()[3], -2);  // Python's 7 % -3
}

TEST(EngineGuardedOps, ScatterNdRefusesAnIndexOutsideTheData) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("data", onnx::TensorProto::FLOAT, {"4", "3"});
  *g->add_input() = testing::tensor_value("idx", onnx::TensorProto::INT64, {"2", "1"});
  *g->add_input() = testing::tensor_value("upd", onnx::TensorProto::FLOAT, {"2", "3"});
  *g->add_node() = testing::node("ScatterND", {"data", "idx", "upd"}, {"y"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  Session s(m, {});
  Tensor data = Tensor::allocate(DType::kF32, {4, 3}), upd = Tensor::allocate(DType::kF32, {2, 3});
  for (int i = 0; i < 12; ++i) data.as<float>()[i] = static_cast<float>(i);
  for (int i = 0; i < 6; ++i) upd.as<float>()[i] = -1.f - static_cast<float>(i);
  Tensor idx = Tensor::allocate(DType::kI64, {2, 1});
  idx.as<std::int64_t>()[0] = -1;  // the last row
  idx.as<std::int64_t>()[1] = 1;
  auto y = s.run({data, idx, upd})[0];
  EXPECT_EQ(y.as<float>()[9], -1.f);
  EXPECT_EQ(y.as<float>()[3], -4.f);
  EXPECT_EQ(y.as<float>()[0], 0.f);
  idx.as<std::int64_t>()[1] = 4;
  try {
    s.run({data, idx, upd});
    FAIL() << "an index past the data was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "engine-bad-input");
  }
}

TEST(EngineGuardedOps, AxisOpsRefuseScalarsInsteadOfReadingPastTheShape) {
  for (const char* op : {"Concat", "Split", "Gather", "ReduceSum"}) {
    auto m = testing::empty_model();
    auto* g = m.mutable_graph();
    *g->add_input() = testing::tensor_value("a", onnx::TensorProto::FLOAT, {});  // rank 0
    std::vector<std::string> in = {"a"};
    if (std::string(op) == "Concat") in.push_back("a");
    if (std::string(op) == "Gather") {
      *g->add_initializer() = testing::int64_tensor("i", {0});
      in.push_back("i");
    }
    auto n = testing::node(op, in, {"y"});
    if (std::string(op) == "ReduceSum") {
      testing::add_ints_attr(n, "axes", {0});
      m.mutable_opset_import(0)->set_version(11);  // axes as an attribute
    }
    *g->add_node() = n;
    *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
    try {
      Session s(m, {});
      ADD_FAILURE() << op << " of a scalar was planned";
    } catch (const Error& e) {
      EXPECT_EQ(e.type(), "engine-invalid-node") << op << ": " << e.what();
    }
  }
}

}  // namespace
}  // namespace aifgen::engine

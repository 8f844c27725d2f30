// If, Loop and Scan on the engine (core/engine/control_flow.cpp): results against the operator
// definitions evaluated by hand here, values read from enclosing graphs (also two levels up and
// values a fusion would otherwise hide), and the static-shape limits refused with their reason.
// The ONNX backend cases of the three ops run in OnnxConformance too.
#include <gtest/gtest.h>

#include <cmath>

#include "core/base/error.h"
#include "core/engine/session.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;
using engine::DType;
using engine::Session;
using engine::SessionOptions;
using engine::Tensor;

constexpr int kFloat = onnx::TensorProto::FLOAT;
constexpr int kInt64 = onnx::TensorProto::INT64;
constexpr int kBool = onnx::TensorProto::BOOL;

onnx::TensorProto bool_tensor(const std::string& name, bool v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(kBool);
  t.add_int32_data(v ? 1 : 0);
  return t;
}

onnx::TensorProto int64_scalar(const std::string& name, std::int64_t v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(kInt64);
  t.add_int64_data(v);
  return t;
}

onnx::NodeProto constant_node(const std::string& out, const onnx::TensorProto& value) {
  auto n = node("Constant", {}, {out});
  auto* a = n.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = value;
  return n;
}

onnx::GraphProto graph(const std::string& name, const std::vector<onnx::ValueInfoProto>& inputs,
                       const std::vector<std::string>& outputs, const std::vector<onnx::NodeProto>& nodes) {
  onnx::GraphProto g;
  g.set_name(name);
  for (const auto& i : inputs) *g.add_input() = i;
  for (const auto& o : outputs) *g.add_output() = tensor_value(o, kFloat, {});
  for (const auto& n : nodes) *g.add_node() = n;
  return g;
}

void add_graph_attr(onnx::NodeProto& n, const std::string& name, const onnx::GraphProto& g) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::GRAPH);
  *a->mutable_g() = g;
}

Tensor floats(const engine::Shape& shape, float start, float step = 1.f) {
  auto t = Tensor::allocate(DType::kF32, shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = start + step * static_cast<float>(i);
  return t;
}

Tensor scalar_bool(bool v) {
  auto t = Tensor::allocate(DType::kBool, {});
  t.as<bool>()[0] = v;
  return t;
}

Tensor scalar_i64(std::int64_t v) {
  auto t = Tensor::allocate(DType::kI64, {});
  t.as<std::int64_t>()[0] = v;
  return t;
}

std::string unsupported_reason(const onnx::ModelProto& m, SessionOptions o = {}) {
  try {
    Session s(m, std::move(o));
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "engine-unsupported") << e.what();
    return e.what();
  }
  return "";
}

// y = If(cond) { x * w } else { x + w }, x a graph input, w an initializer: both read from the
// enclosing graph.
onnx::ModelProto if_model(bool with_runtime_cond) {
  auto m = empty_model("if");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", kFloat, {"2", "3"});
  if (with_runtime_cond) *g->add_input() = tensor_value("cond", kBool, {});
  else *g->add_initializer() = bool_tensor("cond", false);
  *g->add_initializer() = float_tensor("w", {3}, {2.f, 3.f, 4.f});
  *g->add_output() = tensor_value("y", kFloat, {});
  auto n = node("If", {"cond"}, {"y"}, "choose");
  add_graph_attr(n, "then_branch", graph("then", {}, {"t"}, {node("Mul", {"x", "w"}, {"t"})}));
  add_graph_attr(n, "else_branch", graph("else", {}, {"e"}, {node("Add", {"x", "w"}, {"e"})}));
  *g->add_node() = n;
  return m;
}

TEST(EngineControlFlow, IfRunsTheBranchItsConditionChoosesAtRunTime) {
  SessionOptions o;
  o.input_shapes["x"] = {2, 3};
  Session s(if_model(true), o);
  ASSERT_EQ(s.inputs().size(), 2u);
  const auto x = floats({2, 3}, 1.f);
  const float w[3] = {2.f, 3.f, 4.f};
  for (bool cond : {true, false}) {
    auto y = s.run({x, scalar_bool(cond)});
    ASSERT_EQ(y[0].shape, (engine::Shape{2, 3}));
    for (int i = 0; i < 6; ++i) {
      const float xv = 1.f + static_cast<float>(i);
      EXPECT_FLOAT_EQ(y[0].as<float>()[i], cond ? xv * w[i % 3] : xv + w[i % 3]) << cond << " " << i;
    }
  }
}

TEST(EngineControlFlow, IfWithAPlannedConditionPlansOnlyTheTakenBranch) {
  // The condition is an initializer (false): then_branch, which reads a value of another shape,
  // is never planned, so the branches need not agree.
  auto m = if_model(false);
  auto* then_branch = m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g();
  *m.mutable_graph()->add_initializer() = float_tensor("v", {4}, {1, 2, 3, 4});
  then_branch->mutable_node(0)->set_input(1, "v");  // x[2,3] * v[4]: would not even broadcast
  Session s(m, {});
  auto y = s.run({floats({2, 3}, 1.f)});
  EXPECT_FLOAT_EQ(y[0].as<float>()[0], 1.f + 2.f);
  EXPECT_FLOAT_EQ(y[0].as<float>()[5], 6.f + 4.f);
}

TEST(EngineControlFlow, IfBranchesOfDifferentShapesAreRefusedWithTheReason) {
  auto m = if_model(true);
  auto* else_branch = m.mutable_graph()->mutable_node(0)->mutable_attribute(1)->mutable_g();
  auto reduce = node("ReduceSum", {"e"}, {"r"});
  add_int_attr(reduce, "keepdims", 0);
  *else_branch->add_node() = reduce;
  else_branch->mutable_output(0)->set_name("r");
  const auto why = unsupported_reason(m);
  EXPECT_NE(why.find("then_branch"), std::string::npos) << why;
  EXPECT_NE(why.find("static shapes"), std::string::npos) << why;
}

TEST(EngineControlFlow, AValueOnlyABodyReadsIsNotFusedAway) {
  // c = Conv(x) is read by a Relu (which the planner fuses into the convolution when it is the
  // only reader) and by the If's branches. The If must see c before the Relu.
  auto m = empty_model("hidden");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", kFloat, {"1", "2", "4", "4"});
  *g->add_input() = tensor_value("cond", kBool, {});
  *g->add_initializer() = random_tensor("W", {3, 2, 1, 1}, 5);
  *g->add_node() = node("Conv", {"x", "W"}, {"c"});
  *g->add_node() = node("Relu", {"c"}, {"r"});
  auto n = node("If", {"cond"}, {"y"});
  add_graph_attr(n, "then_branch", graph("then", {}, {"t"}, {node("Identity", {"c"}, {"t"})}));
  add_graph_attr(n, "else_branch", graph("else", {}, {"e"}, {node("Neg", {"c"}, {"e"})}));
  *g->add_node() = n;
  *g->add_output() = tensor_value("r", kFloat, {});
  *g->add_output() = tensor_value("y", kFloat, {});
  Session s(m, {});
  const auto x = floats({1, 2, 4, 4}, -3.f, 0.25f);
  auto out = s.run({x, scalar_bool(true)});
  bool some_negative = false;
  for (std::int64_t i = 0; i < out[0].numel(); ++i) {
    EXPECT_FLOAT_EQ(out[0].as<float>()[i], std::max(0.f, out[1].as<float>()[i])) << i;
    some_negative = some_negative || out[1].as<float>()[i] < 0;
  }
  EXPECT_TRUE(some_negative) << "the test needs a convolution output that the Relu changes";
  auto negated = s.run({x, scalar_bool(false)});
  for (std::int64_t i = 0; i < out[1].numel(); ++i) EXPECT_FLOAT_EQ(negated[1].as<float>()[i], -out[1].as<float>()[i]);
}

// s_final = Loop(M, cond, s0) { s = s + x; cond = iter < stop_before } with optional scan output
// of s after each iteration. x is read from the enclosing graph.
onnx::ModelProto loop_model(bool runtime_m, std::int64_t planned_m, bool early_exit, bool scan_output) {
  auto m = empty_model("loop");
  auto* g = m.mutable_graph();
  if (runtime_m) *g->add_input() = tensor_value("M", kInt64, {});
  else *g->add_initializer() = int64_scalar("M", planned_m);
  *g->add_input() = tensor_value("x", kFloat, {"2"});
  *g->add_initializer() = float_tensor("s0", {2}, {10.f, 20.f});
  *g->add_initializer() = bool_tensor("go", true);
  std::vector<onnx::NodeProto> body_nodes = {node("Add", {"s_in", "x"}, {"s_out"})};
  if (early_exit) {
    body_nodes.push_back(constant_node("limit", int64_scalar("limit", 2)));
    body_nodes.push_back(node("Less", {"i", "limit"}, {"cond_out"}));
  } else {
    body_nodes.push_back(node("Identity", {"cond_in"}, {"cond_out"}));
  }
  std::vector<std::string> body_outputs = {"cond_out", "s_out"};
  if (scan_output) {
    body_nodes.push_back(node("Identity", {"s_out"}, {"s_scan"}));
    body_outputs.push_back("s_scan");
  }
  auto body = graph("body", {tensor_value("i", kInt64, {}), tensor_value("cond_in", kBool, {}), tensor_value("s_in", kFloat, {})},
                    body_outputs, body_nodes);
  std::vector<std::string> outs = {"s"};
  if (scan_output) outs.push_back("trace");
  auto n = node("Loop", {"M", "go", "s0"}, outs, "accumulate");
  add_graph_attr(n, "body", body);
  *g->add_node() = n;
  for (const auto& o : outs) *g->add_output() = tensor_value(o, kFloat, {});
  return m;
}

TEST(EngineControlFlow, LoopRunsItsTripCountGivenAtRunTime) {
  Session s(loop_model(true, 0, false, false), {});
  const auto x = floats({2}, 1.5f, 1.f);  // {1.5, 2.5}
  for (std::int64_t m : {0, 1, 5}) {
    auto out = s.run({scalar_i64(m), x});
    EXPECT_FLOAT_EQ(out[0].as<float>()[0], 10.f + 1.5f * static_cast<float>(m)) << m;
    EXPECT_FLOAT_EQ(out[0].as<float>()[1], 20.f + 2.5f * static_cast<float>(m)) << m;
  }
}

TEST(EngineControlFlow, LoopStopsWhenTheBodysConditionTurnsFalse) {
  // cond_out = iter < 2: iterations 0, 1 and 2 run (the body runs, then its condition is read).
  Session s(loop_model(true, 0, true, false), {});
  auto out = s.run({scalar_i64(100), floats({2}, 1.f, 0.f)});
  EXPECT_FLOAT_EQ(out[0].as<float>()[0], 13.f);
  EXPECT_FLOAT_EQ(out[0].as<float>()[1], 23.f);
  auto fewer = s.run({scalar_i64(1), floats({2}, 1.f, 0.f)});
  EXPECT_FLOAT_EQ(fewer[0].as<float>()[0], 11.f) << "the trip count ends it first";
}

TEST(EngineControlFlow, LoopScanOutputsStackEveryIteration) {
  Session s(loop_model(false, 4, false, true), {});
  auto out = s.run({floats({2}, 1.f, 1.f)});  // x = {1, 2}
  ASSERT_EQ(out[1].shape, (engine::Shape{4, 2}));
  for (int it = 0; it < 4; ++it) {
    EXPECT_FLOAT_EQ(out[1].as<float>()[it * 2], 10.f + 1.f * static_cast<float>(it + 1));
    EXPECT_FLOAT_EQ(out[1].as<float>()[it * 2 + 1], 20.f + 2.f * static_cast<float>(it + 1));
  }
  EXPECT_FLOAT_EQ(out[0].as<float>()[1], 28.f);
}

TEST(EngineControlFlow, LoopScanOutputsNeedALengthKnownWhilePlanning) {
  EXPECT_NE(unsupported_reason(loop_model(true, 0, false, true)).find("must be known when the model is planned"), std::string::npos);
  EXPECT_NE(unsupported_reason(loop_model(false, 4, true, true)).find("early"), std::string::npos);
}

TEST(EngineControlFlow, LoopCarriedValuesThatChangeShapeAreRefused) {
  auto m = loop_model(true, 0, false, false);
  auto* body = m.mutable_graph()->mutable_node(0)->mutable_attribute(0)->mutable_g();
  body->mutable_node(0)->set_op_type("Concat");  // s grows by x every iteration
  add_int_attr(*body->mutable_node(0), "axis", 0);
  const auto why = unsupported_reason(m);
  EXPECT_NE(why.find("leaves the body as"), std::string::npos) << why;
}

TEST(EngineControlFlow, ABodyReadsValuesTwoScopesUp) {
  // Loop body: s = If(i > 0) { s + x } else { s - y }; x and y are inputs of the main graph.
  auto m = loop_model(true, 0, false, false);
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("y", kFloat, {"2"});
  auto* body = g->mutable_node(0)->mutable_attribute(0)->mutable_g();
  body->clear_node();
  *body->add_node() = constant_node("zero", int64_scalar("zero", 0));
  *body->add_node() = node("Greater", {"i", "zero"}, {"later"});
  auto branch = node("If", {"later"}, {"s_out"});
  add_graph_attr(branch, "then_branch", graph("then", {}, {"a"}, {node("Add", {"s_in", "x"}, {"a"})}));
  add_graph_attr(branch, "else_branch", graph("else", {}, {"b"}, {node("Sub", {"s_in", "y"}, {"b"})}));
  *body->add_node() = branch;
  *body->add_node() = node("Identity", {"cond_in"}, {"cond_out"});
  Session s(m, {});
  auto out = s.run({scalar_i64(3), floats({2}, 1.f, 1.f), floats({2}, 100.f, 100.f)});
  // iteration 0 subtracts y = {100, 200}; 1 and 2 add x = {1, 2}.
  EXPECT_FLOAT_EQ(out[0].as<float>()[0], 10.f - 100.f + 2.f);
  EXPECT_FLOAT_EQ(out[0].as<float>()[1], 20.f - 200.f + 4.f);
}

// An If's branch runs as a session of its own, which plans one thread when it has little to do
// and leaves OpenMP set to one thread after each run. The enclosing session's next step is
// planned for two threads and must run with two (mvit_v1_b's products after its If nodes ran on
// one: 1.8x their planned time).
TEST(EngineControlFlow, TheStepAfterASingleThreadedBranchRunsWithItsPlannedThreads) {
  auto m = empty_model("if_then_product");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("cond", kBool, {});
  *g->add_input() = tensor_value("s", kFloat, {"4"});
  *g->add_input() = tensor_value("x", kFloat, {"512", "1024"});
  std::vector<float> w(1024 * 512, 0.01f);
  *g->add_initializer() = float_tensor("w", {1024, 512}, w);
  auto n = node("If", {"cond"}, {"small"}, "choose");
  add_graph_attr(n, "then_branch", graph("then", {}, {"t"}, {node("Add", {"s", "s"}, {"t"})}));
  add_graph_attr(n, "else_branch", graph("else", {}, {"e"}, {node("Mul", {"s", "s"}, {"e"})}));
  *g->add_node() = n;
  *g->add_node() = node("MatMul", {"x", "w"}, {"product"});  // 268M multiply-adds: a team's work
  *g->add_output() = tensor_value("small", kFloat, {});
  *g->add_output() = tensor_value("product", kFloat, {});
  SessionOptions o;
  o.threads = 2;
  o.profile = true;
  Session session(m, o);
  ASSERT_EQ(session.threads(), 2) << session.thread_choice();
  for (int run = 0; run < 2; ++run) session.run({scalar_bool(run == 0), floats({4}, 1.f), floats({512, 1024}, 0.f, 1e-6f)});
  const auto steps = session.step_profile();
  std::size_t if_step = steps.size(), product_step = steps.size();
  for (std::size_t k = 0; k < steps.size(); ++k) {
    if (steps[k].op == "If") if_step = k;
    if (steps[k].output == engine::Shape{512, 512}) product_step = k;
  }
  ASSERT_LT(if_step, product_step) << "the If is planned before the product";
  ASSERT_LT(product_step, steps.size());
  EXPECT_EQ(steps[product_step].threads, 2);
  EXPECT_EQ(steps[product_step].ran_threads, 2) << "planned for 2 threads, ran with " << steps[product_step].ran_threads;
}

TEST(EngineControlFlow, ARunTimeLoopThatNeverEndsStopsWithAnError) {
  Session s(loop_model(true, 0, false, false), {});
  try {
    s.run({scalar_i64(INT64_MAX), floats({2}, 0.f, 0.f)});
    ADD_FAILURE() << "an endless loop must end with an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "engine-bad-input");
    EXPECT_NE(std::string(e.what()).find("iterations"), std::string::npos) << e.what();
  }
}

// Scan (opset 9+): a running sum over one axis of X, the state after each step as scan output.
onnx::ModelProto scan_model(std::int64_t axis, bool reverse_in, bool reverse_out, std::int64_t out_axis) {
  auto m = empty_model("scan");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("X", kFloat, {"4", "3"});
  *g->add_initializer() = float_tensor("init", {axis == 0 ? 3 : 4}, std::vector<float>(axis == 0 ? 3 : 4, 0.f));
  auto body = graph("body", {tensor_value("sum_in", kFloat, {}), tensor_value("row", kFloat, {})}, {"sum_out", "seen"},
                    {node("Add", {"sum_in", "row"}, {"sum_out"}), node("Identity", {"sum_out"}, {"seen"})});
  auto n = node("Scan", {"init", "X"}, {"total", "partial"});
  add_graph_attr(n, "body", body);
  add_int_attr(n, "num_scan_inputs", 1);
  add_ints_attr(n, "scan_input_axes", {axis});
  if (reverse_in) add_ints_attr(n, "scan_input_directions", {1});
  if (reverse_out) add_ints_attr(n, "scan_output_directions", {1});
  add_ints_attr(n, "scan_output_axes", {out_axis});
  *g->add_node() = n;
  *g->add_output() = tensor_value("total", kFloat, {});
  *g->add_output() = tensor_value("partial", kFloat, {});
  return m;
}

TEST(EngineControlFlow, ScanRunsItsBodyAlongEachAxisAndDirection) {
  const auto x = floats({4, 3}, 0.f);  // x[r][c] = 3r + c
  auto at = [](std::int64_t r, std::int64_t c) { return static_cast<float>(3 * r + c); };
  for (std::int64_t axis : {0, 1})
    for (bool rin : {false, true})
      for (bool rout : {false, true})
        for (std::int64_t oax : {0, 1}) {
          Session s(scan_model(axis, rin, rout, oax), {});
          auto out = s.run({x});
          const std::int64_t steps = axis == 0 ? 4 : 3, width = axis == 0 ? 3 : 4;
          ASSERT_EQ(out[1].shape, (oax == 0 ? engine::Shape{steps, width} : engine::Shape{width, steps}));
          std::vector<float> sum(static_cast<std::size_t>(width), 0.f);
          for (std::int64_t t = 0; t < steps; ++t) {
            const std::int64_t k = rin ? steps - 1 - t : t;  // which slice step t reads
            for (std::int64_t w = 0; w < width; ++w) sum[static_cast<std::size_t>(w)] += axis == 0 ? at(k, w) : at(w, k);
            const std::int64_t pos = rout ? steps - 1 - t : t;  // where step t's output goes
            for (std::int64_t w = 0; w < width; ++w) {
              const float got = oax == 0 ? out[1].as<float>()[pos * width + w] : out[1].as<float>()[w * steps + pos];
              EXPECT_FLOAT_EQ(got, sum[static_cast<std::size_t>(w)]) << axis << rin << rout << oax << " t" << t << " w" << w;
            }
          }
          for (std::int64_t w = 0; w < width; ++w) EXPECT_FLOAT_EQ(out[0].as<float>()[w], sum[static_cast<std::size_t>(w)]);
        }
}

}  // namespace
}  // namespace aifgen

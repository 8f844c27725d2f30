// ExposedSession::observe_each: how the passes see activations. Each exposed value must reach
// its observer once per run, in sample order, with the bytes a plain run gives, whatever the
// thread count; the observer's first exception must come back to the caller.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/engine/random_inputs.h"
#include "core/engine/session.h"
#include "core/passes/exposed_session.h"
#include "core/passes/pass_manager.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

// x -> Conv 3x3 -> c -> BatchNormalization -> bn -> Identity -> bn_id -> Relu -> y.
onnx::ModelProto model() { return conv_bn_relu_model(/*with_identity=*/true); }

std::vector<Sample> samples(int n) {
  std::vector<Sample> out;
  for (int s = 0; s < n; ++s)
    out.push_back(engine::random_inputs({{"x", engine::DType::kF32, {1, 3, 8, 8}}}, 100 + static_cast<std::uint32_t>(s)));
  return out;
}

std::vector<float> floats(const engine::Tensor& t) { return std::vector<float>(t.as<float>(), t.as<float>() + t.numel()); }

// Per value name: what each call saw, in call order.
using Seen = std::map<std::string, std::vector<std::vector<float>>>;

Seen observe_with(int threads, const std::vector<std::string>& values, const std::vector<Sample>& in) {
  ExposedSession probe(model(), values, in[0], threads);
  Seen seen;
  for (const auto& v : values) seen[v];  // made before the runs: observe_each's contract
  std::vector<std::vector<std::vector<float>>*> slot;
  for (const auto& v : values) slot.push_back(&seen[v]);
  probe.observe_each(in, values, [&](std::size_t k, const engine::Tensor& t) { slot[k]->push_back(floats(t)); });
  return seen;
}

TEST(ExposedSession, ObserveEachGivesEachProducedValueOncePerSampleInOrderWhateverTheThreads) {
  const auto in = samples(5);
  // "bn" twice: observed at its first position only.
  const std::vector<std::string> values = {"c", "bn", "bn_id", "bn", "y"};
  const auto one = observe_with(1, values, in);
  const auto three = observe_with(3, values, in);

  // What each value must be: the same exposed model's run() (copies, not lent tensors).
  ExposedSession reference(model(), values, in[0], 1);
  for (const std::string v : {"c", "bn", "bn_id", "y"}) {
    ASSERT_EQ(one.at(v).size(), in.size()) << v;
    for (std::size_t s = 0; s < in.size(); ++s) {
      const auto outputs = reference.session->run(in[s]);
      EXPECT_EQ(one.at(v)[s], floats(outputs.at(static_cast<std::size_t>(reference.position(v))))) << v << " sample " << s;
    }
    EXPECT_EQ(three.at(v), one.at(v)) << v << ": 3 threads saw other values or another order";
  }
  // Samples differ, so an observer handed the same run twice would have shown up above.
  EXPECT_NE(one.at("bn")[0], one.at("bn")[1]);
}

TEST(ExposedSession, AnObserversExceptionComesBackAndTheSessionRunsOn) {
  const auto in = samples(3);
  const std::vector<std::string> values = {"c", "bn", "y"};
  for (int threads : {1, 2}) {
    ExposedSession probe(model(), values, in[0], threads);
    int calls = 0;
    try {
      probe.observe_each(in, values, [&](std::size_t k, const engine::Tensor&) {
        if (k == 1) throw std::runtime_error("observer failed on bn");
#pragma omp atomic
        ++calls;
      });
      FAIL() << "expected the observer's exception (" << threads << " threads)";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "observer failed on bn");
    }
    // The run that threw finished its other values, and no later sample was run.
    EXPECT_EQ(calls, 2) << threads << " threads";
    std::vector<float> y;
    probe.observe_each({in[1]}, values, [&](std::size_t k, const engine::Tensor& t) {
      if (k == 2) y = floats(t);
    });
    EXPECT_EQ(y, observe_with(1, values, {in[1]}).at("y")[0]) << threads << " threads";
  }
}

// x [6, 4], keep [6] -> the rows of x whose keep is positive (NonZero, Gather) -> Relu -> r ->
// Neg -> y. `r` comes after an op whose output shape depends on values, so the engine computes
// it in its dynamic tail, which needs an output's type declared: exposing it takes the type
// shape inference found (int8 calibration observes a detector's box head there).
TEST(ExposedSession, AValueMadeAfterAValueShapedOpIsObservedWithTheTypeInferenceFound) {
  auto m = empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"6", "4"});
  *g->add_input() = tensor_value("keep", onnx::TensorProto::FLOAT, {"6"});
  *g->add_initializer() = float_tensor("zero", {}, {0.f});
  *g->add_initializer() = int64_tensor("axis0", {0});
  *g->add_node() = node("Greater", {"keep", "zero"}, {"kept"});
  *g->add_node() = node("NonZero", {"kept"}, {"where"});
  *g->add_node() = node("Squeeze", {"where", "axis0"}, {"index"});
  *g->add_node() = node("Gather", {"x", "index"}, {"rows"});
  *g->add_node() = node("Relu", {"rows"}, {"r"});
  *g->add_node() = node("Neg", {"r"}, {"y"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"n", "4"});
  run_pipeline(m, {"infer_shapes"});
  std::vector<float> x(24);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) - 11.5f;
  Sample sample{float_tensor_of({6, 4}, x), float_tensor_of({6}, {-1, 1, -1, 1, 1, -1})};
  ExposedSession probe(m, {"r"}, sample);
  std::vector<float> seen;
  engine::Shape shape;
  probe.observe_each({sample}, {"r"}, [&](std::size_t, const engine::Tensor& t) {
    seen = floats(t);
    shape = t.shape;
  });
  ASSERT_EQ(shape, (engine::Shape{3, 4}));
  std::vector<float> want;
  for (int row : {1, 3, 4})
    for (int c = 0; c < 4; ++c) want.push_back(std::max(0.f, x[static_cast<std::size_t>(row * 4 + c)]));
  EXPECT_EQ(seen, want);
}

}  // namespace
}  // namespace aifgen

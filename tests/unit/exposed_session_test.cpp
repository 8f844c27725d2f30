// ExposedSession::observe_each: how the passes see activations. Each exposed value must reach
// its observer once per run, in sample order, with the bytes a plain run gives, whatever the
// thread count; the observer's first exception must come back to the caller.
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/engine/random_inputs.h"
#include "core/engine/session.h"
#include "core/passes/exposed_session.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

// x[1,4,12,12] -> Conv 3x3 (4->8) -> c1 -> Relu -> r1 -> Conv 1x1 (8->16) -> c2 -> Sigmoid -> y.
onnx::ModelProto two_convs() {
  auto m = empty_model("two_convs");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "12", "12"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "16", "12", "12"});
  *g->add_initializer() = random_tensor("W1", {8, 4, 3, 3}, 21, -0.5f, 0.5f);
  *g->add_initializer() = random_tensor("W2", {16, 8, 1, 1}, 22, -0.5f, 0.5f);
  auto c1 = node("Conv", {"x", "W1"}, {"c1"}, "conv1");
  add_ints_attr(c1, "pads", {1, 1, 1, 1});
  *g->add_node() = c1;
  *g->add_node() = node("Relu", {"c1"}, {"r1"}, "relu");
  *g->add_node() = node("Conv", {"r1", "W2"}, {"c2"}, "conv2");
  *g->add_node() = node("Sigmoid", {"c2"}, {"y"}, "sigmoid");
  return m;
}

std::vector<Sample> samples(int n) {
  std::vector<Sample> out;
  for (int s = 0; s < n; ++s)
    out.push_back(engine::random_inputs({{"x", engine::DType::kF32, {1, 4, 12, 12}}}, 100 + static_cast<std::uint32_t>(s)));
  return out;
}

std::vector<float> floats(const engine::Tensor& t) { return std::vector<float>(t.as<float>(), t.as<float>() + t.numel()); }

// Per value name: what each call saw, in call order.
using Seen = std::map<std::string, std::vector<std::vector<float>>>;

Seen observe_with(int threads, const std::vector<std::string>& values, const std::vector<Sample>& in) {
  ExposedSession probe(two_convs(), values, in[0], threads);
  Seen seen;
  for (const auto& v : values) seen[v];  // made before the runs: observe_each's contract
  std::vector<std::vector<std::vector<float>>*> slot;
  for (const auto& v : values) slot.push_back(&seen[v]);
  probe.observe_each(in, values, [&](std::size_t k, const engine::Tensor& t) { slot[k]->push_back(floats(t)); });
  return seen;
}

TEST(ExposedSession, ObserveEachGivesEachProducedValueOncePerSampleInOrderWhateverTheThreads) {
  const auto in = samples(5);
  // "r1" twice: observed at its first position only.
  const std::vector<std::string> values = {"c1", "r1", "c2", "r1", "y"};
  const auto one = observe_with(1, values, in);
  const auto three = observe_with(3, values, in);

  // What each value must be: the same exposed model's run() (copies, not lent tensors).
  ExposedSession reference(two_convs(), values, in[0], 1);
  for (const std::string v : {"c1", "r1", "c2", "y"}) {
    ASSERT_EQ(one.at(v).size(), in.size()) << v;
    for (std::size_t s = 0; s < in.size(); ++s) {
      const auto outputs = reference.session->run(in[s]);
      EXPECT_EQ(one.at(v)[s], floats(outputs.at(static_cast<std::size_t>(reference.position(v))))) << v << " sample " << s;
    }
    EXPECT_EQ(three.at(v), one.at(v)) << v << ": 3 threads saw other values or another order";
  }
  // Samples differ, so an observer handed the same run twice would have shown up above.
  EXPECT_NE(one.at("c2")[0], one.at("c2")[1]);
}

TEST(ExposedSession, AnObserversExceptionComesBackAndTheSessionRunsOn) {
  const auto in = samples(3);
  const std::vector<std::string> values = {"c1", "r1", "c2"};
  for (int threads : {1, 2}) {
    ExposedSession probe(two_convs(), values, in[0], threads);
    int calls = 0;
    try {
      probe.observe_each(in, values, [&](std::size_t k, const engine::Tensor&) {
        if (k == 1) throw std::runtime_error("observer failed on r1");
#pragma omp atomic
        ++calls;
      });
      FAIL() << "expected the observer's exception (" << threads << " threads)";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "observer failed on r1");
    }
    // The run that threw finished its other values, and no later sample was run.
    EXPECT_EQ(calls, 2) << threads << " threads";
    std::vector<float> c2;
    probe.observe_each({in[1]}, values, [&](std::size_t k, const engine::Tensor& t) {
      if (k == 2) c2 = floats(t);
    });
    EXPECT_EQ(c2, observe_with(1, values, {in[1]}).at("c2")[0]) << threads << " threads";
  }
}

}  // namespace
}  // namespace aifgen

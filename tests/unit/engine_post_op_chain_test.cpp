// Operations fused into a convolution as oneDNN post-ops, checked against the same arithmetic
// done here by hand. Debian's oneDNN 2.6 runs a repeated eltwise algorithm with the first one's
// parameters (core/engine/kernels/post_ops.h); these chains repeat one on purpose. CTest runs
// them again under DNNL_MAX_CPU_ISA=AVX2 (the "int8_without_vnni" case), whose JIT kernels are
// other code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/engine/kernels/post_ops.h"
#include "core/engine/session.h"
#include "core/passes/pass_manager.h"
#include "tests/support/model_builder.h"
#include "tests/support/reference_conv.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

// One step after the convolution: an op, its constant (for Mul/Add/Sub/Div/LeakyRelu/Clip's
// bounds) and whether the constant is the first input.
struct Step {
  std::string op;
  float a = 0, b = 0;
  bool constant_first = false;
};

float apply(const Step& s, float v) {
  if (s.op == "Mul") return s.a * v;
  if (s.op == "Add") return s.a + v;
  if (s.op == "Sub") return s.constant_first ? s.a - v : v - s.a;
  if (s.op == "Div") return v / s.a;
  if (s.op == "HardSwish") return v * std::clamp(v + 3.f, 0.f, 6.f) / 6.f;
  if (s.op == "LeakyRelu" || s.op == "PRelu") return v > 0 ? v : s.a * v;
  if (s.op == "Clip") return std::clamp(v, s.a, s.b);
  if (s.op == "HardSigmoid") return std::clamp(s.a * v + s.b, 0.f, 1.f);
  ADD_FAILURE() << "no reference for " << s.op;
  return v;
}

std::string numbered(char prefix, std::size_t k) {
  std::string s(1, prefix);
  s += std::to_string(k);  // appended apart: GCC 12 warns falsely on "lit" + to_string
  return s;
}

// x[1,4,6,6] -> Conv 3x3 (pad 1, bias) -> steps... -> y
onnx::ModelProto conv_chain(const std::vector<Step>& steps) {
  auto m = empty_model("conv_chain");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "6", "6"});
  *g->add_initializer() = random_tensor("W", {8, 4, 3, 3}, 7, -0.6f, 0.6f);
  *g->add_initializer() = random_tensor("B", {8}, 8, -0.5f, 0.5f);
  auto conv = node("Conv", {"x", "W", "B"}, {"v0"});
  add_ints_attr(conv, "pads", {1, 1, 1, 1});
  *g->add_node() = conv;
  std::string cur = "v0";
  for (std::size_t k = 0; k < steps.size(); ++k) {
    const auto& s = steps[k];
    const std::string out = k + 1 == steps.size() ? "y" : numbered('v', k + 1);
    const std::string c = numbered('c', k);
    if (s.op == "HardSwish") {
      *g->add_node() = node("HardSwish", {cur}, {out});
    } else if (s.op == "LeakyRelu" || s.op == "HardSigmoid") {
      auto n = node(s.op, {cur}, {out});
      add_float_attr(n, "alpha", s.a);
      if (s.op == "HardSigmoid") add_float_attr(n, "beta", s.b);
      *g->add_node() = n;
    } else if (s.op == "Clip") {
      *g->add_initializer() = float_tensor(c + "lo", {}, {s.a});
      *g->add_initializer() = float_tensor(c + "hi", {}, {s.b});
      *g->add_node() = node("Clip", {cur, c + "lo", c + "hi"}, {out});
    } else {
      *g->add_initializer() = float_tensor(c, {1}, {s.a});
      *g->add_node() = node(s.op, s.constant_first ? std::vector<std::string>{c, cur} : std::vector<std::string>{cur, c}, {out});
    }
    cur = out;
  }
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "8", "6", "6"});
  return m;
}

engine::Tensor input() {
  auto x = engine::Tensor::allocate(engine::DType::kF32, {1, 4, 6, 6});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = 3.f * std::sin(0.41f * static_cast<float>(i));
  return x;
}

// The convolution computed directly, then the steps.
std::vector<float> reference(const onnx::ModelProto& m, const std::vector<Step>& steps) {
  auto w = engine::tensor_from_proto(m.graph().initializer(0));
  auto b = engine::tensor_from_proto(m.graph().initializer(1));
  auto y = reference_conv2d(input(), w, &b, 1);
  for (auto& v : y)
    for (const auto& s : steps) v = apply(s, v);
  return y;
}

struct Case {
  std::vector<Step> steps;
  std::string fused_label;  // the convolution's step as the profile names it
};

TEST(EnginePostOpChain, FusedChainsComputeWhatTheGraphSays) {
  const std::vector<Case> cases = {
      // PaddleOCR's learnable affine blocks around a hardswish: two linear steps.
      {{{"Mul", 1.5f, 0, true}, {"Add", 0.25f}, {"HardSwish"}, {"Mul", -0.5f, 0, true}, {"Add", 2.f}},
       "Conv+Mul+Add+HardSwish+Mul+Add"},
      {{{"Sub", 2.f, 0, true}, {"HardSwish"}, {"Div", 4.f}, {"Sub", 0.5f}}, "Conv+Sub+HardSwish+Div+Sub"},
      // HardSigmoid is a linear step and a clip; a later linear step must keep its own numbers.
      {{{"HardSigmoid", 0.2f, 0.5f}, {"Mul", 3.f, 0, true}, {"Add", -1.f}}, "Conv+HardSigmoid+Mul+Add"},
      // Other repeated algorithms have no exact substitute: fusion stops before the second.
      {{{"LeakyRelu", 0.1f}, {"HardSwish"}, {"LeakyRelu", 0.3f}}, "Conv+LeakyRelu+HardSwish"},
      {{{"Clip", -5.f, 10.f}, {"HardSwish"}, {"Clip", -1.f, 1.f}}, "Conv+Clip+HardSwish"},
      // nn.PReLU's one shared slope is a LeakyRelu.
      {{{"PRelu", 0.25f}, {"Add", 1.f}}, "Conv+PRelu+Add"},
      // The same parameters twice are one injector: fused.
      {{{"Clip", -1.f, 1.f}, {"HardSwish"}, {"Clip", -1.f, 1.f}}, "Conv+Clip+HardSwish+Clip"},
  };
  for (const auto& c : cases) {
    auto m = conv_chain(c.steps);
    engine::SessionOptions o;
    o.profile = true;
    engine::Session s(m, o);
    auto y = s.run({input()})[0];
    bool fused = false;
    for (const auto& p : s.profile()) fused = fused || p.op == c.fused_label;
    EXPECT_TRUE(fused) << c.fused_label;
    const auto want = reference(m, c.steps);
    ASSERT_EQ(y.numel(), static_cast<std::int64_t>(want.size()));
    double worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, std::abs(static_cast<double>(y.as<float>()[i]) - want[i]) / std::max(1.f, std::abs(want[i])));
    EXPECT_LT(worst, 1e-5) << c.fused_label;
  }
}

// A slope per channel ([C, 1, 1], as PyTorch exports nn.PReLU(C)) runs as its own step, each
// channel with its own slope; a slope that X cannot take (it would widen X) is refused.
TEST(EnginePostOpChain, APReluWithASlopePerChannelScalesEachChannelsNegatives) {
  auto m = empty_model("prelu");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "6", "6"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "4", "6", "6"});
  const std::vector<float> slopes = {0.5f, -0.25f, 0.f, 2.f};
  *g->add_initializer() = float_tensor("slope", {4, 1, 1}, slopes);
  *g->add_node() = node("PRelu", {"x", "slope"}, {"y"});
  const auto x = input();
  const auto y = engine::Session(m, {}).run({x})[0];
  ASSERT_EQ(y.shape, x.shape);
  int negatives = 0;
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.as<float>()[i];
    negatives += v < 0;
    EXPECT_EQ(y.as<float>()[i], v < 0 ? slopes[static_cast<std::size_t>(i / 36)] * v : v) << i;
  }
  EXPECT_GT(negatives, 20);

  *g->mutable_initializer(0) = float_tensor("slope", {2, 4, 1, 1}, std::vector<float>(8, 0.5f));
  try {
    engine::Session bad(m, {});
    ADD_FAILURE() << "a slope that widens X was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not broadcast to X"), std::string::npos) << e.what();
  }
}

// An int8 convolution whose HardSigmoid output feeds another int8 convolution: the fused chain
// is HardSigmoid's linear step and clip, then the requantization's own linear step.
TEST(EnginePostOpChain, Int8RequantizationAfterALinearStepKeepsItsScale) {
  auto m = empty_model("int8_hardsigmoid");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "6", "6"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "8", "6", "6"});
  *g->add_initializer() = random_tensor("W1", {8, 4, 3, 3}, 11, -0.6f, 0.6f);
  *g->add_initializer() = random_tensor("W2", {8, 8, 1, 1}, 12, -0.6f, 0.6f);
  auto c1 = node("Conv", {"x", "W1"}, {"c1"}, "conv1");
  add_ints_attr(c1, "pads", {1, 1, 1, 1});
  *g->add_node() = c1;
  auto hs = node("HardSigmoid", {"c1"}, {"h"});
  add_float_attr(hs, "alpha", 0.2f);
  add_float_attr(hs, "beta", 0.5f);
  *g->add_node() = hs;
  *g->add_node() = node("Conv", {"h", "W2"}, {"y"}, "conv2");
  run_pipeline(m, {"infer_shapes", PassSpec("quantize_int8", {{"samples", "8"}, {"equalize", "false"}}), "infer_shapes"});

  auto run = [&](bool int8_kernels, std::vector<engine::OpProfile>* profile) {
    engine::SessionOptions o;
    o.int8_kernels = int8_kernels;
    o.profile = true;
    engine::Session s(m, o);
    auto out = s.run({input()})[0];
    *profile = s.profile();
    return out;
  };
  std::vector<engine::OpProfile> p_int8, p_float;
  auto y_int8 = run(true, &p_int8);
  auto y_qdq = run(false, &p_float);  // the Q/DQ graph in float: the arithmetic the model states
  bool requantized = false;
  for (const auto& p : p_int8) requantized = requantized || p.op == "ConvInt8+HardSigmoid+QuantizeLinear";
  if (!requantized) GTEST_SKIP() << "this CPU plans no int8 convolution here (no VNNI and weights not halved)";
  // Equal up to rounding at the quantization steps: one step of h's scale moves y a little.
  double s = 0, e = 0;
  for (std::int64_t i = 0; i < y_qdq.numel(); ++i) {
    s += static_cast<double>(y_qdq.as<float>()[i]) * y_qdq.as<float>()[i];
    const double d = static_cast<double>(y_int8.as<float>()[i]) - y_qdq.as<float>()[i];
    e += d * d;
  }
  EXPECT_GT(10 * std::log10(s / std::max(e, 1e-30)), 30.0);
}

// The hardswish post-op is fused only where oneDNN computes it exactly (post_ops.h): its x86
// kernels do, under DNNL_MAX_CPU_ISA=AVX2 as well; oneDNN 2.6.3's AArch64 SVE-512 kernels do not,
// and scripts/check-arm64.sh runs the models with hardswish there.
TEST(EnginePostOpChain, HardswishIsProbedBeforeItIsFused) {
#if defined(__x86_64__)
  EXPECT_TRUE(engine::hardswish_post_op_exact(dnnl::engine(dnnl::engine::kind::cpu, 0)));
#else
  GTEST_SKIP() << "the probe's answer on this CPU is what is under test (scripts/check-arm64.sh checks the models)";
#endif
}

}  // namespace
}  // namespace aifgen

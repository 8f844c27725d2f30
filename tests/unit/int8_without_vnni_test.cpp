// INT8 on x86 without VNNI: halving int8 weights to 7 bits, dropping activation Q/DQ where the
// variant's budget refused the halving, and the engine choosing between them. The engine tests
// need a CPU that reports AVX2 without VNNI: CTest runs them again with DNNL_MAX_CPU_ISA=AVX2
// (test "int8_without_vnni"); on a VNNI CPU without it they skip.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <unordered_map>

#include "core/calibration/calibration_set.h"
#include "core/engine/session.h"
#include "core/passes/pass_manager.h"
#include "core/quantize/saturation_safe.h"
#include "core/quantize/weight_range.h"
#include "core/validation.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

// x[1,8,16,16] -> Conv 3x3 (pad 1) -> Relu -> Conv 1x1 -> y, quantized u8s8 with 8-bit weights.
onnx::ModelProto conv_pair() {
  auto m = empty_model("conv_pair");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "8", "16", "16"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "16", "16", "16"});
  *g->add_initializer() = random_tensor("W1", {16, 8, 3, 3}, 41, -0.5f, 0.5f);
  *g->add_initializer() = random_tensor("W2", {16, 16, 1, 1}, 42, -0.5f, 0.5f);
  auto c1 = node("Conv", {"x", "W1"}, {"c1"}, "conv1");
  add_ints_attr(c1, "pads", {1, 1, 1, 1});
  *g->add_node() = c1;
  *g->add_node() = node("Relu", {"c1"}, {"r1"});
  *g->add_node() = node("Conv", {"r1", "W2"}, {"y"}, "conv2");
  return m;
}

onnx::ModelProto quantized_pair() {
  auto m = conv_pair();
  run_pipeline(m, {"infer_shapes", PassSpec("quantize_int8", {{"samples", "8"}, {"equalize", "false"}}), "infer_shapes"});
  return m;
}

engine::Tensor input() {
  auto x = engine::Tensor::allocate(engine::DType::kF32, {1, 8, 16, 16});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.37f * static_cast<float>(i));
  return x;
}

double sqnr(const engine::Tensor& ref, const engine::Tensor& v) {
  double s = 0, e = 0;
  for (std::int64_t i = 0; i < ref.numel(); ++i) {
    s += static_cast<double>(ref.as<float>()[i]) * ref.as<float>()[i];
    const double d = static_cast<double>(v.as<float>()[i]) - ref.as<float>()[i];
    e += d * d;
  }
  return e == 0 ? 200 : 10 * std::log10(s / e);
}

std::vector<engine::Tensor> run(const onnx::ModelProto& m, bool int8_kernels = true, std::vector<engine::OpProfile>* profile = nullptr) {
  engine::SessionOptions o;
  o.int8_kernels = int8_kernels;
  o.profile = profile != nullptr;
  engine::Session s(m, o);
  auto out = s.run({input()});
  if (profile) *profile = s.profile();
  return out;
}

void set_decision(onnx::ModelProto& m, const std::string& value) { quantize::set_metadata(m, quantize::kNoVnniWeightsKey, value); }

bool ran(const std::vector<engine::OpProfile>& p, const std::string& prefix) {
  for (const auto& op : p)
    if (op.op.rfind(prefix, 0) == 0) return true;
  return false;
}

TEST(Int8WithoutVnni, HalvingKeepsWeightsWithinSevenBitsAndTheirValues) {
  auto q = quantized_pair();
  std::int64_t halved = 0;
  auto h = quantize::halve_int8_weights(q, &halved);
  EXPECT_EQ(halved, 2);
  for (const auto& t : h.graph().initializer()) {
    if (t.data_type() != onnx::TensorProto::INT8) continue;
    auto v = engine::tensor_from_proto(t);
    auto [lo, hi] = std::minmax_element(v.as<std::int8_t>(), v.as<std::int8_t>() + v.numel());
    EXPECT_GE(*lo, -64) << t.name();
    EXPECT_LE(*hi, 63) << t.name();
  }
  // Same function up to one more bit of weight rounding: both against the float model.
  const auto ref = run(conv_pair(), false)[0];
  const double full = sqnr(ref, run(q, false)[0]), seven = sqnr(ref, run(h, false)[0]);
  EXPECT_GT(seven, 20.0);
  EXPECT_LT(seven, full + 0.5);  // halving cannot make it better than 8 bits
  EXPECT_GT(seven, full - 8.0);  // but costs about one bit, not the result
}

TEST(Int8WithoutVnni, StrippingActivationQdqLeavesTheFloatGraphWithRoundedWeights) {
  auto q = quantized_pair();
  std::int64_t removed = 0;
  auto s = quantize::strip_activation_qdq(q, &removed);
  EXPECT_EQ(removed, 2);
  int quantize_nodes = 0;
  for (const auto& n : s.graph().node()) quantize_nodes += n.op_type() == "QuantizeLinear";
  EXPECT_EQ(quantize_nodes, 0);
  const auto ref = run(conv_pair(), false)[0];
  EXPECT_GT(sqnr(ref, run(s, false)[0]), sqnr(ref, run(q, false)[0]));  // only weight rounding is left
  EXPECT_GT(sqnr(ref, run(s, false)[0]), 35.0);
}

TEST(Int8WithoutVnni, MetadataSaysWhatRunsWithoutVnni) {
  using quantize::NoVnniWeights;
  EXPECT_EQ(quantize::no_vnni_weights(conv_pair()), NoVnniWeights::kFit);  // absent: safe weights
  auto q = quantized_pair();
  EXPECT_EQ(quantize::no_vnni_weights(q), NoVnniWeights::kFit);  // without a budget the pass says fit, unvalidated
  set_decision(q, "float");
  EXPECT_EQ(quantize::no_vnni_weights(q), NoVnniWeights::kFloat);
  set_decision(q, "halve");  // variants built before "fit" keep running what was judged for them
  EXPECT_EQ(quantize::no_vnni_weights(q), NoVnniWeights::kHalve);
  std::int64_t changed = 0;
  auto r = quantize::as_run_without_vnni(q, &changed);
  EXPECT_EQ(changed, 2);
  for (const auto& t : r.graph().initializer())
    if (t.data_type() == onnx::TensorProto::INT8) {
      auto v = engine::tensor_from_proto(t);
      EXPECT_LE(*std::max_element(v.as<std::int8_t>(), v.as<std::int8_t>() + v.numel()), 63) << t.name();
    }
}

TEST(Int8WithoutVnni, EngineRewritesOrRunsFloatAsTheVariantSays) {
  if (engine::int8_support() != engine::Int8Support::kSafeWeightsOnly)
    GTEST_SKIP() << "needs x86 with AVX2 and no VNNI (CTest runs this with DNNL_MAX_CPU_ISA=AVX2)";
  auto q = quantized_pair();
  std::vector<engine::OpProfile> profile;
  const auto ref = run(conv_pair(), false)[0];
  auto safe = run(q, true, &profile)[0];
  EXPECT_TRUE(ran(profile, "ConvInt8")) << "saturation-safe weights run in int8 without VNNI";
  EXPECT_GT(sqnr(ref, safe), 20.0);  // no 16-bit saturation
  set_decision(q, "float");
  auto as_float = run(q, true, &profile)[0];
  EXPECT_FALSE(ran(profile, "ConvInt8"));
  EXPECT_FALSE(ran(profile, "QuantizeLinear"));  // the activation Q/DQ pairs are gone
  EXPECT_GT(sqnr(ref, as_float), 35.0);
  // Halve, with conv2 (output y) in float.
  set_decision(q, "halve");
  quantize::set_metadata(q, quantize::kNoVnniFloatNodesKey, "y");
  auto mixed = run(q, true, &profile)[0];
  EXPECT_TRUE(ran(profile, "ConvInt8"));
  EXPECT_TRUE(std::any_of(profile.begin(), profile.end(), [](const engine::OpProfile& o) { return o.op == "Conv"; }));
  EXPECT_GT(sqnr(ref, mixed), 20.0);
}

TEST(EngineInt8, AQuantizedModelGivenByValueRunsTheSameInt8Kernels) {
  if (engine::int8_support() == engine::Int8Support::kNone) GTEST_SKIP() << "no int8 kernels on this CPU";
  // The int8 convolutions are matched from the initializers' values (scales, zero points,
  // weights) after a session that owns the model has taken their bytes (tensor_taking_proto):
  // the matching must read the taken tensors, and the plan must be the one a lent model gets.
  const auto q = with_raw_initializers(quantized_pair());
  std::vector<engine::OpProfile> lent_profile, owned_profile;
  const auto want = run(q, true, &lent_profile)[0];
  engine::SessionOptions o;
  o.profile = true;
  auto given = q;
  engine::Session owned(std::move(given), o);
  const auto got = owned.run({input()})[0];
  owned_profile = owned.profile();
  EXPECT_TRUE(ran(lent_profile, "ConvInt8"));
  EXPECT_TRUE(ran(owned_profile, "ConvInt8"));
  ASSERT_EQ(got.numel(), want.numel());
  EXPECT_EQ(std::memcmp(got.data, want.data, want.bytes()), 0);
}

TEST(Int8WithoutVnni, AFloatConvolutionAfterAnInt8OneReadsItsLayoutCorrectly) {
  if (engine::int8_support() == engine::Int8Support::kNone) GTEST_SKIP() << "no int8 kernels on this CPU";
  // conv1 in int8, conv2 left float (as the budget leaves nodes): conv2 reads conv1's int8
  // kernel layout, which without VNNI has no fast float kernel and is reordered first.
  auto q = quantized_pair();
  *q.mutable_graph()->add_initializer() = random_tensor("W2f", {16, 16, 1, 1}, 42, -0.5f, 0.5f);
  for (auto& n : *q.mutable_graph()->mutable_node())
    if (n.name() == "conv2") {
      n.set_input(0, "r1");
      n.set_input(1, "W2f");
    }
  std::vector<engine::OpProfile> profile;
  auto y = run(q, true, &profile)[0];
  EXPECT_TRUE(ran(profile, "ConvInt8"));
  EXPECT_GT(sqnr(run(conv_pair(), false)[0], y), 20.0);
}

TEST(Int8WithoutVnni, TheBudgetDecidesWhatTheVariantDoesWithoutVnni) {
  using quantize::NoVnniWeights;
  auto m = conv_pair();
  CalibrationSet set;
  auto t = engine::Tensor::allocate(engine::DType::kF32, {16, 8, 16, 16});
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = std::sin(0.013f * static_cast<float>(i));
  set.tensors["x"] = t;
  set.source = "x.npy";
  PassEnv env{&set};
  auto lenient = m;
  auto records = run_pipeline(lenient, {"infer_shapes", PassSpec("quantize_int8", {{"min_sqnr_db", "10"}})}, env);
  const auto& d = records[1].details["without_vnni"];
  EXPECT_EQ(d["weights_rewritten"], 2) << d.dump();
  EXPECT_TRUE(d["budget_with_safe_weights"]["met"].get<bool>());
  EXPECT_NE(NoVnniWeights::kFloat, quantize::no_vnni_weights(lenient));
  // The rest compares 8-bit with rewritten weights, which needs a judge that runs 8-bit weights:
  // on a host without VNNI the pass's own engine already runs every candidate rewritten.
  if (engine::int8_support() != engine::Int8Support::kFull) return;
  // A budget only 8-bit weights meet: the variant says float, and the engine will obey.
  const double full_sqnr = records[1].details["accuracy"]["all_int8"]["sqnr_db"].get<double>();
  const double safe_sqnr = d["budget_with_safe_weights"]["sqnr_db"].get<double>();
  const double gap = full_sqnr - safe_sqnr;
  ASSERT_GT(gap, 0.05) << "rewriting full-range weights must cost something here";
  auto strict = m;
  char sqnr_text[32];
  std::snprintf(sqnr_text, sizeof sqnr_text, "%.3f", full_sqnr - 0.02);
  auto strict_records = run_pipeline(strict, {"infer_shapes", PassSpec("quantize_int8", {{"min_sqnr_db", sqnr_text}})}, env);
  const auto& sd = strict_records[1].details["without_vnni"];
  EXPECT_FALSE(sd["budget_with_safe_weights"]["met"].get<bool>()) << sd.dump();
  EXPECT_EQ(NoVnniWeights::kFloat, quantize::no_vnni_weights(strict)) << sd.dump();  // even one rewritten convolution costs too much
  // Where 8-bit weights meet the budget and rewriting both misses it by a little, one of the two
  // convolutions stays float there (8-bit weights, float activation) and the other is rewritten.
  std::snprintf(sqnr_text, sizeof sqnr_text, "%.3f", safe_sqnr + gap / 4);
  auto near = m;
  auto near_records = run_pipeline(near, {"infer_shapes", PassSpec("quantize_int8", {{"min_sqnr_db", sqnr_text}})}, env);
  const auto& nd = near_records[1].details["without_vnni"];
  EXPECT_NE(NoVnniWeights::kFloat, quantize::no_vnni_weights(near)) << nd.dump();
  ASSERT_EQ(nd["float_nodes"].size(), 1u) << nd.dump();
  EXPECT_TRUE(nd["budget_with_float_nodes"]["met"].get<bool>());
  EXPECT_EQ(quantize::float_nodes_without_vnni(near), std::set<std::string>{nd["float_nodes"][0].get<std::string>()});
  // With no node allowed in float, only 8 bits meet it: the variant says float.
  auto none_float = m;
  auto none_records = run_pipeline(
      none_float, {"infer_shapes", PassSpec("quantize_int8", {{"min_sqnr_db", sqnr_text}, {"max_float_fraction", "0"}})}, env);
  EXPECT_EQ(NoVnniWeights::kFloat, quantize::no_vnni_weights(none_float)) << none_records[1].details["without_vnni"].dump();
}

TEST(Int8WithoutVnni, AMixRewritesTheOtherWeightsAndLetsTheListedNodesReadFloat) {
  auto q = quantized_pair();
  quantize::set_metadata(q, quantize::kNoVnniFloatNodesKey, "c1");  // conv1, by its output
  std::int64_t changed = 0;
  auto r = quantize::as_run_without_vnni(q, &changed);
  EXPECT_EQ(changed, 2);  // W2 rewritten, conv1's input rewired
  std::unordered_map<std::string, const onnx::NodeProto*> producer;
  for (const auto& n : r.graph().node()) producer[n.output(0)] = &n;
  auto weights_of = [&](const onnx::ModelProto& m, const std::string& conv_output) {
    std::unordered_map<std::string, const onnx::NodeProto*> made_by;
    for (const auto& n : m.graph().node()) made_by[n.output(0)] = &n;
    const auto* dq = made_by.at(made_by.at(conv_output)->input(1));
    for (const auto& t : m.graph().initializer())
      if (t.name() == dq->input(0)) {
        auto w = engine::tensor_from_proto(t);
        return std::pair{std::vector<std::int8_t>(w.as<std::int8_t>(), w.as<std::int8_t>() + w.numel()),
                         std::vector<std::int64_t>(w.shape.begin(), w.shape.end())};
      }
    return std::pair{std::vector<std::int8_t>{}, std::vector<std::int64_t>{}};
  };
  const auto [c1, c1_dims] = weights_of(r, "c1");
  const auto [y, y_dims] = weights_of(r, "y");
  EXPECT_EQ(c1, weights_of(q, "c1").first);  // the float node keeps its 8-bit weights
  EXPECT_TRUE(quantize::can_saturate(c1, quantize::conv_pair_layout(c1_dims)));
  EXPECT_NE(y, weights_of(q, "y").first);  // the other one is rewritten, and safe
  EXPECT_FALSE(quantize::can_saturate(y, quantize::conv_pair_layout(y_dims)));
  EXPECT_EQ(producer.at("c1")->input(0), "x");  // reads the float input, no Q/DQ in between
  EXPECT_EQ(producer.at(producer.at("y")->input(0))->op_type(), "DequantizeLinear");  // conv2 still quantized
  const auto ref = run(conv_pair(), false)[0];
  const double safe_all = sqnr(ref, run(quantize::fit_int8_weights(q), false)[0]);
  EXPECT_GT(sqnr(ref, run(r, false)[0]), safe_all);
  // The point of fitting: closer to the 8-bit model than halving every weight.
  EXPECT_GT(safe_all, sqnr(ref, run(quantize::halve_int8_weights(q), false)[0]));
}

}  // namespace
}  // namespace aifgen

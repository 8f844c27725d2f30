// The INT8 accuracy budget: its verdicts, decoded-sequence agreement for CTC-like outputs, the
// mse range search, channel equalization (exact in float), and the quantizer keeping exactly
// the node that breaks the budget in float.
#include <gtest/gtest.h>

#include <cmath>

#include "core/accuracy_budget.h"
#include "core/calibration/calibration_set.h"
#include "core/engine/session.h"
#include "core/base/error.h"
#include "core/passes/graph_edit.h"
#include "core/passes/pass_manager.h"
#include "core/passes/quantize_dpu_layout.h"
#include "core/quantize/dpu_rules.h"
#include "core/quantize/equalization.h"
#include "core/quantize/range_observer.h"
#include "core/validation.h"
#include "service/build_options.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

OutputMetrics class_output(double top1) {
  OutputMetrics m;
  m.name = "scores";
  m.top1_agreement = top1;
  m.top1_rows = 200;
  m.sqnr_db = 12;  // low, but class outputs are judged by agreement
  return m;
}

OutputMetrics map_output(double sqnr) {
  OutputMetrics m;
  m.name = "map";
  m.sqnr_db = sqnr;
  m.cosine = 0.999;
  return m;
}

TEST(AccuracyBudget, ClassScoresByAgreementOtherOutputsBySqnr) {
  AccuracyBudget b;  // 0.01, 20 dB
  EXPECT_TRUE(check_budget({class_output(0.995)}, b).met);
  auto over = check_budget({class_output(0.98)}, b);
  EXPECT_FALSE(over.met);
  EXPECT_NEAR(over.used, 2.0, 1e-9);
  EXPECT_NEAR(over.worst_drop, 0.02, 1e-12);
  EXPECT_NE(over.explanation.find("scores"), std::string::npos);
  EXPECT_TRUE(check_budget({map_output(25)}, b).met);
  auto low = check_budget({class_output(1.0), map_output(10)}, b);
  EXPECT_FALSE(low.met);
  EXPECT_NEAR(low.used, 10.0, 1e-9);  // ten times the error power allowed
  EXPECT_NE(low.explanation.find("map"), std::string::npos);
  auto broken = map_output(60);
  broken.nonfinite_values = 3;
  EXPECT_FALSE(check_budget({broken}, b).met);
  // Less budget used is better; equal use is decided by the noise.
  EXPECT_TRUE(better_than(check_budget({class_output(0.999)}, b), over));
  EXPECT_TRUE(better_than(check_budget({map_output(30)}, b), check_budget({map_output(25)}, b)));
}

TEST(AccuracyBudget, RecommendationAndBudgetShareOneDropDefinition) {
  auto m = class_output(0.97);
  EXPECT_NEAR(accuracy_drop(m), 0.03, 1e-12);
  auto stored = nlohmann::json::array({validation_to_json(ValidationResult{ValidationStatus::kValidated, "", "x", "e", 1, {}, {m, map_output(30)}})["outputs"][0],
                                       {{"name", "map"}, {"cosine", 0.99}}});
  EXPECT_NEAR(*accuracy_drop_of_report(stored), 0.03, 1e-12);
  stored[1]["cosine"] = 0.9;  // 1 - cosine for outputs that are not class scores
  EXPECT_NEAR(*accuracy_drop_of_report(stored), 0.1, 1e-12);
  EXPECT_FALSE(accuracy_drop_of_report(nlohmann::json::array()).has_value());
}

// [1, T, 3] one-hot scores along a path of classes (0 is the blank).
engine::Tensor path_scores(const std::vector<int>& path) {
  auto t = engine::Tensor::allocate(engine::DType::kF32, {1, static_cast<std::int64_t>(path.size()), 3});
  for (std::size_t i = 0; i < path.size(); ++i)
    for (int c = 0; c < 3; ++c) t.as<float>()[i * 3 + static_cast<std::size_t>(c)] = c == path[i] ? 0.9f : 0.05f;
  return t;
}

TEST(AccuracyBudget, SequencesWithABlankAreJudgedByWhatTheyDecodeTo) {
  const std::vector<int> source = {0, 0, 0, 1, 1, 0, 0, 2, 0, 0};  // decodes to "1 2"
  // A character boundary moved by a step: two steps differ, the text does not.
  OutputComparison shifted({"probs"});
  shifted.add({path_scores(source)}, {path_scores({0, 0, 0, 0, 1, 0, 0, 2, 2, 0})});
  auto m = shifted.metrics()[0];
  EXPECT_EQ(m.agreement, "decoded-sequence");
  EXPECT_DOUBLE_EQ(*m.top1_agreement, 1.0);
  EXPECT_EQ(m.top1_rows, 2);
  // One character read wrong: one edit in two symbols.
  OutputComparison wrong({"probs"});
  wrong.add({path_scores(source)}, {path_scores({0, 0, 0, 1, 1, 0, 0, 1, 0, 0})});
  EXPECT_DOUBLE_EQ(*wrong.metrics()[0].top1_agreement, 0.5);
  // A character inserted where the source has a blank counts too.
  OutputComparison inserted({"probs"});
  inserted.add({path_scores(source)}, {path_scores({2, 0, 0, 1, 1, 0, 0, 2, 0, 0})});
  EXPECT_DOUBLE_EQ(*inserted.metrics()[0].top1_agreement, 0.5);
  // Plain [N, C] class scores stay per row.
  auto a = engine::Tensor::allocate(engine::DType::kF32, {2, 3});
  auto b = engine::Tensor::allocate(engine::DType::kF32, {2, 3});
  const float av[] = {0.1f, 0.8f, 0.1f, 0.7f, 0.2f, 0.1f}, bv[] = {0.1f, 0.8f, 0.1f, 0.2f, 0.7f, 0.1f};
  std::copy(av, av + 6, a.as<float>());
  std::copy(bv, bv + 6, b.as<float>());
  OutputComparison rows({"logits"});
  rows.add({a}, {b});
  EXPECT_EQ(rows.metrics()[0].agreement, "per-row");
  EXPECT_DOUBLE_EQ(*rows.metrics()[0].top1_agreement, 0.5);
}

TEST(AccuracyBudget, MseRangeClipsALongTailWhereRoundingNoiseCostsMore) {
  // Laplace(b = 1) values, as many activations are: the largest is about ln(n / 2) = 11.5, and
  // the squared-error optimum for 127 levels a side is near 10 b (Banner et al., 2019).
  quantize::RangeObserver laplace, uniform;
  const int n = 200000;
  std::vector<float> x(n), u(n);
  for (int i = 0; i < n; ++i) {
    const double p = (i + 1.0) / (n + 1.0) - 0.5;
    x[static_cast<std::size_t>(i)] = static_cast<float>(-(p < 0 ? -1 : 1) * std::log(1 - 2 * std::abs(p)));
    u[static_cast<std::size_t>(i)] = static_cast<float>(2 * p);
  }
  for (auto* o : {&laplace, &uniform}) {
    const auto& v = o == &laplace ? x : u;
    o->observe_minmax(v.data(), n);
    o->observe_histogram(v.data(), n);
  }
  const float max = laplace.range(quantize::CalibrationMethod::kMinMax, 0, 127).hi;
  const float mse = laplace.range(quantize::CalibrationMethod::kMse, 0, 127).hi;
  EXPECT_GT(max, 11.f);
  EXPECT_LT(mse, 0.95f * max);  // the sparse tail is clipped
  EXPECT_GT(mse, 7.f);          // the body is not
  // Without a tail there is nothing worth clipping.
  EXPECT_GT(uniform.range(quantize::CalibrationMethod::kMse, 0, 127).hi, 0.95f);
  EXPECT_EQ(quantize::parse_method("mse"), quantize::CalibrationMethod::kMse);
}

// x[1,4,4,4] -> Conv A (1x1, bias) -> Relu -> Conv B (1x1) -> y, with channel 0 of A's output
// a thousand times wider than the others.
onnx::ModelProto two_convs(bool relu_read_twice = false) {
  auto m = empty_model("two_convs");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "4", "4"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "2", "4", "4"});
  auto wa = random_tensor("WA", {4, 4, 1, 1}, 21, 0.1f, 1.f);
  for (int i = 0; i < 4; ++i) wa.set_float_data(i, wa.float_data(i) * 1000.f);
  *g->add_initializer() = wa;
  *g->add_initializer() = random_tensor("BA", {4}, 22, 0.f, 0.5f);
  *g->add_initializer() = random_tensor("WB", {2, 4, 1, 1}, 23, -1.f, 1.f);
  *g->add_node() = node("Conv", {"x", "WA", "BA"}, {"a"}, "A");
  *g->add_node() = node("Relu", {"a"}, {"r"}, "relu");
  if (relu_read_twice) {
    *g->add_node() = node("Conv", {"r", "WB"}, {"b"}, "B");
    *g->add_node() = node("Add", {"b", "b"}, {"y"}, "twice");
    *g->add_output() = tensor_value("r", onnx::TensorProto::FLOAT, {"1", "4", "4", "4"});
  } else {
    *g->add_node() = node("Conv", {"r", "WB"}, {"y"}, "B");
  }
  return m;
}

std::vector<engine::Tensor> run_model(const onnx::ModelProto& m, const engine::Tensor& x) {
  engine::Session s(m, {});
  return s.run({x});
}

TEST(AccuracyBudget, EqualizationMovesChannelRangesIntoWeightsWithoutChangingTheFunction) {
  auto model = two_convs();
  auto sites = quantize::find_equalization_sites(model.graph());
  ASSERT_EQ(sites.size(), 1u);
  EXPECT_EQ(sites[0].value, "r");  // through the Relu
  EXPECT_EQ(sites[0].channels, 4);
  auto x = engine::Tensor::allocate(engine::DType::kF32, {1, 4, 4, 4});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.3f * static_cast<float>(i));
  auto before = run_model(model, x)[0];
  // Channel maxima as a calibration sweep would find them.
  auto probe = model;
  probe.mutable_graph()->add_output()->set_name("r");
  auto r = run_model(probe, x)[1];
  std::vector<float> maxima(4, 0.f);
  for (std::int64_t i = 0; i < r.numel(); ++i) maxima[static_cast<std::size_t>((i / 16) % 4)] = std::max(maxima[static_cast<std::size_t>((i / 16) % 4)], std::abs(r.as<float>()[i]));
  ASSERT_GT(maxima[0], 100 * maxima[1]);
  auto report = quantize::apply_equalization(*model.mutable_graph(), sites, {{"r", maxima}});
  ASSERT_EQ(report.size(), 1u);
  EXPECT_GT(report[0]["channel_range_ratio_before"].get<double>(), 100.0);
  auto after = run_model(model, x)[0];
  double err = 0, ref = 0;
  for (std::int64_t i = 0; i < before.numel(); ++i) {
    err = std::max(err, static_cast<double>(std::abs(after.as<float>()[i] - before.as<float>()[i])));
    ref = std::max(ref, static_cast<double>(std::abs(before.as<float>()[i])));
  }
  EXPECT_LT(err, 1e-4 * ref);  // the same function, up to float rounding
  auto probe_after = model;
  probe_after.mutable_graph()->add_output()->set_name("r");
  auto r2 = run_model(probe_after, x)[1];
  std::vector<float> m2(4, 0.f);
  for (std::int64_t i = 0; i < r2.numel(); ++i) m2[static_cast<std::size_t>((i / 16) % 4)] = std::max(m2[static_cast<std::size_t>((i / 16) % 4)], std::abs(r2.as<float>()[i]));
  EXPECT_LT(m2[0] / m2[1], maxima[0] / maxima[1] / 10);  // the channels are far closer in range
}

TEST(AccuracyBudget, EqualizationLeavesTensorsReadElsewhereAlone) {
  EXPECT_TRUE(quantize::find_equalization_sites(two_convs(/*relu_read_twice=*/true).graph()).empty());
}

// x[1,2,32,32] -> Conv "fragile" (1x1, positive weights) -> Relu -> Conv "benign" (1x1) -> y.
// One calibration value is a large negative spike that the Relu removes: a minmax range makes
// the fragile conv's input step far coarser than the held-out values (small, no spike), while
// the benign conv's input never sees the spike. The spike is 1 value in 24576, under the
// percentile method's 0.01% tail.
struct FragileCase {
  onnx::ModelProto model;
  CalibrationSet set;
};

FragileCase fragile_case() {
  FragileCase c;
  auto& m = c.model = empty_model("fragile");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "2", "32", "32"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "3", "32", "32"});
  *g->add_initializer() = random_tensor("WF", {3, 2, 1, 1}, 31, 0.5f, 1.f);
  *g->add_initializer() = random_tensor("WB", {3, 3, 1, 1}, 32, -1.f, 1.f);
  *g->add_node() = node("Conv", {"x", "WF"}, {"f"}, "fragile");
  *g->add_node() = node("Relu", {"f"}, {"r"}, "relu");
  *g->add_node() = node("Conv", {"r", "WB"}, {"y"}, "benign");
  auto t = engine::Tensor::allocate(engine::DType::kF32, {16, 2, 32, 32});
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = 0.01f * std::sin(0.7f * static_cast<float>(i));
  t.as<float>()[5] = -50.f;  // in the first calibration sample only
  c.set.tensors["x"] = t;
  c.set.source = "x.npy";
  return c;
}

TEST(AccuracyBudget, KeepsTheNodeThatBreaksTheBudgetInFloatAndQuantizesTheRest) {
  auto c = fragile_case();
  PassEnv env{&c.set};
  std::vector<std::string> progress;
  env.progress = [&](const std::string& what) { progress.push_back(what); };
  auto m = c.model;
  const PassOptions budget = {{"method", "minmax"}, {"min_sqnr_db", "25"}, {"equalize", "false"}};
  auto records = run_pipeline(m, {"infer_shapes", PassSpec("quantize_int8", budget)}, env);
  const auto& r = records[1];
  EXPECT_EQ(r.counts.at("nodes_quantized"), 1);
  EXPECT_EQ(r.counts.at("nodes_kept_float"), 1);
  const auto& d = r.details;
  EXPECT_FALSE(d["accuracy"]["all_int8"]["met"].get<bool>()) << d["accuracy"].dump();
  EXPECT_TRUE(d["accuracy"]["met"].get<bool>());
  EXPECT_EQ(d["sensitivity"]["nodes"][0]["node"], "fragile") << d["sensitivity"].dump();
  EXPECT_GT(d["sensitivity"]["nodes"][0]["budget_used"].get<double>(), 1.0);
  EXPECT_LT(d["sensitivity"]["nodes"][1]["budget_used"].get<double>(), 1.0);
  ASSERT_EQ(d["mixed_precision"]["float_nodes"].size(), 1u);
  EXPECT_EQ(d["mixed_precision"]["float_nodes"][0]["node"], "fragile");
  EXPECT_TRUE(d["mixed_precision"]["speed"].contains("mixed_p50_ms"));
  EXPECT_FALSE(progress.empty());
  // The fragile conv reads x itself, the benign one a dequantized value.
  for (const auto& n : m.graph().node()) {
    if (n.name() == "fragile") {
      EXPECT_EQ(n.input(0), "x");
    }
    if (n.name() == "benign") {
      EXPECT_NE(n.input(0), "r");
    }
  }

  // No float node allowed: the budget cannot hold, and the pass says so instead of shipping.
  auto strict = budget;
  strict["max_float_fraction"] = "0";
  auto m2 = c.model;
  try {
    run_pipeline(m2, {"infer_shapes", PassSpec("quantize_int8", strict)}, env);
    ADD_FAILURE() << "expected accuracy-budget-unmet";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "accuracy-budget-unmet");
    EXPECT_NE(std::string(e.what()).find("SQNR"), std::string::npos) << e.what();
  }
}

TEST(AccuracyBudget, TheDpuLayoutLeavesTheCostlyOpToTheCpuAndStaysWithinTheDpuRules) {
  auto c = fragile_case();
  PassEnv env{&c.set};
  auto m = c.model;
  const PassOptions budget = {{"scheme", "pow2"}, {"layout", "dpu"}, {"method", "minmax"}, {"min_sqnr_db", "25"}, {"equalize", "false"}};
  auto records = run_pipeline(m, {"infer_shapes", PassSpec("quantize_int8", budget)}, env);
  const auto& r = records[1];
  EXPECT_FALSE(r.details["accuracy"]["all_int8"]["met"].get<bool>()) << r.details["accuracy"].dump();
  EXPECT_TRUE(r.details["accuracy"]["met"].get<bool>());
  EXPECT_EQ(r.details["sensitivity"]["nodes"][0]["node"], "fragile") << r.details["sensitivity"].dump();
  EXPECT_GE(r.counts.at("dpu_ops_kept_float"), 1);
  EXPECT_EQ(r.counts.at("dpu_rule_violations"), 0);
  bool marked = false;
  for (const auto& n : m.graph().node())
    if (n.name() == "fragile") {
      marked = n.doc_string() == kCpuFallbackMark;
      EXPECT_EQ(n.input(1), "WF");  // its weight stays a float initializer
    }
  EXPECT_TRUE(marked);
  EXPECT_EQ(quantize::check_dpu_qdq(m.graph()), std::vector<std::string>{});
  // Unmarked, the same float conv is a broken DPU op.
  for (auto& n : *m.mutable_graph()->mutable_node()) n.clear_doc_string();
  EXPECT_FALSE(quantize::check_dpu_qdq(m.graph()).empty());
}

TEST(AccuracyBudget, MethodAutoTriesEveryMethodOnTheHeldOutSamples) {
  auto c = fragile_case();
  PassEnv env{&c.set};
  auto m = c.model;
  auto records = run_pipeline(m, {"infer_shapes", PassSpec("quantize_int8", {{"method", "auto"}})}, env);
  const auto& d = records[1].details;
  ASSERT_EQ(d["method_search"].size(), 4u);
  // The method kept is the one whose verdict used the least budget.
  double best = INFINITY;
  std::string best_method;
  for (const auto& s : d["method_search"])
    if (s["result"]["budget_used"].get<double>() < best) {
      best = s["result"]["budget_used"].get<double>();
      best_method = s["method"];
    }
  EXPECT_EQ(d["method"], best_method);
  EXPECT_NE(d["method"], "minmax");  // the spike ruins minmax
}

TEST(AccuracyBudget, JobOptionsAndCliFlag) {
  auto o = parse_build_options(nlohmann::json::parse(R"({"accuracy_budget": {"max_accuracy_drop": 0.02, "max_float_fraction": 0.5}})"));
  EXPECT_EQ(o.budget_mode, BuildOptions::BudgetMode::kOn);
  EXPECT_DOUBLE_EQ(o.accuracy_budget.max_accuracy_drop, 0.02);
  EXPECT_DOUBLE_EQ(o.accuracy_budget.min_sqnr_db, 20);
  EXPECT_DOUBLE_EQ(o.max_float_fraction, 0.5);
  EXPECT_TRUE(budget_applies(o, false));
  auto dflt = parse_build_options(nlohmann::json::object());
  EXPECT_TRUE(budget_applies(dflt, true));
  EXPECT_FALSE(budget_applies(dflt, false));  // synthetic inputs would judge noise
  EXPECT_FALSE(budget_applies(parse_build_options(nlohmann::json::parse(R"({"accuracy_budget": "off"})")), true));
  for (const char* bad : {R"({"accuracy_budget": {"max_accuracy_drop": 2}})", R"({"accuracy_budget": {"min_sqnr_db": "x"}})",
                          R"({"accuracy_budget": {"drop": 0.1}})", R"({"accuracy_budget": true})", R"({"calibration_method": "kl"})"}) {
    EXPECT_THROW(parse_build_options(nlohmann::json::parse(bad)), Error) << bad;
  }
  EXPECT_EQ(parse_build_options(nlohmann::json::parse(R"({"calibration_method": "auto"})")).calibration_method, "auto");
  EXPECT_EQ(dflt.bias_correction, "auto");
  EXPECT_EQ(parse_build_options(nlohmann::json::parse(R"({"bias_correction": false})")).bias_correction, "false");
  EXPECT_EQ(parse_build_options(nlohmann::json::parse(R"({"bias_correction": true})")).bias_correction, "true");
  for (const char* bad : {R"({"bias_correction": "yes"})", R"({"bias_correction": 1})"})
    EXPECT_THROW(parse_build_options(nlohmann::json::parse(bad)), Error) << bad;
  BuildOptions f;
  parse_budget_flag("0.005:30:0.25", f);
  EXPECT_DOUBLE_EQ(f.accuracy_budget.max_accuracy_drop, 0.005);
  EXPECT_DOUBLE_EQ(f.accuracy_budget.min_sqnr_db, 30);
  EXPECT_DOUBLE_EQ(f.max_float_fraction, 0.25);
  BuildOptions g;
  parse_budget_flag("0.03", g);
  EXPECT_DOUBLE_EQ(g.accuracy_budget.min_sqnr_db, 20);
  parse_budget_flag("off", g);
  EXPECT_EQ(g.budget_mode, BuildOptions::BudgetMode::kOff);
  for (const char* bad : {"", "x", "0.1:y", "0.1:20:0.5:1", "0.1:20:3"}) {
    BuildOptions h;
    EXPECT_THROW(parse_budget_flag(bad, h), Error) << bad;
  }
}

TEST(AccuracyBudget, Pow2PipelinesDefaultToTheirOwnDropUnlessTheJobSetsOne) {
  auto pipeline = [](const std::string& scheme) {
    return std::vector<PassSpec>{PassSpec("infer_shapes"), PassSpec("quantize_int8", {{"scheme", scheme}})};
  };
  auto drop_of = [](const std::vector<PassSpec>& p) { return std::stod(p[1].options.at("max_accuracy_drop")); };
  const auto dflt = parse_build_options(nlohmann::json::object());
  auto pow2 = pipeline("pow2"), u8s8 = pipeline("u8s8");
  set_quantize_options(pow2, dflt, true);
  set_quantize_options(u8s8, dflt, true);
  EXPECT_DOUBLE_EQ(drop_of(pow2), kPow2DefaultMaxAccuracyDrop);
  EXPECT_DOUBLE_EQ(drop_of(u8s8), AccuracyBudget{}.max_accuracy_drop);
  EXPECT_EQ(pow2[1].options.at("min_sqnr_db"), "20");
  // A drop the job sets holds for every scheme, even the default's own value.
  for (const char* job : {R"({"accuracy_budget": {"max_accuracy_drop": 0.01}})", R"({"accuracy_budget": {"max_accuracy_drop": 0.005}})"}) {
    const auto o = parse_build_options(nlohmann::json::parse(job));
    auto p = pipeline("pow2");
    set_quantize_options(p, o, true);
    EXPECT_DOUBLE_EQ(drop_of(p), o.accuracy_budget.max_accuracy_drop) << job;
  }
  BuildOptions flag;
  parse_budget_flag("0.01", flag);
  auto p = pipeline("pow2");
  set_quantize_options(p, flag, true);
  EXPECT_DOUBLE_EQ(drop_of(p), 0.01);
  // Without a budget no budget options reach the pass.
  auto off = pipeline("pow2");
  set_quantize_options(off, dflt, false);
  EXPECT_EQ(off[1].options.count("max_accuracy_drop"), 0u);
  EXPECT_EQ(off[1].options.at("method"), "percentile");
}

}  // namespace
}  // namespace aifgen

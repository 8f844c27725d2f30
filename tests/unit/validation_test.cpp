// Variant validation: an exact rewrite validates, a broken one fails, an unrunnable one is
// skipped with the reason; class-score outputs get top-k agreement.
#include "core/validation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

#include "core/base/error.h"
#include "core/engine/random_inputs.h"
#include "core/quantize/mixed_precision.h"
#include "core/passes/pass_manager.h"
#include "service/build_options.h"
#include "core/tensor_util.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

TEST(Validation, BatchNormFoldingValidates) {
  auto source = testing::conv_bn_relu_model(true);
  auto variant = source;
  run_pipeline(variant, {"eliminate_identity", "fold_batchnorm", "eliminate_dead_nodes"});
  auto r = validate_variant(source, variant, {});
  EXPECT_EQ(r.status, ValidationStatus::kValidated) << r.reason;
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_GT(r.outputs[0].sqnr_db, 100.0);
  EXPECT_LT(r.outputs[0].max_abs_err, 1e-5);
  EXPECT_FALSE(r.outputs[0].top1_agreement.has_value());  // 4-D output, not class scores
}

TEST(Validation, WrongWeightsFail) {
  auto source = testing::conv_bn_relu_model();
  auto variant = source;
  auto& w = *variant.mutable_graph()->mutable_initializer(0);
  auto values = read_floats(w);
  for (auto& v : values) v = -v;  // a "variant" that computes something else
  write_floats(w, values);
  auto r = validate_variant(source, variant, {});
  EXPECT_EQ(r.status, ValidationStatus::kFailed);
  EXPECT_LT(r.outputs[0].sqnr_db, 30.0);
}

TEST(Validation, SmallErrorsDegrade) {
  auto source = testing::conv_bn_relu_model();
  auto variant = source;
  auto& w = *variant.mutable_graph()->mutable_initializer(0);
  auto values = read_floats(w);
  for (auto& v : values) v *= 1.001f;  // ~60 dB below the signal: between the two thresholds
  write_floats(w, values);
  ValidationThresholds t;
  t.validated_sqnr_db = 80;
  auto r = validate_variant(source, variant, t);
  EXPECT_EQ(r.status, ValidationStatus::kDegraded);
  EXPECT_GT(r.outputs[0].sqnr_db, 30.0);
  EXPECT_LT(r.outputs[0].sqnr_db, 80.0);
  EXPECT_NE(r.reason.find("below 80"), std::string::npos) << r.reason;
}

TEST(Validation, ClassScoresGetTopKAgreement) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"4", "16"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {"4", "10"});
  *g->add_initializer() = testing::random_tensor("W", {16, 10}, 3);
  *g->add_node() = testing::node("MatMul", {"x", "W"}, {"y"});
  auto r = validate_variant(m, m, {});
  ASSERT_TRUE(r.outputs[0].top1_agreement.has_value());
  EXPECT_EQ(*r.outputs[0].top1_agreement, 1.0);
  EXPECT_EQ(*r.outputs[0].top5_agreement, 1.0);
  EXPECT_EQ(r.outputs[0].sqnr_db, 200.0);
}

// y = x * k: k = 1 is the source; the variant's k is what an fp16 overflow or a broken kernel
// would leave (infinity, NaN).
onnx::ModelProto scale_model(float k, const std::vector<std::string>& dims = {"1", "10"}) {
  auto m = testing::empty_model("scale");
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, dims);
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, dims);
  *g->add_initializer() = testing::float_tensor("k", {}, {k});
  *g->add_node() = testing::node("Mul", {"x", "k"}, {"y"});
  return m;
}

TEST(Validation, NonFiniteOutputsFailTheVariantWithTheirCount) {
  for (float k : {INFINITY, NAN}) {
    auto r = validate_variant(scale_model(1.f), scale_model(k), {});
    EXPECT_EQ(r.status, ValidationStatus::kFailed) << k;
    ASSERT_EQ(r.outputs.size(), 1u);
    EXPECT_EQ(r.outputs[0].nonfinite_values, 2 * 10) << k;  // 2 synthetic samples x 10 values
    EXPECT_NE(r.reason.find("20 NaN or infinite value(s)"), std::string::npos) << r.reason;
    EXPECT_EQ(validation_to_json(r)["outputs"][0]["nonfinite_values"], 20);
  }
  // The same infinities in source and variant are agreement, not a failure.
  auto same = validate_variant(scale_model(INFINITY), scale_model(INFINITY), {});
  EXPECT_NE(same.status, ValidationStatus::kFailed) << same.reason;
  EXPECT_EQ(same.outputs[0].nonfinite_values, 0);
}

TEST(Validation, TopKAgreementCopesWithNaNScores) {
  // [N, C] class scores where the variant is NaN everywhere: the ranking must stay well defined
  // (NaN ranks last) and the variant fails on its non-finite values.
  auto r = validate_variant(scale_model(1.f, {"4", "7"}), scale_model(NAN, {"4", "7"}), {});
  EXPECT_EQ(r.status, ValidationStatus::kFailed);
  ASSERT_TRUE(r.outputs[0].top1_agreement.has_value());
  EXPECT_GE(*r.outputs[0].top1_agreement, 0.0);
  EXPECT_LE(*r.outputs[0].top1_agreement, 1.0);
}

TEST(Validation, ModelsTheEngineCannotRunAreSkippedWithTheReason) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"4"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {"4"});
  *g->add_node() = testing::node("Hardmax", {"x"}, {"y"});
  auto r = validate_variant(m, m, {});
  EXPECT_EQ(r.status, ValidationStatus::kSkipped);
  EXPECT_NE(r.reason.find("Hardmax"), std::string::npos);
}

TEST(Validation, OutputsItCannotCompareElementByElementAreRefusedSayingWhy) {
  OutputComparison compare({"boxes", "labels"});
  auto f32 = [](engine::Shape s) { return engine::Tensor::allocate(engine::DType::kF32, std::move(s)); };
  auto i64 = [](engine::Shape s) { return engine::Tensor::allocate(engine::DType::kI64, std::move(s)); };
  // A detector's boxes: 300 rows from the source, 295 from the variant.
  try {
    compare.add({f32({300, 4}), f32({300})}, {f32({295, 4}), f32({300})});
    ADD_FAILURE() << "compared";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "validation-unsupported");
    EXPECT_NE(std::string(e.what()).find("boxes"), std::string::npos) << e.what();
  }
  // Integer labels.
  try {
    compare.add({f32({3, 4}), i64({3})}, {f32({3, 4}), i64({3})});
    ADD_FAILURE() << "compared";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "validation-unsupported");
    EXPECT_NE(std::string(e.what()).find("labels"), std::string::npos) << e.what();
  }
  // Types that differ between source and variant remain a bug in the pipeline.
  try {
    compare.add({f32({3, 4}), f32({3})}, {f32({3, 4}), i64({3})});
    ADD_FAILURE() << "compared";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "validation-mismatch");
  }
}

// A detector's last steps on given boxes [1, 64, 4] and scores for two classes [1, 2, 64]:
// NonMaxSuppression (at most `per_class` per class, IoU 0.5, scores above 0) and the kept rows'
// boxes [k, 4], scores [k] and labels [k]. `reversed` lists the rows last to first; `shift`
// moves every box (a variant that is wrong).
onnx::ModelProto detector_model(std::int64_t per_class, bool reversed = false, float shift = 0) {
  using testing::node;
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("in_boxes", onnx::TensorProto::FLOAT, {"1", "64", "4"});
  *g->add_input() = testing::tensor_value("in_scores", onnx::TensorProto::FLOAT, {"1", "2", "64"});
  *g->add_initializer() = testing::int64_tensor("limit", {per_class});
  *g->add_initializer() = testing::float_tensor("iou", {1}, {0.5f});
  *g->add_initializer() = testing::float_tensor("threshold", {1}, {0.f});
  *g->add_initializer() = testing::int64_tensor("column_class", {1});
  *g->add_initializer() = testing::int64_tensor("column_box", {2});
  *g->add_initializer() = testing::int64_tensor("flat", {-1});
  *g->add_initializer() = testing::int64_tensor("box_rows", {64, 4});
  *g->add_initializer() = testing::int64_tensor("boxes_per_class", {64});
  *g->add_node() = node("NonMaxSuppression", {"in_boxes", "in_scores", "limit", "iou", "threshold"}, {"selected"});
  std::string rows = "selected";
  if (reversed) {
    *g->add_initializer() = testing::int64_tensor("last", {-1});
    *g->add_initializer() = testing::int64_tensor("before_first", {std::numeric_limits<std::int64_t>::min()});
    *g->add_initializer() = testing::int64_tensor("axis0", {0});
    *g->add_node() = node("Slice", {"selected", "last", "before_first", "axis0", "last"}, {"reversed"});
    rows = "reversed";
  }
  auto column = [&](const std::string& index, const std::string& out) {
    auto gather = node("Gather", {rows, index}, {out + "_2d"});
    testing::add_int_attr(gather, "axis", 1);
    *g->add_node() = gather;
    *g->add_node() = node("Reshape", {out + "_2d", "flat"}, {out});
  };
  column("column_class", "labels");
  column("column_box", "box_index");
  *g->add_node() = node("Reshape", {"in_boxes", "box_rows"}, {"all_boxes"});
  *g->add_node() = node("Gather", {"all_boxes", "box_index"}, {shift != 0 ? "unshifted" : "boxes"});
  if (shift != 0) {
    *g->add_initializer() = testing::float_tensor("shift", {1}, {shift});
    *g->add_node() = node("Add", {"unshifted", "shift"}, {"boxes"});
  }
  // The score of (class, box) in the flattened [2 * 64] scores.
  *g->add_node() = node("Mul", {"labels", "boxes_per_class"}, {"class_offset"});
  *g->add_node() = node("Add", {"class_offset", "box_index"}, {"score_index"});
  *g->add_node() = node("Reshape", {"in_scores", "flat"}, {"all_scores"});
  *g->add_node() = node("Gather", {"all_scores", "score_index"}, {"scores"});
  *g->add_output() = testing::tensor_value("boxes", onnx::TensorProto::FLOAT, {"k", "4"});
  *g->add_output() = testing::tensor_value("scores", onnx::TensorProto::FLOAT, {"k"});
  *g->add_output() = testing::tensor_value("labels", onnx::TensorProto::INT64, {"k"});
  return m;
}

TEST(Validation, ADetectorsRowsArePairedBeforeTheyAreCompared) {
  // The same detections listed in another order: element by element they differ, paired they
  // are equal.
  auto r = validate_variant(detector_model(20), detector_model(20, /*reversed=*/true), {});
  ASSERT_EQ(r.status, ValidationStatus::kValidated) << r.reason;
  ASSERT_EQ(r.outputs.size(), 3u);
  for (const auto& o : r.outputs) {
    SCOPED_TRACE(o.name);
    EXPECT_EQ(o.agreement, "matched-detections");
    ASSERT_TRUE(o.detections.has_value());
    EXPECT_GT(o.detections->source, 4);  // two samples
    EXPECT_EQ(o.detections->variant, o.detections->source);
    EXPECT_EQ(o.detections->matched, o.detections->source);
    EXPECT_EQ(o.top1_agreement, 1.0);
    EXPECT_FALSE(o.top5_agreement.has_value());
    EXPECT_EQ(o.max_abs_err, 0.0);
  }
  auto json = validation_to_json(r);
  EXPECT_EQ(json["outputs"][0]["detections"]["matched"], r.outputs[0].detections->matched);
  EXPECT_EQ(json["outputs"][0]["agreement"], "matched-detections");
}

TEST(Validation, ADetectorWhoseBoxesMovedFailsOnTheDetectionsThatNoLongerPair) {
  auto r = validate_variant(detector_model(20), detector_model(20, false, /*shift=*/5.f), {});
  EXPECT_EQ(r.status, ValidationStatus::kFailed);
  EXPECT_NE(r.reason.find("of the detections pair"), std::string::npos) << r.reason;
  ASSERT_EQ(r.outputs.size(), 3u);
  EXPECT_EQ(r.outputs[0].top1_agreement, 0.0);
  EXPECT_EQ(accuracy_drop(r.outputs[0]), 1.0);
}

TEST(Validation, TheShareOfPairedDetectionsDecidesBetweenValidatedDegradedAndFailed) {
  // The variant keeps one detection fewer per class: every detection it keeps pairs, and the
  // share paired is what it kept over what the source kept.
  const auto source = detector_model(6), variant = detector_model(5);
  auto first = validate_variant(source, variant, {});
  ASSERT_TRUE(first.outputs[0].detections.has_value());
  const auto d = *first.outputs[0].detections;
  EXPECT_LT(d.variant, d.source);
  EXPECT_EQ(d.matched, d.variant);
  const double share = static_cast<double>(d.matched) / static_cast<double>(d.source);
  EXPECT_DOUBLE_EQ(*first.outputs[0].top1_agreement, share);
  auto with = [&](double validated, double degraded) {
    ValidationThresholds t;
    t.validated_detection_agreement = validated;
    t.degraded_detection_agreement = degraded;
    return validate_variant(source, variant, t).status;
  };
  EXPECT_EQ(with(share - 0.01, share - 0.02), ValidationStatus::kValidated);
  EXPECT_EQ(with(share + 0.01, share - 0.01), ValidationStatus::kDegraded);
  {
    ValidationThresholds t;
    t.validated_detection_agreement = share + 0.01;
    t.degraded_detection_agreement = share - 0.01;
    const auto degraded = validate_variant(source, variant, t);
    EXPECT_NE(degraded.reason.find("of the detections pair with the source's"), std::string::npos) << degraded.reason;
  }
  EXPECT_EQ(with(share + 0.02, share + 0.01), ValidationStatus::kFailed);
}

TEST(Validation, PairedDetectionsAreComparedRowByRowWhateverTheirOrder) {
  // Four source detections; the variant lists three of them in another order (one box off by
  // 0.25), drops the fourth and adds one of its own. Each has a mask, and the unpaired rows'
  // masks differ wildly: they must not count.
  OutputComparison compare({"boxes", "labels", "scores", "masks"}, {true, true, true, true});
  auto f32 = [](engine::Shape shape, std::vector<float> values) {
    auto t = engine::Tensor::allocate(engine::DType::kF32, std::move(shape));
    std::copy(values.begin(), values.end(), t.as<float>());
    return t;
  };
  auto i64 = [](std::vector<std::int64_t> values) {
    auto t = engine::Tensor::allocate(engine::DType::kI64, {static_cast<std::int64_t>(values.size())});
    std::copy(values.begin(), values.end(), t.as<std::int64_t>());
    return t;
  };
  const std::vector<engine::Tensor> source{
      f32({4, 4}, {0, 0, 10, 10, 20, 20, 30, 30, 40, 0, 50, 10, 60, 60, 70, 70}), i64({1, 2, 1, 3}), f32({4}, {0.9f, 0.8f, 0.7f, 0.6f}),
      f32({4, 1, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8})};
  const std::vector<engine::Tensor> variant{
      f32({4, 4}, {40, 0, 50, 10, 100, 100, 110, 110, 0, 0, 10.25f, 10, 20, 20, 30, 30}), i64({1, 2, 1, 2}),
      f32({4}, {0.7f, 0.65f, 0.9f, 0.8f}), f32({4, 1, 1, 2}, {5, 6, -100, 100, 1, 2, 3, 4})};
  compare.add(source, variant);
  const auto m = compare.metrics();
  ASSERT_EQ(m.size(), 4u);
  for (const auto& o : m) {
    SCOPED_TRACE(o.name);
    ASSERT_TRUE(o.detections.has_value());
    EXPECT_EQ(o.detections->source, 4);
    EXPECT_EQ(o.detections->variant, 4);
    EXPECT_EQ(o.detections->matched, 3);
    EXPECT_DOUBLE_EQ(*o.top1_agreement, 0.75);
  }
  EXPECT_DOUBLE_EQ(m[0].max_abs_err, 0.25);  // the one box off, over 12 paired coordinates
  EXPECT_DOUBLE_EQ(m[0].mean_abs_err, 0.25 / 12);
  EXPECT_EQ(m[1].max_abs_err, 0.0);  // labels pair only with their own
  EXPECT_EQ(m[2].max_abs_err, 0.0);
  EXPECT_EQ(m[3].max_abs_err, 0.0);
  EXPECT_EQ(m[3].sqnr_db, 200.0);
}

TEST(Validation, JobsSetTheDetectionSharesBesideTheSqnrOrKeepThePrecisionsDefaults) {
  auto o = parse_build_options(nlohmann::json::parse(R"({"validation_thresholds": {
      "int8": {"validated_sqnr_db": 20, "degraded_sqnr_db": 10},
      "fp16": {"validated_sqnr_db": 30, "degraded_sqnr_db": 20, "validated_detection_agreement": 0.99, "degraded_detection_agreement": 0.5}}})"));
  const auto int8 = thresholds_for(o, "int8"), fp16 = thresholds_for(o, "fp16");
  EXPECT_EQ(int8.validated_sqnr_db, 20);
  EXPECT_EQ(int8.validated_detection_agreement, default_thresholds("int8").validated_detection_agreement);
  EXPECT_EQ(int8.degraded_detection_agreement, default_thresholds("int8").degraded_detection_agreement);
  EXPECT_EQ(fp16.validated_detection_agreement, 0.99);
  EXPECT_EQ(fp16.degraded_detection_agreement, 0.5);
  for (const char* bad : {R"({"int8": {"validated_sqnr_db": 20, "degraded_sqnr_db": 10, "validated_detection_agreement": 0.9}})",
                          R"({"int8": {"validated_sqnr_db": 20, "degraded_sqnr_db": 10, "validated_detection_agreement": 0.5, "degraded_detection_agreement": 0.9}})",
                          R"({"int8": {"validated_sqnr_db": 20, "degraded_sqnr_db": 10, "validated_detection_agreement": 1.5, "degraded_detection_agreement": 0.9}})",
                          R"({"int8": {"validated_sqnr_db": 20, "degraded_sqnr_db": 10, "validated_detection_agreement": "high", "degraded_detection_agreement": 0.9}})"}) {
    try {
      parse_build_options({{"validation_thresholds", nlohmann::json::parse(bad)}});
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.type(), "invalid-field") << bad;
    }
  }
}

TEST(Validation, TheAccuracyBudgetJudgesADetectorByItsPairedDetections) {
  // The int8 accuracy-budget search compares candidates through the same pairing: a detector's
  // int64 labels and value-shaped rows are not refused there either.
  const auto source = detector_model(20);
  std::vector<Sample> samples;
  {
    engine::Session session(source, {});
    for (std::uint32_t s = 0; s < 2; ++s) samples.push_back(engine::random_inputs(session.inputs(), 7u + s));
  }
  const quantize::HeldOutProbe probe(source, samples, AccuracyBudget{0.05, 20});
  const auto same = probe.measure(detector_model(20, /*reversed=*/true));
  ASSERT_EQ(same.size(), 3u);
  ASSERT_TRUE(same[2].detections.has_value());
  EXPECT_GT(same[2].detections->source, 4);
  EXPECT_EQ(same[2].detections->matched, same[2].detections->source);
  EXPECT_TRUE(check_budget(same, probe.budget()).met);
  EXPECT_FALSE(probe.judge(detector_model(20, false, /*shift=*/5.f)).met);
}

}  // namespace
}  // namespace aifgen

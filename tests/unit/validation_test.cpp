// Variant validation: an exact rewrite validates, a broken one fails, an unrunnable one is
// skipped with the reason; class-score outputs get top-k agreement.
#include "core/validation.h"

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/passes/pass_manager.h"
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

}  // namespace
}  // namespace aifgen

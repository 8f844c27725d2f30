// FP16 and INT8 variants of every model in ../shared/models: fp16 cosine >= 0.999 against FP32
// (by emulation), INT8 u8s8 / percentile / 32 calibration samples valid and close to FP32, pow2
// scales exact powers of two, s8s8-symmetric zero points all 0. The OCR det/rec models calibrate
// on the rendered-text sets in ../shared/calibration (held-out samples validate); the others on
// synthetic inputs. Figures are printed for the issue notes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <optional>

#include "core/calibration/calibration_set.h"
#include "core/engine/tensor.h"
#include "core/onnx_model.h"
#include "core/passes/pass_manager.h"
#include "core/validation.h"

namespace aifgen {
namespace {

struct Case {
  const char* model;
  const char* calibration;  // in ../shared/calibration, or nullptr
};

const Case kCases[] = {
    {"mobilenet_v2.onnx", nullptr},
    {"transformer_encoder.onnx", nullptr},
    {"ch_PP-OCRv4_det_infer.onnx", "det_x.npy"},
    {"ch_PP-OCRv4_rec_infer.onnx", "rec_x.npy"},
    {"ch_ppocr_mobile_v2.0_cls_infer.onnx", nullptr},
};

const std::vector<PassSpec> kFp32 = {"infer_shapes", "eliminate_identity", "fold_constants", "fold_batchnorm",
                                     "fuse_matmul_add", "eliminate_dead_nodes", "infer_shapes"};

class SharedModelVariants : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    source_ = load_model_file(std::string(AIFGEN_SHARED_DIR) + "/models/" + GetParam().model);
    if (GetParam().calibration)
      calibration_ = read_calibration_files({std::string(AIFGEN_SHARED_DIR) + "/calibration/" + GetParam().calibration});
    if (calibration_) {
      auto split = split_samples(source_, &*calibration_, 32);
      inputs_.samples = split.validate;
      inputs_.description = "held-out";
    }
  }

  onnx::ModelProto build(std::vector<PassSpec> tail) {
    auto m = source_;
    auto pipeline = kFp32;
    pipeline.insert(pipeline.end(), tail.begin(), tail.end());
    PassEnv env;
    env.calibration = calibration_ ? &*calibration_ : nullptr;
    run_pipeline(m, pipeline, env);  // ends with the ONNX checker
    return m;
  }

  onnx::ModelProto source_;
  std::optional<CalibrationSet> calibration_;
  ValidationInputs inputs_;
};

void print(const char* what, const char* model, const ValidationResult& r) {
  for (const auto& o : r.outputs)
    std::printf("[figures] %-36s %-22s %-10s SQNR %6.1f dB  cosine %.5f  top1 %s\n", model, what, validation_status_name(r.status), o.sqnr_db,
                o.cosine, o.top1_agreement ? std::to_string(*o.top1_agreement).c_str() : "-");
}

TEST_P(SharedModelVariants, Fp16CosineAtLeast0999) {
  auto m = build({"convert_fp16", "infer_shapes"});
  auto r = validate_variant(source_, m, default_thresholds("fp16"), inputs_);
  print("fp16", GetParam().model, r);
  ASSERT_FALSE(r.outputs.empty()) << r.reason;
  for (const auto& o : r.outputs) EXPECT_GE(o.cosine, 0.999) << o.name;
  EXPECT_EQ(r.status, ValidationStatus::kValidated);
}

TEST_P(SharedModelVariants, Int8U8S8PercentileIsCloseToFp32) {
  auto m = build({PassSpec("quantize_int8", {{"scheme", "u8s8"}, {"method", "percentile"}, {"samples", "32"}}), "infer_shapes"});
  auto r = validate_variant(source_, m, default_thresholds("int8"), inputs_);
  print("int8 u8s8 percentile", GetParam().model, r);
  ASSERT_FALSE(r.outputs.empty()) << r.reason;
  EXPECT_NE(r.status, ValidationStatus::kFailed) << r.reason;
  for (const auto& o : r.outputs) EXPECT_GE(o.cosine, 0.9) << o.name;
}

TEST_P(SharedModelVariants, Pow2ScalesAndS8S8ZeroPoints) {
  auto pow2 = build({PassSpec("quantize_int8", {{"scheme", "pow2"}, {"samples", "4"}})});
  auto s8s8 = build({PassSpec("quantize_int8", {{"scheme", "s8s8-symmetric"}, {"samples", "4"}})});
  auto initializer = [](const onnx::ModelProto& m, const std::string& name) -> const onnx::TensorProto& {
    for (const auto& t : m.graph().initializer())
      if (t.name() == name) return t;
    throw std::runtime_error("no initializer " + name);
  };
  int scales = 0, zero_points = 0;
  for (const auto& n : pow2.graph().node()) {
    if (n.op_type() != "QuantizeLinear" && n.op_type() != "DequantizeLinear") continue;
    auto s = engine::tensor_from_proto(initializer(pow2, n.input(1)));
    for (std::int64_t i = 0; i < s.numel(); ++i, ++scales) {
      int e = 0;
      ASSERT_EQ(std::frexp(s.as<float>()[i], &e), 0.5f) << n.name();
    }
  }
  for (const auto& n : s8s8.graph().node()) {
    if (n.op_type() != "QuantizeLinear" && n.op_type() != "DequantizeLinear") continue;
    auto z = engine::tensor_from_proto(initializer(s8s8, n.input(2)));
    ASSERT_EQ(z.dtype, engine::DType::kI8);
    for (std::int64_t i = 0; i < z.numel(); ++i, ++zero_points) ASSERT_EQ(z.as<std::int8_t>()[i], 0) << n.name();
  }
  EXPECT_GT(scales, 0);
  EXPECT_GT(zero_points, 0);
}

INSTANTIATE_TEST_SUITE_P(Models, SharedModelVariants, ::testing::ValuesIn(kCases), [](const auto& info) {
  std::string n = info.param.model;
  n = n.substr(0, n.find('.'));
  for (auto& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
});

}  // namespace
}  // namespace aifgen

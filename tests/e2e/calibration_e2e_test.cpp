// INT8 over HTTP: calibration uploads checked against the model at upload, jobs calibrated on
// an uploaded set or explicitly on synthetic inputs, job options checked at submission, and
// validation thresholds that decide a variant's fate.
#include <filesystem>

#include "core/engine/npy.h"
#include "tests/e2e/fixture.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class CalibrationE2E : public ServerTest {
 protected:
  std::string npy(engine::Shape shape, std::uint32_t seed = 1) {
    auto t = engine::Tensor::allocate(engine::DType::kF32, std::move(shape));
    std::uint32_t s = seed;
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      s = s * 1664525u + 1013904223u;
      t.as<float>()[i] = static_cast<float>(s >> 8) / static_cast<float>(1 << 24) - 0.5f;
    }
    auto path = (std::filesystem::temp_directory_path() / ("aifgen-e2e-" + std::to_string(::getpid()) + ".npy")).string();
    engine::write_npy(path, t);
    auto bytes = read_file(path);
    std::filesystem::remove(path);
    return bytes;
  }
  Response post_calibration(const std::string& model_id, const std::string& bytes, const std::string& name = "x.npy") {
    return http().request("POST", "/v1/models/" + model_id + "/calibration?name=" + name, bytes, "application/octet-stream");
  }
  std::string upload_model() {
    return http().upload(testing::serialize(testing::conv_bn_relu_model()), "convbn").json()["id"].get<std::string>();
  }
  nlohmann::json run_int8(const std::string& model_id, const nlohmann::json& options) {
    auto r = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}, {"precisions", {"int8"}}, {"options", options}});
    EXPECT_EQ(r.status, 202) << r.body;
    return wait_finished(r.json()["id"].get<std::string>());
  }
};

TEST_F(CalibrationE2E, UploadedSetCalibratesAndValidatesTheInt8Variant) {
  const auto model_id = upload_model();
  auto up = post_calibration(model_id, npy({16, 3, 8, 8}));
  ASSERT_EQ(up.status, 201) << up.body;
  const auto cal = up.json();
  EXPECT_EQ(cal["samples"], 16);
  EXPECT_EQ(cal["inputs"][0]["name"], "x");
  EXPECT_EQ(cal["inputs"][0]["shape"], nlohmann::json({16, 3, 8, 8}));
  EXPECT_EQ(up.header("location"), "/v1/models/" + model_id + "/calibration/" + cal["id"].get<std::string>());
  auto listed = http().get("/v1/models/" + model_id + "/calibration").json()["items"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["id"], cal["id"]);

  auto job = run_int8(model_id, {{"calibration_id", cal["id"]}, {"calibration_method", "minmax"}});
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  auto v = job["variants"][0];
  EXPECT_TRUE(v["validation"] == "validated" || v["validation"] == "degraded") << v.dump();
  auto report = http().get("/v1/variants/" + v["id"].get<std::string>()).json()["report"];
  EXPECT_EQ(report["quantization"]["scheme"], "u8s8");
  EXPECT_EQ(report["quantization"]["method"], "minmax");
  EXPECT_EQ(report["quantization"]["calibration"]["synthetic"], false);
  EXPECT_NE(report["quantization"]["calibration"]["source"].get<std::string>().find("x.npy"), std::string::npos);
  EXPECT_EQ(report["quantization"]["calibration"]["samples"], 12);  // 16 uploaded, a quarter held out
  EXPECT_FALSE(report["quantization"].contains("warning"));
  EXPECT_NE(report["validation"]["inputs"].get<std::string>().find("held-out"), std::string::npos);
  EXPECT_EQ(report["validation"]["samples"], 4);
  // An uploaded set turns the default accuracy budget on: its verdict and the per-node
  // sensitivity table come back with the variant.
  const auto& accuracy = report["quantization"]["accuracy"];
  EXPECT_EQ(accuracy["budget"]["max_accuracy_drop"], 0.01) << accuracy.dump();
  EXPECT_EQ(accuracy["held_out_samples"], 4);
  EXPECT_TRUE(accuracy["met"].get<bool>()) << accuracy.dump();
  const auto& nodes = report["quantization"]["sensitivity"]["nodes"];
  ASSERT_FALSE(nodes.empty());
  EXPECT_EQ(nodes[0]["rank"], 1);
  EXPECT_FALSE(nodes[0]["node"].get<std::string>().empty());
}

TEST_F(CalibrationE2E, SyntheticCalibrationSaysSoInTheReport) {
  const auto model_id = upload_model();
  ASSERT_EQ(post_calibration(model_id, npy({8, 3, 8, 8})).status, 201);
  auto job = run_int8(model_id, {{"synthetic_calibration", true}});
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  auto report = http().get("/v1/variants/" + job["variants"][0]["id"].get<std::string>()).json()["report"];
  EXPECT_EQ(report["quantization"]["calibration"]["synthetic"], true);
  EXPECT_NE(report["quantization"]["warning"].get<std::string>().find("**Calibrated on synthetic inputs"), std::string::npos);
}

TEST_F(CalibrationE2E, BadUploadsAreRefusedWithoutStoringAnything) {
  const auto model_id = upload_model();
  auto wrong_dims = post_calibration(model_id, npy({4, 3, 9, 9}));
  EXPECT_EQ(wrong_dims.status, 422);
  EXPECT_EQ(wrong_dims.problem_type(), "calibration-mismatch");
  auto garbage = post_calibration(model_id, "definitely not numpy");
  EXPECT_EQ(garbage.status, 400);
  EXPECT_EQ(garbage.problem_type(), "calibration-invalid");
  EXPECT_EQ(post_calibration(model_id, "").problem_type(), "empty-body");
  EXPECT_EQ(post_calibration(model_id, npy({4, 3, 8, 8}), "..").problem_type(), "invalid-name");
  auto no_model = post_calibration(std::string(64, 'a'), npy({4, 3, 8, 8}));
  EXPECT_EQ(no_model.status, 404);
  EXPECT_TRUE(http().get("/v1/models/" + model_id + "/calibration").json()["items"].empty());
}

TEST_F(CalibrationE2E, JobOptionsAreCheckedAtSubmission) {
  const auto model_id = upload_model();
  auto submit = [&](const nlohmann::json& options) {
    return http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}, {"options", options}});
  };
  auto unknown = submit({{"calibration", "x"}});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.problem_type(), "unknown-field");
  EXPECT_EQ(submit({{"calibration_method", "kl"}}).problem_type(), "invalid-field");
  EXPECT_EQ(submit({{"percentile", 20}}).problem_type(), "invalid-field");
  EXPECT_EQ(submit({{"validation_thresholds", {{"int8", {{"validated_sqnr_db", 5}, {"degraded_sqnr_db", 10}}}}}}).problem_type(),
            "invalid-field");
  auto missing = submit({{"calibration_id", "cal_nope"}});
  EXPECT_EQ(missing.status, 422);
  EXPECT_EQ(missing.problem_type(), "calibration-not-found");
}

TEST_F(CalibrationE2E, ThresholdsDecideTheVariantsFate) {
  const auto model_id = upload_model();
  // No int8 variant reaches 250 dB: with these thresholds validation fails the variant.
  auto job = run_int8(model_id, {{"validation_thresholds", {{"int8", {{"validated_sqnr_db", 260}, {"degraded_sqnr_db", 250}}}}}});
  EXPECT_EQ(job["state"], "failed");
  auto v = job["variants"][0];
  EXPECT_EQ(v["state"], "failed");
  EXPECT_NE(v["error"].get<std::string>().find("validation failed"), std::string::npos) << v.dump();
  // Between the two: kept and flagged.
  auto degraded = run_int8(model_id, {{"validation_thresholds", {{"int8", {{"validated_sqnr_db", 260}, {"degraded_sqnr_db", 0}}}}}});
  ASSERT_EQ(degraded["state"], "succeeded") << degraded.dump();
  EXPECT_EQ(degraded["variants"][0]["validation"], "degraded");
}

}  // namespace
}  // namespace aifgen::e2e

// Upload (raw and multipart), dedupe, the model record, list, get, delete — over real HTTP.
#include <filesystem>

#include "core/base/sha256.h"
#include "tests/e2e/fixture.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class ModelsE2E : public ServerTest {};

std::size_t blob_count(const std::string& data_dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(data_dir + "/blobs")) n += e.is_regular_file();
  return n;
}

TEST_F(ModelsE2E, RawUploadReturnsTheRecordAndDedupes) {
  auto bytes = shared_model("mobilenet_v2");
  auto r = http().upload(bytes, "mobilenet v2");
  ASSERT_EQ(r.status, 201) << r.body;
  auto m = r.json();
  EXPECT_EQ(m["id"], Sha256::of(bytes));
  EXPECT_EQ(r.header("location"), "/v1/models/" + m["id"].get<std::string>());
  EXPECT_EQ(m["name"], "mobilenet v2");
  EXPECT_EQ(m["size_bytes"], bytes.size());
  EXPECT_EQ(m["ir_version"], 7);
  EXPECT_EQ(m["opset_imports"]["ai.onnx"], 13);
  EXPECT_EQ(m["producer"]["name"], "pytorch");
  EXPECT_EQ(m["inputs"][0]["name"], "input");
  EXPECT_EQ(m["inputs"][0]["shape"], nlohmann::json({1, 3, 224, 224}));
  EXPECT_EQ(m["outputs"][0]["shape"], nlohmann::json({1, 1000}));
  EXPECT_EQ(m["op_census"]["Conv"], 52);
  EXPECT_EQ(m["op_census"]["Gemm"], 1);
  EXPECT_GT(m["parameter_count"].get<long>(), 3'400'000);
  EXPECT_GT(m["macs"].get<long>(), 290'000'000);

  auto again = http().upload(bytes, "another name");
  EXPECT_EQ(again.status, 200);
  EXPECT_EQ(again.json()["id"], m["id"]);
  EXPECT_EQ(again.json()["name"], "mobilenet v2");  // the first record, unchanged
  EXPECT_EQ(blob_count(data_dir()), 1u);
}

TEST_F(ModelsE2E, MultipartUploadKeepsSymbolicDims) {
  auto bytes = shared_model("ch_ppocr_mobile_v2.0_cls_infer");
  auto r = http().upload_multipart(bytes, "ocr-cls");
  ASSERT_EQ(r.status, 201) << r.body;
  auto m = r.json();
  EXPECT_EQ(m["name"], "ocr-cls");
  EXPECT_EQ(m["id"], Sha256::of(bytes));
  auto shape = m["inputs"][0]["shape"];
  ASSERT_EQ(shape.size(), 4u);
  EXPECT_TRUE(shape[0].is_string());
  EXPECT_EQ(shape[1], 3);
  EXPECT_GT(m["macs_unknown_nodes"].get<int>(), 0);  // spatial dims unknown at upload
}

TEST_F(ModelsE2E, GetListAndDelete) {
  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  auto id = http().upload(bytes, "tiny").json()["id"].get<std::string>();
  EXPECT_EQ(http().get("/v1/models/" + id).json()["name"], "tiny");
  auto list = http().get("/v1/models?limit=10");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.json()["items"].size(), 1u);
  EXPECT_EQ(list.json()["items"][0]["id"], id);
  EXPECT_EQ(http().request("DELETE", "/v1/models/" + id).status, 204);
  EXPECT_EQ(http().get("/v1/models/" + id).status, 404);
  EXPECT_EQ(blob_count(data_dir()), 0u);
  EXPECT_EQ(http().request("DELETE", "/v1/models/" + id).status, 404);
}

TEST_F(ModelsE2E, OperationsEndpoints) {
  EXPECT_EQ(http().get("/healthz").status, 200);
  auto ready = http().get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.json()["status"], "ready");
  auto targets = http().get("/v1/targets").json()["items"];
  ASSERT_FALSE(targets.empty());
  EXPECT_EQ(targets[0]["id"], "x86_64-cpu");
  EXPECT_EQ(targets[0]["precisions"], nlohmann::json({"fp32", "int8"}));
  http().get("/v1/models/does-not-exist");
  auto metrics = http().get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  // The readiness probe of the test harness also hit /healthz, so only its presence is fixed.
  EXPECT_NE(metrics.body.find("aifgen_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} "),
            std::string::npos);
  EXPECT_NE(metrics.body.find("route=\"/v1/models/{id}\",status=\"404\"} 1"), std::string::npos);
  EXPECT_NE(metrics.body.find("aifgen_http_request_duration_seconds_bucket{method=\"GET\",route=\"/readyz\",le=\"+Inf\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("aifgen_jobs{state=\"queued\"} 0"), std::string::npos);
  EXPECT_NE(metrics.body.find("aifgen_queue_depth 0"), std::string::npos);
}

}  // namespace
}  // namespace aifgen::e2e

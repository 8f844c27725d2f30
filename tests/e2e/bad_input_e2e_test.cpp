// Malformed uploads and requests: each gets its status and problem type, and the service keeps
// serving afterwards.

#include <filesystem>
#include <thread>

#include "tests/e2e/fixture.h"
#include "tests/e2e/stalled_senders.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class BadInputE2E : public ServerTest {
  std::vector<std::string> server_args() const override { return {"--max-upload-mb", "1"}; }

 protected:
  void expect_problem(const Response& r, int status, const std::string& type) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.problem_type(), type) << r.body;
    auto j = r.json();
    EXPECT_EQ(j["status"], status);
    EXPECT_FALSE(j["title"].get<std::string>().empty());
    EXPECT_FALSE(j["detail"].get<std::string>().empty());
  }
  void TearDown() override {
    EXPECT_EQ(http().get("/healthz").status, 200) << "the service must keep serving after bad input";
    EXPECT_TRUE(http().get("/v1/models").json()["items"].empty()) << "bad uploads must not be stored";
    ServerTest::TearDown();
  }
};

TEST_F(BadInputE2E, EmptyBody) { expect_problem(http().upload(""), 400, "empty-body"); }

TEST_F(BadInputE2E, TruncatedProtobuf) {
  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  expect_problem(http().upload(bytes.substr(0, bytes.size() - 40)), 422, "model-parse-failed");
}

// A client that hangs up mid-body (a cancelled browser upload, a dropped link): all but the
// last bytes of a valid model arrive, then the connection closes. Nothing may be stored and the
// partial file must not be left behind.
TEST_F(BadInputE2E, UploadCutOffMidBody) {
  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  int fd = connect_loopback(server_->port());
  ASSERT_GE(fd, 0);
  std::string head = "POST /v1/models HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                     std::to_string(bytes.size()) + "\r\n\r\n" + bytes.substr(0, bytes.size() - 40);
  ASSERT_EQ(::write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  hang_up({fd});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::size_t left = 0;
  if (std::filesystem::exists(data_dir() + "/tmp"))
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(data_dir() + "/tmp")) ++left;
  EXPECT_EQ(left, 0u) << "the partial upload's file is left in " << data_dir() << "/tmp";
}

TEST_F(BadInputE2E, RandomBytes) {
  std::string junk;
  for (int i = 0; i < 5000; ++i) junk.push_back(static_cast<char>((i * 2654435761u) >> 13));
  expect_problem(http().upload(junk), 422, "model-parse-failed");
}

TEST_F(BadInputE2E, ProtobufThatIsNotAModel) {
  onnx::TensorShapeProto_Dimension dim;
  dim.set_dim_value(3);
  dim.set_denotation("DATA_CHANNEL");
  std::string bytes;
  dim.SerializeToString(&bytes);
  expect_problem(http().upload(bytes), 422, "not-an-onnx-model");
}

TEST_F(BadInputE2E, ModelFailingTheChecker) {
  auto m = testing::conv_bn_relu_model();
  m.mutable_graph()->mutable_node(0)->clear_input();  // Conv without inputs
  expect_problem(http().upload(testing::serialize(m)), 422, "model-checker-failed");
}

TEST_F(BadInputE2E, ModelThatCrashedLibonnxShapeInference) {
  // Found by fuzz/run.sh: libonnx 1.12 segfaults inferring this Conv; the service must answer.
  auto bytes = read_file(std::string(AIFGEN_SOURCE_DIR) + "/fuzz/corpus/onnx_model/regression-convpool-rank");
  ASSERT_FALSE(bytes.empty());
  expect_problem(http().upload(bytes), 422, "model-invalid-node");
}

TEST_F(BadInputE2E, ExternalDataReference) {
  auto m = testing::conv_bn_relu_model();
  testing::point_first_weight_at_external_file(m, "/etc/shadow");
  expect_problem(http().upload(testing::serialize(m)), 422, "model-external-data");
}

TEST_F(BadInputE2E, OverLimitUpload) {
  expect_problem(http().upload(std::string(1536 * 1024, 'x')), 413, "upload-too-large");
}

TEST_F(BadInputE2E, OverLimitMultipartUpload) {
  expect_problem(http().upload_multipart(std::string(1536 * 1024, 'x'), "big"), 413, "upload-too-large");
}

TEST_F(BadInputE2E, WrongContentType) {
  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  expect_problem(http().request("POST", "/v1/models", bytes, "text/plain"), 415, "unsupported-media-type");
  expect_problem(http().request("POST", "/v1/jobs", "{}", "text/plain"), 415, "unsupported-media-type");
}

TEST_F(BadInputE2E, MalformedMultipart) {
  expect_problem(http().request("POST", "/v1/models", "--b\r\nno headers end", "multipart/form-data; boundary=b"), 400,
                 "multipart-malformed");
  expect_problem(http().request("POST", "/v1/models", "x", "multipart/form-data"), 400, "multipart-malformed");
}

TEST_F(BadInputE2E, MalformedJson) {
  expect_problem(http().request("POST", "/v1/jobs", "{\"model_id\": ", "application/json"), 400, "malformed-json");
  expect_problem(http().request("POST", "/v1/jobs", "[1,2]", "application/json"), 400, "malformed-json");
}

TEST_F(BadInputE2E, UnknownFieldsInAJobRequest) {
  auto r = http().post_json("/v1/jobs", {{"model_id", "x"}, {"targets", {"x86_64-cpu"}}, {"precision", {"fp32"}}});
  expect_problem(r, 400, "unknown-field");
}

TEST_F(BadInputE2E, InvalidJobFields) {
  expect_problem(http().post_json("/v1/jobs", {{"targets", {"x86_64-cpu"}}}), 400, "invalid-field");
  expect_problem(http().post_json("/v1/jobs", {{"model_id", "x"}, {"targets", "x86_64-cpu"}}), 400, "invalid-field");
  expect_problem(http().post_json("/v1/jobs", {{"model_id", "x"}, {"targets", nlohmann::json::array()}}), 400, "invalid-field");
}

TEST_F(BadInputE2E, UnsupportedTargetOrPrecisionListsValidPairs) {
  auto r = http().post_json("/v1/jobs", {{"model_id", "x"}, {"targets", {"x86_64-cpu"}}, {"precisions", {"int4"}}});
  expect_problem(r, 422, "unsupported-target-precision");
  auto allowed = r.json()["allowed"];
  EXPECT_EQ(allowed.size(), 12u) << allowed.dump();  // the six targets' precisions
  for (const char* pair : {"x86_64-cpu/fp32", "x86_64-cpu/int8", "arm64-cpu/fp16", "nvidia-gpu/fp16", "nvidia-jetson/int8",
                           "xilinx-alveo/int8", "xilinx-zynq/int8"})
    EXPECT_NE(std::find(allowed.begin(), allowed.end(), pair), allowed.end()) << pair;
  expect_problem(http().post_json("/v1/jobs", {{"model_id", "x"}, {"targets", {"tpu-v9"}}}), 422, "unsupported-target-precision");
}

TEST_F(BadInputE2E, UnknownIds) {
  expect_problem(http().post_json("/v1/jobs", {{"model_id", std::string(64, 'a')}, {"targets", {"x86_64-cpu"}}}), 404,
                 "model-not-found");
  expect_problem(http().get("/v1/models/nope"), 404, "model-not-found");
  expect_problem(http().get("/v1/jobs/job_nope"), 404, "job-not-found");
  expect_problem(http().request("POST", "/v1/jobs/job_nope/cancel"), 404, "job-not-found");
  expect_problem(http().get("/v1/variants/var_nope"), 404, "variant-not-found");
  expect_problem(http().get("/v1/variants/var_nope/download"), 404, "variant-not-found");
}

TEST_F(BadInputE2E, NamesWithPathSeparatorsOrControlCharacters) {
  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  expect_problem(http().upload(bytes, "../../etc/passwd"), 400, "invalid-name");
  expect_problem(http().upload(bytes, "a\\b"), 400, "invalid-name");
  expect_problem(http().upload(bytes, std::string("bell\x07")), 400, "invalid-name");
  expect_problem(http().upload_multipart(bytes, "line\nbreak"), 400, "invalid-name");
}

TEST_F(BadInputE2E, BadQueryParameters) {
  expect_problem(http().get("/v1/jobs?state=exploded"), 400, "invalid-parameter");
  expect_problem(http().get("/v1/models?limit=0"), 400, "invalid-parameter");
  expect_problem(http().get("/v1/models?limit=abc"), 400, "invalid-parameter");
}

class UploadLimitE2E : public ServerTest {
  std::vector<std::string> server_args() const override { return {"--max-concurrent-uploads", "1"}; }
};

TEST_F(UploadLimitE2E, SecondConcurrentUploadGets503) {
  // Upload 1: headers and the start of its body sent on a raw socket, then held open.
  auto first = open_stalled_posts(server_->port(), 1, "/v1/models", "application/octet-stream", 100000);
  ASSERT_EQ(first.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto second = http().upload(testing::serialize(testing::conv_bn_relu_model()));
  EXPECT_EQ(second.status, 503);
  EXPECT_EQ(second.problem_type(), "too-many-uploads");
  EXPECT_EQ(second.header("retry-after"), "5");
  hang_up(first);  // upload 1 ends (incomplete); its slot is given back
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(http().upload(testing::serialize(testing::conv_bn_relu_model())).status, 201);
}

}  // namespace
}  // namespace aifgen::e2e

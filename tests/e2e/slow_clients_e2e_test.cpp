// Clients that send a request's headers and then stall its body must not stop the service:
// handlers that read a body wait for it, and if they waited on the threads that do the network
// I/O, a handful of such clients (or of concurrent uploads) would freeze every connection.

#include <filesystem>
#include <future>
#include <tuple>

#include "tests/e2e/fixture.h"
#include "tests/e2e/stalled_senders.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class SlowClientsE2E : public ServerTest {
 protected:
  // Two HTTP threads: the smallest pool, so any handler blocking one of them shows at once.
  std::vector<std::string> server_args() const override { return {"--http-threads", "2", "--max-concurrent-uploads", "16"}; }

  // `n` senders that stall mid-body, then a pause so every handler is already waiting on one.
  std::vector<int> stall(int n, const std::string& path, const std::string& content_type, int length) {
    auto fds = open_stalled_posts(server_->port(), n, path, content_type, length);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return fds;
  }

  // The request's answer, or status -1 if none came within `seconds`.
  Response within(int seconds, std::function<Response()> call) {
    auto f = std::async(std::launch::async, std::move(call));
    if (f.wait_for(std::chrono::seconds(seconds)) != std::future_status::ready) {
      ADD_FAILURE() << "no answer within " << seconds << " s: the service is blocked";
      f.wait();  // the client's own timeout ends it; keeps the thread from outliving the test
      return Response{-1};
    }
    return f.get();
  }
};

TEST_F(SlowClientsE2E, StalledJsonBodiesDoNotBlockOtherRequests) {
  auto fds = stall(6, "/v1/jobs", "application/json", 1000);
  EXPECT_EQ(within(5, [&] { return http().get("/v1/jobs"); }).status, 200);
  EXPECT_EQ(within(5, [&] { return http().get("/healthz"); }).status, 200);
  // Another body-carrying request is served too, not queued behind the stalled ones.
  EXPECT_EQ(within(5, [&] { return http().upload(testing::serialize(testing::conv_bn_relu_model())); }).status, 201);
  hang_up(fds);
}

TEST_F(SlowClientsE2E, StalledUploadsDoNotBlockOtherRequests) {
  auto fds = stall(6, "/v1/models", "application/octet-stream", 100000);
  EXPECT_EQ(within(5, [&] { return http().get("/v1/models"); }).status, 200);
  EXPECT_EQ(within(5, [&] { return http().upload(testing::serialize(testing::conv_bn_relu_model())); }).status, 201);
  hang_up(fds);
  // Their slots come back once they hang up: the limit is not leaked (the same bytes again: 200).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(within(5, [&] { return http().upload(testing::serialize(testing::conv_bn_relu_model())); }).status, 200);
}

// A sender that hangs up halfway is an incomplete request (400 body-incomplete), not a service
// fault: no 500, no error in the log, and the upload's slot and temp file are released.
TEST_F(SlowClientsE2E, ClientsHangingUpMidBodyAreIncompleteRequestsNotFaults) {
  for (const auto& [path, type, length] : {std::tuple{"/v1/models", "application/octet-stream", 100000},
                                           std::tuple{"/v1/jobs", "application/json", 1000}})
    hang_up(stall(2, path, type, length));
  const std::string upload_400 = "aifgen_http_requests_total{method=\"POST\",route=\"/v1/models\",status=\"400\"} 2";
  const std::string job_400 = "aifgen_http_requests_total{method=\"POST\",route=\"/v1/jobs\",status=\"400\"} 2";
  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    metrics = http().get("/metrics").body;
    if (metrics.find(upload_400) != std::string::npos && metrics.find(job_400) != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_NE(metrics.find(upload_400), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(job_400), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("status=\"500\""), std::string::npos) << metrics;
  EXPECT_EQ(server_->log().find(" error "), std::string::npos) << server_->log();
  // Nothing half-written stays behind the hung-up uploads.
  std::size_t temp_files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(data_dir()))
    if (e.path().parent_path().filename() == "tmp") ++temp_files;
  EXPECT_EQ(temp_files, 0u);
}

}  // namespace
}  // namespace aifgen::e2e

// Clients that send a request's headers and then stall its body must not stop the service:
// handlers that read a body wait for it, and if they waited on the threads that do the network
// I/O, a handful of such clients (or of concurrent uploads) would freeze every connection.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <tuple>

#include "tests/e2e/fixture.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class SlowClientsE2E : public ServerTest {
 protected:
  // Two HTTP threads: the smallest pool, so any handler blocking one of them shows at once.
  std::vector<std::string> server_args() const override { return {"--http-threads", "2", "--max-concurrent-uploads", "16"}; }

  int port() const { return std::stoi(server_->base_url().substr(server_->base_url().rfind(':') + 1)); }

  // Opens `n` connections that each send a POST's headers and part of its body, then stall.
  // `length` stays under the route's body limit, so the service has to wait for the rest.
  std::vector<int> stall(int n, const std::string& path, const std::string& content_type, int length) {
    std::vector<int> fds;
    for (int i = 0; i < n; ++i) {
      int fd = connect_loopback(port());
      EXPECT_GE(fd, 0);
      if (fd < 0) break;
      std::string head = "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + content_type +
                         "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n" + std::string(100, '{');
      EXPECT_EQ(::write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
      fds.push_back(fd);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let every handler start waiting
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
  for (int fd : fds) ::close(fd);
}

TEST_F(SlowClientsE2E, StalledUploadsDoNotBlockOtherRequests) {
  auto fds = stall(6, "/v1/models", "application/octet-stream", 100000);
  EXPECT_EQ(within(5, [&] { return http().get("/v1/models"); }).status, 200);
  EXPECT_EQ(within(5, [&] { return http().upload(testing::serialize(testing::conv_bn_relu_model())); }).status, 201);
  for (int fd : fds) ::close(fd);
  // Their slots come back once they hang up: the limit is not leaked (the same bytes again: 200).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(within(5, [&] { return http().upload(testing::serialize(testing::conv_bn_relu_model())); }).status, 200);
}

// A sender that hangs up halfway is an incomplete request (400 body-incomplete), not a service
// fault: no 500, no error in the log, and the upload's slot and temp file are released.
TEST_F(SlowClientsE2E, ClientsHangingUpMidBodyAreIncompleteRequestsNotFaults) {
  for (const auto& [path, type, length] : {std::tuple{"/v1/models", "application/octet-stream", 100000},
                                           std::tuple{"/v1/jobs", "application/json", 1000}})
    for (int fd : stall(2, path, type, length)) ::close(fd);
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

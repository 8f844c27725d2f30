// infer-server as a deployed bundle runs it, faced with hostile or unauthorised clients: a
// chunked body (no Content-Length) far beyond --max-request-mb is refused (413) and dropped while
// it arrives, so memory stays flat; with --api-key-file only health is open; with --tls-cert it speaks HTTPS.
#include <cpprest/http_client.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/e2e/child_process.h"
#include "tests/e2e/http.h"
#include "tests/e2e/server_process.h"
#include "tests/support/model_builder.h"
#include "tests/support/temp_dir.h"

namespace aifgen::e2e {
namespace {

// Peak resident memory of a process in KiB (VmHWM), 0 when unreadable.
long peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}

class InferServerE2E : public ::testing::Test {
 protected:
  void start(const std::string& extra, bool tls = false) {
    std::filesystem::create_directories(dir_.path() + "/bundle");
    std::ofstream(dir_.path() + "/bundle/model.onnx", std::ios::binary) << testing::serialize(testing::conv_bn_relu_model());
    port_ = free_port();
    // exec: the child's pid is infer-server itself, so its memory can be read.
    child_ = std::make_unique<Child>("exec " + std::string(AIFGEN_BINARY) + " infer-server --bundle bundle --name m --listen 127.0.0.1:" +
                                         std::to_string(port_) + " " + extra,
                                     dir_.path(), dir_.path() + "/server.log");
    web::http::client::http_client_config cfg;
    cfg.set_validate_certificates(false);
    client_ = std::make_unique<web::http::client::http_client>(std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_), cfg);
    for (int i = 0; i < 200; ++i) {
      try {
        if (client_->request(web::http::methods::GET, "/v2/health/live").get().status_code() == 200) return;
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    FAIL() << "infer-server did not start: " << read_file(dir_.path() + "/server.log");
  }
  int status(const std::string& path, const std::string& bearer = "") {
    web::http::http_request r(web::http::methods::GET);
    r.set_request_uri(path);
    if (!bearer.empty()) r.headers().add("Authorization", "Bearer " + bearer);
    return client_->request(r).get().status_code();
  }

  testing::TempDir dir_;
  int port_ = 0;
  std::unique_ptr<Child> child_;
  std::unique_ptr<web::http::client::http_client> client_;
};

TEST_F(InferServerE2E, AChunkedBodyBeyondTheLimitIsRefusedWhileItArrivesWithoutBeingBuffered) {
  start("--max-request-mb 1");
  const long before = peak_rss_kib(child_->pid());
  ASSERT_GT(before, 0);
  int fd = connect_loopback(port_);
  ASSERT_GE(fd, 0);
  const std::string head = "POST /v2/models/m/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  // 256 MiB in 64 KiB chunks: the server must stop taking them long before the end.
  const std::string piece(64 * 1024, '[');
  char size_line[32];
  std::snprintf(size_line, sizeof size_line, "%zx\r\n", piece.size());
  const std::string chunk = size_line + piece + "\r\n";
  std::size_t sent = 0;
  for (int i = 0; i < 4096; ++i) {
    const ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;  // the server closed the connection: what we want
    sent += static_cast<std::size_t>(n);
  }
  // cpprest answers once the body has ended: end it.
  ASSERT_EQ(::send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL), 5);
  std::string answer(4096, '\0');
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const ssize_t got = ::recv(fd, answer.data(), answer.size(), 0);
  ::close(fd);
  ASSERT_GT(got, 0) << "no answer";
  answer.resize(static_cast<std::size_t>(got));
  EXPECT_NE(answer.find("HTTP/1.1 413"), std::string::npos) << answer;
  // The flood is read to its end (cpprest offers no way to cut the connection short) but
  // dropped past the limit: the peak RSS barely moves.
  const long after = peak_rss_kib(child_->pid());
  EXPECT_LT(after - before, 64 * 1024) << "peak RSS grew by " << (after - before) << " KiB while " << (sent >> 20)
                                       << " MiB were sent";
  // And the server still serves.
  EXPECT_EQ(status("/v2/models/m"), 200);
  std::cerr << "[figures] chunked flood: " << (sent >> 20) << " MiB sent and dropped, peak RSS +"
            << (after - before) / 1024 << " MiB\n";
}

TEST_F(InferServerE2E, WithAKeyFileOnlyHealthIsOpen) {
  const std::string key = "k3y-for-the-bundle-0123456789";
  std::ofstream(dir_.path() + "/keys") << "# deployment keys\n" << key << "\n";
  start("--api-key-file keys");
  EXPECT_EQ(status("/v2/health/ready"), 200);
  EXPECT_EQ(status("/v2/models/m"), 401);
  EXPECT_EQ(status("/v2/models/m", "wrong-key-0123456789"), 401);
  EXPECT_EQ(status("/v2/models/m", key), 200);
  web::http::http_request infer(web::http::methods::POST);
  infer.set_request_uri("/v2/models/m/infer");
  infer.set_body(std::string(R"({"inputs":[]})"), "application/json");
  EXPECT_EQ(client_->request(infer).get().status_code(), 401);
}

TEST_F(InferServerE2E, WithACertificateItSpeaksHttpsOnly) {
  const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + dir_.path() + "/key.pem -out " + dir_.path() +
                          "/cert.pem -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl could not make a test certificate";
  start("--tls-cert cert.pem --tls-key key.pem", /*tls=*/true);
  EXPECT_EQ(status("/v2/models/m"), 200);
  web::http::client::http_client_config cfg;
  cfg.set_timeout(std::chrono::seconds(5));
  web::http::client::http_client plain("http://127.0.0.1:" + std::to_string(port_), cfg);
  EXPECT_ANY_THROW(plain.request(web::http::methods::GET, "/v2/health/live").get());
}

}  // namespace
}  // namespace aifgen::e2e

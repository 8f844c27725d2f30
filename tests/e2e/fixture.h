// Shared fixture: a temp data dir and a running server per test.
//
// With AIFGEN_E2E_POSTGRES_DIR set to the test server's state dir (CTest registers the storage-heavy suites a second time so,
// prefixed "Postgres/"), the server runs on a fresh PostgreSQL database of the test run's server
// instead of the SQLite file, with short job leases so a killed server's jobs come back quickly.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <thread>

#include "tests/e2e/http.h"
#include "tests/e2e/server_process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_database.h"

namespace aifgen::e2e {

class ServerTest : public ::testing::Test {
 protected:
  // Extra `serve` flags for this fixture's server.
  virtual std::vector<std::string> server_args() const { return {}; }
  virtual bool tls() const { return false; }

  void SetUp() override {
    auto args = server_args();
    if (on_postgres()) {
      database_ = std::make_unique<aifgen::testing::TestDatabase>(aifgen::testing::DatabaseKind::kPostgres, dir_.path());
      if (!database_->available()) GTEST_SKIP() << database_->skip_reason();
      args.insert(args.end(), {"--database", database_->location(), "--lease-s", "3"});
    }
    server_ = std::make_unique<ServerProcess>(dir_.path() + "/data", args, tls());
    server_->start();
    http_ = std::make_unique<Http>(server_->base_url());
  }
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "--- server log ---\n" << server_->log() << "\n";
  }

  std::string data_dir() const { return dir_.path() + "/data"; }
  static bool on_postgres() {
    const char* dir = std::getenv("AIFGEN_E2E_POSTGRES_DIR");
    if (!dir || !*dir) return false;
    ::setenv("AIFGEN_TEST_POSTGRES_DIR", dir, 0);  // where TestDatabase finds the server
    return true;
  }
  // What `aifgen keys --database` (or the SQLite default) must name for this server.
  std::vector<std::string> database_args() const {
    if (!database_) return {};
    return {"--database", database_->location()};
  }
  const Http& http() const { return *http_; }

  // Polls the job until `pred(job)` holds or `seconds` pass; returns the last job seen.
  template <typename Pred>
  nlohmann::json poll_job(const std::string& id, Pred pred, int seconds = 60) {
    nlohmann::json job;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      job = http().get("/v1/jobs/" + id).json();
      if (pred(job)) return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ADD_FAILURE() << "job " << id << " never reached the expected state; last: " << job.dump();
    return job;
  }
  nlohmann::json wait_finished(const std::string& id, int seconds = 60) {
    return poll_job(id, [](const nlohmann::json& j) {
      auto s = j["state"].get<std::string>();
      return s == "succeeded" || s == "failed" || s == "cancelled";
    }, seconds);
  }

  aifgen::testing::TempDir dir_;
  std::unique_ptr<aifgen::testing::TestDatabase> database_;  // only on PostgreSQL
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Http> http_;
};

inline std::string shared_model(const std::string& name) {
  return read_file(std::string(AIFGEN_SHARED_DIR) + "/models/" + name + ".onnx");
}

}  // namespace aifgen::e2e

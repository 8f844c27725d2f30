// API keys over HTTP: 401 without or with a wrong key, 403 for too small a scope, open health
// routes, revocation taking effect on a running service, and local-only mode without keys.
#include <cstdio>

#include "tests/e2e/fixture.h"
#include "tests/e2e/run_command.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

std::string run_and_capture(const std::string& cmd, int* status = nullptr) {
  auto r = run_command(cmd);
  if (status) *status = r.status;
  return r.output;
}

std::string last_line(const std::string& s) {
  auto end = s.find_last_not_of('\n');
  auto start = s.rfind('\n', end);
  return s.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

class AuthE2E : public ServerTest {
 protected:
  void SetUp() override {
    for (auto [scope, key] : {std::pair{"read", &read_key_}, std::pair{"write", &write_key_}}) {
      int status = 0;
      auto out = run_and_capture(std::string(AIFGEN_BINARY) + " keys create --data-dir " + data_dir() + " --name test-" + scope +
                                     " --scope " + scope,
                                 &status);
      ASSERT_EQ(status, 0) << out;
      *key = last_line(out);
      ASSERT_EQ(key->rfind("agk_", 0), 0u) << out;
    }
    ServerTest::SetUp();
  }
  std::map<std::string, std::string> bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }
  std::string read_key_, write_key_;
};

TEST_F(AuthE2E, AReadKeyCannotStartAVariantBuildThroughTheOnDemandGet) {
  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  auto up = http().request("POST", "/v1/models", bytes, "application/octet-stream", bearer(write_key_));
  ASSERT_EQ(up.status, 201) << up.body;
  const std::string path = "/v1/models/" + up.json()["id"].get<std::string>() + "/variants/x86_64-cpu/fp32";
  auto denied = http().get(path, bearer(read_key_));
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_EQ(denied.problem_type(), "insufficient-scope");
  EXPECT_TRUE(http().get("/v1/jobs", bearer(read_key_)).json()["items"].empty()) << "a GET with a read key started work";
  auto started = http().get(path, bearer(write_key_));
  EXPECT_EQ(started.status, 202) << started.body;
  // Once a writer started it, a reader may follow the same job (and later get the variant).
  auto joined = http().get(path, bearer(read_key_));
  EXPECT_TRUE(joined.status == 202 || joined.status == 200) << joined.body;
  if (joined.status == 202) {
    EXPECT_EQ(joined.json()["id"], started.json()["id"]);
  }
}

TEST_F(AuthE2E, KeysAreRequiredAndScopesEnforced) {
  auto none = http().get("/v1/models");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.problem_type(), "unauthorized");
  EXPECT_EQ(none.header("www-authenticate").rfind("Bearer", 0), 0u);
  EXPECT_EQ(http().get("/v1/models", bearer("agk_000000000000_" + std::string(48, '0'))).status, 401);
  EXPECT_EQ(http().get("/v1/models", bearer(read_key_.substr(0, read_key_.size() - 1) + "x")).status, 401);
  EXPECT_EQ(http().get("/v1/models", bearer(read_key_)).status, 200);

  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  auto denied = http().request("POST", "/v1/models", bytes, "application/octet-stream", bearer(read_key_));
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.problem_type(), "insufficient-scope");
  EXPECT_EQ(http().request("POST", "/v1/models", bytes, "application/octet-stream", bearer(write_key_)).status, 201);

  EXPECT_EQ(http().get("/healthz").status, 200);
  auto ready = http().get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.json()["auth"], "api-keys");
  EXPECT_EQ(http().get("/metrics").status, 401);
  EXPECT_EQ(http().get("/metrics", bearer(read_key_)).status, 200);
}

TEST_F(AuthE2E, RevokedKeysStopWorkingWithoutARestart) {
  EXPECT_EQ(http().get("/v1/jobs", bearer(read_key_)).status, 200);
  auto list = run_and_capture(std::string(AIFGEN_BINARY) + " keys list --data-dir " + data_dir());
  EXPECT_EQ(list.find(read_key_), std::string::npos) << "listings must never show keys";
  const std::string id = read_key_.substr(4, 12);
  EXPECT_NE(list.find(id), std::string::npos);
  int status = 0;
  run_and_capture(std::string(AIFGEN_BINARY) + " keys revoke " + id + " --data-dir " + data_dir(), &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(http().get("/v1/jobs", bearer(read_key_)).status, 401);
  EXPECT_EQ(http().get("/v1/jobs", bearer(write_key_)).status, 200);
  run_and_capture(std::string(AIFGEN_BINARY) + " keys revoke " + id + " --data-dir " + data_dir(), &status);
  EXPECT_EQ(status, 2);  // already revoked
}

class RateLimitE2E : public AuthE2E {
  std::vector<std::string> server_args() const override { return {"--rate-limit-per-minute", "60"}; }
};

TEST_F(RateLimitE2E, KeysOverTheirRateGet429WithRetryAfter) {
  // 60 a minute allows a burst of 10; the 11th to 15th quick requests are refused.
  int limited = 0;
  std::string retry_after;
  for (int i = 0; i < 15; ++i) {
    auto r = http().get("/v1/models", bearer(read_key_));
    if (r.status == 429) {
      ++limited;
      retry_after = r.header("retry-after");
      EXPECT_EQ(r.problem_type(), "rate-limited");
    }
  }
  EXPECT_GE(limited, 4);
  EXPECT_GE(std::stoi(retry_after), 1);
  EXPECT_EQ(http().get("/v1/models", bearer(write_key_)).status, 200);  // per key
  EXPECT_EQ(http().get("/healthz").status, 200);                        // health is never limited
}

class LocalOnlyE2E : public ServerTest {};

TEST_F(LocalOnlyE2E, NoKeysMeansLoopbackOnlyAndSaysSo) {
  auto ready = http().get("/readyz");
  EXPECT_EQ(ready.json()["auth"], "local-only");
  EXPECT_EQ(http().get("/v1/models").status, 200);
  EXPECT_NE(server_->log().find("local-only mode"), std::string::npos);
}

}  // namespace
}  // namespace aifgen::e2e

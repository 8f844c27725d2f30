// Crash safety: SIGKILL while a job runs, restart, and the job completes; stored models and
// finished bundles are intact.
#include "core/base/sha256.h"
#include "tests/e2e/fixture.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class RestartE2E : public ServerTest {
  std::vector<std::string> server_args() const override { return {"--debug-stage-delay-ms", "300", "--workers", "1"}; }
};

TEST_F(RestartE2E, KilledMidJobResumesAfterRestart) {
  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  auto model_id = http().upload(bytes).json()["id"].get<std::string>();
  auto done_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  auto done = wait_finished(done_id);
  ASSERT_EQ(done["state"], "succeeded");
  auto bundle_sha = done["variants"][0]["artifact"]["sha256"].get<std::string>();

  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  poll_job(job_id, [](const nlohmann::json& j) { return j["state"] == "running" && j["stage"] != "starting"; });
  server_->kill9();
  server_->start(/*keep_port=*/true);

  auto job = wait_finished(job_id);
  EXPECT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["attempts"], 2);
  // Everything accepted before the kill is intact.
  EXPECT_EQ(http().get("/v1/models/" + model_id).status, 200);
  auto dl = http().fetch_bundle("/v1/variants/" + done["variants"][0]["id"].get<std::string>() + "/download");
  ASSERT_EQ(dl.status, 200);
  EXPECT_EQ(Sha256::of(dl.body), bundle_sha);
}

TEST_F(RestartE2E, JobFailsAfterThreeInterruptedAttempts) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  for (int attempt = 1; attempt <= 3; ++attempt) {
    poll_job(job_id, [&](const nlohmann::json& j) { return j["state"] == "running" && j["attempts"] == attempt; });
    server_->kill9();
    server_->start(true);
  }
  // SQLite: failed at the restart. PostgreSQL: once the dead server's lease has passed.
  auto job = wait_finished(job_id, 30);
  EXPECT_EQ(job["state"], "failed");
  EXPECT_NE(job["error"].get<std::string>().find("3 times"), std::string::npos) << job.dump();
}

TEST_F(RestartE2E, GracefulStopRequeuesWithoutCountingTheAttempt) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  poll_job(job_id, [](const nlohmann::json& j) { return j["state"] == "running"; });
  EXPECT_EQ(server_->terminate(), 0);
  server_->start(true);
  auto job = wait_finished(job_id);
  EXPECT_EQ(job["state"], "succeeded");
  EXPECT_EQ(job["attempts"], 1);
}

}  // namespace
}  // namespace aifgen::e2e

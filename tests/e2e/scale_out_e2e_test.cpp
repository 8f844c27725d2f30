// Scaled out on PostgreSQL: several serve processes on one database and one shared data dir.
// An API-only replica (--workers 0) takes the upload and the job, a worker process elsewhere
// builds it, and the bundle downloads through the replica that never touched it. A worker
// killed mid-job loses it after its lease, and another finishes it.
// Registered only in the "Postgres/" run (tests/CMakeLists.txt): SQLite allows one serve per
// data dir (DataDirLockE2E checks that).
#include "core/base/sha256.h"
#include "tests/e2e/fixture.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class ScaleOutE2E : public ServerTest {
 protected:
  // The fixture's own server is the API replica.
  std::vector<std::string> server_args() const override { return {"--workers", "0"}; }

  void SetUp() override {
    if (!on_postgres()) GTEST_SKIP() << "PostgreSQL only: SQLite allows one serve per data dir";
    ServerTest::SetUp();
  }

  std::unique_ptr<ServerProcess> start_worker(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--workers", "1", "--lease-s", "3"};
    args.insert(args.end(), extra.begin(), extra.end());
    for (auto& a : database_args()) args.push_back(a);
    auto worker = std::make_unique<ServerProcess>(data_dir(), args);
    worker->start();
    return worker;
  }
};

TEST_F(ScaleOutE2E, AnApiOnlyReplicaQueuesAndAWorkerElsewhereBuilds) {
  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  auto model_id = http().upload(bytes).json()["id"].get<std::string>();
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  // Nothing runs it yet: the replica has no workers.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(http().get("/v1/jobs/" + job_id).json()["state"], "queued");

  auto worker = start_worker();
  auto job = wait_finished(job_id);
  ASSERT_EQ(job["state"], "succeeded") << job.dump() << "\n--- worker log ---\n" << worker->log();
  EXPECT_EQ(job["attempts"], 1);
  // The worker stored the bundle in the shared data dir; the replica serves it.
  auto dl = http().fetch_bundle("/v1/variants/" + job["variants"][0]["id"].get<std::string>() + "/download");
  ASSERT_EQ(dl.status, 200);
  EXPECT_EQ(Sha256::of(dl.body), job["variants"][0]["artifact"]["sha256"].get<std::string>());
  // And the worker answers the same job from the same database.
  Http on_worker(worker->base_url());
  EXPECT_EQ(on_worker.get("/v1/jobs/" + job_id).json()["version"], job["version"]);
}

TEST_F(ScaleOutE2E, ALongPollOnOneReplicaWakesWhenAWorkerElsewhereChangesTheJob) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto worker = start_worker({"--debug-stage-delay-ms", "300"});
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  // Each stage of the build (300 ms apart) is a change made by the worker process; every long
  // poll parked on the API replica must return with it, long before its 20 s wait runs out.
  auto etag = http().get("/v1/jobs/" + job_id).header("etag");
  int answered = 0;
  std::string state;
  for (int i = 0; i < 40 && state != "succeeded"; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = http().get("/v1/jobs/" + job_id + "?wait=20", {{"If-None-Match", etag}});
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(r.status, 200) << "the poll ran out its wait: the replica missed the worker's change";
    EXPECT_LT(took, 5.0);
    EXPECT_NE(r.header("etag"), etag);
    etag = r.header("etag");
    state = r.json()["state"].get<std::string>();
    ++answered;
  }
  EXPECT_EQ(state, "succeeded");
  EXPECT_GE(answered, 3);  // queued -> running -> stages -> succeeded, each seen as it happened
}

TEST_F(ScaleOutE2E, AJobOfAKilledWorkerIsFinishedByAnotherAfterItsLease) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto first = start_worker({"--debug-stage-delay-ms", "400"});
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  poll_job(job_id, [](const nlohmann::json& j) { return j["state"] == "running" && j["stage"] != "starting"; });
  first->kill9();
  auto second = start_worker();
  auto job = wait_finished(job_id, 60);
  EXPECT_EQ(job["state"], "succeeded") << job.dump() << "\n--- second worker log ---\n" << second->log();
  EXPECT_EQ(job["attempts"], 2);
}

TEST_F(ScaleOutE2E, AWorkerRestrictedToOtherTargetsLeavesTheJobForOneThatHasThem) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto gpu_node = start_worker({"--targets", "nvidia-gpu,nvidia-jetson"});
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(http().get("/v1/jobs/" + job_id).json()["state"], "queued");
  auto cpu_node = start_worker({"--targets", "x86_64-cpu"});
  EXPECT_EQ(wait_finished(job_id)["state"], "succeeded");
}

}  // namespace
}  // namespace aifgen::e2e

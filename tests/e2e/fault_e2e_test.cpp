// Faults: many SIGKILLs in a row while jobs run (nothing accepted is lost, every job ends), and a
// corrupted stored bundle (detected by its hash, never served).
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/base/sha256.h"
#include "tests/e2e/fixture.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class FaultE2E : public ServerTest {
  std::vector<std::string> server_args() const override { return {"--debug-stage-delay-ms", "40", "--max-attempts", "100"}; }
};

TEST_F(FaultE2E, TwentyKillsLoseNothing) {
  std::vector<std::string> models, jobs;
  std::map<std::string, std::string> model_sha;
  for (int i = 0; i < 3; ++i) {
    auto m = testing::conv_bn_relu_model();
    m.mutable_graph()->set_name("kill-" + std::to_string(i));  // different bytes, different ids
    auto bytes = testing::serialize(m);
    auto id = http().upload(bytes).json()["id"].get<std::string>();
    models.push_back(id);
    model_sha[id] = Sha256::of(bytes);
  }
  for (int i = 0; i < 6; ++i)
    jobs.push_back(http().post_json("/v1/jobs", {{"model_id", models[i % 3]}, {"targets", {"x86_64-cpu"}}}).json()["id"]);
  std::mt19937 gen(42);
  std::uniform_int_distribution<int> pause(20, 250);
  for (int kill = 0; kill < 20; ++kill) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause(gen)));
    server_->kill9();
    server_->start(/*keep_port=*/true);
    if (kill % 5 == 0)  // keep accepting work between kills
      jobs.push_back(http().post_json("/v1/jobs", {{"model_id", models[kill % 3]}, {"targets", {"x86_64-cpu"}}}).json()["id"]);
  }
  for (const auto& id : jobs) {
    auto job = wait_finished(id, 120);
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
    for (const auto& v : job["variants"]) {
      if (v["state"] != "succeeded") continue;
      auto dl = http().fetch_bundle(v["artifact"]["download"].get<std::string>());
      ASSERT_EQ(dl.status, 200);
      EXPECT_EQ(Sha256::of(dl.body), v["artifact"]["sha256"]);
    }
  }
  for (const auto& id : models) {
    EXPECT_EQ(http().get("/v1/models/" + id).status, 200);
    // The stored blob still hashes to its name.
    auto path = data_dir() + "/blobs/" + id.substr(0, 2) + "/" + id;
    EXPECT_EQ(Sha256::of_file(path), model_sha[id]);
  }
  EXPECT_TRUE(std::filesystem::is_empty(data_dir() + "/tmp"));  // no half-written blobs left behind
}

class CorruptionE2E : public ServerTest {};

TEST_F(CorruptionE2E, CorruptedBundleIsDetectedAndNotServed) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto job = wait_finished(http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"]);
  ASSERT_EQ(job["state"], "succeeded");
  const auto sha = job["variants"][0]["artifact"]["sha256"].get<std::string>();
  const auto path = data_dir() + "/blobs/" + sha.substr(0, 2) + "/" + sha;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');  // one flipped byte
  }
  auto dl = http().fetch_bundle(job["variants"][0]["artifact"]["download"].get<std::string>());
  EXPECT_EQ(dl.status, 500);
  EXPECT_EQ(dl.problem_type(), "artifact-corrupt");
  EXPECT_EQ(http().get("/healthz").status, 200);
}

double metric(const Http& http, const std::string& name) {
  const auto text = http.get("/metrics").body;
  const auto at = text.find("\n" + name + " ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + name.size() + 2));
}

TEST_F(CorruptionE2E, RangedDownloadsDoNotReHashTheBundle) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto job = wait_finished(http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"]);
  ASSERT_EQ(job["state"], "succeeded");
  const auto link = job["variants"][0]["artifact"]["download"].get<std::string>();
  const double before = metric(http(), "aifgen_artifact_verifications_total");
  ASSERT_GE(before, 0);
  for (int i = 0; i < 20; ++i) {
    auto part = http().fetch_bundle(link, {{"Range", "bytes=0-99"}});
    ASSERT_EQ(part.status, 206);
  }
  EXPECT_EQ(metric(http(), "aifgen_artifact_verifications_total"), before);
}

class ScrubE2E : public ServerTest {
  std::vector<std::string> server_args() const override { return {"--scrub-interval-s", "1"}; }
};

TEST_F(ScrubE2E, TheScheduledScrubQuarantinesACorruptBundleAndCountsIt) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto job = wait_finished(http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"]);
  ASSERT_EQ(job["state"], "succeeded");
  const auto sha = job["variants"][0]["artifact"]["sha256"].get<std::string>();
  {
    std::fstream f(data_dir() + "/blobs/" + sha.substr(0, 2) + "/" + sha, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  for (int i = 0; i < 100 && metric(http(), "aifgen_artifact_scrub_corrupt_total") < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(metric(http(), "aifgen_artifact_scrub_corrupt_total"), 1);
  EXPECT_TRUE(std::filesystem::exists(data_dir() + "/quarantine/" + sha));
  EXPECT_NE(server_->log().find("does not match its sha256"), std::string::npos);
  auto dl = http().fetch_bundle(job["variants"][0]["artifact"]["download"].get<std::string>());
  EXPECT_EQ(dl.status, 500);
  EXPECT_EQ(dl.problem_type(), "artifact-corrupt");
}

}  // namespace
}  // namespace aifgen::e2e

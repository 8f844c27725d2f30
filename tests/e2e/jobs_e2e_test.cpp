// A job from request to downloaded bundle, with idempotency, ETag, long polling and the
// BN-folded weights checked against values computed here.
#include <cmath>
#include <set>

#include "core/base/sha256.h"
#include "core/tensor_util.h"
#include "tests/e2e/bundle_reader.h"
#include "tests/e2e/fixture.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class JobsE2E : public ServerTest {};

std::vector<float> floats_of(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return read_floats(t);
  ADD_FAILURE() << "no initializer " << name;
  return {};
}

TEST_F(JobsE2E, ConvBnModelBecomesADownloadableFoldedVariant) {
  const auto source = testing::conv_bn_relu_model(/*with_identity=*/true);
  auto model_id = http().upload(testing::serialize(source), "convbn").json()["id"].get<std::string>();

  nlohmann::json req = {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}, {"precisions", {"fp32"}}};
  auto created = http().post_json("/v1/jobs", req, {{"Idempotency-Key", "k-1"}});
  ASSERT_EQ(created.status, 202) << created.body;
  auto job_id = created.json()["id"].get<std::string>();
  EXPECT_EQ(created.header("location"), "/v1/jobs/" + job_id);
  auto retried = http().post_json("/v1/jobs", req, {{"Idempotency-Key", "k-1"}});
  EXPECT_EQ(retried.status, 200);
  EXPECT_EQ(retried.json()["id"], job_id);
  auto reused = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}, {"options", {{"calibration_method", "minmax"}}}},
                                 {{"Idempotency-Key", "k-1"}});
  EXPECT_EQ(reused.status, 409);
  EXPECT_EQ(reused.problem_type(), "idempotency-key-reused");

  auto job = wait_finished(job_id);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  EXPECT_EQ(job["progress"], 1.0);
  EXPECT_EQ(job["attempts"], 1);
  ASSERT_EQ(job["variants"].size(), 1u);
  auto variant = job["variants"][0];
  EXPECT_EQ(variant["state"], "succeeded");
  EXPECT_EQ(http().get("/v1/jobs?state=succeeded").json()["items"][0]["id"], job_id);
  EXPECT_TRUE(http().get("/v1/jobs?state=queued").json()["items"].empty());
  EXPECT_EQ(http().get("/v1/variants?model_id=" + model_id).json()["items"][0]["id"], variant["id"]);

  // The variant record carries the report: every pass with what it changed.
  auto full = http().get("/v1/variants/" + variant["id"].get<std::string>()).json();
  auto passes = full["report"]["passes"];
  ASSERT_EQ(passes.size(), 8u);
  EXPECT_EQ(passes[1]["name"], "eliminate_identity");
  EXPECT_EQ(passes[1]["changes"]["nodes_removed"], 1);
  EXPECT_EQ(passes[3]["name"], "fold_batchnorm");
  EXPECT_EQ(passes[3]["changes"]["batchnorms_folded"], 1);
  EXPECT_EQ(passes[7]["name"], "fuse_conv_activation");
  EXPECT_EQ(passes[7]["changes"]["convs_fused"], 1);
  // Validated against the source on the engine, and benchmarked before/after on this host.
  auto validation = full["report"]["validation"];
  EXPECT_EQ(validation["status"], "validated") << validation.dump();
  EXPECT_EQ(validation["inputs"], "synthetic");
  EXPECT_GT(validation["outputs"][0]["sqnr_db"].get<double>(), 60.0);
  EXPECT_GT(validation["outputs"][0]["cosine"].get<double>(), 0.99999);
  ASSERT_EQ(full["benchmarks"].size(), 2u);
  EXPECT_EQ(full["benchmarks"][0]["subject"], "source");
  EXPECT_EQ(full["benchmarks"][1]["subject"], "variant");
  for (const auto& b : full["benchmarks"]) {
    EXPECT_GT(b["p50_ms"].get<double>(), 0.0);
    EXPECT_LE(b["p50_ms"].get<double>(), b["p99_ms"].get<double>());
    EXPECT_EQ(b["origin"], "local");
  }

  auto dl = http().fetch_bundle(variant["artifact"]["download"].get<std::string>());
  ASSERT_EQ(dl.status, 200);
  EXPECT_EQ(dl.header("content-type"), "application/gzip");
  EXPECT_EQ(std::stoul(dl.header("content-length")), dl.body.size());
  EXPECT_EQ(dl.header("etag"), "\"" + Sha256::of(dl.body) + "\"");
  EXPECT_EQ(dl.header("digest"), "sha-256=" + hex_digest_to_base64(Sha256::of(dl.body)));
  EXPECT_EQ(variant["artifact"]["sha256"], Sha256::of(dl.body));
  EXPECT_EQ(http().fetch_bundle(variant["artifact"]["download"].get<std::string>(), {{"If-None-Match", dl.header("etag")}}).status, 304);

  auto files = read_bundle(dl.body);
  std::string top = "aifgen-" + variant["id"].get<std::string>() + "/";
  ASSERT_TRUE(files.count(top + "model.onnx") && files.count(top + "variant.json") && files.count(top + "README.md"));
  EXPECT_EQ(files[top + "model.onnx"].mode, 0644);
  auto manifest = nlohmann::json::parse(files[top + "variant.json"].bytes);
  EXPECT_EQ(manifest["source_model"]["id"], model_id);
  EXPECT_EQ(manifest["target"]["id"], "x86_64-cpu");
  EXPECT_EQ(manifest["precision"], "fp32");
  EXPECT_EQ(manifest["validation"]["status"], "validated");

  onnx::ModelProto out;
  ASSERT_TRUE(out.ParseFromString(files[top + "model.onnx"].bytes));
  ASSERT_EQ(out.graph().node_size(), 1);  // Identity gone, BN folded, Conv + Relu fused
  const auto& conv = out.graph().node(0);
  EXPECT_EQ(conv.op_type(), "FusedConv");
  EXPECT_EQ(conv.domain(), "com.aifgen");
  auto w = floats_of(out, conv.input(1)), b = floats_of(out, conv.input(2));
  auto w0 = floats_of(source, "W"), b0 = floats_of(source, "B"), gamma = floats_of(source, "gamma"),
       beta = floats_of(source, "beta"), mean = floats_of(source, "mean"), var = floats_of(source, "var");
  ASSERT_EQ(w.size(), 108u);
  for (int c = 0; c < 4; ++c) {
    double s = gamma[c] / std::sqrt(double(var[c]) + 1e-3);
    for (int k = 0; k < 27; ++k) EXPECT_NEAR(w[c * 27 + k], w0[c * 27 + k] * s, 1e-6);
    EXPECT_NEAR(b[c], (b0[c] - mean[c]) * s + beta[c], 1e-6);
  }
}

TEST_F(JobsE2E, ExplicitVariantPairsBuildExactlyThosePairs) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  // x86_64-cpu has no fp16, so these two are no cross product of targets and precisions.
  auto created = http().post_json("/v1/jobs", {{"model_id", model_id}, {"variants", {"x86_64-cpu/fp32", "arm64-cpu/fp16", "x86_64-cpu/fp32"}}});
  ASSERT_EQ(created.status, 202) << created.body;
  const auto job = created.json();
  std::set<std::string> pairs;
  for (const auto& v : job["variants"]) pairs.insert(v["target"].get<std::string>() + "/" + v["precision"].get<std::string>());
  EXPECT_EQ(pairs, (std::set<std::string>{"x86_64-cpu/fp32", "arm64-cpu/fp16"})) << created.body;
  EXPECT_EQ(job["variants"].size(), 2u) << "a repeated pair builds once";
  http().post_json("/v1/jobs/" + job["id"].get<std::string>() + "/cancel", nlohmann::json::object());

  auto both = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}, {"variants", {"x86_64-cpu/fp32"}}});
  EXPECT_EQ(both.status, 400);
  EXPECT_EQ(both.problem_type(), "invalid-field");
  auto bad = http().post_json("/v1/jobs", {{"model_id", model_id}, {"variants", {"x86_64-cpu/fp16", "nowhere/int8", "x86_64-cpu"}}});
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(bad.problem_type(), "unsupported-target-precision");
  for (const char* named : {"x86_64-cpu/fp16", "nowhere/int8 (unknown target)", "x86_64-cpu"})
    EXPECT_NE(bad.json()["detail"].get<std::string>().find(named), std::string::npos) << named << " in " << bad.body;
  EXPECT_EQ(http().post_json("/v1/jobs", {{"model_id", model_id}, {"variants", nlohmann::json::array()}}).status, 400);
  EXPECT_EQ(http().post_json("/v1/jobs", {{"model_id", model_id}}).status, 400);
}

TEST_F(JobsE2E, EtagAndLongPoll) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  wait_finished(job_id);
  auto r = http().get("/v1/jobs/" + job_id);
  auto etag = r.header("etag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(http().get("/v1/jobs/" + job_id, {{"If-None-Match", etag}}).status, 304);
  // Finished job: nothing will change, so a long poll ends in 304 when its wait runs out.
  auto waited = http().get("/v1/jobs/" + job_id + "?wait=1", {{"If-None-Match", etag}});
  EXPECT_EQ(waited.status, 304);
  EXPECT_EQ(waited.header("etag"), etag);
  // A stale ETag answers 200 at once with the current state.
  auto stale = http().get("/v1/jobs/" + job_id + "?wait=30", {{"If-None-Match", "\"old\""}});
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.header("etag"), etag);
  EXPECT_EQ(http().get("/v1/jobs/" + job_id + "?wait=9999").status, 400);
}

class CappedLongPollsE2E : public ServerTest {
  std::vector<std::string> server_args() const override { return {"--max-long-polls", "2"}; }
};

TEST_F(CappedLongPollsE2E, ParkedPollsAreCappedWith503AndRetryAfterAndFreeTheirSlotsWhenAnswered) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  wait_finished(job_id);
  const auto etag = http().get("/v1/jobs/" + job_id).header("etag");
  // Two clients park (the job is finished, so they wait their full 2 s) and fill the cap.
  std::vector<std::thread> parked;
  std::vector<int> statuses(2, 0);
  for (int i = 0; i < 2; ++i)
    parked.emplace_back([&, i] {
      Http own(server_->base_url());
      statuses[static_cast<std::size_t>(i)] = own.get("/v1/jobs/" + job_id + "?wait=2", {{"If-None-Match", etag}}).status;
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  auto refused = http().get("/v1/jobs/" + job_id + "?wait=2", {{"If-None-Match", etag}});
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.problem_type(), "too-many-long-polls");
  EXPECT_FALSE(refused.header("retry-after").empty());
  // A poll without ?wait= is never refused.
  EXPECT_EQ(http().get("/v1/jobs/" + job_id, {{"If-None-Match", etag}}).status, 304);
  for (auto& t : parked) t.join();
  EXPECT_EQ(statuses, (std::vector<int>{304, 304}));
  // Answered waiters free their slots.
  EXPECT_EQ(http().get("/v1/jobs/" + job_id + "?wait=1", {{"If-None-Match", etag}}).status, 304);
}

// One worker that pauses at each stage boundary, so jobs are observably running or queued.
class SlowJobsE2E : public ServerTest {
  std::vector<std::string> server_args() const override { return {"--debug-stage-delay-ms", "400", "--workers", "1"}; }
};

TEST_F(SlowJobsE2E, LongPollWakesOnChange) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto created = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}});
  auto job_id = created.json()["id"].get<std::string>();
  auto etag = created.header("etag");
  auto r = http().get("/v1/jobs/" + job_id + "?wait=30", {{"If-None-Match", etag}});
  EXPECT_EQ(r.status, 200);  // woke because the job moved, long before 30 s
  EXPECT_NE(r.header("etag"), etag);
  wait_finished(job_id);
}

TEST_F(SlowJobsE2E, CancelStopsARunningJobAtTheNextStage) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  poll_job(job_id, [](const nlohmann::json& j) { return j["state"] == "running"; });

  auto del = http().request("DELETE", "/v1/models/" + model_id);
  EXPECT_EQ(del.status, 409);
  EXPECT_EQ(del.problem_type(), "model-has-active-jobs");

  auto c = http().request("POST", "/v1/jobs/" + job_id + "/cancel");
  ASSERT_EQ(c.status, 202);
  EXPECT_EQ(c.json()["cancel_requested"], true);
  auto job = wait_finished(job_id);
  EXPECT_EQ(job["state"], "cancelled");
  EXPECT_NE(job["error"].get<std::string>().find("cancelled on request"), std::string::npos);
  EXPECT_EQ(job["variants"][0]["state"], "cancelled");
  auto again = http().request("POST", "/v1/jobs/" + job_id + "/cancel");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.problem_type(), "job-already-finished");
}

TEST_F(SlowJobsE2E, QueuedJobCancelsImmediately) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  // One slow worker: the first job runs for seconds, the second waits in the queue.
  auto first = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json();
  auto second = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json();
  poll_job(first["id"], [](const nlohmann::json& j) { return j["state"] == "running"; });
  auto c = http().request("POST", "/v1/jobs/" + second["id"].get<std::string>() + "/cancel");
  ASSERT_EQ(c.status, 202);
  EXPECT_EQ(c.json()["state"], "cancelled");
  EXPECT_EQ(c.json()["attempts"], 0);  // never started
  EXPECT_EQ(wait_finished(first["id"])["state"], "succeeded");
}

class StageTimeoutE2E : public ServerTest {
  std::vector<std::string> server_args() const override {
    return {"--debug-stage-delay-ms", "150", "--stage-timeout-s", "0.05", "--workers", "1"};
  }
};

TEST_F(StageTimeoutE2E, SlowStageFailsTheVariantAndTheWorkerLivesOn) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  nlohmann::json req = {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}};
  auto first = wait_finished(http().post_json("/v1/jobs", req).json()["id"]);
  EXPECT_EQ(first["state"], "failed");
  EXPECT_NE(first["variants"][0]["error"].get<std::string>().find("stage timed out"), std::string::npos) << first.dump();
  // The same worker takes the next job.
  auto second = wait_finished(http().post_json("/v1/jobs", req).json()["id"]);
  EXPECT_EQ(second["state"], "failed");
  EXPECT_EQ(second["attempts"], 1);
}

class FullQueueE2E : public ServerTest {
  std::vector<std::string> server_args() const override {
    return {"--debug-stage-delay-ms", "300", "--workers", "1", "--max-queued-jobs", "1"};
  }
};

TEST_F(FullQueueE2E, QueueFullAnswers503WithRetryAfter) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  nlohmann::json req = {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}};
  auto first = http().post_json("/v1/jobs", req).json()["id"].get<std::string>();
  poll_job(first, [](const nlohmann::json& j) { return j["state"] == "running"; });
  EXPECT_EQ(http().post_json("/v1/jobs", req).status, 202);  // waits in the queue
  auto full = http().post_json("/v1/jobs", req);
  EXPECT_EQ(full.status, 503);
  EXPECT_EQ(full.problem_type(), "queue-full");
  EXPECT_EQ(full.header("retry-after"), "5");
}

}  // namespace
}  // namespace aifgen::e2e

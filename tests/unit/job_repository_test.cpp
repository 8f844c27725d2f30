// The persistent queue: claim order, crash requeue with attempt limit, idempotency, cancel; each
// test runs on SQLite and on PostgreSQL.
#include "storage/job_repository.h"

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "storage/benchmark_repository.h"
#include "storage/model_repository.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_database.h"

namespace aifgen::storage {
namespace {

using aifgen::testing::DatabaseKind;
using aifgen::testing::TempDir;
using aifgen::testing::TestDatabase;

class JobRepositoryTest : public ::testing::TestWithParam<DatabaseKind> {
 protected:
  void SetUp() override {
    if (!where_.available()) GTEST_SKIP() << where_.skip_reason();
    db_ = std::make_unique<Database>(where_.location());
    models_ = std::make_unique<ModelRepository>(*db_);
    jobs_ = std::make_unique<JobRepository>(*db_);
    models_->insert_if_absent({"m1", "model one", 10, "{}", now_iso8601()});
  }

  JobRecord make_job(const std::string& id, std::optional<std::string> key = std::nullopt, std::string hash = "h") {
    JobRecord j;
    j.id = id;
    j.model_id = "m1";
    j.created_at = now_iso8601();
    j.idempotency_key = std::move(key);
    j.request_hash = std::move(hash);
    VariantRecord v;
    v.id = id;
    v.id += "-v1";  // not id + "-v1": GCC 12 warns (-Wrestrict, a false positive) once this is inlined in a loop
    v.target = "x86_64-cpu";
    v.precision = "fp32";
    j.variants.push_back(v);
    return j;
  }

  TempDir dir_;
  TestDatabase where_{GetParam(), dir_.path()};
  std::unique_ptr<Database> db_;
  std::unique_ptr<ModelRepository> models_;
  std::unique_ptr<JobRepository> jobs_;
};

TEST_P(JobRepositoryTest, SchemaIsAtTheLatestVersionAndReopenIsIdempotent) {
  EXPECT_EQ(db_->schema_version(), Database::latest_schema_version());
  Database again(where_.location());
  EXPECT_EQ(again.schema_version(), Database::latest_schema_version());
  EXPECT_TRUE(models_->get("m1").has_value());
}

TEST_P(JobRepositoryTest, ClaimsOldestFirstAndOnlyOnce) {
  jobs_->create(make_job("a"));
  jobs_->create(make_job("b"));
  auto first = jobs_->claim_next();
  auto second = jobs_->claim_next();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->id, "a");
  EXPECT_EQ(second->id, "b");
  EXPECT_EQ(first->state, "running");
  EXPECT_EQ(first->attempts, 1);
  EXPECT_FALSE(jobs_->claim_next().has_value());
}

TEST_P(JobRepositoryTest, InterruptedJobsAreRequeuedUntilTheyRunOutOfAttempts) {
  jobs_->create(make_job("a"));
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto job = jobs_->claim_next();
    ASSERT_TRUE(job);
    EXPECT_EQ(job->attempts, attempt);
    auto outcome = jobs_->requeue_interrupted(3);  // as if the process died now
    if (attempt < 3) {
      EXPECT_EQ(outcome.requeued, 1);
      EXPECT_EQ(jobs_->get("a")->state, "queued");
    } else {
      EXPECT_EQ(outcome.failed, 1);
    }
  }
  auto job = jobs_->get("a");
  EXPECT_EQ(job->state, "failed");
  ASSERT_TRUE(job->error);
  EXPECT_NE(job->error->find("3 times"), std::string::npos);
  EXPECT_EQ(job->variants[0].state, "failed");
}

TEST_P(JobRepositoryTest, FinishedVariantsSurviveARequeue) {
  jobs_->create(make_job("a"));
  jobs_->claim_next();
  jobs_->set_variant_result("a-v1", std::string(64, 'a'), 123, "{}", "degraded");
  jobs_->requeue_interrupted(3);
  auto job = jobs_->get("a");
  EXPECT_EQ(job->state, "queued");
  EXPECT_EQ(job->variants[0].state, "succeeded");
  EXPECT_EQ(*job->variants[0].artifact_size, 123);
  EXPECT_EQ(job->variants[0].validation.value_or(""), "degraded");
}

TEST_P(JobRepositoryTest, ARetriedVariantResultReplacesItsLocalBenchmarksAndKeepsFieldOnes) {
  jobs_->create(make_job("a"));
  jobs_->claim_next();
  BenchmarkRepository benchmarks(*db_);
  BenchmarkRecord local, field;
  local.variant_id = field.variant_id = "a-v1";
  local.subject = field.subject = "variant";
  local.p50_ms = 2.0;
  field.origin = "field";
  field.p50_ms = 1.0;
  benchmarks.add(field);
  // The first attempt stored its result and then the process died; the retry stores it again.
  jobs_->set_variant_result("a-v1", std::string(64, 'a'), 123, "{}", "validated", {local, local});
  local.p50_ms = 3.0;
  jobs_->set_variant_result("a-v1", std::string(64, 'a'), 123, "{}", "validated", {local, local});
  auto rows = benchmarks.for_variant("a-v1");
  int locals = 0, fields = 0;
  for (const auto& b : rows) {
    if (b.origin == "local") {
      ++locals;
      EXPECT_EQ(b.p50_ms, 3.0);
    }
    fields += b.origin == "field";
  }
  EXPECT_EQ(locals, 2);
  EXPECT_EQ(fields, 1);
}

TEST_P(JobRepositoryTest, TheLatestVariantOfATargetIsFoundBehindAThousandNewerOnes) {
  auto old = make_job("old");
  old.variants[0].precision = "int8";
  jobs_->create(old);
  jobs_->claim_next();
  jobs_->set_variant_result("old-v1", std::string(64, 'a'), 1, "{}", "validated");
  for (int i = 0; i < 1001; ++i) {  // x86_64-cpu/fp32, all newer
    std::string id = "j";
    id += std::to_string(i);
    jobs_->create(make_job(id));
  }
  auto found = jobs_->latest_variants("m1", "x86_64-cpu", "int8");
  ASSERT_TRUE(found.succeeded);
  EXPECT_EQ(found.succeeded->id, "old-v1");
  ASSERT_TRUE(found.newest);
  EXPECT_EQ(found.newest->id, "old-v1");
  auto fp32 = jobs_->latest_variants("m1", "x86_64-cpu", "fp32");
  EXPECT_FALSE(fp32.succeeded);
  ASSERT_TRUE(fp32.newest);
  EXPECT_EQ(fp32.newest->id, "j1000-v1");
}

TEST_P(JobRepositoryTest, IdempotencyKeyReturnsTheFirstJob) {
  auto [first, created1] = jobs_->create(make_job("a", "key-1"));
  auto [again, created2] = jobs_->create(make_job("b", "key-1"));
  EXPECT_TRUE(created1);
  EXPECT_FALSE(created2);
  EXPECT_EQ(again.id, "a");
  EXPECT_THROW(jobs_->create(make_job("c", "key-1", "other-request")), Error);
}

TEST_P(JobRepositoryTest, UnknownModelIsNotFound) {
  auto j = make_job("a");
  j.model_id = "nope";
  try {
    jobs_->create(j);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

TEST_P(JobRepositoryTest, CancelQueuedIsImmediateRunningIsRequestedFinishedIsRefused) {
  jobs_->create(make_job("a"));
  jobs_->create(make_job("b"));
  EXPECT_EQ(jobs_->request_cancel("b"), CancelOutcome::kCancelled);
  EXPECT_EQ(jobs_->get("b")->variants[0].state, "cancelled");
  jobs_->claim_next();  // a is running
  EXPECT_EQ(jobs_->request_cancel("a"), CancelOutcome::kRequested);
  EXPECT_TRUE(jobs_->cancel_requested("a"));
  jobs_->finish("a", RunState::kCancelled, "stopped", "cancelled");
  EXPECT_EQ(jobs_->request_cancel("a"), CancelOutcome::kAlreadyFinished);
  EXPECT_THROW(jobs_->request_cancel("zzz"), Error);
}

TEST_P(JobRepositoryTest, EveryChangeBumpsTheVersion) {
  jobs_->create(make_job("a"));
  auto v0 = *jobs_->version_of("a");
  jobs_->claim_next();
  auto v1 = *jobs_->version_of("a");
  jobs_->set_variant_state("a-v1", RunState::kRunning, std::nullopt);
  auto v2 = *jobs_->version_of("a");
  jobs_->set_progress("a", "optimizing", 0.5);
  auto v3 = *jobs_->version_of("a");
  EXPECT_LT(v0, v1);
  EXPECT_LT(v1, v2);
  EXPECT_LT(v2, v3);
}

TEST_P(JobRepositoryTest, RememberedVersionsFollowWritesFromAnyRepositoryOnTheDatabase) {
  jobs_->create(make_job("a"));
  auto v0 = *jobs_->version_of("a");
  EXPECT_EQ(*jobs_->version_of("a"), v0);  // no write in between: same answer (from memory)
  JobRepository other(*db_);                // e.g. the worker's view of the same database
  other.set_progress("a", "optimizing", 0.25);
  auto v1 = *jobs_->version_of("a");
  EXPECT_GT(v1, v0);
  EXPECT_EQ(v1, jobs_->get("a")->version);
  EXPECT_FALSE(jobs_->version_of("missing").has_value());
}

TEST_P(JobRepositoryTest, ModelWithActiveJobCannotBeDeleted) {
  jobs_->create(make_job("a"));
  try {
    models_->remove("m1");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "model-has-active-jobs");
  }
  jobs_->request_cancel("a");
  EXPECT_NO_THROW(models_->remove("m1"));
  EXPECT_FALSE(models_->get("m1").has_value());
  EXPECT_FALSE(jobs_->get("a").has_value());
}

TEST_P(JobRepositoryTest, AWorkerRestrictedToTargetsClaimsOnlyJobsItCanBuildEntirely) {
  auto gpu = make_job("gpu");
  gpu.variants[0].target = "nvidia-gpu";
  auto mixed = make_job("mixed");
  VariantRecord v2 = mixed.variants[0];
  v2.id = "mixed-v2";
  v2.target = "nvidia-gpu";
  mixed.variants.push_back(v2);
  jobs_->create(make_job("cpu"));
  jobs_->create(mixed);
  jobs_->create(gpu);
  ClaimTerms gpu_node;
  gpu_node.worker = "gpu-node";
  gpu_node.targets = {"nvidia-gpu", "nvidia-jetson"};
  auto claimed = jobs_->claim_next(gpu_node);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->id, "gpu");  // the older cpu and mixed jobs need a target this node lacks
  EXPECT_FALSE(jobs_->claim_next(gpu_node).has_value());
  ClaimTerms both;
  both.targets = {"x86_64-cpu", "nvidia-gpu"};
  EXPECT_EQ(jobs_->claim_next(both)->id, "cpu");
  EXPECT_EQ(jobs_->claim_next(both)->id, "mixed");
}

TEST_P(JobRepositoryTest, OnlyTheLeaseOwnerRenewsFinishesOrReleasesAJob) {
  jobs_->create(make_job("a"));
  ClaimTerms mine;
  mine.worker = "node-a";
  mine.now_ms = 1'000'000;
  mine.lease_ms = 1000;
  ASSERT_TRUE(jobs_->claim_next(mine));
  EXPECT_TRUE(jobs_->renew_lease("a", "node-a", 1'000'500, 1000));   // now runs to 1'001'500
  EXPECT_FALSE(jobs_->renew_lease("a", "node-b", 1'000'500, 1000));  // not b's
  EXPECT_EQ(jobs_->requeue_expired(1'001'400, 3).requeued, 0);
  EXPECT_EQ(jobs_->requeue_expired(1'001'600, 3).requeued, 1);     // a stopped renewing
  EXPECT_FALSE(jobs_->renew_lease("a", "node-a", 1'001'700, 1000)); // and has lost it
  ClaimTerms other;
  other.worker = "node-b";
  auto again = jobs_->claim_next(other);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempts, 2);
  // node-a wakes up late: none of its writes land on node-b's job.
  EXPECT_FALSE(jobs_->finish("a", RunState::kSucceeded, std::nullopt, "done", std::string("node-a")));
  jobs_->release("a", "shutting down", std::string("node-a"));
  jobs_->retry_later("a", "storage fault", 3, std::string("node-a"));
  try {
    jobs_->set_variant_result("a-v1", std::string(64, 'a'), 1, "{}", "validated", {}, std::string("node-a"));
    ADD_FAILURE() << "a stale worker stored a result";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "lease-lost");
  }
  auto job = jobs_->get("a");
  EXPECT_EQ(job->state, "running");
  EXPECT_EQ(job->attempts, 2);
  EXPECT_FALSE(job->variants[0].artifact_sha256.has_value());
  EXPECT_TRUE(jobs_->finish("a", RunState::kSucceeded, std::nullopt, "done", std::string("node-b")));
  EXPECT_EQ(jobs_->get("a")->state, "succeeded");
}

INSTANTIATE_TEST_SUITE_P(Backends, JobRepositoryTest, ::testing::Values(DatabaseKind::kSqlite, DatabaseKind::kPostgres),
                         [](const auto& info) { return std::string(aifgen::testing::kind_name(info.param)); });

}  // namespace
}  // namespace aifgen::storage

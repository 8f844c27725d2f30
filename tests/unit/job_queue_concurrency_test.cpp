// The queue under concurrency, on both backends: several Database objects stand for several
// processes (each has its own connections), each claiming from several threads at once.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "storage/job_repository.h"
#include "storage/model_repository.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_database.h"

namespace aifgen::storage {
namespace {

using aifgen::testing::DatabaseKind;
using aifgen::testing::TempDir;
using aifgen::testing::TestDatabase;

constexpr int kProcesses = 3;
constexpr int kThreadsPerProcess = 2;

class JobQueueConcurrencyTest : public ::testing::TestWithParam<DatabaseKind> {
 protected:
  void SetUp() override {
    if (!where_.available()) GTEST_SKIP() << where_.skip_reason();
    for (int i = 0; i < kProcesses; ++i) processes_.push_back(std::make_unique<Database>(where_.location(), kThreadsPerProcess));
    ModelRepository(*processes_[0]).insert_if_absent({"m1", "model", 1, "{}", now_iso8601()});
  }

  static JobRecord job(const std::string& id, std::optional<std::string> key = std::nullopt) {
    JobRecord j;
    j.id = id;
    j.model_id = "m1";
    j.created_at = now_iso8601();
    j.idempotency_key = std::move(key);
    j.request_hash = "h";
    VariantRecord v;
    v.id = id;
    v.id += "-v";
    v.target = "x86_64-cpu";
    v.precision = "fp32";
    j.variants.push_back(v);
    return j;
  }

  // Runs fn(process index, thread index) on every thread of every process at once.
  template <class F>
  void on_every_thread(F fn) {
    std::vector<std::thread> threads;
    for (int p = 0; p < kProcesses; ++p)
      for (int t = 0; t < kThreadsPerProcess; ++t) threads.emplace_back([&, p, t] { fn(p, t); });
    for (auto& t : threads) t.join();
  }

  TempDir dir_;
  TestDatabase where_{GetParam(), dir_.path()};
  std::vector<std::unique_ptr<Database>> processes_;
};

TEST_P(JobQueueConcurrencyTest, EveryJobIsClaimedExactlyOnceByConcurrentClaimers) {
  constexpr int kJobs = 120;
  JobRepository submit(*processes_[0]);
  for (int i = 0; i < kJobs; ++i) submit.create(job("job-" + std::to_string(i)));

  std::mutex mu;
  std::map<std::string, int> claims;
  on_every_thread([&](int p, int) {
    JobRepository jobs(*processes_[p]);
    while (auto claimed = jobs.claim_next()) {
      EXPECT_EQ(claimed->state, "running");
      EXPECT_EQ(claimed->attempts, 1);
      std::lock_guard lock(mu);
      ++claims[claimed->id];
    }
  });
  EXPECT_EQ(claims.size(), static_cast<std::size_t>(kJobs));
  for (const auto& [id, n] : claims) EXPECT_EQ(n, 1) << id << " was claimed " << n << " times";
  EXPECT_EQ(submit.count_by_state()["running"], kJobs);
}

TEST_P(JobQueueConcurrencyTest, OneIdempotencyKeySubmittedEverywhereAtOnceMakesOneJob) {
  std::mutex mu;
  std::set<std::string> answered;
  std::atomic<int> created{0};
  on_every_thread([&](int p, int t) {
    JobRepository jobs(*processes_[p]);
    auto [stored, is_new] = jobs.create(job("attempt-" + std::to_string(p) + "-" + std::to_string(t), "same-key"));
    created += is_new;
    std::lock_guard lock(mu);
    answered.insert(stored.id);
  });
  EXPECT_EQ(created.load(), 1);
  EXPECT_EQ(answered.size(), 1u) << "every submission must be answered with the one job";
  EXPECT_EQ(JobRepository(*processes_[0]).count_by_state()["queued"], 1);
}

TEST_P(JobQueueConcurrencyTest, ACancelRacingAClaimNeverCancelsAJobThatAWorkerStarted) {
  constexpr int kJobs = 60;
  JobRepository submit(*processes_[0]);
  for (int i = 0; i < kJobs; ++i) submit.create(job("job-" + std::to_string(i)));

  std::set<std::string> claimed;
  std::map<std::string, CancelOutcome> cancels;
  std::thread worker([&] {
    JobRepository jobs(*processes_[1]);
    while (auto j = jobs.claim_next()) claimed.insert(j->id);
  });
  std::thread canceller([&] {
    JobRepository jobs(*processes_[2]);
    for (int i = kJobs - 1; i >= 0; --i) {  // from the other end, so the two meet in the middle
      const std::string id = "job-" + std::to_string(i);
      cancels[id] = jobs.request_cancel(id);
    }
  });
  worker.join();
  canceller.join();
  for (int i = 0; i < kJobs; ++i) {
    const std::string id = "job-" + std::to_string(i);
    auto stored = submit.get(id);
    ASSERT_TRUE(stored);
    if (claimed.count(id)) {
      // A worker runs it: the cancel may only have been requested, never applied behind its back.
      EXPECT_EQ(stored->state, "running") << id;
      EXPECT_EQ(cancels[id], CancelOutcome::kRequested) << id;
      EXPECT_TRUE(stored->cancel_requested) << id;
    } else {
      EXPECT_EQ(stored->state, "cancelled") << id;
      EXPECT_EQ(cancels[id], CancelOutcome::kCancelled) << id;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, JobQueueConcurrencyTest,
                         ::testing::Values(DatabaseKind::kSqlite, DatabaseKind::kPostgres),
                         [](const auto& info) { return std::string(aifgen::testing::kind_name(info.param)); });

}  // namespace
}  // namespace aifgen::storage

// A fault in one job must never end the service: exceptions of any kind from a variant build
// fail that variant, and storage faults (injected through Database::inject_faults, the seam)
// put the job back for a later attempt while the worker backs off. Before these guards, a
// database write inside a catch handler threw out of the worker thread: std::terminate.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "core/base/error.h"
#include "core/base/clock.h"
#include "service/calibration_service.h"
#include "service/job_runner.h"
#include "service/worker_pool.h"
#include "storage/benchmark_repository.h"
#include "storage/calibration_repository.h"
#include "tests/support/model_builder.h"
#include "tests/support/temp_dir.h"

namespace aifgen {
namespace {

class StorageFault : public ::testing::Test {
 protected:
  StorageFault()
      : db_(dir_.path() + "/aifgen.db"), artifacts_(dir_.path()), models_(db_), jobs_(db_), benchmarks_(db_),
        calibration_repo_(db_), calibrations_(artifacts_, models_, calibration_repo_, 1 << 20),
        leases_(jobs_, events_, std::chrono::seconds(60), 3),
        runner_(config_, jobs_, models_, benchmarks_, artifacts_, calibrations_, events_, metrics_, leases_, stopping_),
        pool_(runner_, jobs_, events_, leases_, {}, stopping_) {
    config_.max_attempts = 3;
    pool_.set_max_backoff_s(1);
    const std::string bytes = testing::serialize(testing::conv_bn_relu_model());
    const std::string path = dir_.path() + "/m.onnx";
    std::ofstream(path, std::ios::binary) << bytes;
    model_id_ = artifacts_.put_file(path);
    models_.insert_if_absent({model_id_, "m", static_cast<std::int64_t>(bytes.size()), "{}", now_iso8601()});
    // A stand-in build: writes a small bundle; throws whatever the test asks for on one variant.
    runner_.set_build_function([this](const onnx::ModelProto&, const VariantRequest& req,
                                       const std::function<void(const std::string&, double)>& progress) {
      progress("building", 0.5);
      if (req.precision == throw_on_) throw_();
      std::ofstream(req.bundle_path, std::ios::binary) << "bundle of " << req.variant_id;
      BuiltVariant b;
      b.manifest = "{}";
      b.validation.status = ValidationStatus::kValidated;
      BenchmarkRecord local;
      local.variant_id = req.variant_id;
      local.subject = "variant";
      b.benchmarks = {local};
      return b;
    });
  }
  ~StorageFault() override { pool_.stop(); }

  std::string submit(const std::string& id) {
    JobRecord j;
    j.id = id;
    j.model_id = model_id_;
    j.options_json = "{}";
    j.created_at = now_iso8601();
    for (const char* p : {"fp32", "int8"}) {
      VariantRecord v;
      v.id = id + "-" + p;
      v.target = "x86_64-cpu";
      v.precision = p;
      j.variants.push_back(v);
    }
    jobs_.create(j);
    events_.notify(id);
    return id;
  }

  JobRecord wait_finished(const std::string& id, int seconds = 30) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < until) {
      auto j = jobs_.get(id);
      if (j && (j->state == "succeeded" || j->state == "failed" || j->state == "cancelled")) return *j;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "job " << id << " did not finish";
    return *jobs_.get(id);
  }

  testing::TempDir dir_;
  Config config_;
  std::atomic<bool> stopping_{false};
  storage::Database db_;
  storage::ArtifactStore artifacts_;
  storage::ModelRepository models_;
  storage::JobRepository jobs_;
  storage::BenchmarkRepository benchmarks_;
  storage::CalibrationRepository calibration_repo_;
  CalibrationService calibrations_;
  JobEvents events_;
  Metrics metrics_;
  LeaseKeeper leases_;
  JobRunner runner_;
  WorkerPool pool_;
  std::string model_id_;
  std::string throw_on_;
  std::function<void()> throw_ = [] {};
};

TEST_F(StorageFault, ANonErrorExceptionFromABuildFailsThatVariantOnlyAndTheWorkerGoesOn) {
  throw_on_ = "int8";
  throw_ = [] { throw std::out_of_range("vector::_M_range_check: __n (which is 7) >= this->size() (which is 3)"); };
  pool_.start(1);
  auto job = wait_finished(submit("job-a"));
  EXPECT_EQ(job.state, "failed");
  EXPECT_EQ(job.variants[0].state, "succeeded");  // fp32 was built before int8 threw
  EXPECT_EQ(job.variants[1].state, "failed");
  ASSERT_TRUE(job.variants[1].error);
  EXPECT_NE(job.variants[1].error->find("internal error: vector::_M_range_check"), std::string::npos);
  // The worker is alive: the next job runs.
  throw_on_.clear();
  EXPECT_EQ(wait_finished(submit("job-b")).state, "succeeded");
}

TEST_F(StorageFault, AStorageFaultWhileRecordingAFailureRequeuesTheJobAndItCompletesOnceTheFaultClears) {
  // The build fails (an ordinary Error), and writing that failure fails too: the case that
  // used to throw out of the catch handler and terminate the process.
  throw_on_ = "int8";
  throw_ = [] { throw Error(ErrorCode::kUnprocessable, "bad", "the variant cannot be built"); };
  // set_variant_state runs for fp32 (running), int8 (running), int8 (failed): fail the third.
  std::atomic<int> calls{0}, injected{0};
  db_.inject_faults([&](std::string_view sql) {
    if (sql.find("UPDATE variants SET state = ?") == std::string_view::npos) return false;
    const bool hit = ++calls == 3;
    injected += hit;
    return hit;
  });
  pool_.start(1);
  auto job = wait_finished(submit("job-c"));
  EXPECT_EQ(injected.load(), 1);
  EXPECT_EQ(job.state, "failed");  // retried, and the second attempt recorded the variant's failure
  EXPECT_EQ(job.attempts, 2);
  EXPECT_EQ(job.variants[0].state, "succeeded");
  EXPECT_EQ(job.variants[1].state, "failed");
  EXPECT_GE(pool_.faults(), 1);
}

TEST_F(StorageFault, AStoreThatFailsForAWhileStallsTheWorkersAndNothingIsLost) {
  std::atomic<bool> failing{true};
  db_.inject_faults([&](std::string_view) { return failing.load(); });
  pool_.start(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // workers fail to claim, back off
  EXPECT_GE(pool_.faults(), 2);
  failing = false;
  auto job = wait_finished(submit("job-d"));
  EXPECT_EQ(job.state, "succeeded");
  EXPECT_EQ(benchmarks_.for_variant("job-d-fp32").size(), 1u);
}

TEST_F(StorageFault, AFaultThatNeverClearsEndsTheJobAfterMaxAttemptsInsteadOfLooping) {
  // Storing the result always fails: each attempt builds, fails to record, requeues.
  db_.inject_faults([](std::string_view sql) { return sql.find("DELETE FROM benchmarks") != std::string_view::npos; });
  pool_.start(1);
  auto job = wait_finished(submit("job-e"), 60);
  EXPECT_EQ(job.state, "failed");
  EXPECT_EQ(job.attempts, 3);
  ASSERT_TRUE(job.error);
  EXPECT_NE(job.error->find("storage fault"), std::string::npos) << *job.error;
  EXPECT_NE(job.error->find("attempt 3 of 3"), std::string::npos) << *job.error;
}

TEST_F(StorageFault, AWorkerWhoseLeasePassedToAnotherAbandonsTheJobWithoutWritingItsResult) {
  // While fp32 builds, the lease expires and another node claims the job (simulated: the lease
  // changes hands in the database, then this process's renewal finds it gone).
  throw_on_ = "fp32";
  throw_ = [this] {
    throw_on_.clear();  // only the first job's build
    db_.acquire().prepare("UPDATE jobs SET lease_owner = 'other-node/1/ab' WHERE state = 'running'").exec();
    leases_.renew_and_reclaim();
  };
  pool_.start(1);
  const auto id = submit("job-f");
  // One worker: once it has finished the next job, it has let go of this one.
  const auto next = submit("job-g");
  EXPECT_EQ(wait_finished(next).state, "succeeded");  // the worker lives on and takes the next job
  auto job = jobs_.get(id);
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, "running") << "the new owner's job must be left as it is";
  EXPECT_FALSE(job->variants[0].artifact_sha256.has_value()) << "the abandoned build's bundle was recorded";
  EXPECT_TRUE(benchmarks_.for_variant("job-f-fp32").empty());
  auto lease = db_.acquire();
  auto st = lease.prepare("SELECT lease_owner FROM jobs WHERE id = ?");
  st.bind(1, id);
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.text(0), "other-node/1/ab");
}

TEST_F(StorageFault, AJobWhoseWorkerStoppedRenewingIsRequeuedAfterItsLeaseAndNotBefore) {
  const auto id = submit("job-h");
  storage::ClaimTerms dead;
  dead.worker = "dead-node/7/cd";
  dead.now_ms = unix_now_ms();
  dead.lease_ms = 2000;
  ASSERT_TRUE(jobs_.claim_next(dead));
  EXPECT_EQ(jobs_.requeue_expired(dead.now_ms + 1999, 3).requeued, 0);  // still within its lease
  EXPECT_EQ(jobs_.get(id)->state, "running");
  EXPECT_EQ(jobs_.requeue_expired(dead.now_ms + 2001, 3).requeued, 1);
  EXPECT_EQ(jobs_.get(id)->state, "queued");
  // A worker here then takes it and finishes it; the attempt is counted.
  pool_.start(1);
  auto job = wait_finished(id);
  EXPECT_EQ(job.state, "succeeded");
  EXPECT_EQ(job.attempts, 2);
}

}  // namespace
}  // namespace aifgen

// Runs one claimed job: for every (target, precision) variant not yet built, load the model,
// run the target's pipeline, package the bundle and store it. Checks for cancellation and
// shutdown at every stage boundary; a running job therefore stops at its next boundary.
#pragma once

#include <onnx/onnx_pb.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>
#include <optional>
#include <string>

#include "core/model_runs.h"
#include "core/quantize/stats_cache.h"
#include "service/calibration_service.h"
#include "service/config.h"
#include "service/job_events.h"
#include "service/lease_keeper.h"
#include "service/metrics.h"
#include "service/variant_builder.h"
#include "storage/artifact_store.h"
#include "storage/benchmark_repository.h"
#include "storage/job_repository.h"
#include "storage/model_repository.h"

namespace aifgen {

class JobRunner {
 public:
  // Builds one variant; aifgen::build_variant unless a test swaps it to throw on purpose.
  using BuildFn = std::function<BuiltVariant(const onnx::ModelProto&, const VariantRequest&,
                                             const std::function<void(const std::string&, double)>&)>;

  JobRunner(const Config& config, storage::JobRepository& jobs, storage::ModelRepository& models,
            storage::BenchmarkRepository& benchmarks, storage::ArtifactStore& artifacts, CalibrationService& calibrations,
            JobEvents& events, Metrics& metrics, LeaseKeeper& leases, const std::atomic<bool>& stopping)
      : config_(config), jobs_(jobs), models_(models), benchmarks_(benchmarks), artifacts_(artifacts),
        calibrations_(calibrations), events_(events), metrics_(metrics), leases_(leases), stopping_(stopping) {}

  // Never throws: a variant that fails (any exception) is recorded as failed and the job goes
  // on; when even that record cannot be written (the database is failing) the job is left for
  // the next claim, which counts the attempt, and this returns false so the caller backs off.
  // `job` was claimed under leases_.worker(): the lease is renewed while it runs, and a job
  // whose lease went to another worker is abandoned without writing its result.
  bool run(const JobRecord& job);

  void set_build_function(BuildFn fn) { build_ = std::move(fn); }

  // Retries the requeue of jobs whose hand-back failed during a storage fault; true when none
  // is left. The worker calls it before each claim.
  bool requeue_orphans();

 private:
  void stage(const JobRecord& job, const std::string& name, double progress);
  // What the variants of one job share.
  struct JobCache {
    std::optional<onnx::ModelProto> source;
    quantize::StatsCache stats;  // int8 variants of several targets calibrate once
    std::optional<ModelRuns> source_runs;  // of *source: planned, run and timed once (declared after it: goes first)
  };
  void build_variant(const JobRecord& job, const VariantRecord& v, double base, double share, JobCache& cache);
  int threads_per_job() const;  // Config::job_threads, or an even share of the host per worker
  template <class F>
  bool record(const JobRecord& job, const char* what, F&& write) noexcept;
  void give_back(const JobRecord& job, const std::string& reason);

  const Config& config_;
  storage::JobRepository& jobs_;
  storage::ModelRepository& models_;
  storage::BenchmarkRepository& benchmarks_;
  storage::ArtifactStore& artifacts_;
  CalibrationService& calibrations_;
  JobEvents& events_;
  Metrics& metrics_;
  LeaseKeeper& leases_;
  const std::atomic<bool>& stopping_;
  BuildFn build_ = aifgen::build_variant;
  std::mutex orphans_mu_;
  std::vector<std::pair<std::string, std::string>> orphans_;  // (job id, reason)
};

}  // namespace aifgen

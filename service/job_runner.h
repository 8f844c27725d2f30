// Runs one claimed job: for every (target, precision) variant not yet built, load the model,
// run the target's pipeline, package the bundle and store it. Checks for cancellation and
// shutdown at every stage boundary; a running job therefore stops at its next boundary.
#pragma once

#include <onnx/onnx_pb.h>

#include <atomic>
#include <functional>
#include <optional>
#include <string>

#include "core/quantize/stats_cache.h"
#include "service/calibration_service.h"
#include "service/config.h"
#include "service/job_events.h"
#include "service/metrics.h"
#include "storage/artifact_store.h"
#include "storage/benchmark_repository.h"
#include "storage/job_repository.h"
#include "storage/model_repository.h"

namespace aifgen {

class JobRunner {
 public:
  JobRunner(const Config& config, storage::JobRepository& jobs, storage::ModelRepository& models,
            storage::BenchmarkRepository& benchmarks, storage::ArtifactStore& artifacts, CalibrationService& calibrations,
            JobEvents& events, Metrics& metrics, const std::atomic<bool>& stopping)
      : config_(config), jobs_(jobs), models_(models), benchmarks_(benchmarks), artifacts_(artifacts),
        calibrations_(calibrations), events_(events), metrics_(metrics), stopping_(stopping) {}

  void run(const storage::JobRecord& job);

 private:
  void stage(const storage::JobRecord& job, const std::string& name, double progress);
  // What the variants of one job share.
  struct JobCache {
    std::optional<onnx::ModelProto> source;
    quantize::StatsCache stats;  // int8 variants of several targets calibrate once
  };
  void build_variant(const storage::JobRecord& job, const storage::VariantRecord& v, double base, double share, JobCache& cache);

  const Config& config_;
  storage::JobRepository& jobs_;
  storage::ModelRepository& models_;
  storage::BenchmarkRepository& benchmarks_;
  storage::ArtifactStore& artifacts_;
  CalibrationService& calibrations_;
  JobEvents& events_;
  Metrics& metrics_;
  const std::atomic<bool>& stopping_;
};

}  // namespace aifgen

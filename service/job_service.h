// Job submission and queries, and the variant artifacts jobs produce.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "service/calibration_service.h"
#include "service/job_events.h"
#include "storage/artifact_store.h"
#include "storage/benchmark_repository.h"
#include "storage/job_repository.h"
#include "storage/model_repository.h"
#include "core/base/records.h"

namespace aifgen {

struct JobRequest {
  std::string model_id;
  std::vector<std::string> targets;
  std::vector<std::string> precisions;  // empty: every precision of each target
  std::vector<std::string> variants;    // instead of the two above: "target/precision" pairs
  std::string options_json = "{}";      // a JSON object, stored verbatim
  std::optional<std::string> idempotency_key;
};

struct SubmitResult {
  JobRecord job;
  bool created = false;  // false: an earlier request with the same Idempotency-Key
};

struct ArtifactRef {
  std::string path;
  std::string sha256;
  std::int64_t size = 0;
  std::string file_name;  // suggested download name
};

class JobService {
 public:
  JobService(storage::JobRepository& jobs, storage::ModelRepository& models, storage::BenchmarkRepository& benchmarks,
             storage::ArtifactStore& artifacts, JobEvents& events, CalibrationService& calibrations, int max_queued)
      : jobs_(jobs), models_(models), benchmarks_(benchmarks), artifacts_(artifacts), events_(events),
        calibrations_(calibrations), max_queued_(max_queued) {}

  // Validates targets/precisions against the registry (422 listing valid pairs) and queues.
  // Throws Error(kUnavailable, "queue-full") when max_queued jobs already wait.
  SubmitResult submit(const JobRequest& req);
  JobRecord get(const std::string& id);  // throws kNotFound
  std::optional<std::int64_t> version(const std::string& id) { return jobs_.version_of(id); }
  std::vector<JobRecord> list(const std::optional<std::string>& state, int limit, int offset);
  // Returns the job after the request; throws kNotFound, or kConflict when already finished.
  JobRecord cancel(const std::string& id);

  VariantRecord variant(const std::string& id);  // throws kNotFound
  std::vector<BenchmarkRecord> benchmarks(const std::string& variant_id) { return benchmarks_.for_variant(variant_id); }
  // Stores a measurement from the field (origin "field") for a built variant. Throws
  // Error(kNotFound) for an unknown variant, Error(kConflict, "variant-not-built") before it is built.
  BenchmarkRecord add_field_benchmark(const std::string& variant_id, BenchmarkRecord b);
  storage::JobRepository::LatestVariants latest_variants(const std::string& model_id, const std::string& target,
                                                        const std::string& precision) {
    return jobs_.latest_variants(model_id, target, precision);
  }
  std::vector<VariantRecord> variants(const std::optional<std::string>& model_id,
                                               const std::optional<std::string>& job_id, int limit, int offset);
  // The bundle of a succeeded variant, re-hashed before it is served. Throws kNotFound,
  // kConflict ("variant-not-ready") or kIo ("artifact-corrupt").
  ArtifactRef artifact(const std::string& variant_id);

  std::map<std::string, std::int64_t> counts() { return jobs_.count_by_state(); }
  JobEvents& events() { return events_; }

 private:
  storage::JobRepository& jobs_;
  storage::ModelRepository& models_;
  storage::BenchmarkRepository& benchmarks_;
  storage::ArtifactStore& artifacts_;
  JobEvents& events_;
  CalibrationService& calibrations_;
  int max_queued_;
};

}  // namespace aifgen

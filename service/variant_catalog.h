// What a scheduler asks of the service: "model M on target T at precision P" (ready, or being
// made now), and "which variant is best for my objective within my accuracy budget".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "service/job_service.h"

namespace aifgen {

struct OnDemandResult {
  std::optional<VariantRecord> ready;  // set: the built variant
  std::optional<JobRecord> job;        // set when not ready: the job making it
  bool started = false;                         // this ask started that job
};

struct RankedVariant {
  VariantRecord variant;
  double accuracy_drop = 0;  // 1 - min over outputs of (top-1 agreement, else cosine similarity)
  std::optional<BenchmarkRecord> figure;  // the benchmark the rank used
  double value = 0;          // p50 ms (latency) or inferences/s (throughput)
};

struct Recommendation {
  std::string objective;
  double max_accuracy_drop = 1;
  std::vector<RankedVariant> ranked;      // best first
  std::vector<RankedVariant> unmeasured;  // within budget but never benchmarked
  std::vector<std::pair<VariantRecord, std::string>> excluded;  // and why
};

class VariantCatalog {
 public:
  explicit VariantCatalog(JobService& jobs) : jobs_(jobs) {}

  // The newest built variant for (model, target, precision); else the queued or running job
  // making it; else a new job (joined by later asks). A latest attempt that failed answers
  // Error(kUnprocessable, "variant-failed") unless `retry`. Throws what submit throws. Without
  // `may_start` (a read-only caller) nothing new is started: Error(kForbidden,
  // "insufficient-scope") instead of a job.
  OnDemandResult on_demand(const std::string& model_id, const std::string& target, const std::string& precision, bool retry,
                           bool may_start = true);

  // Ranks the model's built variants by `objective` ("latency" | "throughput"), each by its
  // newest field benchmark or, without one, this host's measurement; variants whose accuracy drop exceeds
  // `max_accuracy_drop` are excluded. Throws Error(kInvalidArgument) for a bad objective.
  Recommendation recommend(const std::string& model_id, const std::string& objective, double max_accuracy_drop,
                           const std::vector<std::string>& targets);

 private:
  JobService& jobs_;

};

}  // namespace aifgen

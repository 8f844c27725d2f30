#include "service/variant_catalog.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/validation.h"

namespace aifgen {
namespace {

// Accuracy drop from the stored validation numbers (core's one definition of it).
std::optional<double> accuracy_drop(const VariantRecord& v) {
  if (!v.report_json) return std::nullopt;
  auto r = nlohmann::json::parse(*v.report_json, nullptr, false);
  if (r.is_discarded() || !r.contains("validation") || !r["validation"].is_object() || !r["validation"].contains("outputs"))
    return std::nullopt;
  return accuracy_drop_of_report(r["validation"]["outputs"]);
}

}  // namespace

OnDemandResult VariantCatalog::on_demand(const std::string& model_id, const std::string& target, const std::string& precision,
                                         bool retry, bool may_start) {
  OnDemandResult out;
  auto found = jobs_.latest_variants(model_id, target, precision);
  if (found.succeeded) {
    out.ready = found.succeeded;
    return out;
  }
  const auto& latest = found.newest;
  if (latest && !is_terminal_state(latest->state)) {
    out.job = jobs_.get(latest->job_id);
    return out;
  }
  if (!may_start)
    throw Error(ErrorCode::kForbidden, "insufficient-scope",
                "no " + target + "/" + precision + " variant of this model is built or being built, and starting one needs a key with "
                "write scope" + (latest ? " (the latest attempt, variant " + latest->id + ", is " + latest->state + ")" : std::string()));
  if (latest && in_state(latest->state, RunState::kFailed) && !retry)
    throw Error(ErrorCode::kUnprocessable, "variant-failed",
                "the latest attempt at " + target + "/" + precision + " failed: " + latest->error.value_or("unknown error") +
                    " (ask again with ?retry=true to try once more)");
  JobRequest req;
  req.model_id = model_id;
  req.targets = {target};
  req.precisions = {precision};
  // Concurrent asks for the same variant must join one job, without a lock around the database
  // work: the idempotency key names what is being asked after which attempt, so the job store's
  // unique key lets the first insert win and hands every other asker that same job.
  req.idempotency_key = "on-demand:" + model_id + "/" + target + "/" + precision + "/after:" + (latest ? latest->id : "none");
  auto submitted = jobs_.submit(req);
  out.job = submitted.job;
  out.started = true;
  return out;
}

Recommendation VariantCatalog::recommend(const std::string& model_id, const std::string& objective, double max_drop,
                                         const std::vector<std::string>& targets) {
  if (objective != "latency" && objective != "throughput")
    throw Error(ErrorCode::kInvalidArgument, "invalid-parameter", "objective must be latency or throughput", {"latency", "throughput"});
  if (!(max_drop >= 0 && max_drop <= 1)) throw Error(ErrorCode::kInvalidArgument, "invalid-parameter", "max_accuracy_drop must be in [0, 1]");
  Recommendation rec;
  rec.objective = objective;
  rec.max_accuracy_drop = max_drop;
  for (const auto& v : jobs_.variants(model_id, std::nullopt, 1000, 0)) {
    if (!in_state(v.state, RunState::kSucceeded)) continue;
    if (!targets.empty() && std::find(targets.begin(), targets.end(), v.target) == targets.end()) continue;
    RankedVariant r;
    r.variant = v;
    auto drop = accuracy_drop(v);
    if (!drop) {
      rec.excluded.emplace_back(v, "no validation numbers");
      continue;
    }
    r.accuracy_drop = *drop;
    if (r.accuracy_drop > max_drop) {
      char why[96];
      std::snprintf(why, sizeof why, "accuracy drop %.4f exceeds %.4f", r.accuracy_drop, max_drop);
      rec.excluded.emplace_back(v, why);
      continue;
    }
    // Field reports first (newest wins), then this host's measurement of the variant.
    std::optional<BenchmarkRecord> field, local;
    for (const auto& b : jobs_.benchmarks(v.id)) {
      if (b.subject != "variant") continue;
      if (b.origin == "field") field = b;
      else local = b;
    }
    r.figure = field ? field : local;
    if (!r.figure) {
      rec.unmeasured.push_back(r);
      continue;
    }
    r.value = objective == "latency" ? r.figure->p50_ms : r.figure->throughput_per_s;
    rec.ranked.push_back(r);
  }
  std::stable_sort(rec.ranked.begin(), rec.ranked.end(), [&](const RankedVariant& a, const RankedVariant& b) {
    return objective == "latency" ? a.value < b.value : a.value > b.value;
  });
  return rec;
}

}  // namespace aifgen

// Job submission, cancellation and variant lookups.
#include "service/job_service.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/base/clock.h"
#include "service/build_options.h"
#include "targets/registry.h"

#include "core/base/error.h"
#include "core/base/sha256.h"
#include "core/base/random_hex.h"
#include "storage/database.h"
#include "targets/common/tensorrt_profile.h"
#include "targets/registry.h"

namespace aifgen {
namespace {

std::string request_fingerprint(const JobRequest& r) {
  std::string s = r.model_id + "\n";
  for (const auto& t : r.targets) s += t + ",";
  s += "\n";
  for (const auto& p : r.precisions) s += p + ",";
  if (!r.variants.empty()) {
    s += "\nvariants:";  // only when present: fingerprints of earlier requests stay the same
    for (const auto& v : r.variants) s += v + ",";
  }
  s += "\n" + r.options_json;
  return Sha256::of(s);
}

// The model's inputs as stored at upload: name -> dims, -1 where symbolic or unknown.
std::map<std::string, std::vector<std::int64_t>> input_dims(const nlohmann::json& info) {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const auto& in : info.value("inputs", nlohmann::json::array())) {
    std::vector<std::int64_t> dims;
    if (in.contains("shape") && in["shape"].is_array())
      for (const auto& d : in["shape"]) dims.push_back(d.is_number_integer() && d.get<std::int64_t>() > 0 ? d.get<std::int64_t>() : -1);
    out[in.value("name", "")] = dims;
  }
  return out;
}

}  // namespace

SubmitResult JobService::submit(const JobRequest& req) {
  auto pairs = req.variants.empty() ? expand_requests(req.targets, req.precisions) : expand_pairs(req.variants);
  std::vector<std::string> targets;
  for (const auto& [t, _] : pairs)
    if (std::find(targets.begin(), targets.end(), t) == targets.end()) targets.push_back(t);
  // Options are checked now, so a job never fails late for a typo or a missing calibration set.
  auto options = parse_build_options(nlohmann::json::parse(req.options_json));
  // A target that cannot run the model fails the request now, with the ops it lacks.
  if (auto model = models_.get(req.model_id)) {
    auto info = nlohmann::json::parse(model->info_json);
    check_targets_can_run(targets, info.value("op_census", std::map<std::string, std::int64_t>{}));
    if (!options.shape_profiles.empty()) check_shape_profiles(options.shape_profiles, input_dims(info));
  }
  if (options.calibration_id) {
    calibrations_.list(req.model_id);  // 404 for an unknown model first
    calibrations_.check_exists(req.model_id, *options.calibration_id);
  }
  JobRecord job;
  job.id = new_id("job");
  job.model_id = req.model_id;
  job.options_json = req.options_json;
  job.idempotency_key = req.idempotency_key;
  job.request_hash = request_fingerprint(req);
  job.created_at = now_iso8601();
  for (const auto& [target, precision] : pairs) {
    VariantRecord v;
    v.id = new_id("var");
    v.target = target;
    v.precision = precision;
    job.variants.push_back(v);
  }
  auto [stored, created] = jobs_.create(job, max_queued_);
  if (created) events_.notify(stored.id);
  return {stored, created};
}

JobRecord JobService::get(const std::string& id) {
  auto j = jobs_.get(id);
  if (!j) throw Error(ErrorCode::kNotFound, "job-not-found", "no job with id " + id);
  return *j;
}

std::vector<JobRecord> JobService::list(const std::optional<std::string>& state, int limit, int offset) {
  if (state && !parse_state(*state)) {
    std::vector<std::string> names;
    for (auto s : kRunStates) names.emplace_back(state_name(s));
    throw Error(ErrorCode::kInvalidArgument, "invalid-parameter", "unknown job state '" + *state + "'", names);
  }
  return jobs_.list(state, limit, offset);
}

JobRecord JobService::cancel(const std::string& id) {
  auto outcome = jobs_.request_cancel(id);
  if (outcome == storage::CancelOutcome::kAlreadyFinished) {
    auto job = get(id);
    throw Error(ErrorCode::kConflict, "job-already-finished", "job " + id + " already ended as " + job.state);
  }
  events_.notify(id);
  return get(id);
}

BenchmarkRecord JobService::add_field_benchmark(const std::string& variant_id, BenchmarkRecord b) {
  auto v = variant(variant_id);
  if (!in_state(v.state, RunState::kSucceeded))
    throw Error(ErrorCode::kConflict, "variant-not-built", "variant " + variant_id + " is " + v.state + "; only built variants take benchmarks");
  b.variant_id = variant_id;
  b.subject = "variant";
  b.origin = "field";
  b.created_at = now_iso8601();
  benchmarks_.add(b);
  return b;
}

VariantRecord JobService::variant(const std::string& id) {
  auto v = jobs_.get_variant(id);
  if (!v) throw Error(ErrorCode::kNotFound, "variant-not-found", "no variant with id " + id);
  return *v;
}

std::vector<VariantRecord> JobService::variants(const std::optional<std::string>& model_id,
                                                         const std::optional<std::string>& job_id, int limit,
                                                         int offset) {
  return jobs_.list_variants(model_id, job_id, limit, offset);
}

ArtifactRef JobService::artifact(const std::string& variant_id) {
  auto v = variant(variant_id);
  if (!in_state(v.state, RunState::kSucceeded) || !v.artifact_sha256)
    throw Error(ErrorCode::kConflict, "variant-not-ready",
                "variant " + variant_id + " is " + v.state + "; only succeeded variants have a bundle");
  // One stat per download; a full re-hash only when the file changed on disk since it was
  // written or last checked (the scheduled scrub covers changes a stat cannot see).
  if (!artifacts_.verify_if_changed(*v.artifact_sha256))
    throw Error(ErrorCode::kIo, "artifact-corrupt",
                "the stored bundle of variant " + variant_id + " is missing or does not match its sha256");
  return {artifacts_.path_of(*v.artifact_sha256), *v.artifact_sha256, v.artifact_size.value_or(0),
          "aifgen-" + v.id + "-" + v.target + "-" + v.precision + ".tar.gz"};
}

}  // namespace aifgen

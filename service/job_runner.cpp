// Job orchestration: calls core (load, passes) and targets (pipeline, packaging), records in
// storage. A failure of one variant is recorded on that variant and the job goes on.
#include "service/job_runner.h"

#include <nlohmann/json.hpp>
#include <optional>

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/base/error.h"
#include "core/onnx_model.h"
#include "service/host_info.h"
#include "service/variant_builder.h"
#include "core/base/random_hex.h"
#include "storage/database.h"
#include "targets/registry.h"

namespace aifgen {
namespace {

struct StopRequested {
  enum Reason { kCancel, kShutdown, kLeaseLost };
  std::string stage;
  Reason reason;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

// The stage this worker thread is in and when it began, for the per-stage wall-clock limit.
thread_local std::string current_stage;
thread_local std::chrono::steady_clock::time_point stage_began;

// Fails the variant when the stage that just ended ran past the limit. Checked at stage
// boundaries: a stage is measured when it hands over, so the worker itself always lives on.
void check_stage_deadline(double limit_s) {
  if (current_stage.empty()) return;
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - stage_began).count();
  if (took > limit_s) {
    auto name = current_stage;
    current_stage.clear();
    throw Error(ErrorCode::kUnprocessable, "stage-timed-out",
                "stage timed out: '" + name + "' took " + std::to_string(took) + " s; the limit is " + std::to_string(limit_s) + " s");
  }
}

void JobRunner::stage(const JobRecord& job, const std::string& name, double progress) {
  if (config_.debug_stage_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(config_.debug_stage_delay_ms));
  if (name.rfind("loading ", 0) == 0) current_stage.clear();  // a new variant: nothing to time yet
  check_stage_deadline(config_.stage_timeout_s);
  current_stage = name;
  stage_began = std::chrono::steady_clock::now();
  if (stopping_.load()) throw StopRequested{name, StopRequested::kShutdown};
  if (leases_.lost(job.id)) throw StopRequested{name, StopRequested::kLeaseLost};
  if (jobs_.cancel_requested(job.id)) throw StopRequested{name, StopRequested::kCancel};
  jobs_.set_progress(job.id, name, progress);
  events_.notify(job.id);
}

int JobRunner::threads_per_job() const { return config_.job_threads > 0 ? config_.job_threads : job_threads(config_.workers); }

void JobRunner::build_variant(const JobRecord& job, const VariantRecord& v, double base, double share,
                              JobCache& cache) {
  const std::string label = v.target + "/" + v.precision;
  const Target* target = find_target(v.target);
  if (!target) throw Error(ErrorCode::kUnprocessable, "unknown-target", "target " + v.target + " is not in this build");
  auto model_row = models_.get(job.model_id);
  if (!model_row) throw Error(ErrorCode::kNotFound, "model-not-found", "the job's model no longer exists");

  stage(job, "loading " + label, base);
  jobs_.set_variant_state(v.id, RunState::kRunning, std::nullopt);
  // Parsed once per job: a 100 MB model takes about half a second to parse.
  if (!cache.source) {
    cache.source = load_model_file(artifacts_.path_of(model_row->id));
    std::vector<std::string> targets;
    for (const auto& each : job.variants) targets.push_back(each.target);
    cache.source_runs.emplace(*cache.source, source_runs_plan(targets, threads_per_job()));
  }
  const auto& source = *cache.source;

  VariantRequest req;
  req.variant_id = v.id;
  req.source_id = model_row->id;
  req.source_name = model_row->name;
  req.source_bytes = model_row->size_bytes;
  req.target = target;
  req.precision = v.precision;
  req.bundle_path = artifacts_.temp_dir() + "/" + new_id("bundle") + ".tar.gz";
  req.options = parse_build_options(nlohmann::json::parse(job.options_json));
  req.runtime_image = config_.runtime_image;
  req.threads = threads_per_job();
  req.resources = config_.k8s_resources;
  std::optional<CalibrationSet> calibration;
  if (!req.options.synthetic_calibration) calibration = calibrations_.load(model_row->id, req.options.calibration_id);
  req.calibration = calibration ? &*calibration : nullptr;
  req.stats_cache = &cache.stats;
  req.source_runs = &*cache.source_runs;
  struct RemoveOnExit {
    std::string p;
    ~RemoveOnExit() { std::filesystem::remove(p); }
  } cleanup{req.bundle_path};
  auto built = build_(source, req, [&](const std::string& name, double f) { stage(job, name, base + share * f); });

  stage(job, "storing " + label, base + share * 0.9);
  std::string sha = artifacts_.put_file(req.bundle_path);
  const auto size = artifacts_.size_of(sha);
  if (!size) throw Error(ErrorCode::kIo, "storage-error", "the bundle just stored as " + sha + " cannot be found in the artifact store");
  jobs_.set_variant_result(v.id, sha, static_cast<std::int64_t>(*size), built.manifest, validation_status_name(built.validation.status),
                           built.benchmarks, leases_.worker());
  events_.notify(job.id);
}

// Writes a record from inside a failure path. A second failure there (the database itself is
// failing) is logged, not thrown: it must not escape the worker thread.
template <class F>
bool JobRunner::record(const JobRecord& job, const char* what, F&& write) noexcept {
  try {
    write();
    events_.notify(job.id);
    return true;
  } catch (const std::exception& e) {
    spdlog::error("job {}: cannot record {}: {}", job.id, what, e.what());
  } catch (...) {
    spdlog::error("job {}: cannot record {}: unknown exception", job.id, what);
  }
  return false;
}

// The job goes back to the queue (attempt counted) after a storage fault; when even that write
// fails it is remembered and retried by the worker before its next claim.
void JobRunner::give_back(const JobRecord& job, const std::string& reason) {
  if (record(job, "the requeue", [&] { jobs_.retry_later(job.id, reason, config_.max_attempts, leases_.worker()); })) return;
  std::lock_guard lock(orphans_mu_);
  orphans_.push_back({job.id, reason});
}

bool JobRunner::requeue_orphans() {
  std::vector<std::pair<std::string, std::string>> pending;
  {
    std::lock_guard lock(orphans_mu_);
    pending.swap(orphans_);
  }
  std::vector<std::pair<std::string, std::string>> still;
  for (auto& [id, reason] : pending) {
    try {
      jobs_.retry_later(id, reason, config_.max_attempts, leases_.worker());
      events_.notify(id);
    } catch (const std::exception& e) {
      spdlog::error("job {}: still cannot requeue after a storage fault: {}", id, e.what());
      still.emplace_back(std::move(id), std::move(reason));
    }
  }
  std::lock_guard lock(orphans_mu_);
  orphans_.insert(orphans_.end(), still.begin(), still.end());
  return orphans_.empty();
}

bool JobRunner::run(const JobRecord& job) {
  leases_.hold(job.id);
  struct DropLease {
    LeaseKeeper& leases;
    const std::string& id;
    ~DropLease() { leases.drop(id); }
  } drop_lease{leases_, job.id};
  auto start = std::chrono::steady_clock::now();
  spdlog::info("job {} started by {} (attempt {}, {} variant(s))", job.id, leases_.worker(), job.attempts, job.variants.size());
  const double n = static_cast<double>(job.variants.size());
  int failed = 0;
  JobCache cache;  // the source model and calibration statistics, shared by the job's variants
  // Records the job's end; a storage fault there hands the job back for another attempt.
  auto end_as = [&](const char* what, auto&& write) {
    if (record(job, what, write)) return true;
    give_back(job, std::string("storage fault while recording ") + what);
    return false;
  };
  try {
    for (std::size_t i = 0; i < job.variants.size(); ++i) {
      const auto& v = job.variants[i];
      if (in_state(v.state, RunState::kSucceeded)) continue;  // built by an earlier attempt: kept, not redone
      std::string error;
      try {
        build_variant(job, v, i / n, 1.0 / n, cache);
        check_stage_deadline(config_.stage_timeout_s);  // the variant's last stage
        current_stage.clear();
        continue;
      } catch (const Error& e) {
        // A storage fault is not the variant's fault: the job stops here and is retried later.
        if (e.code() == ErrorCode::kIo) throw;
        if (e.type() == "lease-lost") throw StopRequested{"storing " + v.target + "/" + v.precision, StopRequested::kLeaseLost};
        error = e.what();
      } catch (const StopRequested&) {
        throw;
      } catch (const std::exception& e) {
        // A bug in a pass or a target (std::out_of_range, bad_alloc, ...) fails this variant
        // only, labelled as internal so nobody mistakes it for the model's fault.
        error = std::string("internal error: ") + e.what();
      }
      current_stage.clear();
      ++failed;
      spdlog::warn("job {} variant {} ({}/{}) failed: {}", job.id, v.id, v.target, v.precision, error);
      if (!end_as("a failed variant", [&] { jobs_.set_variant_state(v.id, RunState::kFailed, error); })) return false;
    }
    const auto state = failed == 0 ? RunState::kSucceeded : RunState::kFailed;
    std::optional<std::string> error;
    if (failed) error = std::to_string(failed) + " of " + std::to_string(job.variants.size()) + " variant(s) failed";
    bool ours = true;
    if (!end_as("the job's result", [&] { ours = jobs_.finish(job.id, state, error, "done", leases_.worker()); })) return false;
    if (!ours) {
      spdlog::warn("job {}: lease lost before its result was recorded; another worker owns it now", job.id);
      return true;
    }
    metrics_.observe_job(state_name(state), seconds_since(start));
    spdlog::info("job {} {} in {:.3f}s", job.id, state_name(state), seconds_since(start));
    return true;
  } catch (const StopRequested& stop) {
    current_stage.clear();
    if (stop.reason == StopRequested::kLeaseLost) {
      spdlog::warn("job {}: abandoned during '{}': its lease passed to another worker", job.id, stop.stage);
      return true;
    }
    if (stop.reason == StopRequested::kShutdown) {
      // Not the job's fault: put it back without counting this attempt (a restart requeues it
      // anyway if even this write fails).
      return record(job, "the requeue at shutdown", [&] {
        jobs_.release(job.id, "requeued: service shutting down during '" + stop.stage + "'", leases_.worker());
      });
    }
    metrics_.observe_job(state_name(RunState::kCancelled), seconds_since(start));
    spdlog::info("job {} cancelled during '{}'", job.id, stop.stage);
    return end_as("the cancellation", [&] {
      jobs_.finish(job.id, RunState::kCancelled, "cancelled on request during stage '" + stop.stage + "'",
                   "cancelled during '" + stop.stage + "'", leases_.worker());
    });
  } catch (const Error& e) {
    current_stage.clear();
    if (e.code() == ErrorCode::kIo) {
      // Storage failed under the job (disk full, an I/O error). Hand it back: the attempt
      // counts, so a fault that never clears ends the job after max_attempts, not in a loop.
      spdlog::error("job {} interrupted by a storage fault (attempt {}): {}", job.id, job.attempts, e.what());
      give_back(job, std::string("storage fault: ") + e.what());
      return false;
    }
    metrics_.observe_job(state_name(RunState::kFailed), seconds_since(start));
    spdlog::error("job {} failed: {}", job.id, e.what());
    return end_as("the failure", [&] { jobs_.finish(job.id, RunState::kFailed, std::string("internal error: ") + e.what(), "failed", leases_.worker()); });
  } catch (const std::exception& e) {
    current_stage.clear();
    metrics_.observe_job(state_name(RunState::kFailed), seconds_since(start));
    spdlog::error("job {} failed: {}", job.id, e.what());
    return end_as("the failure", [&] { jobs_.finish(job.id, RunState::kFailed, std::string("internal error: ") + e.what(), "failed", leases_.worker()); });
  } catch (...) {
    current_stage.clear();
    spdlog::error("job {} failed: unknown exception", job.id);
    return end_as("the failure", [&] { jobs_.finish(job.id, RunState::kFailed, "internal error: unknown exception", "failed", leases_.worker()); });
  }
}

}  // namespace aifgen

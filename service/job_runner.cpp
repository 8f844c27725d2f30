// Job orchestration: calls core (load, passes) and targets (pipeline, packaging), records in
// storage. A failure of one variant is recorded on that variant and the job goes on.
#include "service/job_runner.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/error.h"
#include <nlohmann/json.hpp>

#include "core/engine/random_inputs.h"
#include "core/engine/timing.h"
#include "core/onnx_model.h"
#include "core/validation.h"
#include "service/host_info.h"
#include "service/ids.h"
#include "storage/database.h"
#include "targets/registry.h"

namespace aifgen {
namespace {

struct StopRequested {
  std::string stage;
  bool shutdown;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

void JobRunner::stage(const storage::JobRecord& job, const std::string& name, double progress) {
  if (config_.debug_stage_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(config_.debug_stage_delay_ms));
  if (stopping_.load()) throw StopRequested{name, true};
  if (jobs_.cancel_requested(job.id)) throw StopRequested{name, false};
  jobs_.set_progress(job.id, name, progress);
  events_.notify();
}

void JobRunner::build_variant(const storage::JobRecord& job, const storage::VariantRecord& v, double base, double share) {
  const std::string label = v.target + "/" + v.precision;
  const Target* target = find_target(v.target);
  if (!target) throw Error(ErrorCode::kUnprocessable, "unknown-target", "target " + v.target + " is not in this build");
  auto model_row = models_.get(job.model_id);
  if (!model_row) throw Error(ErrorCode::kNotFound, "model-not-found", "the job's model no longer exists");

  stage(job, "loading " + label, base);
  jobs_.set_variant_state(v.id, "running", std::nullopt);
  const auto source = load_model_file(artifacts_.path_of(model_row->id));
  auto proto = source;

  auto pipeline = target->pipeline(v.precision);
  auto t0 = std::chrono::steady_clock::now();
  auto passes = run_pipeline(proto, pipeline, [&](std::size_t i) {
    stage(job, "optimizing " + label + ": " + pipeline[i], base + share * (0.1 + 0.5 * i / pipeline.size()));
  });
  double optimize_ms = seconds_since(t0) * 1000;

  stage(job, "validating " + label, base + share * 0.6);
  auto validation = validate_variant(source, proto, ValidationThresholds{});
  if (validation.status == "failed")
    throw Error(ErrorCode::kUnprocessable, "validation-failed", "validation failed: " + validation.reason);
  nlohmann::json report = {{"validation", validation_to_json(validation)}, {"benchmarks", nlohmann::json::array()}};
  std::vector<storage::BenchmarkRecord> rows;
  if (target->descriptor().runs_on_service_host && validation.status != "skipped") {
    stage(job, "benchmarking " + label, base + share * 0.7);
    for (const auto* subject : {"source", "variant"}) {
      engine::SessionOptions opts;
      opts.input_shapes = engine::default_input_shapes(source);
      engine::Session session(std::string(subject) == "source" ? source : proto, opts);
      auto stats = engine::time_runs(session, engine::random_inputs(session.inputs(), 7), 2, 10);
      storage::BenchmarkRecord b;
      b.variant_id = v.id;
      b.subject = subject;
      b.host = host_description();
      b.threads = 1;
      b.batch = session.inputs().empty() || session.inputs()[0].shape.empty() ? 1 : session.inputs()[0].shape[0];
      b.iterations = stats.iterations;
      b.p50_ms = stats.p50_ms;
      b.p90_ms = stats.p90_ms;
      b.p99_ms = stats.p99_ms;
      b.throughput_per_s = stats.throughput_per_s;
      report["benchmarks"].push_back({{"subject", b.subject}, {"host", b.host}, {"threads", b.threads}, {"batch", b.batch},
                                      {"p50_ms", b.p50_ms}, {"p90_ms", b.p90_ms}, {"p99_ms", b.p99_ms},
                                      {"throughput_per_s", b.throughput_per_s}});
      rows.push_back(b);
    }
  }

  stage(job, "packaging " + label, base + share * 0.75);
  VariantBuild build;
  build.variant_id = v.id;
  build.source_model_id = model_row->id;
  build.source_model_name = model_row->name;
  build.target = v.target;
  build.precision = v.precision;
  build.passes = std::move(passes);
  build.source_bytes = model_row->size_bytes;
  build.variant_model_bytes = static_cast<std::int64_t>(proto.ByteSizeLong());
  build.optimize_ms = optimize_ms;
  build.report_json = report.dump();
  build.aifgen_version = AIFGEN_VERSION;
  build.created_at = storage::now_iso8601();
  std::string bundle_path = artifacts_.temp_dir() + "/" + new_id("bundle") + ".tar.gz";
  struct RemoveOnExit {
    std::string p;
    ~RemoveOnExit() { std::filesystem::remove(p); }
  } cleanup{bundle_path};
  std::string manifest = target->package(proto, build, bundle_path);

  stage(job, "storing " + label, base + share * 0.9);
  std::string sha = artifacts_.put_file(bundle_path);
  for (const auto& b : rows) benchmarks_.add(b);
  jobs_.set_variant_result(v.id, sha, static_cast<std::int64_t>(*artifacts_.size_of(sha)), manifest);
  events_.notify();
}

void JobRunner::run(const storage::JobRecord& job) {
  auto start = std::chrono::steady_clock::now();
  spdlog::info("job {} started (attempt {}, {} variant(s))", job.id, job.attempts, job.variants.size());
  const double n = static_cast<double>(job.variants.size());
  int failed = 0;
  try {
    for (std::size_t i = 0; i < job.variants.size(); ++i) {
      const auto& v = job.variants[i];
      if (v.state == "succeeded") continue;  // built by an earlier attempt: kept, not redone
      try {
        build_variant(job, v, i / n, 1.0 / n);
      } catch (const Error& e) {
        ++failed;
        spdlog::warn("job {} variant {} ({}/{}) failed: {}", job.id, v.id, v.target, v.precision, e.what());
        jobs_.set_variant_state(v.id, "failed", std::string(e.what()));
        events_.notify();
      }
    }
    std::string state = failed == 0 ? "succeeded" : "failed";
    std::optional<std::string> error;
    if (failed) error = std::to_string(failed) + " of " + std::to_string(job.variants.size()) + " variant(s) failed";
    jobs_.finish(job.id, state, error, "done");
    metrics_.observe_job(state, seconds_since(start));
    spdlog::info("job {} {} in {:.3f}s", job.id, state, seconds_since(start));
  } catch (const StopRequested& stop) {
    if (stop.shutdown) {
      // Not the job's fault: put it back without counting this attempt.
      jobs_.release(job.id, "requeued: service shutting down during '" + stop.stage + "'");
      spdlog::info("job {} requeued at shutdown", job.id);
    } else {
      jobs_.finish(job.id, "cancelled", "cancelled on request during stage '" + stop.stage + "'",
                   "cancelled during '" + stop.stage + "'");
      metrics_.observe_job("cancelled", seconds_since(start));
      spdlog::info("job {} cancelled during '{}'", job.id, stop.stage);
    }
  } catch (const std::exception& e) {
    jobs_.finish(job.id, "failed", std::string("internal error: ") + e.what(), "failed");
    metrics_.observe_job("failed", seconds_since(start));
    spdlog::error("job {} failed: {}", job.id, e.what());
  }
  events_.notify();
}

}  // namespace aifgen

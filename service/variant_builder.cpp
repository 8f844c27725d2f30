// The per-variant pipeline: optimize -> validate -> benchmark -> package.
#include "service/variant_builder.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/base/clock.h"
#include "core/engine/random_inputs.h"
#include "core/engine/timing.h"
#include "core/base/error.h"
#include "core/model_runs.h"
#include "service/host_info.h"
#include "storage/database.h"
#include "targets/registry.h"

namespace aifgen {
namespace {

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Source and variant timed on the engine, 1 thread, the same synthetic inputs (ModelRuns keeps
// the source's figures for the job's other variants and reuses the plans validation made).
constexpr std::uint32_t kBenchmarkSeed = 7;
constexpr int kBenchmarkWarmup = 2, kBenchmarkIterations = 10;

BenchmarkRecord benchmark_of(ModelRuns& runs, const ModelRuns::Shapes& shapes, const char* subject, const std::string& variant_id) {
  const auto stats = runs.benchmark(shapes, kBenchmarkSeed, kBenchmarkWarmup, kBenchmarkIterations);
  const auto& inputs = runs.inputs(shapes);
  BenchmarkRecord b;
  b.variant_id = variant_id;
  b.subject = subject;
  b.host = host_description();
  b.batch = inputs.empty() || inputs[0].shape.empty() ? 1 : inputs[0].shape[0];
  b.iterations = stats.iterations;
  b.p50_ms = stats.p50_ms;
  b.p90_ms = stats.p90_ms;
  b.p99_ms = stats.p99_ms;
  b.throughput_per_s = stats.throughput_per_s;
  return b;
}

// One calibration sample's shape per model input (batch 1), binding the set as split_samples
// does: a tensor of the input's rank holds batch-1 rows, one of rank + 1 whole inputs; a lone
// tensor binds to a lone input whatever its name.
std::map<std::string, std::vector<std::int64_t>> calibration_sample_shapes(const onnx::ModelProto& model, const CalibrationSet* set) {
  std::map<std::string, std::vector<std::int64_t>> out;
  if (!set || set->tensors.empty()) return out;
  auto inputs = engine::default_input_shapes(model);
  for (const auto& [name, dims] : inputs) {
    auto it = set->tensors.find(name);
    if (it == set->tensors.end() && inputs.size() == 1 && set->tensors.size() == 1) it = set->tensors.begin();
    if (it == set->tensors.end()) continue;
    std::vector<std::int64_t> shape = it->second.shape;
    if (shape.size() == dims.size() + 1) shape.erase(shape.begin());
    if (shape.size() != dims.size() || shape.empty()) continue;
    shape[0] = 1;
    out[name] = shape;
  }
  return out;
}

}  // namespace

BuiltVariant build_variant(const onnx::ModelProto& source, const VariantRequest& req,
                           const std::function<void(const std::string&, double)>& progress) {
  const Target& target = *req.target;
  const std::string label = target.descriptor().id + "/" + req.precision;
  auto proto = source;
  auto pipeline = target.pipeline(req.precision);
  const bool budget = budget_applies(req.options, req.calibration != nullptr);
  set_quantize_options(pipeline, req.options, budget);
  PassEnv env;
  env.calibration = req.calibration;
  env.stats_cache = req.stats_cache;
  env.threads = req.threads;
  std::size_t current = 0;
  auto fraction = [&] { return 0.1 + 0.5 * static_cast<double>(current) / static_cast<double>(pipeline.size()); };
  env.progress = [&](const std::string& what) { progress("optimizing " + label + ": " + pipeline[current].name + ": " + what, fraction()); };
  auto t0 = std::chrono::steady_clock::now();
  auto passes = run_pipeline(proto, pipeline, env, [&](std::size_t i) {
    current = i;
    progress("optimizing " + label + ": " + pipeline[i].name, fraction());
  });
  const double optimize_ms = ms_since(t0);

  BuiltVariant built;
  ValidationInputs inputs;
  if (req.calibration) {
    auto split = split_samples(source, req.calibration, req.options.calibration_samples);
    inputs.samples = std::move(split.validate);
    inputs.description = (split.held_out ? "held-out calibration samples (" : "calibration samples, also used to calibrate (fewer than 8 given; ") +
                         split.source + ")";
  }
  const auto thresholds = thresholds_for(req.options, req.precision);
  const bool benchmarks_here = target.descriptor().runs_on_service_host;
  // Benchmarked models get the deployment's plan; a variant for hardware elsewhere is only run
  // for its outputs, on the job's cores (model_runs.h).
  const auto plan = benchmarks_here ? RunsPlan::for_benchmarks() : RunsPlan::outputs_only(req.threads);
  std::optional<ModelRuns> own_source_runs;
  const bool shared_source_fits = req.source_runs && (req.source_runs->plan().benchmarks || !benchmarks_here);
  ModelRuns& source_runs = shared_source_fits ? *req.source_runs : own_source_runs.emplace(source, plan);
  ModelRuns variant_runs(proto, plan);
  const auto benchmark_shapes = engine::default_input_shapes(source);
  double benchmark_ms = 0;
  if (benchmarks_here) {
    // The source's benchmark before validation releases its plan, so that it is planned once
    // (a figure the job's earlier variants measured is kept, and this returns at once).
    progress("benchmarking the source model for " + label, 0.6);
    auto t = std::chrono::steady_clock::now();
    try {
      source_runs.benchmark(benchmark_shapes, kBenchmarkSeed, kBenchmarkWarmup, kBenchmarkIterations);
    } catch (const Error&) {
      // The engine cannot run the source: validation below is skipped and says why.
    }
    benchmark_ms += ms_since(t);
  }
  progress("validating " + label, 0.65);
  auto t1 = std::chrono::steady_clock::now();
  built.validation = validate_variant(source, proto, thresholds, inputs, {&source_runs, &variant_runs, req.threads});
  const double validate_ms = ms_since(t1);
  if (built.validation.status == ValidationStatus::kFailed)
    throw Error(ErrorCode::kUnprocessable, "validation-failed", "validation failed: " + built.validation.reason);
  nlohmann::json report = {{"validation", validation_to_json(built.validation)}, {"benchmarks", nlohmann::json::array()}};
  if (!target.descriptor().runs_on_service_host && built.validation.status != ValidationStatus::kSkipped) {
    // The target's hardware is elsewhere: these numbers come from the CPU engine emulating it.
    report["validation"]["by_emulation"] = true;
    report["validation"]["engine"] = built.validation.method + "; " + target.descriptor().id +
                                      " is not this host: validated by emulation until a field benchmark arrives";
  }
  report["validation"]["thresholds"] = {{"validated_sqnr_db", thresholds.validated_sqnr_db},
                                        {"degraded_sqnr_db", thresholds.degraded_sqnr_db},
                                        {"validated_detection_agreement", thresholds.validated_detection_agreement},
                                        {"degraded_detection_agreement", thresholds.degraded_detection_agreement}};
  for (const auto& p : passes)
    if (p.name == "quantize_int8" && p.details.is_object()) {
      report["quantization"] = {{"scheme", p.details["scheme"]}, {"method", p.details["method"]}, {"calibration", p.details["calibration"]}};
      // The accuracy budget's verdict, the per-node sensitivity table and the float nodes.
      for (const char* key : {"method_search", "accuracy", "sensitivity", "mixed_precision"})
        if (p.details.contains(key)) report["quantization"][key] = p.details[key];
      if (!budget)
        report["quantization"]["accuracy"] = {
            {"budget", nullptr},
            {"why", req.options.budget_mode == BuildOptions::BudgetMode::kOff
                        ? "the job turned the accuracy budget off"
                        : "not applied: without an uploaded calibration set there are no real held-out samples to judge it on"}};
      if (p.details["calibration"]["synthetic"].get<bool>())
        report["quantization"]["warning"] =
            "**Calibrated on synthetic inputs (uniform noise), not on real data: INT8 accuracy on real inputs is unknown. "
            "Upload a calibration set (POST /v1/models/{id}/calibration) for a meaningful INT8 variant.**";
    }
  if (report.contains("quantization")) built.quantization = report["quantization"];
  if (benchmarks_here && built.validation.status != ValidationStatus::kSkipped) {
    progress("benchmarking " + label, 0.7);
    auto t2 = std::chrono::steady_clock::now();
    built.benchmarks = {benchmark_of(source_runs, benchmark_shapes, "source", req.variant_id),
                        benchmark_of(variant_runs, benchmark_shapes, "variant", req.variant_id)};
    benchmark_ms += ms_since(t2);
    for (const auto& b : built.benchmarks)
      report["benchmarks"].push_back({{"subject", b.subject}, {"host", b.host}, {"threads", b.threads}, {"batch", b.batch},
                                      {"p50_ms", b.p50_ms}, {"p90_ms", b.p90_ms}, {"p99_ms", b.p99_ms},
                                      {"throughput_per_s", b.throughput_per_s}});
  }

  variant_runs.release();
  progress("packaging " + label, 0.8);
  VariantBuild build;
  build.variant_id = req.variant_id;
  build.source_model_id = req.source_id;
  build.source_model_name = req.source_name;
  build.target = target.descriptor().id;
  build.precision = req.precision;
  build.passes = std::move(passes);
  build.source_bytes = req.source_bytes;
  build.variant_model_bytes = static_cast<std::int64_t>(proto.ByteSizeLong());
  build.optimize_ms = optimize_ms;
  build.validate_ms = validate_ms;
  build.benchmark_ms = benchmark_ms;
  build.report_json = report.dump();
  build.aifgen_version = AIFGEN_VERSION;
  build.runtime_image = req.runtime_image;
  build.shape_profiles = req.options.shape_profiles;
  build.sample_shapes = calibration_sample_shapes(source, req.calibration);
  build.resources = req.resources;
  build.created_at = now_iso8601();
  built.manifest = target.package(proto, build, req.bundle_path);
  return built;
}

RunsPlan source_runs_plan(const std::vector<std::string>& target_ids, int threads) {
  for (const auto& id : target_ids)
    if (const Target* t = find_target(id); t && t->descriptor().runs_on_service_host) return RunsPlan::for_benchmarks();
  return RunsPlan::outputs_only(threads);
}

}  // namespace aifgen

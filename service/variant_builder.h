// Builds one variant from a source model: the target's pipeline, validation against the source
// on the CPU engine, before/after benchmarks when the target runs on this host, and the bundle.
// Shared by the job runner (service) and `aifgen convert` (offline), so both produce the same
// bundles. Knows nothing about jobs or storage.
#pragma once

#include <onnx/onnx_pb.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/calibration/calibration_set.h"
#include "core/model_runs.h"
#include "core/validation.h"
#include "service/build_options.h"
#include "core/base/records.h"
#include "targets/target.h"

namespace aifgen {


struct VariantRequest {
  std::string variant_id;
  std::string source_id;    // sha256 of the source bytes
  std::string source_name;
  std::int64_t source_bytes = 0;
  const Target* target = nullptr;
  std::string precision;
  std::string bundle_path;  // where the .tar.gz is written
  const CalibrationSet* calibration = nullptr;  // none: synthetic calibration and validation inputs
  quantize::StatsCache* stats_cache = nullptr;  // shared by the variants of one job
  // The source's engine runs, shared by the variants of one job so that its validation outputs
  // and benchmark are computed once (made for the source passed to build_variant, planned for
  // benchmarks when any of the job's targets runs on this host: source_runs_plan()). Null, or
  // planned for outputs only while this target benchmarks here: this variant plans the source
  // for itself.
  ModelRuns* source_runs = nullptr;
  BuildOptions options;
  // Cores this variant's passes may use for their engine runs (PassEnv::threads): the whole host
  // for the CLI, the job's share of it in the service. Validation and benchmarks stay at their
  // own thread counts.
  int threads = 1;
  std::string runtime_image = "aifgen:latest";
  DeviceResources resources;  // extended resource names the manifests request
};

struct BuiltVariant {
  std::string manifest;  // the bundle's variant.json
  ValidationResult validation;
  std::vector<BenchmarkRecord> benchmarks;  // variant_id set; the caller stores them
  nlohmann::json quantization;  // the report's "quantization" (null for float variants)
};

// `progress(stage, fraction_of_this_variant)` is called at every stage boundary; it may throw to
// stop the build (cancellation, shutdown). Throws Error when the variant cannot be built or its
// validation fails.
BuiltVariant build_variant(const onnx::ModelProto& source, const VariantRequest& req,
                           const std::function<void(const std::string&, double)>& progress);

// How a job's shared source runs (VariantRequest::source_runs) are planned: for benchmarks when
// any of `target_ids` runs on this host (the source is benchmarked beside those variants), for
// outputs only on `threads` cores otherwise.
RunsPlan source_runs_plan(const std::vector<std::string>& target_ids, int threads);

}  // namespace aifgen

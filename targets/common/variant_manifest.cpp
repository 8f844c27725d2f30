// Serializes a VariantBuild to the variant.json schema (documented in openapi.yaml: VariantReport).
#include "targets/common/variant_manifest.h"

#include <nlohmann/json.hpp>

namespace aifgen {

std::string variant_manifest_json(const VariantBuild& b, const TargetDescriptor& target, const std::string& extra_json) {
  nlohmann::json passes = nlohmann::json::array();
  for (const auto& p : b.passes) {
    nlohmann::json rec = {{"name", p.name}, {"changes", p.counts}, {"millis", p.millis}};
    if (!p.options.empty()) rec["options"] = p.options;
    if (!p.details.is_null()) rec["details"] = p.details;
    passes.push_back(std::move(rec));
  }
  nlohmann::json j = {
      {"schema", "aifgen.variant/v1"},
      {"variant_id", b.variant_id},
      {"source_model", {{"id", b.source_model_id}, {"name", b.source_model_name}, {"bytes", b.source_bytes}}},
      {"target", {{"id", target.id}, {"hardware", target.hardware}, {"runtime", target.runtime}}},
      {"precision", b.precision},
      {"passes", passes},
      {"model_bytes", b.variant_model_bytes},
      {"timings_ms", {{"optimize", b.optimize_ms}, {"validate", b.validate_ms}, {"benchmark", b.benchmark_ms}}},
      {"aifgen_version", b.aifgen_version},
      {"created_at", b.created_at},
  };
  if (!extra_json.empty()) j.update(nlohmann::json::parse(extra_json));
  return j.dump(2) + "\n";
}

std::string finish_bundle(BundleFiles& files, const VariantBuild& build, const TargetDescriptor& target, nlohmann::json extra,
                          const std::string& out_path) {
  if (!build.report_json.empty()) extra.update(nlohmann::json::parse(build.report_json));
  auto names = files.names();
  names.push_back("variant.json");
  extra["files"] = names;
  std::string manifest = variant_manifest_json(build, target, extra.dump());
  files.add("variant.json", manifest);
  files.write(out_path, "aifgen-" + build.variant_id);
  return manifest;
}

std::string synthetic_calibration_warning(const VariantBuild& build) {
  if (build.report_json.empty()) return "";
  auto r = nlohmann::json::parse(build.report_json);
  const bool synthetic = r.contains("quantization") && r["quantization"].value("calibration", nlohmann::json::object()).value("synthetic", false);
  return synthetic ? "**Calibrated on synthetic inputs (uniform noise), not on real data: the INT8 accuracy on real inputs is unknown.**\n\n" : "";
}

}  // namespace aifgen

// Records -> wire JSON.
#include "api/rest/json_views.h"

namespace aifgen::api {
namespace {

nlohmann::json opt(const std::optional<std::string>& s) { return s ? nlohmann::json(*s) : nlohmann::json(nullptr); }

}  // namespace

nlohmann::json model_json(const ModelRecord& m) {
  auto j = nlohmann::json::parse(m.info_json);
  j["id"] = m.id;
  j["sha256"] = m.id;
  j["name"] = m.name;
  j["size_bytes"] = m.size_bytes;
  j["created_at"] = m.created_at;
  return j;
}

nlohmann::json variant_json(const VariantRecord& v, bool with_report) {
  nlohmann::json j = {
      {"id", v.id},
      {"job_id", v.job_id},
      {"model_id", v.model_id},
      {"target", v.target},
      {"precision", v.precision},
      {"state", v.state},
      {"error", opt(v.error)},
      {"artifact", v.artifact_sha256
                       ? nlohmann::json{{"sha256", *v.artifact_sha256},
                                        {"size_bytes", v.artifact_size.value_or(0)},
                                        {"download", "/v1/variants/" + v.id + "/download"}}
                       : nlohmann::json(nullptr)},
      {"created_at", v.created_at},
      {"updated_at", v.updated_at},
  };
  // The validation verdict at the top, for dashboards: validated | degraded | skipped (null
  // until the variant is built; a failed validation fails the variant).
  j["validation"] = opt(v.validation);
  if (with_report) j["report"] = v.report_json ? nlohmann::json::parse(*v.report_json) : nlohmann::json(nullptr);
  return j;
}

nlohmann::json calibration_json(const CalibrationRecord& c) {
  return {{"id", c.id},           {"model_id", c.model_id}, {"file_name", c.file_name},
          {"sha256", c.sha256},   {"size_bytes", c.size_bytes}, {"samples", c.samples},
          {"inputs", nlohmann::json::parse(c.inputs_json)}, {"created_at", c.created_at}};
}

nlohmann::json benchmark_json(const BenchmarkRecord& b) {
  return {{"subject", b.subject}, {"origin", b.origin}, {"host", b.host}, {"threads", b.threads}, {"batch", b.batch},
          {"iterations", b.iterations}, {"p50_ms", b.p50_ms}, {"p90_ms", b.p90_ms}, {"p99_ms", b.p99_ms},
          {"throughput_per_s", b.throughput_per_s}, {"concurrency", b.concurrency},
          {"hardware", b.hardware_json ? nlohmann::json::parse(*b.hardware_json) : nlohmann::json(nullptr)},
          {"created_at", b.created_at}};
}

nlohmann::json job_json(const JobRecord& job) {
  nlohmann::json variants = nlohmann::json::array();
  for (const auto& v : job.variants) variants.push_back(variant_json(v, false));
  return {
      {"id", job.id},
      {"model_id", job.model_id},
      {"state", job.state},
      {"stage", job.stage},
      {"progress", job.progress},
      {"attempts", job.attempts},
      {"error", opt(job.error)},
      {"cancel_requested", job.cancel_requested},
      {"options", nlohmann::json::parse(job.options_json)},
      {"created_at", job.created_at},
      {"updated_at", job.updated_at},
      {"started_at", opt(job.started_at)},
      {"finished_at", opt(job.finished_at)},
      {"variants", variants},
  };
}

nlohmann::json target_json(const TargetDescriptor& t) {
  return {{"id", t.id},
          {"hardware", t.hardware},
          {"runtime", t.runtime},
          {"runtime_version", t.runtime_version},
          {"precisions", t.precisions},
          {"int8_scheme", t.int8_scheme.empty() ? nlohmann::json(nullptr) : nlohmann::json(t.int8_scheme)},
          {"benchmarked_on_service_host", t.runs_on_service_host},
          {"verification", t.verification},
          {"references", t.references}};
}

nlohmann::json support_json(const TargetSupport& s) {
  return {{"verdict", s.verdict},           {"summary", s.summary},
          {"native_nodes", s.native_nodes}, {"fallback_nodes", s.fallback_nodes},
          {"fallback_ops", s.fallback_ops}, {"unsupported_ops", s.unsupported_ops}};
}

std::string job_etag(const std::string& job_id, std::int64_t version) {
  return "\"" + job_id + "-v" + std::to_string(version) + "\"";
}

}  // namespace aifgen::api

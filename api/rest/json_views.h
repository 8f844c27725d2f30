// Wire JSON for the service's records (the shapes openapi.yaml documents).
#pragma once

#include <nlohmann/json.hpp>

#include "core/base/records.h"
#include "targets/target.h"

namespace aifgen::api {

nlohmann::json model_json(const ModelRecord& m);
nlohmann::json job_json(const JobRecord& j);
nlohmann::json variant_json(const VariantRecord& v, bool with_report);
nlohmann::json calibration_json(const CalibrationRecord& c);
nlohmann::json benchmark_json(const BenchmarkRecord& b);
nlohmann::json target_json(const TargetDescriptor& t);
nlohmann::json support_json(const TargetSupport& s);

// The job's ETag: changes whenever the job or one of its variants changes.
std::string job_etag(const std::string& job_id, std::int64_t version);

}  // namespace aifgen::api

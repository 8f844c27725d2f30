// Wire JSON for the service's records (the shapes openapi.yaml documents).
#pragma once

#include <nlohmann/json.hpp>

#include "storage/records.h"
#include "targets/target.h"

namespace aifgen::api {

nlohmann::json model_json(const storage::ModelRecord& m);
nlohmann::json job_json(const storage::JobRecord& j);
nlohmann::json variant_json(const storage::VariantRecord& v, bool with_report);
nlohmann::json calibration_json(const storage::CalibrationRecord& c);
nlohmann::json benchmark_json(const storage::BenchmarkRecord& b);
nlohmann::json target_json(const TargetDescriptor& t);
nlohmann::json support_json(const TargetSupport& s);

// The job's ETag: changes whenever the job or one of its variants changes.
std::string job_etag(const std::string& job_id, std::int64_t version);

}  // namespace aifgen::api

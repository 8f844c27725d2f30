// Parsing of the POST /v1/jobs body into a JobRequest: strict (unknown fields are errors, so a
// typo like "precision" is not silently ignored).
#pragma once

#include <nlohmann/json.hpp>

#include "service/job_service.h"

namespace aifgen::api {

// Throws Error(kInvalidArgument) with types "unknown-field" or "invalid-field".
JobRequest parse_job_request(const nlohmann::json& body);

}  // namespace aifgen::api

// The single place where errors become HTTP: ErrorCode -> status, type slug -> problem `type`
// URI, rendered as application/problem+json (RFC 9457).
#pragma once

#include <cpprest/http_msg.h>

#include <exception>
#include <nlohmann/json.hpp>
#include <string>

#include "core/base/error.h"

namespace aifgen::api {

// Base of every problem `type` URI; the slug follows.
inline constexpr const char* kProblemBase = "https://aifgen.dev/problems/";

int http_status_for(ErrorCode code);
nlohmann::json problem_json(int status, const std::string& type_slug, const std::string& detail);
// Builds the response for any exception: Error maps by its code; anything else is a 500
// "internal" whose detail hides internals.
web::http::http_response problem_response(const std::exception_ptr& e);
web::http::http_response problem_response(int status, const std::string& type_slug, const std::string& detail);

}  // namespace aifgen::api

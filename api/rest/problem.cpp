// Error -> problem+json.
#include "api/rest/problem.h"

#include <spdlog/spdlog.h>

#include "core/base/problem_types.h"

namespace aifgen::api {
namespace {

const char* title_for(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Internal Server Error";
  }
}

}  // namespace

int http_status_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kForbidden: return 403;
    case ErrorCode::kConflict: return 409;
    case ErrorCode::kTooLarge: return 413;
    case ErrorCode::kUnsupportedMedia: return 415;
    case ErrorCode::kInvalidModel: return 422;
    case ErrorCode::kUnprocessable: return 422;
    case ErrorCode::kUnavailable: return 503;
    case ErrorCode::kIo: return 500;
    case ErrorCode::kInternal: return 500;
  }
  return 500;
}

nlohmann::json problem_json(int status, const std::string& type_slug, const std::string& detail) {
  return {{"type", kProblemBase + type_slug}, {"title", title_for(status)}, {"status", status}, {"detail", detail}};
}

web::http::http_response problem_response(int status, const std::string& type_slug, const std::string& detail) {
  web::http::http_response r(static_cast<web::http::status_code>(status));
  r.set_body(problem_json(status, type_slug, detail).dump(), "application/problem+json");
  return r;
}

web::http::http_response problem_response(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& err) {
    // The table's status where the slug is known (storage-full is 507, not kIo's 500).
    const auto* known = find_problem_type(err.type());
    const int status = known ? known->status : http_status_for(err.code());
    auto body = problem_json(status, err.type(), err.what());
    if (!err.allowed().empty()) body["allowed"] = err.allowed();
    if (status >= 500) spdlog::error("{}: {}", err.type(), err.what());
    web::http::http_response r(static_cast<web::http::status_code>(status));
    r.set_body(body.dump(), "application/problem+json");
    if (status == 503 || status == 429) r.headers().add("Retry-After", "5");
    return r;
  } catch (const std::exception& ex) {
    spdlog::error("unhandled exception in a handler: {}", ex.what());
    return problem_response(500, "internal", "an internal error occurred; it has been logged");
  } catch (...) {
    spdlog::error("unhandled non-standard exception in a handler");
    return problem_response(500, "internal", "an internal error occurred; it has been logged");
  }
}

}  // namespace aifgen::api

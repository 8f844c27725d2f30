// Strict job-request parsing.
#include "api/rest/job_request.h"

#include "core/base/error.h"

namespace aifgen::api {
namespace {

[[noreturn]] void invalid(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, "invalid-field", msg); }

std::vector<std::string> string_array(const nlohmann::json& body, const char* key, bool required) {
  if (!body.contains(key)) {
    if (required) invalid(std::string("'") + key + "' is required");
    return {};
  }
  const auto& v = body.at(key);
  if (!v.is_array()) invalid(std::string("'") + key + "' must be an array of strings");
  if (v.size() > 64) invalid(std::string("'") + key + "' has too many entries");
  std::vector<std::string> out;
  for (const auto& e : v) {
    if (!e.is_string() || e.get<std::string>().empty() || e.get<std::string>().size() > 64)
      invalid(std::string("'") + key + "' must contain non-empty strings of at most 64 characters");
    out.push_back(e.get<std::string>());
  }
  if (required && out.empty()) invalid(std::string("'") + key + "' must not be empty");
  return out;
}

}  // namespace

JobRequest parse_job_request(const nlohmann::json& body) {
  static const char* kKnown[] = {"model_id", "targets", "precisions", "variants", "options"};
  for (const auto& [key, _] : body.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known)
      throw Error(ErrorCode::kInvalidArgument, "unknown-field",
                  "unknown field '" + key + "' in the job request", {"model_id", "targets", "precisions", "variants", "options"});
  }
  JobRequest req;
  if (!body.contains("model_id") || !body["model_id"].is_string() || body["model_id"].get<std::string>().empty())
    invalid("'model_id' is required and must be a string (the model's sha256)");
  req.model_id = body["model_id"].get<std::string>();
  // Either a cross product (targets x precisions) or explicit "target/precision" pairs.
  if (body.contains("variants")) {
    if (body.contains("targets") || body.contains("precisions"))
      invalid("'variants' names target/precision pairs itself; send it without 'targets' and 'precisions'");
    req.variants = string_array(body, "variants", true);
  } else {
    if (!body.contains("targets")) invalid("'targets' (or 'variants') is required");
    req.targets = string_array(body, "targets", true);
    req.precisions = string_array(body, "precisions", false);
  }
  if (body.contains("options")) {
    if (!body["options"].is_object()) invalid("'options' must be an object");
    req.options_json = body["options"].dump();
  }
  return req;
}

}  // namespace aifgen::api

// libFuzzer target: POST /v1/jobs body parsing (JSON, then the strict job-request rules and
// the build options inside it).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "api/job_request.h"
#include "core/error.h"
#include "service/build_options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return 0;
  try {
    auto req = aifgen::api::parse_job_request(j);
    auto options = aifgen::parse_build_options(nlohmann::json::parse(req.options_json));
    (void)options;
  } catch (const aifgen::Error&) {
  }
  return 0;
}

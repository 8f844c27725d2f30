// libFuzzer target: POST /v1/jobs body parsing (JSON, then the strict job-request rules).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "api/job_request.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return 0;
  try {
    auto req = aifgen::api::parse_job_request(j);
    (void)req;
  } catch (const aifgen::Error&) {
  }
  return 0;
}

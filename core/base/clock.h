// Timestamps as the API and the database spell them: ISO 8601 UTC with a trailing 'Z'.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace aifgen {

// Now, with milliseconds: 2026-12-02T15:14:14.123Z. Sorts as text in time order.
std::string now_iso8601();
// A time_point with milliseconds, same form.
std::string iso8601_utc(std::chrono::system_clock::time_point t);
// Milliseconds since the Unix epoch by the wall clock (job leases, compared across machines).
inline std::int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
// Unix seconds, whole seconds: 2026-12-02T15:14:14Z (link expiries).
std::string iso8601_utc_seconds(std::int64_t unix_seconds);

}  // namespace aifgen

#include "core/base/clock.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace aifgen {

std::string iso8601_utc(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto ms = duration_cast<milliseconds>(t - secs).count();
  // fmt 9 prints whole seconds for %S; the milliseconds are appended.
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", secs, ms);
}

std::string now_iso8601() { return iso8601_utc(std::chrono::system_clock::now()); }

std::string iso8601_utc_seconds(std::int64_t unix_seconds) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", std::chrono::sys_seconds{std::chrono::seconds{unix_seconds}});
}

}  // namespace aifgen

#include "api/rest/rate_limiter.h"

#include <cmath>

namespace aifgen::api {

int RateLimiter::take(const std::string& key) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  auto [it, fresh] = buckets_.try_emplace(key, Bucket{capacity_, now});
  auto& b = it->second;
  if (!fresh) {
    b.tokens = std::min(capacity_, b.tokens + per_second_ * std::chrono::duration<double>(now - b.last).count());
    b.last = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  return std::max(1, static_cast<int>(std::ceil((1.0 - b.tokens) / per_second_)));
}

}  // namespace aifgen::api

// Per-key request rate limit: a token bucket per API key id, refilled continuously at
// `per_minute` / 60 tokens a second, holding at most a 10-second burst (at least 10 requests).
// Thread-safe.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

namespace aifgen::api {

class RateLimiter {
 public:
  explicit RateLimiter(int per_minute) : per_second_(per_minute / 60.0), capacity_(std::max(10.0, per_minute / 6.0)) {}
  // Takes a token for `key`; returns 0 when allowed, else the seconds to wait (>= 1).
  int take(const std::string& key);

 private:
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  double per_second_, capacity_;
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace aifgen::api

// Long polling for GET /v1/jobs/{id}?wait=S: parks the request until the job's ETag differs
// from the one the client has, or the wait ends (then 304). One thread serves all parked
// requests, so a thousand dashboards waiting cost no handler threads; each wake looks up only
// the jobs that changed (once per job, not per waiter) and no database call runs under the
// lock. The number parked is capped (503 + Retry-After past it).
//
// A client that hangs up is dropped when its wait ends (at most max_long_poll_s): cpprest's
// listener gives no notice of a closed connection before a reply is written.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "api/rest/request_context.h"

namespace aifgen::api {

class LongPoller {
 public:
  // At most `max_waiters` requests parked at once: past that, park() refuses.
  LongPoller(App& app, std::size_t max_waiters);
  ~LongPoller();

  // Parks `ctx` until job `job_id`'s version is no longer `seen_version` or `deadline` passes.
  // False (nothing parked) when max_waiters are parked already: the caller answers 503.
  bool park(const RequestContext& ctx, std::string job_id, std::int64_t seen_version,
            std::chrono::steady_clock::time_point deadline);
  std::size_t parked() const;

 private:
  struct Waiter {
    std::shared_ptr<Responder> responder;
    std::int64_t seen_version;
    std::chrono::steady_clock::time_point deadline;
  };
  void loop();
  void wake_round();

  App& app_;
  const std::size_t max_waiters_;
  mutable std::mutex mu_;
  // Parked requests by job: a change to one job touches only its own waiters.
  std::unordered_map<std::string, std::vector<Waiter>> waiters_;
  std::size_t count_ = 0;
  std::unordered_set<std::string> recheck_;  // jobs parked on since the last round
  std::chrono::steady_clock::time_point next_deadline_ = std::chrono::steady_clock::time_point::max();
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The 200 answer for a job: body, ETag.
web::http::http_response job_response(App& app, const std::string& job_id);

}  // namespace aifgen::api

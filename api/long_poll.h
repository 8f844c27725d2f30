// Long polling for GET /v1/jobs/{id}?wait=S: parks the request until the job's ETag differs
// from the one the client has, or the wait ends (then 304). One thread serves all parked
// requests, so a thousand dashboards waiting cost no handler threads.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "api/request_context.h"

namespace aifgen::api {

class LongPoller {
 public:
  explicit LongPoller(App& app);
  ~LongPoller();

  // Parks `ctx` until job `job_id`'s version is no longer `seen_version` or `deadline` passes.
  void park(const RequestContext& ctx, std::string job_id, std::int64_t seen_version,
            std::chrono::steady_clock::time_point deadline);

 private:
  struct Waiter {
    std::shared_ptr<Responder> responder;
    std::string job_id;
    std::int64_t seen_version;
    std::chrono::steady_clock::time_point deadline;
  };
  void loop();

  App& app_;
  std::mutex mu_;
  std::vector<Waiter> waiters_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The 200 answer for a job: body, ETag.
web::http::http_response job_response(App& app, const std::string& job_id);

}  // namespace aifgen::api

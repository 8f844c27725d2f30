// The parked-request loop: wake on any job change (JobEvents) or the nearest deadline.
#include "api/long_poll.h"

#include "api/json_views.h"
#include "api/problem.h"

namespace aifgen::api {

web::http::http_response job_response(App& app, const std::string& job_id) {
  auto job = app.jobs().get(job_id);
  auto r = json_response(200, job_json(job));
  r.headers().add("ETag", job_etag(job.id, job.version));
  return r;
}

LongPoller::LongPoller(App& app) : app_(app), thread_([this] { loop(); }) {}

LongPoller::~LongPoller() {
  stop_.store(true);
  app_.events().notify();
  thread_.join();
  // Answer whoever is still parked so no client hangs until its own timeout.
  for (auto& w : waiters_) w.responder->send(problem_response(503, "shutting-down", "the service is stopping"));
}

void LongPoller::park(const RequestContext& ctx, std::string job_id, std::int64_t seen_version,
                      std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    waiters_.push_back({ctx.responder, std::move(job_id), seen_version, deadline});
  }
  app_.events().notify();  // let the loop recompute its next deadline
}

void LongPoller::loop() {
  auto seen = app_.events().generation();
  while (!stop_.load()) {
    auto next_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    std::vector<Waiter> ready;
    {
      std::lock_guard lock(mu_);
      auto now = std::chrono::steady_clock::now();
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        auto version = app_.jobs().version(it->job_id);
        if (!version || *version != it->seen_version || now >= it->deadline) {
          ready.push_back(std::move(*it));
          it = waiters_.erase(it);
        } else {
          next_deadline = std::min(next_deadline, it->deadline);
          ++it;
        }
      }
    }
    for (auto& w : ready) {
      try {
        auto version = app_.jobs().version(w.job_id);
        if (version && *version == w.seen_version) {
          web::http::http_response r(web::http::status_codes::NotModified);
          r.headers().add("ETag", job_etag(w.job_id, *version));
          w.responder->send(r);
        } else {
          w.responder->send(job_response(app_, w.job_id));
        }
      } catch (...) {
        w.responder->send(problem_response(std::current_exception()));
      }
    }
    seen = app_.events().wait_for(seen, next_deadline);
  }
}

}  // namespace aifgen::api

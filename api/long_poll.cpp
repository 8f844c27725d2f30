// The parked-request loop: wake on any job change (JobEvents) or the nearest deadline.
#include "api/long_poll.h"
#include "core/error.h"
#include <unordered_map>
#include <optional>
#include <mutex>

#include "api/json_views.h"
#include "api/problem.h"

namespace aifgen::api {

namespace {

// Serialized job bodies by (id, version). A job's body for one version never changes, so a
// poll reads the version (one indexed lookup) and reuses the body instead of reading the job
// with its variants and serializing them again. Bounded; cleared when full.
class JobBodyCache {
 public:
  std::optional<std::string> find(const std::string& id, std::int64_t version) {
    std::lock_guard lock(mu_);
    auto it = bodies_.find(id);
    if (it == bodies_.end() || it->second.first != version) return std::nullopt;
    return it->second.second;
  }
  void put(const std::string& id, std::int64_t version, const std::string& body) {
    std::lock_guard lock(mu_);
    if (bodies_.size() >= 4096) bodies_.clear();
    bodies_[id] = {version, body};
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::pair<std::int64_t, std::string>> bodies_;
};

JobBodyCache& body_cache() {
  static JobBodyCache cache;
  return cache;
}

web::http::http_response body_response(std::string body, const std::string& id, std::int64_t version) {
  web::http::http_response r(web::http::status_codes::OK);
  r.set_body(std::move(body), "application/json");
  r.headers().add("ETag", job_etag(id, version));
  return r;
}

}  // namespace

web::http::http_response job_response(App& app, const std::string& job_id) {
  auto version = app.jobs().version(job_id);
  if (!version) throw Error(ErrorCode::kNotFound, "job-not-found", "no job with id " + job_id);
  if (auto body = body_cache().find(job_id, *version)) return body_response(std::move(*body), job_id, *version);
  auto job = app.jobs().get(job_id);
  auto body = job_json(job).dump();
  body_cache().put(job.id, job.version, body);
  return body_response(body, job.id, job.version);
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

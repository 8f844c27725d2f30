// The parked-request loop: wake on any job change (JobEvents) or the nearest deadline.
#include "api/rest/long_poll.h"
#include "core/base/error.h"
#include <unordered_map>
#include <optional>
#include <mutex>

#include <spdlog/spdlog.h>

#include "api/rest/json_views.h"
#include "api/rest/problem.h"

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

LongPoller::LongPoller(App& app, std::size_t max_waiters)
    : app_(app), max_waiters_(max_waiters), thread_([this] { loop(); }) {}

LongPoller::~LongPoller() {
  stop_.store(true);
  app_.events().wake();
  thread_.join();
  // Answer whoever is still parked so no client hangs until its own timeout.
  for (auto& [job, list] : waiters_)
    for (auto& w : list) w.responder->send(problem_response(503, "shutting-down", "the service is stopping"));
}

bool LongPoller::park(const RequestContext& ctx, std::string job_id, std::int64_t seen_version,
                      std::chrono::steady_clock::time_point deadline) {
  {
    std::lock_guard lock(mu_);
    if (count_ >= max_waiters_) return false;
    ++count_;
    // The job may have changed between the handler's version read and now: look once more.
    recheck_.insert(job_id);
    waiters_[job_id].push_back({ctx.responder, seen_version, deadline});
    next_deadline_ = std::min(next_deadline_, deadline);
  }
  app_.events().wake();
  return true;
}

std::size_t LongPoller::parked() const {
  std::lock_guard lock(mu_);
  return count_;
}

void LongPoller::loop() {
  auto seen = app_.events().generation();
  while (!stop_.load()) {
    try {
      wake_round();
    } catch (const std::exception& e) {
      // Never let the thread die (every parked client would hang): log and go on.
      spdlog::error("long poll: {}", e.what());
    }
    std::chrono::steady_clock::time_point until;
    {
      std::lock_guard lock(mu_);
      until = std::min(next_deadline_, std::chrono::steady_clock::now() + std::chrono::seconds(1));
    }
    seen = app_.events().wait_for(seen, until);
  }
}

// One round: the jobs that changed (or were just parked on) get one version lookup each; their
// waiters with an old version get the new body, and every waiter whose time is up gets 304.
void LongPoller::wake_round() {
  auto changes = app_.events().take_changes();
  std::vector<std::string> jobs;
  {
    std::lock_guard lock(mu_);
    if (changes.all) {
      for (const auto& [job, list] : waiters_) jobs.push_back(job);
    } else {
      for (const auto& job : changes.jobs)
        if (waiters_.count(job)) jobs.push_back(job);
      for (const auto& job : recheck_)
        if (!changes.jobs.count(job) && waiters_.count(job)) jobs.push_back(job);
    }
    recheck_.clear();
  }
  // Outside the lock: a slow database must not stall park() on the I/O threads.
  std::unordered_map<std::string, std::optional<std::int64_t>> versions;
  std::unordered_map<std::string, std::exception_ptr> failures;
  for (const auto& job : jobs) {
    try {
      versions[job] = app_.jobs().version(job);
    } catch (...) {
      failures[job] = std::current_exception();
    }
  }
  struct Reply {
    std::shared_ptr<Responder> responder;
    std::string job;
    std::int64_t seen_version;
    enum { kChanged, kTimedOut, kFailed } kind;
  };
  std::vector<Reply> replies;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mu_);
    next_deadline_ = std::chrono::steady_clock::time_point::max();
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      auto& [job, list] = *it;
      auto v = versions.find(job);
      const bool failed = failures.count(job) > 0;
      std::erase_if(list, [&](Waiter& w) {
        if (failed) {
          replies.push_back({std::move(w.responder), job, w.seen_version, Reply::kFailed});
          return true;
        }
        if (v != versions.end() && (!v->second || *v->second != w.seen_version)) {
          replies.push_back({std::move(w.responder), job, w.seen_version, Reply::kChanged});
          return true;
        }
        if (now >= w.deadline) {
          replies.push_back({std::move(w.responder), job, w.seen_version, Reply::kTimedOut});
          return true;
        }
        next_deadline_ = std::min(next_deadline_, w.deadline);
        return false;
      });
      it = list.empty() ? waiters_.erase(it) : std::next(it);
    }
    count_ -= replies.size();
  }
  for (auto& r : replies) {
    try {
      if (r.kind == Reply::kTimedOut) {
        web::http::http_response resp(web::http::status_codes::NotModified);
        resp.headers().add("ETag", job_etag(r.job, r.seen_version));
        r.responder->send(resp);
      } else if (r.kind == Reply::kFailed) {
        r.responder->send(problem_response(failures.at(r.job)));
      } else {
        r.responder->send(job_response(app_, r.job));
      }
    } catch (...) {
      try {
        r.responder->send(problem_response(std::current_exception()));
      } catch (...) {
        // The client is gone or the reply cannot be built: nothing more to do for it.
      }
    }
  }
}

}  // namespace aifgen::api

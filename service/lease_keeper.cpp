// The lease loop. Renewal comes before reclaiming, so this process never reclaims its own live
// jobs however late the loop runs; a storage fault skips the round, and the next one retries.
#include "service/lease_keeper.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <vector>

#include "core/base/clock.h"
#include "core/base/random_hex.h"

namespace aifgen {
namespace {

std::string make_worker_name() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  return std::string(host[0] ? host : "unknown-host") + "/" + std::to_string(getpid()) + "/" + random_hex(4);
}

}  // namespace

LeaseKeeper::LeaseKeeper(storage::JobRepository& jobs, JobEvents& events, std::chrono::milliseconds lease, int max_attempts)
    : jobs_(jobs), events_(events), lease_(lease), max_attempts_(max_attempts), worker_(make_worker_name()) {}

void LeaseKeeper::start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void LeaseKeeper::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LeaseKeeper::hold(const std::string& job_id) {
  std::lock_guard lock(mu_);
  held_[job_id] = false;
}

void LeaseKeeper::drop(const std::string& job_id) {
  std::lock_guard lock(mu_);
  held_.erase(job_id);
}

bool LeaseKeeper::lost(const std::string& job_id) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(job_id);
  return it != held_.end() && it->second;
}

void LeaseKeeper::renew_and_reclaim() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, is_lost] : held_)
      if (!is_lost) ids.push_back(id);
  }
  for (const auto& id : ids) {
    if (jobs_.renew_lease(id, worker_, unix_now_ms(), lease_.count())) continue;
    spdlog::warn("job {}: lease lost (another worker took it over after it expired); stopping it here", id);
    std::lock_guard lock(mu_);
    if (auto it = held_.find(id); it != held_.end()) it->second = true;
  }
  auto outcome = jobs_.requeue_expired(unix_now_ms(), max_attempts_);
  if (outcome.requeued || outcome.failed) {
    reclaimed_ += static_cast<std::uint64_t>(outcome.requeued + outcome.failed);
    spdlog::warn("{} job(s) whose worker stopped renewing its lease requeued, {} failed after {} attempts", outcome.requeued,
                 outcome.failed, max_attempts_);
    events_.wake();  // idle workers here can claim them now
  }
}

void LeaseKeeper::loop() {
  const auto period = lease_ / 3;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    try {
      renew_and_reclaim();
    } catch (const std::exception& e) {
      spdlog::error("lease renewal failed (retrying in {} ms): {}", period.count(), e.what());
    }
    lock.lock();
    cv_.wait_for(lock, period, [&] { return stopping_; });
  }
}

}  // namespace aifgen

// A process-wide "a job changed" signal. Writers call notify(job_id) after committing a change
// to that job; the worker pool waits on the generation, and the long poller takes the set of
// changed jobs so it looks up only those (not every parked request) on each wake.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_set>

namespace aifgen {

class JobEvents {
 public:
  // Jobs changed since the last take_changes(); `all` when the set overflowed (then every
  // waiter must recheck).
  struct Changes {
    bool all = false;
    std::unordered_set<std::string> jobs;
  };

  // A change to job `job_id` is committed.
  void notify(const std::string& job_id) {
    {
      std::lock_guard lock(mu_);
      ++generation_;
      if (changed_.size() < kMaxTracked) changed_.insert(job_id);
      else all_changed_ = true;
    }
    cv_.notify_all();
  }

  // Any job may have changed (changes by another process may have been missed): every waiter
  // rechecks.
  void notify_all_changed() {
    {
      std::lock_guard lock(mu_);
      ++generation_;
      all_changed_ = true;
    }
    cv_.notify_all();
  }

  // Wakes every waiter without naming a change (a new parked request, a stop request).
  void wake() {
    {
      std::lock_guard lock(mu_);
      ++generation_;
    }
    cv_.notify_all();
  }

  std::uint64_t generation() {
    std::lock_guard lock(mu_);
    return generation_;
  }

  // Returns the generation once it differs from `seen`, or at `deadline`.
  std::uint64_t wait_for(std::uint64_t seen, std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return generation_ != seen; });
    return generation_;
  }

  // The jobs changed since the previous call (one consumer: the long poller).
  Changes take_changes() {
    std::lock_guard lock(mu_);
    Changes c{all_changed_, std::move(changed_)};
    changed_.clear();
    all_changed_ = false;
    return c;
  }

 private:
  // Past this many distinct jobs between two wakes, "everything changed" is cheaper to carry.
  static constexpr std::size_t kMaxTracked = 4096;

  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t generation_ = 0;
  std::unordered_set<std::string> changed_;
  bool all_changed_ = false;
};

}  // namespace aifgen

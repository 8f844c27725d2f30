// A process-wide "some job changed" signal. Writers call notify() after committing a change;
// long-poll waiters block in wait_for() until the generation moves past what they saw.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace aifgen {

class JobEvents {
 public:
  void notify() {
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

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::uint64_t generation_ = 0;
};

}  // namespace aifgen

// Worker threads: claim, run, repeat; sleep until woken or a second passes.
#include "service/worker_pool.h"

#include <spdlog/spdlog.h>

namespace aifgen {

void WorkerPool::start(int workers) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i] { loop(i); });
}

void WorkerPool::stop() {
  stopping_.store(true);
  events_.notify();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void WorkerPool::loop(int index) {
  while (!stopping_.load()) {
    auto seen = events_.generation();
    std::optional<storage::JobRecord> job;
    try {
      job = jobs_.claim_next();
    } catch (const std::exception& e) {
      spdlog::error("worker {}: cannot claim a job: {}", index, e.what());
    }
    if (job) {
      runner_.run(*job);
      continue;
    }
    events_.wait_for(seen, std::chrono::steady_clock::now() + std::chrono::seconds(1));
  }
}

}  // namespace aifgen

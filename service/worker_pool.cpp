// Worker threads: claim, run, repeat; sleep until woken or a second passes. Nothing a job does
// may end a worker: run() never throws, and the loop guards itself besides.
#include "service/worker_pool.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/base/error.h"

namespace aifgen {

void WorkerPool::start(int workers) {
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this, i] { loop(i); });
}

void WorkerPool::stop() {
  stopping_.store(true);
  events_.wake();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

void WorkerPool::loop(int index) {
  // After a storage fault, wait 1, 2, 4 ... 60 s before claiming again: a full disk or a locked
  // database is not fixed by retrying in a tight loop.
  int backoff_s = 0;
  while (!stopping_.load()) {
    auto seen = events_.generation();
    bool healthy = true;
    bool ran = false;
    try {
      if (!runner_.requeue_orphans()) throw Error(ErrorCode::kIo, "storage-error", "jobs handed back during a storage fault are not requeued yet");
      storage::ClaimTerms terms;
      terms.worker = leases_.worker();
      terms.lease_ms = leases_.lease_ms();
      terms.targets = targets_;
      if (auto job = jobs_.claim_next(terms)) {
        ran = true;
        healthy = runner_.run(*job);
      }
    } catch (const std::exception& e) {
      healthy = false;
      spdlog::error("worker {}: cannot claim a job: {}", index, e.what());
    } catch (...) {
      healthy = false;
      spdlog::error("worker {}: unknown exception", index);
    }
    if (healthy) {
      backoff_s = 0;
      if (ran) continue;
      events_.wait_for(seen, std::chrono::steady_clock::now() + std::chrono::seconds(1));
      continue;
    }
    backoff_s = std::clamp(backoff_s * 2, 1, max_backoff_s_);
    ++faults_;
    spdlog::warn("worker {}: storage fault, next claim in {} s", index, backoff_s);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(backoff_s);
    while (!stopping_.load() && std::chrono::steady_clock::now() < until) events_.wait_for(events_.generation(), until);
  }
}

}  // namespace aifgen

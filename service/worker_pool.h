// N worker threads that claim queued jobs from storage and run them. The queue lives in SQLite,
// so a restart picks up where the last process stopped. Idle workers sleep on JobEvents, so a
// submitted job is claimed at once; a one-second timeout covers jobs queued by another process.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "service/job_runner.h"

namespace aifgen {

class WorkerPool {
 public:
  WorkerPool(JobRunner& runner, storage::JobRepository& jobs, JobEvents& events, std::atomic<bool>& stopping)
      : runner_(runner), jobs_(jobs), events_(events), stopping_(stopping) {}
  ~WorkerPool() { stop(); }

  void start(int workers);
  // Sets the stop flag, lets running jobs reach their next stage boundary (they are requeued
  // there) and joins the threads.
  void stop();
  // Storage faults the workers backed off from (for tests and the log).
  int faults() const { return faults_.load(); }
  void set_max_backoff_s(int s) { max_backoff_s_ = s; }

 private:
  void loop(int index);

  JobRunner& runner_;
  storage::JobRepository& jobs_;
  JobEvents& events_;
  std::atomic<bool>& stopping_;
  std::vector<std::thread> threads_;
  std::atomic<int> faults_{0};
  int max_backoff_s_ = 60;
};

}  // namespace aifgen

// N worker threads that claim queued jobs from storage and run them. The queue lives in the
// database, so a restart picks up where the last process stopped, and with PostgreSQL workers in
// many processes share it. Idle workers sleep on JobEvents, so a job submitted here is claimed at
// once; a one-second timeout covers jobs queued by another process.
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
  // Claims only jobs whose targets are all in `targets` (empty: any job), leased by `leases`.
  WorkerPool(JobRunner& runner, storage::JobRepository& jobs, JobEvents& events, LeaseKeeper& leases,
             std::vector<std::string> targets, std::atomic<bool>& stopping)
      : runner_(runner), jobs_(jobs), events_(events), leases_(leases), targets_(std::move(targets)), stopping_(stopping) {}
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
  LeaseKeeper& leases_;
  std::vector<std::string> targets_;
  std::atomic<bool>& stopping_;
  std::vector<std::thread> threads_;
  std::atomic<int> faults_{0};
  int max_backoff_s_ = 60;
};

}  // namespace aifgen

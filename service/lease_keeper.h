// Job leases for this process: renews the lease of every job its workers run, and hands jobs
// whose lease has passed (their worker's process or node died) back to the queue.
//
// With SQLite one process owns the database and requeues everything left running at start
// (JobRepository::requeue_interrupted). With PostgreSQL many processes share the queue, so a
// crashed worker's jobs can only be recognised by their lease: every process runs this loop,
// renewing its own leases every lease/3 and requeueing expired ones. A worker whose renewal fails
// (its lease passed and the job went to someone else) stops the job at its next stage boundary
// without writing, and its terminal writes are fenced by the lease besides.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "service/job_events.h"
#include "storage/job_repository.h"

namespace aifgen {

class LeaseKeeper {
 public:
  LeaseKeeper(storage::JobRepository& jobs, JobEvents& events, std::chrono::milliseconds lease, int max_attempts);
  ~LeaseKeeper() { stop(); }

  void start();
  void stop();

  // This process's lease owner name: host, pid and random bits (unique across restarts).
  const std::string& worker() const { return worker_; }
  std::int64_t lease_ms() const { return lease_.count(); }

  // A worker claimed `job_id` (with worker() as its owner) / is done with it.
  void hold(const std::string& job_id);
  void drop(const std::string& job_id);
  // True once a renewal found the job no longer ours.
  bool lost(const std::string& job_id) const;

  // One round: renew every held lease, then requeue expired jobs (for tests; the loop calls it).
  void renew_and_reclaim();
  std::uint64_t reclaimed() const { return reclaimed_.load(); }

 private:
  void loop();

  storage::JobRepository& jobs_;
  JobEvents& events_;
  const std::chrono::milliseconds lease_;
  const int max_attempts_;
  const std::string worker_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, bool> held_;  // job id -> lost
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  std::atomic<std::uint64_t> reclaimed_{0};
};

}  // namespace aifgen

// Relays job changes made by other processes on a shared database (PostgreSQL LISTEN/NOTIFY)
// into this process's JobEvents, so a long poll here wakes when a worker elsewhere finishes, and
// an idle worker here claims a job submitted to another replica at once. Not started on SQLite,
// where this process makes every change itself.
#pragma once

#include <atomic>
#include <thread>

#include "service/job_events.h"
#include "storage/database.h"

namespace aifgen {

class JobChangeRelay {
 public:
  JobChangeRelay(storage::Database& db, JobEvents& events) : db_(db), events_(events) {}
  ~JobChangeRelay() { stop(); }

  // Starts listening (returns once the first LISTEN is in place, so no change committed after
  // start() is missed); does nothing when the database has no change feed.
  void start();
  void stop();
  // Changes relayed so far (for /metrics and tests).
  std::uint64_t relayed() const { return relayed_.load(); }

 private:
  void loop(std::unique_ptr<storage::ChangeFeed> feed);

  storage::Database& db_;
  JobEvents& events_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::atomic<std::uint64_t> relayed_{0};
};

}  // namespace aifgen

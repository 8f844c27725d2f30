// The jobs and variants tables: creation with idempotency keys, the persistent queue (claim,
// requeue after a crash), progress, cancellation and variant results.
//
// Every change to a job or one of its variants bumps jobs.version, which the API exposes as the
// job's ETag.
#pragma once

#include <map>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <vector>

#include "storage/database.h"
#include "core/base/records.h"

namespace aifgen::storage {

enum class CancelOutcome { kCancelled, kRequested, kAlreadyFinished };

struct RequeueOutcome {
  int requeued = 0;
  int failed = 0;  // jobs that had used up their attempts
};

// Who claims a job and for how long. A claimed job carries a lease: its worker renews it while it
// runs (renew_lease); once it has passed, requeue_expired hands the job to another worker. Times
// are the workers' wall clocks (ms since the Unix epoch), so nodes need synchronised clocks to
// well within a lease (NTP: milliseconds; leases are tens of seconds).
struct ClaimTerms {
  std::string worker = "local";   // the lease owner: unique per worker process
  std::int64_t now_ms = 0;        // 0: this process's clock
  std::int64_t lease_ms = 60000;
  // Empty: any job. Otherwise only jobs whose every unfinished variant has one of these targets
  // (a GPU node's worker takes only jobs it can build entirely).
  std::vector<std::string> targets;
};

class JobRepository {
 public:
  explicit JobRepository(Database& db) : db_(db) {}

  // Inserts `job` with its variants. With an idempotency key already used: returns the first
  // job and false when request_hash matches, throws Error(kConflict, "idempotency-key-reused")
  // when it does not. Throws Error(kNotFound, "model-not-found") for an unknown model and
  // Error(kUnavailable, "queue-full") when `max_queued` jobs already wait (a retry with a known
  // key is still answered).
  std::pair<JobRecord, bool> create(const JobRecord& job, std::int64_t max_queued = INT64_MAX);
  std::optional<JobRecord> get(const std::string& id);
  std::vector<JobRecord> list(const std::optional<std::string>& state, int limit, int offset);
  // The job's version (its ETag). Answered from memory while no commit has happened since it was
  // read (Database::commit_generation): dashboards poll this far more often than jobs change.
  std::optional<std::int64_t> version_of(const std::string& id);

  // Atomically moves the oldest queued job that fits `terms` to running, counting the attempt
  // and leasing it to terms.worker. Claims from many processes at once each take a different job.
  std::optional<JobRecord> claim_next(const ClaimTerms& terms = {});
  // Extends the lease of a job this worker runs; false when the job is no longer this worker's
  // (its lease expired and another worker claimed it, or it was requeued): stop working on it.
  bool renew_lease(const std::string& id, const std::string& worker, std::int64_t now_ms, std::int64_t lease_ms);
  // Running jobs whose lease passed before now_ms (their worker died) go back to 'queued' (their
  // unfinished variants too), or to 'failed' when they already had `max_attempts` attempts.
  RequeueOutcome requeue_expired(std::int64_t now_ms, int max_attempts);
  // At startup of the only process on a database (SQLite): every running job was left by a dead
  // process, whatever its lease says.
  RequeueOutcome requeue_interrupted(int max_attempts);

  // Puts a running job back in the queue without counting the attempt (graceful shutdown).
  // With a `worker`, only while that worker holds the job's lease (as for finish).
  void release(const std::string& id, const std::string& stage, const std::optional<std::string>& worker = std::nullopt);
  // Puts a running job back in the queue after a fault that was not its own (storage), with
  // the attempt counted: after `max_attempts` it fails with `reason` instead.
  void retry_later(const std::string& id, const std::string& reason, int max_attempts,
                   const std::optional<std::string>& worker = std::nullopt);
  void set_progress(const std::string& id, const std::string& stage, double progress);
  // Terminal state for the job; variants still queued/running take `variant_state`. With a
  // `worker`, only while that worker holds the job's lease: false (nothing written) otherwise.
  bool finish(const std::string& id, RunState state, const std::optional<std::string>& error,
              const std::string& stage, const std::optional<std::string>& worker = std::nullopt);
  CancelOutcome request_cancel(const std::string& id);  // throws kNotFound
  bool cancel_requested(const std::string& id);

  void set_variant_state(const std::string& variant_id, RunState state,
                         const std::optional<std::string>& error);
  // A built variant: its bundle, report, validation and this host's benchmark rows, in one
  // transaction. Local rows an earlier attempt left (a crash between writes) are replaced, so a
  // retried job never counts its benchmarks twice; field reports are kept. With a `worker`,
  // throws Error(kConflict, "lease-lost") unless that worker holds the job's lease.
  void set_variant_result(const std::string& variant_id, const std::string& artifact_sha256,
                          std::int64_t artifact_size, const std::string& report_json, const std::string& validation,
                          const std::vector<BenchmarkRecord>& local_benchmarks = {},
                          const std::optional<std::string>& worker = std::nullopt);
  std::optional<VariantRecord> get_variant(const std::string& id);
  // The model's newest succeeded variant of target/precision and its newest of any state (each
  // one indexed lookup, however many variants the model has).
  struct LatestVariants {
    std::optional<VariantRecord> succeeded, newest;
  };
  LatestVariants latest_variants(const std::string& model_id, const std::string& target, const std::string& precision);
  std::vector<VariantRecord> list_variants(const std::optional<std::string>& model_id,
                                           const std::optional<std::string>& job_id, int limit, int offset);

  std::map<std::string, std::int64_t> count_by_state();

 private:
  std::vector<VariantRecord> variants_of(const Lease& c, const std::string& job_id);
  std::optional<JobRecord> get_with(const Lease& c, const std::string& id);
  void bump(const Lease& c, const std::string& job_id);
  RequeueOutcome requeue_running(std::optional<std::int64_t> expired_before, int max_attempts, const std::string& why);

  Database& db_;
  struct KnownVersion {
    std::uint64_t generation;
    std::int64_t version;
  };
  static constexpr std::size_t kMaxKnownVersions = 4096;  // emptied when full: it only saves reads
  std::mutex versions_mu_;
  std::unordered_map<std::string, KnownVersion> versions_;
};

}  // namespace aifgen::storage

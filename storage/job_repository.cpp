// SQL for jobs and variants. Writes that touch both happen in one transaction.
#include "storage/job_repository.h"
#include "storage/benchmark_repository.h"

#include "core/base/error.h"

namespace aifgen::storage {
namespace {

constexpr const char* kJobCols =
    "id, model_id, state, stage, progress, attempts, error, options_json, idempotency_key, request_hash, "
    "cancel_requested, version, created_at, updated_at, started_at, finished_at";
constexpr const char* kVariantCols =
    "id, job_id, model_id, target, precision, state, error, artifact_sha256, artifact_size, report_json, "
    "created_at, updated_at, validation";

std::string sql(const char* head, const char* cols, const char* tail) {
  return std::string(head) + cols + tail;
}

JobRecord read_job(const Statement& st) {
  JobRecord j;
  j.id = st.text(0);
  j.model_id = st.text(1);
  j.state = st.text(2);
  j.stage = st.text(3);
  j.progress = st.real(4);
  j.attempts = st.integer(5);
  j.error = st.opt_text(6);
  j.options_json = st.text(7);
  j.idempotency_key = st.opt_text(8);
  j.request_hash = st.opt_text(9);
  j.cancel_requested = st.integer(10) != 0;
  j.version = st.integer(11);
  j.created_at = st.text(12);
  j.updated_at = st.text(13);
  j.started_at = st.opt_text(14);
  j.finished_at = st.opt_text(15);
  return j;
}

VariantRecord read_variant(const Statement& st) {
  VariantRecord v;
  v.id = st.text(0);
  v.job_id = st.text(1);
  v.model_id = st.text(2);
  v.target = st.text(3);
  v.precision = st.text(4);
  v.state = st.text(5);
  v.error = st.opt_text(6);
  v.artifact_sha256 = st.opt_text(7);
  if (auto s = st.opt_text(8)) v.artifact_size = std::stoll(*s);
  v.report_json = st.opt_text(9);
  v.created_at = st.text(10);
  v.updated_at = st.text(11);
  v.validation = st.opt_text(12);
  return v;
}

}  // namespace

std::vector<VariantRecord> JobRepository::variants_of(const Lease& c, const std::string& job_id) {
  auto st = c.prepare(sql("SELECT ", kVariantCols, " FROM variants WHERE job_id = ? ORDER BY rowid").c_str());
  st.bind(1, job_id);
  std::vector<VariantRecord> out;
  while (st.step()) out.push_back(read_variant(st));
  return out;
}

std::optional<JobRecord> JobRepository::get_with(const Lease& c, const std::string& id) {
  auto st = c.prepare(sql("SELECT ", kJobCols, " FROM jobs WHERE id = ?").c_str());
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  auto job = read_job(st);
  job.variants = variants_of(c, id);
  return job;
}

void JobRepository::bump(const Lease& c, const std::string& job_id) {
  c.prepare("UPDATE jobs SET version = version + 1, updated_at = ? WHERE id = ?")
      .bind(1, now_iso8601()).bind(2, job_id).exec();
}

std::pair<JobRecord, bool> JobRepository::create(const JobRecord& job, std::int64_t max_queued) {
  // The queue's length is read before the transaction: the limit is a soft one, and counting
  // every queued row inside a serializable transaction would make every two concurrent
  // submissions conflict.
  std::int64_t queued = 0;
  if (max_queued != INT64_MAX) {
    auto c = db_.acquire();
    auto st = c.prepare("SELECT COUNT(*) FROM jobs WHERE state = 'queued'");
    st.step();
    queued = st.integer(0);
  }
  // Serializable, so two replicas given the same new Idempotency-Key at once cannot both insert:
  // the loser runs again and finds the winner's job.
  return db_.transact([&](const Lease& c) -> std::pair<JobRecord, bool> {
    if (job.idempotency_key) {
      auto st = c.prepare("SELECT id, request_hash FROM jobs WHERE idempotency_key = ?");
      st.bind(1, *job.idempotency_key);
      if (st.step()) {
        std::string first_id = st.text(0);
        if (st.opt_text(1) != job.request_hash)
          throw Error(ErrorCode::kConflict, "idempotency-key-reused",
                      "this Idempotency-Key was already used for a different job request (job " + first_id + ")");
        return {*get_with(c, first_id), false};
      }
    }
    {
      auto st = c.prepare("SELECT COUNT(*) FROM models WHERE id = ?");
      st.bind(1, job.model_id);
      st.step();
      if (st.integer(0) == 0)
        throw Error(ErrorCode::kNotFound, "model-not-found", "no model with id " + job.model_id);
    }
    if (queued >= max_queued)
      throw Error(ErrorCode::kUnavailable, "queue-full", std::to_string(max_queued) + " jobs are already waiting; retry later");
    c.prepare("INSERT INTO jobs(id, model_id, state, stage, progress, options_json, idempotency_key, "
              "request_hash, created_at, updated_at) VALUES (?, ?, 'queued', 'queued', 0, ?, ?, ?, ?, ?)")
        .bind(1, job.id).bind(2, job.model_id).bind(3, job.options_json).bind_opt(4, job.idempotency_key)
        .bind_opt(5, job.request_hash).bind(6, job.created_at).bind(7, job.created_at).exec();
    for (const auto& v : job.variants) {
      c.prepare("INSERT INTO variants(id, job_id, model_id, target, precision, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)")
          .bind(1, v.id).bind(2, job.id).bind(3, job.model_id).bind(4, v.target).bind(5, v.precision)
          .bind(6, job.created_at).bind(7, job.created_at).exec();
    }
    return {*get_with(c, job.id), true};
  });
}

std::optional<JobRecord> JobRepository::get(const std::string& id) {
  auto c = db_.acquire();
  return get_with(c, id);
}

std::optional<std::int64_t> JobRepository::version_of(const std::string& id) {
  const auto generation = db_.commit_generation();  // loaded before the read: see commit_generation()
  if (generation) {
    std::lock_guard lock(versions_mu_);
    if (auto it = versions_.find(id); it != versions_.end() && it->second.generation == *generation) return it->second.version;
  }
  std::int64_t version;
  {
    auto c = db_.acquire();
    auto st = c.prepare("SELECT version FROM jobs WHERE id = ?");
    st.bind(1, id);
    if (!st.step()) return std::nullopt;
    version = st.integer(0);
  }
  if (generation) {
    std::lock_guard lock(versions_mu_);
    if (versions_.size() >= kMaxKnownVersions) versions_.clear();
    versions_.insert_or_assign(id, KnownVersion{*generation, version});
  }
  return version;
}

std::vector<JobRecord> JobRepository::list(const std::optional<std::string>& state, int limit, int offset) {
  auto c = db_.acquire();
  auto st = c.prepare(sql("SELECT ", kJobCols,
                          " FROM jobs WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1) ORDER BY created_at DESC, id LIMIT ?2 OFFSET ?3")
                          .c_str());
  st.bind_opt(1, state).bind(2, static_cast<std::int64_t>(limit)).bind(3, static_cast<std::int64_t>(offset));
  std::vector<JobRecord> out;
  while (st.step()) out.push_back(read_job(st));
  for (auto& j : out) j.variants = variants_of(c, j.id);
  return out;
}

std::optional<JobRecord> JobRepository::claim_next(const ClaimTerms& terms) {
  // PostgreSQL: many workers claim at once. The subquery locks the oldest queued row and skips
  // rows other claimers hold, so each claim takes a different job without waiting; READ
  // COMMITTED because the lock, not a snapshot, is what makes the claim exclusive. SQLite has one
  // writer at a time, so the plain subquery is already exclusive.
  // The target filter: ?5 is ",t1,t2," (or NULL for any target); a job qualifies when none of
  // its unfinished variants has a target outside the list.
  static constexpr const char* kClaimHead =
      "UPDATE jobs SET state = 'running', stage = 'starting', attempts = attempts + 1, version = version + 1, "
      "updated_at = ?1, started_at = COALESCE(started_at, ?1), lease_owner = ?2, "
      "lease_expires_ms = CAST(?3 AS BIGINT) + CAST(?4 AS BIGINT) "
      "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' AND (CAST(?5 AS TEXT) IS NULL OR NOT EXISTS ("
      "SELECT 1 FROM variants v WHERE v.job_id = jobs.id AND v.state IN ('queued','running') "
      "AND ?5 NOT LIKE '%,' || v.target || ',%')) ORDER BY created_at, rowid LIMIT 1";
  static const std::string kPostgresClaim = std::string(kClaimHead) + " FOR UPDATE SKIP LOCKED) RETURNING id";
  static const std::string kSqliteClaim = std::string(kClaimHead) + ") RETURNING id";
  const char* sql = (db_.dialect() == Dialect::kPostgres ? kPostgresClaim : kSqliteClaim).c_str();
  std::optional<std::string> targets;
  if (!terms.targets.empty()) {
    targets = ",";
    for (const auto& t : terms.targets) *targets += t + ",";
  }
  const std::int64_t now_ms = terms.now_ms ? terms.now_ms : unix_now_ms();
  return db_.transact(
      [&](const Lease& c) -> std::optional<JobRecord> {
        auto st = c.prepare(sql);
        st.bind(1, now_iso8601()).bind(2, terms.worker).bind(3, now_ms).bind(4, terms.lease_ms).bind_opt(5, targets);
        if (!st.step()) return std::nullopt;
        std::string id = st.text(0);
        while (st.step()) {
        }
        return get_with(c, id);
      },
      Isolation::kReadCommitted);
}

bool JobRepository::renew_lease(const std::string& id, const std::string& worker, std::int64_t now_ms, std::int64_t lease_ms) {
  auto c = db_.acquire();
  return c.prepare("UPDATE jobs SET lease_expires_ms = CAST(?1 AS BIGINT) + CAST(?2 AS BIGINT) WHERE id = ?3 AND lease_owner = ?4 AND state = 'running'")
             .bind(1, now_ms).bind(2, lease_ms).bind(3, id).bind(4, worker).exec() > 0;
}

RequeueOutcome JobRepository::requeue_expired(std::int64_t now_ms, int max_attempts) {
  return requeue_running(now_ms, max_attempts, "its worker stopped renewing its lease");
}

RequeueOutcome JobRepository::requeue_interrupted(int max_attempts) {
  return requeue_running(std::nullopt, max_attempts, "the service stopped while this job ran");
}

RequeueOutcome JobRepository::requeue_running(std::optional<std::int64_t> expired_before, int max_attempts,
                                              const std::string& why) {
  return db_.transact([&](const Lease& c) {
    const std::string now = now_iso8601();
    // ?2: the lease deadline (NULL: every running job); a job with no lease (claimed before
    // leases existed) counts as expired.
    constexpr const char* kExpired =
        "state = 'running' AND (CAST(?2 AS BIGINT) IS NULL OR lease_expires_ms IS NULL OR lease_expires_ms < ?2)";
    RequeueOutcome out;
    std::vector<std::string> failed, requeued;
    {
      auto st = c.prepare((std::string("UPDATE jobs SET state = 'failed', stage = 'interrupted', finished_at = ?1, updated_at = ?1, "
                                       "version = version + 1, lease_owner = NULL, lease_expires_ms = NULL, error = CAST(?4 AS TEXT) || ', ' || "
                                       "attempts || ' times; giving up after ' || CAST(?3 AS INTEGER) || ' attempts' WHERE ") +
                           kExpired + " AND attempts >= CAST(?3 AS INTEGER) RETURNING id")
                              .c_str());
      st.bind(1, now).bind(3, static_cast<std::int64_t>(max_attempts)).bind(4, why);
      if (expired_before) st.bind(2, *expired_before);
      while (st.step()) failed.push_back(st.text(0));
    }
    {
      auto st = c.prepare((std::string("UPDATE jobs SET state = 'queued', stage = 'requeued: ' || CAST(?3 AS TEXT), updated_at = ?1, "
                                       "version = version + 1, lease_owner = NULL, lease_expires_ms = NULL WHERE ") +
                           kExpired + " RETURNING id")
                              .c_str());
      st.bind(1, now).bind(3, why);
      if (expired_before) st.bind(2, *expired_before);
      while (st.step()) requeued.push_back(st.text(0));
    }
    for (const auto& id : failed)
      c.prepare("UPDATE variants SET state = 'failed', error = 'job interrupted too many times', updated_at = ?1 "
                "WHERE job_id = ?2 AND state IN ('queued','running')")
          .bind(1, now).bind(2, id).exec();
    for (const auto& id : requeued)
      c.prepare("UPDATE variants SET state = 'queued', updated_at = ?1 WHERE job_id = ?2 AND state = 'running'").bind(1, now).bind(2, id).exec();
    out.failed = static_cast<int>(failed.size());
    out.requeued = static_cast<int>(requeued.size());
    return out;
  });
}

void JobRepository::release(const std::string& id, const std::string& stage, const std::optional<std::string>& worker) {
  db_.transact([&](const Lease& c) {
    std::string now = now_iso8601();
    const int changed =
        c.prepare("UPDATE jobs SET state = 'queued', stage = ?1, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, "
                  "updated_at = ?2, version = version + 1, lease_owner = NULL, lease_expires_ms = NULL "
                  "WHERE id = ?3 AND state = 'running' AND (CAST(?4 AS TEXT) IS NULL OR lease_owner = ?4)")
            .bind(1, stage).bind(2, now).bind(3, id).bind_opt(4, worker).exec();
    if (changed == 0) return;
    c.prepare("UPDATE variants SET state = 'queued', updated_at = ?1 WHERE job_id = ?2 AND state = 'running'")
        .bind(1, now).bind(2, id).exec();
  });
}

void JobRepository::retry_later(const std::string& id, const std::string& reason, int max_attempts,
                                const std::optional<std::string>& worker) {
  db_.transact([&](const Lease& c) {
    std::string now = now_iso8601();
    // ?5: the lease owner the job must still have (NULL: any).
    const bool give_up =
        c.prepare("UPDATE jobs SET state = 'failed', stage = 'failed', error = CAST(?1 AS TEXT) || ' (attempt ' || attempts || "
                  "' of ' || CAST(?2 AS INTEGER) || ')', finished_at = ?3, updated_at = ?3, version = version + 1, "
                  "lease_owner = NULL, lease_expires_ms = NULL "
                  "WHERE id = ?4 AND state = 'running' AND attempts >= CAST(?2 AS INTEGER) AND (CAST(?5 AS TEXT) IS NULL OR lease_owner = ?5)")
            .bind(1, reason).bind(2, static_cast<std::int64_t>(max_attempts)).bind(3, now).bind(4, id).bind_opt(5, worker).exec() > 0;
    bool requeued = false;
    if (!give_up)
      requeued = c.prepare("UPDATE jobs SET state = 'queued', stage = ?1, updated_at = ?2, version = version + 1, lease_owner = NULL, "
                           "lease_expires_ms = NULL WHERE id = ?3 AND state = 'running' AND (CAST(?4 AS TEXT) IS NULL OR lease_owner = ?4)")
                     .bind(1, "requeued: " + reason).bind(2, now).bind(3, id).bind_opt(4, worker).exec() > 0;
    if (!give_up && !requeued) return;  // no longer this worker's job
    c.prepare("UPDATE variants SET state = ?1, error = CASE WHEN ?1 = 'failed' THEN ?2 ELSE error END, updated_at = ?3 "
              "WHERE job_id = ?4 AND state = 'running'")
        .bind(1, std::string(state_name(give_up ? RunState::kFailed : RunState::kQueued))).bind(2, reason).bind(3, now).bind(4, id).exec();
  });
}

void JobRepository::set_progress(const std::string& id, const std::string& stage, double progress) {
  auto c = db_.acquire();
  c.prepare("UPDATE jobs SET stage = ?, progress = ?, version = version + 1, updated_at = ? WHERE id = ?")
      .bind(1, stage).bind(2, progress).bind(3, now_iso8601()).bind(4, id).exec();
}

bool JobRepository::finish(const std::string& id, RunState state, const std::optional<std::string>& error,
                           const std::string& stage, const std::optional<std::string>& worker) {
  return db_.transact([&](const Lease& c) {
    std::string now = now_iso8601();
    const int changed =
        c.prepare("UPDATE jobs SET state = ?1, error = ?2, stage = ?3, finished_at = ?4, updated_at = ?4, "
                  "progress = CASE WHEN ?1 = 'succeeded' THEN 1.0 ELSE progress END, version = version + 1, "
                  "lease_owner = NULL, lease_expires_ms = NULL WHERE id = ?5 AND (CAST(?6 AS TEXT) IS NULL OR lease_owner = ?6)")
            .bind(1, std::string(state_name(state))).bind_opt(2, error).bind(3, stage).bind(4, now).bind(5, id).bind_opt(6, worker).exec();
    if (changed == 0) return false;
    // A succeeded job has no pending variants; any left would be failed ones.
    const std::string vstate = state_name(state == RunState::kSucceeded ? RunState::kFailed : state);
    c.prepare("UPDATE variants SET state = ?1, updated_at = ?2, error = COALESCE(error, ?3) "
              "WHERE job_id = ?4 AND state IN ('queued','running')")
        .bind(1, vstate).bind(2, now).bind_opt(3, error).bind(4, id).exec();
    return true;
  });
}

CancelOutcome JobRepository::request_cancel(const std::string& id) {
  // Serializable: a claim that moves the job to running meanwhile makes this run again and
  // take the running branch, instead of cancelling a job a worker has started.
  return db_.transact([&](const Lease& c) {
    auto job = get_with(c, id);
    if (!job) throw Error(ErrorCode::kNotFound, "job-not-found", "no job with id " + id);
    CancelOutcome out;
    std::string now = now_iso8601();
    if (is_terminal_state(job->state)) {
      out = CancelOutcome::kAlreadyFinished;
    } else if (in_state(job->state, RunState::kQueued)) {
      c.prepare("UPDATE jobs SET state = 'cancelled', stage = 'cancelled before start', cancel_requested = 1, "
                "finished_at = ?1, updated_at = ?1, version = version + 1 WHERE id = ?2")
          .bind(1, now).bind(2, id).exec();
      c.prepare("UPDATE variants SET state = 'cancelled', updated_at = ?1 WHERE job_id = ?2 AND state IN ('queued','running')")
          .bind(1, now).bind(2, id).exec();
      out = CancelOutcome::kCancelled;
    } else {
      c.prepare("UPDATE jobs SET cancel_requested = 1, updated_at = ?1, version = version + 1 WHERE id = ?2")
          .bind(1, now).bind(2, id).exec();
      out = CancelOutcome::kRequested;
    }
    return out;
  });
}

bool JobRepository::cancel_requested(const std::string& id) {
  auto c = db_.acquire();
  auto st = c.prepare("SELECT cancel_requested FROM jobs WHERE id = ?");
  st.bind(1, id);
  return st.step() && st.integer(0) != 0;
}

void JobRepository::set_variant_state(const std::string& variant_id, RunState state,
                                      const std::optional<std::string>& error) {
  db_.transact([&](const Lease& c) {
    c.prepare("UPDATE variants SET state = ?, error = ?, updated_at = ? WHERE id = ?")
        .bind(1, std::string(state_name(state))).bind_opt(2, error).bind(3, now_iso8601()).bind(4, variant_id).exec();
    auto st = c.prepare("SELECT job_id FROM variants WHERE id = ?");
    st.bind(1, variant_id);
    if (st.step()) bump(c, st.text(0));
  });
}

void JobRepository::set_variant_result(const std::string& variant_id, const std::string& artifact_sha256,
                                       std::int64_t artifact_size, const std::string& report_json,
                                       const std::string& validation, const std::vector<BenchmarkRecord>& local_benchmarks,
                                       const std::optional<std::string>& worker) {
  db_.transact([&](const Lease& c) {
    if (worker) {
      auto st = c.prepare("SELECT j.lease_owner FROM variants v JOIN jobs j ON j.id = v.job_id WHERE v.id = ?");
      st.bind(1, variant_id);
      if (!st.step() || st.opt_text(0) != worker)
        throw Error(ErrorCode::kConflict, "lease-lost",
                    "variant " + variant_id + ": this worker's lease on the job has passed to another worker; result discarded");
    }
    c.prepare("DELETE FROM benchmarks WHERE variant_id = ? AND origin = 'local'").bind(1, variant_id).exec();
    for (const auto& b : local_benchmarks) insert_benchmark(c, b);
    c.prepare("UPDATE variants SET state = 'succeeded', error = NULL, artifact_sha256 = ?, artifact_size = ?, "
              "report_json = ?, validation = ?, updated_at = ? WHERE id = ?")
        .bind(1, artifact_sha256).bind(2, artifact_size).bind(3, report_json).bind(4, validation).bind(5, now_iso8601())
        .bind(6, variant_id).exec();
    auto st = c.prepare("SELECT job_id FROM variants WHERE id = ?");
    st.bind(1, variant_id);
    if (st.step()) bump(c, st.text(0));
  });
}

JobRepository::LatestVariants JobRepository::latest_variants(const std::string& model_id, const std::string& target,
                                                             const std::string& precision) {
  auto c = db_.acquire();
  LatestVariants out;
  for (bool only_succeeded : {true, false}) {
    auto st = c.prepare(sql("SELECT ", kVariantCols,
                            " FROM variants WHERE model_id = ?1 AND target = ?2 AND precision = ?3 AND (?4 = 0 OR state = 'succeeded') "
                            "ORDER BY created_at DESC, rowid DESC LIMIT 1")
                            .c_str());
    st.bind(1, model_id).bind(2, target).bind(3, precision).bind(4, static_cast<std::int64_t>(only_succeeded));
    if (st.step()) (only_succeeded ? out.succeeded : out.newest) = read_variant(st);
  }
  return out;
}

std::optional<VariantRecord> JobRepository::get_variant(const std::string& id) {
  auto c = db_.acquire();
  auto st = c.prepare(sql("SELECT ", kVariantCols, " FROM variants WHERE id = ?").c_str());
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_variant(st);
}

std::vector<VariantRecord> JobRepository::list_variants(const std::optional<std::string>& model_id,
                                                        const std::optional<std::string>& job_id, int limit,
                                                        int offset) {
  auto c = db_.acquire();
  auto st = c.prepare(sql("SELECT ", kVariantCols,
                          " FROM variants WHERE (CAST(?1 AS TEXT) IS NULL OR model_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR job_id = ?2) "
                          "ORDER BY created_at DESC, rowid DESC LIMIT ?3 OFFSET ?4")
                          .c_str());
  st.bind_opt(1, model_id).bind_opt(2, job_id).bind(3, static_cast<std::int64_t>(limit))
      .bind(4, static_cast<std::int64_t>(offset));
  std::vector<VariantRecord> out;
  while (st.step()) out.push_back(read_variant(st));
  return out;
}

std::map<std::string, std::int64_t> JobRepository::count_by_state() {
  std::map<std::string, std::int64_t> out;
  for (auto s : kRunStates) out[state_name(s)] = 0;
  auto c = db_.acquire();
  auto st = c.prepare("SELECT state, COUNT(*) FROM jobs GROUP BY state");
  while (st.step()) out[st.text(0)] = st.integer(1);
  return out;
}

}  // namespace aifgen::storage

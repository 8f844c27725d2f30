// Database access for storage/: a connection pool, prepared statements, transactions and schema
// migrations over one of two backends, chosen by where the database is:
//
//   - a file path: SQLite, the embedded default (storage/sqlite_backend.*). One `serve` process
//     per data dir writes it; connections run in WAL mode, so the CLI can read beside it.
//   - a postgresql:// (or postgres://) URL: PostgreSQL through libpqxx (storage/postgres_backend.*),
//     shared by many API and worker processes on many machines.
//
// The repositories write their SQL once, in the subset both engines accept: `?` or `?N`
// placeholders (rewritten to $N for PostgreSQL), ON CONFLICT, RETURNING, CAST. Where the engines
// must differ (claiming a job), a repository asks the lease for its dialect().
//
// Thread-safety: Database is safe to share; each Lease (one connection) belongs to one thread
// at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/base/clock.h"  // now_iso8601, for the repositories
#include "core/base/error.h"

namespace aifgen::storage {

enum class Dialect { kSqlite, kPostgres };

// How a transaction sees concurrent ones. SQLite has one writer at a time whatever is asked
// (BEGIN IMMEDIATE), so both levels are serializable there. PostgreSQL runs kSerializable as
// SERIALIZABLE: a transaction that raced another fails with "storage-contention" and
// Database::transact runs it again, so read-then-write code is as safe as on SQLite.
// kReadCommitted is for the queue claim, which locks its row itself (FOR UPDATE SKIP LOCKED).
enum class Isolation { kSerializable, kReadCommitted };

// What a backend implements. Columns and parameters are numbered as in SQLite: parameters from
// 1, columns from 0.
class StatementImpl {
 public:
  virtual ~StatementImpl() = default;
  virtual void bind_text(int idx, std::string_view v) = 0;
  virtual void bind_int(int idx, std::int64_t v) = 0;
  virtual void bind_real(int idx, double v) = 0;
  virtual void bind_null(int idx) = 0;
  virtual bool step() = 0;
  virtual int changes() const = 0;  // rows the finished statement inserted, updated or deleted
  virtual bool is_null(int col) const = 0;
  virtual std::string text(int col) const = 0;
  virtual std::int64_t integer(int col) const = 0;
  virtual double real(int col) const = 0;
};

class ConnectionImpl {
 public:
  virtual ~ConnectionImpl() = default;
  virtual std::unique_ptr<StatementImpl> prepare(const char* sql) = 0;
  virtual void exec(const char* sql) = 0;  // one or more statements, no results
  virtual void begin(Isolation isolation) = 0;
  virtual void commit() = 0;
  virtual void rollback() noexcept = 0;
  // True once the connection is unusable (the server went away): the pool drops it.
  virtual bool broken() const { return false; }
};

// A test seam: called with each SQL text before it runs; returning true makes that statement
// fail as a storage fault (Error kIo "storage-error"), as a full disk or an I/O error would.
using FaultInjector = std::function<bool(std::string_view sql)>;

class Statement {
 public:
  explicit Statement(std::unique_ptr<StatementImpl> impl) : impl_(std::move(impl)) {}

  Statement& bind(int idx, const std::string& v) { return impl_->bind_text(idx, v), *this; }
  Statement& bind(int idx, std::int64_t v) { return impl_->bind_int(idx, v), *this; }
  Statement& bind(int idx, double v) { return impl_->bind_real(idx, v), *this; }
  Statement& bind_null(int idx) { return impl_->bind_null(idx), *this; }
  Statement& bind_opt(int idx, const std::optional<std::string>& v) { return v ? bind(idx, *v) : bind_null(idx); }

  // Advances; true while a row is available. Throws Error(kIo) on failure, Error(kConflict,
  // "constraint") on a constraint violation, Error(kUnavailable, "storage-contention") when a
  // serializable transaction lost a race (Database::transact retries those).
  bool step() { return impl_->step(); }
  // Runs to completion, returns the number of rows changed.
  int exec() {
    while (step()) {
    }
    return impl_->changes();
  }

  std::string text(int col) const { return impl_->text(col); }
  std::optional<std::string> opt_text(int col) const {
    if (impl_->is_null(col)) return std::nullopt;
    return impl_->text(col);
  }
  std::int64_t integer(int col) const { return impl_->integer(col); }
  double real(int col) const { return impl_->real(col); }

 private:
  std::unique_ptr<StatementImpl> impl_;
};

class Database;

// One pooled connection, returned to the pool on destruction.
class Lease {
 public:
  Lease(Database* owner, ConnectionImpl* conn) : owner_(owner), conn_(conn) {}
  ~Lease();
  Lease(Lease&& o) noexcept : owner_(o.owner_), conn_(o.conn_) { o.conn_ = nullptr; }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  Statement prepare(const char* sql) const;
  void exec(const char* sql) const;
  Dialect dialect() const;
  ConnectionImpl& connection() const { return *conn_; }

 private:
  Database* owner_;
  ConnectionImpl* conn_;
};

// Begins on construction (BEGIN IMMEDIATE on SQLite); rolls back unless commit() was called.
class Transaction {
 public:
  explicit Transaction(const Lease& lease, Isolation isolation = Isolation::kSerializable);
  ~Transaction();
  void commit();

 private:
  const Lease& lease_;
  bool done_ = false;
};

// Job changes committed by any process, as they happen (PostgreSQL: LISTEN on the channel the
// schema's trigger notifies). One thread uses a feed; it owns its own connection.
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // Waits up to `timeout` for changes and returns the ids of the jobs changed (empty on timeout;
  // an id may repeat). Throws Error(kUnavailable, "storage-unavailable") when the connection is
  // lost: changes may have been missed, so treat every job as changed and open a new feed.
  virtual std::vector<std::string> wait(std::chrono::milliseconds timeout) = 0;
};

// One engine's part of a Database: opening connections, migrating, tracking commits.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual Dialect dialect() const = 0;
  virtual std::unique_ptr<ConnectionImpl> open() = 0;
  // Brings the schema up to date on `lease` (safe when several processes start at once).
  virtual void migrate(const Lease& lease) = 0;
  virtual int schema_version(const Lease& lease) = 0;
  // See Database::commit_generation.
  virtual std::optional<std::uint64_t> commit_generation() const { return std::nullopt; }
  // Where the data is, for messages: a path, or a URL without its password.
  virtual std::string describe() const = 0;
  // nullptr when only this process writes (SQLite): its own changes are announced in memory.
  virtual std::unique_ptr<ChangeFeed> job_changes() { return nullptr; }
};

// True for a postgresql:// or postgres:// URL (the PostgreSQL backend), false for a file path.
bool is_postgres_url(std::string_view location);
// The URL with any password replaced by "***", for logs and errors.
std::string redact_database_url(std::string_view location);

class Database {
 public:
  // Opens (creating if needed) the database at `location` (a SQLite file path or a PostgreSQL
  // URL) and brings its schema up to date. Throws Error(kIo) when it cannot.
  explicit Database(const std::string& location, int pool_size = 8);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Lease acquire();
  Dialect dialect() const { return backend_->dialect(); }
  // Job changes by every process on this database, or nullptr (see Backend::job_changes).
  std::unique_ptr<ChangeFeed> job_changes() { return backend_->job_changes(); }
  std::string describe() const { return backend_->describe(); }

  // Runs fn(lease) in a transaction and commits; on "storage-contention" (PostgreSQL: a
  // serializable transaction that lost a race, or a deadlock) runs it again from the start, up
  // to kMaxAttempts times. fn must therefore have no effects outside the database.
  static constexpr int kMaxAttempts = 8;
  template <class F>
  auto transact(F&& fn, Isolation isolation = Isolation::kSerializable) -> std::invoke_result_t<F&, const Lease&> {
    for (int attempt = 1;; ++attempt) {
      try {
        auto lease = acquire();
        Transaction tx(lease, isolation);
        if constexpr (std::is_void_v<std::invoke_result_t<F&, const Lease&>>) {
          fn(static_cast<const Lease&>(lease));
          tx.commit();
          return;
        } else {
          auto result = fn(static_cast<const Lease&>(lease));
          tx.commit();
          return result;
        }
      } catch (const Error& e) {
        if (e.type() != "storage-contention" || attempt >= kMaxAttempts) throw;
        contention_retries_.fetch_add(1, std::memory_order_relaxed);
        std::this_thread::sleep_for(std::chrono::milliseconds(attempt * attempt));  // 1, 4, 9 ... ms
      }
    }
  }
  // Transactions run again after losing a race (for /metrics and tests).
  std::uint64_t contention_retries() const { return contention_retries_.load(std::memory_order_relaxed); }

  // A number that grows with every commit made through this pool, bumped only after the commit
  // is visible: a read that starts after loading generation G sees every write counted in G. So
  // a value read while the generation was G is still current while it remains G. nullopt when
  // commits cannot be tracked: SQLite not in WAL mode, or PostgreSQL, where other processes
  // write too (so nothing may be answered from a per-process cache).
  std::optional<std::uint64_t> commit_generation() const { return backend_->commit_generation(); }

  // Installs (or, with nullptr, removes) a fault injector for every connection of this pool.
  void inject_faults(FaultInjector injector) {
    std::lock_guard lock(fault_mu_);
    fault_ = injector ? std::make_shared<const FaultInjector>(std::move(injector)) : nullptr;
  }
  bool should_fail(std::string_view sql) const {
    std::shared_ptr<const FaultInjector> f;
    {
      std::lock_guard lock(fault_mu_);
      f = fault_;
    }
    return f && (*f)(sql);
  }
  // The schema version after migrations.
  int schema_version();
  static int latest_schema_version();

 private:
  friend class Lease;
  void release(ConnectionImpl* conn);

  std::unique_ptr<Backend> backend_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ConnectionImpl*> idle_;
  std::vector<std::unique_ptr<ConnectionImpl>> all_;
  int pool_size_;
  std::atomic<std::uint64_t> contention_retries_{0};
  mutable std::mutex fault_mu_;
  std::shared_ptr<const FaultInjector> fault_;
};

}  // namespace aifgen::storage

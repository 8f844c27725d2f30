// SQLite access for storage/: a small connection pool, prepared-statement wrapper, transactions
// and schema migrations keyed by PRAGMA user_version.
//
// Thread-safety: Database is safe to share; each Lease (one connection) belongs to one thread
// at a time. Connections run in WAL mode with a busy timeout, so readers never block the writer
// and a second process (the CLI) can use the same file.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <mutex>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/base/clock.h"  // now_iso8601, for the repositories

namespace aifgen::storage {

// One pooled connection and the statements already prepared on it. Parsing and planning is most
// of the cost of a point lookup (a job-status poll), so each distinct SQL text is prepared once
// per connection and reset after every use.
struct Connection {
  struct Prepared {
    sqlite3_stmt* stmt = nullptr;
    bool in_use = false;
  };
  static constexpr std::size_t kMaxPrepared = 128;  // the code has a few dozen SQL texts

  struct SqlHash {  // lets a lookup by const char* skip building a std::string
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  sqlite3* db = nullptr;
  std::unordered_map<std::string, Prepared, SqlHash, std::equal_to<>> prepared;
  const class Database* owner = nullptr;
};

// A test seam: called with each SQL text before it runs; returning true makes that statement
// fail as a storage fault (Error kIo "storage-error"), as a full disk or an I/O error would.
using FaultInjector = std::function<bool(std::string_view sql)>;

class Statement {
 public:
  // Takes the connection's prepared copy of `sql` when it is free, else prepares a private one.
  Statement(Connection& conn, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int idx, const std::string& v);
  Statement& bind(int idx, std::int64_t v);
  Statement& bind(int idx, double v);
  Statement& bind_null(int idx);
  Statement& bind_opt(int idx, const std::optional<std::string>& v);

  // Advances; true while a row is available. Throws Error(kIo) on failure, Error(kConflict,
  // "constraint") on a constraint violation.
  bool step();
  // Runs to completion, returns sqlite3_changes().
  int exec();

  std::string text(int col) const;
  std::optional<std::string> opt_text(int col) const;
  std::int64_t integer(int col) const;
  double real(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  bool* in_use_ = nullptr;  // set when stmt_ belongs to the connection's cache
};

class Database;

// Runs one or more SQL statements without results. Throws Error(kIo).
void exec_sql(sqlite3* db, const char* sql);

// One pooled connection, returned to the pool on destruction.
class Lease {
 public:
  Lease(Database* owner, Connection* conn) : owner_(owner), conn_(conn) {}
  ~Lease();
  Lease(Lease&& o) noexcept : owner_(o.owner_), conn_(o.conn_) { o.conn_ = nullptr; }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

  sqlite3* get() const { return conn_->db; }
  Statement prepare(const char* sql) const { return Statement(*conn_, sql); }
  void exec(const char* sql) const;

 private:
  Database* owner_;
  Connection* conn_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK unless commit() was called.
class Transaction {
 public:
  explicit Transaction(const Lease& lease);
  ~Transaction();
  void commit();

 private:
  const Lease& lease_;
  bool done_ = false;
};

class Database {
 public:
  // Opens (creating if needed) the database at `path` and brings its schema up to date.
  explicit Database(const std::string& path, int pool_size = 8);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  Lease acquire();
  // A number that grows with every commit made through this pool, bumped only after the commit
  // is visible: a read that starts after loading generation G sees every write counted in G. So
  // a value read while the generation was G is still current while it remains G. nullopt when
  // commits cannot be tracked (the database is not in WAL mode). Writes by other processes are
  // not counted; aifgen writes its database from one `serve` process only.
  std::optional<std::uint64_t> commit_generation() const {
    if (!tracks_commits_) return std::nullopt;
    return commits_.load(std::memory_order_acquire);
  }
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
  // The schema version after migrations (PRAGMA user_version).
  int schema_version();
  static int latest_schema_version();

 private:
  friend class Lease;
  void release(Connection* conn);
  std::unique_ptr<Connection> open_connection();
  void migrate();

  static int on_wal_commit(void* self, sqlite3* db, const char* name, int wal_pages);

  std::string path_;
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<bool> tracks_commits_{true};  // cleared if any connection is not in WAL mode
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Connection*> idle_;
  std::vector<std::unique_ptr<Connection>> all_;
  int pool_size_;
  mutable std::mutex fault_mu_;
  std::shared_ptr<const FaultInjector> fault_;
};


}  // namespace aifgen::storage

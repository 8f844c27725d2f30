// SQLite plumbing: connections in WAL mode with their prepared-statement caches, transactions,
// migrations keyed by PRAGMA user_version, and the commit generation.
#include "storage/sqlite_backend.h"

#include <sqlite3.h>

#include <atomic>
#include <string_view>
#include <unordered_map>

#include "storage/migrations.h"

namespace aifgen::storage {
namespace {

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  int code = sqlite3_extended_errcode(db);
  std::string msg = what + ": " + sqlite3_errmsg(db);
  if ((code & 0xff) == SQLITE_CONSTRAINT) throw Error(ErrorCode::kConflict, "constraint", msg);
  if ((code & 0xff) == SQLITE_FULL) throw Error(ErrorCode::kIo, "storage-full", msg);
  throw Error(ErrorCode::kIo, "storage-error", msg);
}

void exec_sql(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown";
    sqlite3_free(err);
    int code = sqlite3_extended_errcode(db) & 0xff;
    throw Error(ErrorCode::kIo, code == SQLITE_FULL ? "storage-full" : "storage-error", "sqlite: " + msg);
  }
}

bool in_wal_mode(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  bool wal = sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
             std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal";
  sqlite3_finalize(st);
  return wal;
}

struct SqlHash {  // lets a lookup by const char* skip building a std::string
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// A cached statement and whether a Statement is using it now.
struct Prepared {
  sqlite3_stmt* stmt = nullptr;
  bool in_use = false;
};

class SqliteStatement final : public StatementImpl {
 public:
  // Takes the connection's prepared copy (`cached`, when free) or owns a private one.
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt, bool* in_use) : db_(db), stmt_(stmt), in_use_(in_use) {}
  ~SqliteStatement() override {
    if (!in_use_) {
      sqlite3_finalize(stmt_);
      return;
    }
    // Back to the cache: reset ends the statement's read transaction, so a kept statement never
    // holds the WAL back.
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    *in_use_ = false;
  }

  void bind_text(int idx, std::string_view v) override {
    if (sqlite3_bind_text(stmt_, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK) fail(db_, "bind");
  }
  void bind_int(int idx, std::int64_t v) override {
    if (sqlite3_bind_int64(stmt_, idx, v) != SQLITE_OK) fail(db_, "bind");
  }
  void bind_real(int idx, double v) override {
    if (sqlite3_bind_double(stmt_, idx, v) != SQLITE_OK) fail(db_, "bind");
  }
  void bind_null(int idx) override {
    if (sqlite3_bind_null(stmt_, idx) != SQLITE_OK) fail(db_, "bind");
  }
  bool step() override {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, "step");
  }
  int changes() const override { return sqlite3_changes(db_); }
  bool is_null(int col) const override { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string text(int col) const override {
    auto* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : std::string();
  }
  std::int64_t integer(int col) const override { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const override { return sqlite3_column_double(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  bool* in_use_;  // set when stmt_ belongs to the connection's cache
};

// One connection and the statements already prepared on it. Parsing and planning is most of
// the cost of a point lookup (a job-status poll), so each distinct SQL text is prepared once per
// connection and reset after every use.
class SqliteConnection final : public ConnectionImpl {
 public:
  static constexpr std::size_t kMaxPrepared = 128;  // the code has a few dozen SQL texts

  explicit SqliteConnection(sqlite3* db) : db_(db) {}
  ~SqliteConnection() override {
    for (auto& [sql, p] : prepared_) sqlite3_finalize(p.stmt);
    sqlite3_close_v2(db_);
  }

  std::unique_ptr<StatementImpl> prepare(const char* sql) override {
    auto it = prepared_.find(std::string_view(sql));
    if (it != prepared_.end() && !it->second.in_use) {
      it->second.in_use = true;  // unordered_map nodes never move, so the pointer stays valid
      return std::make_unique<SqliteStatement>(db_, it->second.stmt, &it->second.in_use);
    }
    const bool keep = it == prepared_.end() && prepared_.size() < kMaxPrepared;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, nullptr) != SQLITE_OK) {
      sqlite3_finalize(stmt);
      fail(db_, "prepare");
    }
    if (!keep) return std::make_unique<SqliteStatement>(db_, stmt, nullptr);
    auto& slot = prepared_[sql];
    slot = {stmt, true};
    return std::make_unique<SqliteStatement>(db_, stmt, &slot.in_use);
  }
  void exec(const char* sql) override { exec_sql(db_, sql); }
  // One writer at a time whatever the isolation: IMMEDIATE takes the write lock up front, so a
  // read-then-write transaction never fails on upgrading its lock.
  void begin(Isolation) override { exec_sql(db_, "BEGIN IMMEDIATE"); }
  void commit() override { exec_sql(db_, "COMMIT"); }
  void rollback() noexcept override { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

 private:
  sqlite3* db_;
  std::unordered_map<std::string, Prepared, SqlHash, std::equal_to<>> prepared_;
};

class SqliteBackend final : public Backend {
 public:
  explicit SqliteBackend(std::string path) : path_(std::move(path)) {}

  Dialect dialect() const override { return Dialect::kSqlite; }
  std::string describe() const override { return path_; }

  std::unique_ptr<ConnectionImpl> open() override {
    sqlite3* db = nullptr;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path_.c_str(), &db, flags, nullptr) != SQLITE_OK) {
      std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close_v2(db);
      throw Error(ErrorCode::kIo, "storage-error", "cannot open database " + path_ + ": " + msg);
    }
    sqlite3_busy_timeout(db, 5000);
    try {
      // synchronous=FULL: a committed job state or model row survives power loss, not only kill -9.
      exec_sql(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    } catch (...) {
      sqlite3_close_v2(db);
      throw;
    }
    // Some file systems cannot hold a WAL; SQLite then stays in another journal mode silently.
    if (!in_wal_mode(db)) tracks_commits_ = false;
    // The WAL hook runs after each commit on this connection, once it is visible to readers. It
    // replaces SQLite's own auto-checkpoint hook, so it checkpoints at the same default threshold.
    sqlite3_wal_hook(db, &SqliteBackend::on_wal_commit, this);
    return std::make_unique<SqliteConnection>(db);
  }

  void migrate(const Lease& lease) override {
    Transaction tx(lease);
    int version = schema_version(lease);
    refuse_newer_schema(version);
    for (int v = version; v < kLatestSchemaVersion; ++v) {
      lease.exec(kSqliteMigrations[v]);
      lease.exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
    }
    tx.commit();
  }

  int schema_version(const Lease& lease) override {
    auto st = lease.prepare("PRAGMA user_version");
    return st.step() ? static_cast<int>(st.integer(0)) : 0;
  }

  std::optional<std::uint64_t> commit_generation() const override {
    if (!tracks_commits_) return std::nullopt;
    return commits_.load(std::memory_order_acquire);
  }

 private:
  static int on_wal_commit(void* self, sqlite3* db, const char* name, int wal_pages) {
    static_cast<SqliteBackend*>(self)->commits_.fetch_add(1, std::memory_order_release);
    constexpr int kAutoCheckpointPages = 1000;  // SQLite's default wal_autocheckpoint
    if (wal_pages >= kAutoCheckpointPages) sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
  }

  std::string path_;
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<bool> tracks_commits_{true};  // cleared if any connection is not in WAL mode
};

}  // namespace

std::unique_ptr<Backend> make_sqlite_backend(const std::string& path) { return std::make_unique<SqliteBackend>(path); }

}  // namespace aifgen::storage

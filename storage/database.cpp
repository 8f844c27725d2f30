// SQLite plumbing: pooled connections in WAL mode, statements, transactions, migrations.
#include "storage/database.h"

#include <chrono>
#include <ctime>
#include <string_view>

#include "core/base/error.h"
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

bool in_wal_mode(sqlite3* db) {
  sqlite3_stmt* st = nullptr;
  bool wal = sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
             std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) == "wal";
  sqlite3_finalize(st);
  return wal;
}

}  // namespace

Statement::Statement(Connection& conn, const char* sql) : db_(conn.db) {
  if (conn.owner && conn.owner->should_fail(sql))
    throw Error(ErrorCode::kIo, "storage-error", std::string("storage fault (injected) running: ") + sql);
  auto it = conn.prepared.find(std::string_view(sql));
  if (it != conn.prepared.end() && !it->second.in_use) {
    stmt_ = it->second.stmt;
    in_use_ = &it->second.in_use;  // unordered_map nodes never move, so the pointer stays valid
    *in_use_ = true;
    return;
  }
  const bool keep = it == conn.prepared.end() && conn.prepared.size() < Connection::kMaxPrepared;
  if (sqlite3_prepare_v3(db_, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &stmt_, nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt_);
    fail(db_, "prepare");
  }
  if (keep) {
    auto& slot = conn.prepared[sql];
    slot = {stmt_, true};
    in_use_ = &slot.in_use;
  }
}

Statement::~Statement() {
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

Statement& Statement::bind(int idx, const std::string& v) {
  if (sqlite3_bind_text(stmt_, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    fail(db_, "bind");
  return *this;
}
Statement& Statement::bind(int idx, std::int64_t v) {
  if (sqlite3_bind_int64(stmt_, idx, v) != SQLITE_OK) fail(db_, "bind");
  return *this;
}
Statement& Statement::bind(int idx, double v) {
  if (sqlite3_bind_double(stmt_, idx, v) != SQLITE_OK) fail(db_, "bind");
  return *this;
}
Statement& Statement::bind_null(int idx) {
  if (sqlite3_bind_null(stmt_, idx) != SQLITE_OK) fail(db_, "bind");
  return *this;
}
Statement& Statement::bind_opt(int idx, const std::optional<std::string>& v) {
  return v ? bind(idx, *v) : bind_null(idx);
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail(db_, "step");
}

int Statement::exec() {
  while (step()) {
  }
  return sqlite3_changes(db_);
}

std::string Statement::text(int col) const {
  auto* p = sqlite3_column_text(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col)) : std::string();
}
std::optional<std::string> Statement::opt_text(int col) const {
  if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
  return text(col);
}
std::int64_t Statement::integer(int col) const { return sqlite3_column_int64(stmt_, col); }
double Statement::real(int col) const { return sqlite3_column_double(stmt_, col); }

Lease::~Lease() {
  if (conn_) owner_->release(conn_);
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

void Lease::exec(const char* sql) const { exec_sql(conn_->db, sql); }

Transaction::Transaction(const Lease& lease) : lease_(lease) { lease_.exec("BEGIN IMMEDIATE"); }
Transaction::~Transaction() {
  if (!done_) sqlite3_exec(lease_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
}
void Transaction::commit() {
  lease_.exec("COMMIT");
  done_ = true;
}

Database::Database(const std::string& path, int pool_size) : path_(path), pool_size_(pool_size) {
  migrate();
}

Database::~Database() {
  for (auto& conn : all_) {
    for (auto& [sql, p] : conn->prepared) sqlite3_finalize(p.stmt);
    sqlite3_close_v2(conn->db);
  }
}

std::unique_ptr<Connection> Database::open_connection() {
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
  auto conn = std::make_unique<Connection>();
  conn->owner = this;
  conn->db = db;
  // The WAL hook runs after each commit on this connection, once it is visible to readers. It
  // replaces SQLite's own auto-checkpoint hook, so it checkpoints at the same default threshold.
  sqlite3_wal_hook(db, &Database::on_wal_commit, this);
  return conn;
}

int Database::on_wal_commit(void* self, sqlite3* db, const char* name, int wal_pages) {
  static_cast<Database*>(self)->commits_.fetch_add(1, std::memory_order_release);
  constexpr int kAutoCheckpointPages = 1000;  // SQLite's default wal_autocheckpoint
  if (wal_pages >= kAutoCheckpointPages) sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  return SQLITE_OK;
}

Lease Database::acquire() {
  std::unique_lock lock(mu_);
  if (idle_.empty() && static_cast<int>(all_.size()) < pool_size_) {
    lock.unlock();
    auto conn = open_connection();
    lock.lock();
    all_.push_back(std::move(conn));
    return Lease(this, all_.back().get());
  }
  cv_.wait(lock, [&] { return !idle_.empty(); });
  Connection* conn = idle_.back();
  idle_.pop_back();
  return Lease(this, conn);
}

void Database::release(Connection* conn) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(conn);
  }
  cv_.notify_one();
}

int Database::latest_schema_version() { return static_cast<int>(std::size(kMigrations)); }

int Database::schema_version() {
  auto c = acquire();
  auto st = c.prepare("PRAGMA user_version");
  st.step();
  return static_cast<int>(st.integer(0));
}

void Database::migrate() {
  auto c = acquire();
  Transaction tx(c);
  int version = 0;
  {
    auto st = c.prepare("PRAGMA user_version");
    if (st.step()) version = static_cast<int>(st.integer(0));
  }
  if (version > latest_schema_version())
    throw Error(ErrorCode::kIo, "schema-too-new",
                "database schema v" + std::to_string(version) + " is newer than this aifgen (v" +
                    std::to_string(latest_schema_version()) + "); refusing to touch it");
  for (int v = version; v < latest_schema_version(); ++v) {
    c.exec(kMigrations[v]);
    c.exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
  }
  tx.commit();
}

}  // namespace aifgen::storage

// PostgreSQL through libpqxx: connections with their server-side prepared statements, SQLSTATE
// mapped onto the storage errors the rest of the code already handles, and migrations guarded
// by an advisory lock so replicas starting together migrate once.
#include "storage/postgres_backend.h"

#include <pqxx/pqxx>

#include <charconv>
#include <cstdio>
#include <unordered_map>
#include <utility>

#include "storage/migrations.h"
#include "storage/sql_placeholders.h"

namespace aifgen::storage {
namespace {

// Any key the project owns; pg_advisory_xact_lock holds it until the migrating transaction ends.
constexpr std::int64_t kMigrationLockKey = 0x61696667656e01;  // "aifgen" + 1

[[noreturn]] void rethrow_as_storage_error(const std::string& what, bool& broken) {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const pqxx::broken_connection& e) {
    broken = true;
    throw Error(ErrorCode::kUnavailable, "storage-unavailable", what + ": the database connection failed: " + e.what());
  } catch (const pqxx::in_doubt_error& e) {
    broken = true;
    throw Error(ErrorCode::kUnavailable, "storage-unavailable", what + ": the connection failed during commit: " + e.what());
  } catch (const pqxx::serialization_failure& e) {
    throw Error(ErrorCode::kUnavailable, "storage-contention", what + ": " + e.what());
  } catch (const pqxx::deadlock_detected& e) {
    throw Error(ErrorCode::kUnavailable, "storage-contention", what + ": " + e.what());
  } catch (const pqxx::sql_error& e) {
    const std::string state = e.sqlstate();
    if (state.starts_with("23")) throw Error(ErrorCode::kConflict, "constraint", what + ": " + e.what());
    if (state == "53100") throw Error(ErrorCode::kIo, "storage-full", what + ": " + e.what());
    if (state.starts_with("08") || state.starts_with("57P")) {  // connection exception, server shutting down
      broken = true;
      throw Error(ErrorCode::kUnavailable, "storage-unavailable", what + ": " + e.what());
    }
    throw Error(ErrorCode::kIo, "storage-error", what + ": " + e.what() + " [SQLSTATE " + state + "]");
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kIo, "storage-error", what + ": " + e.what());
  }
}

std::int64_t parse_integer(const pqxx::field& f) {
  if (f.is_null()) return 0;
  const char* s = f.c_str();
  if (s[0] == 't' && s[1] == 0) return 1;  // boolean
  if (s[0] == 'f' && s[1] == 0) return 0;
  std::int64_t v = 0;
  const auto end = s + f.size();
  auto [p, ec] = std::from_chars(s, end, v);
  if (ec == std::errc() && p == end) return v;
  return static_cast<std::int64_t>(std::strtod(s, nullptr));  // a numeric or real column read as an integer
}

class PostgresConnection;

class PostgresStatement final : public StatementImpl {
 public:
  PostgresStatement(PostgresConnection& conn, const std::string* prepared_name, std::string text, int parameters)
      : conn_(conn), prepared_name_(prepared_name), text_(std::move(text)), params_(parameters) {}

  void bind_text(int idx, std::string_view v) override { slot(idx) = std::string(v); }
  void bind_int(int idx, std::int64_t v) override { slot(idx) = std::to_string(v); }
  void bind_real(int idx, double v) override {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
    slot(idx) = std::string(buf, end);
  }
  void bind_null(int idx) override { slot(idx).reset(); }

  bool step() override;
  int changes() const override { return result_ ? static_cast<int>(result_->affected_rows()) : 0; }
  bool is_null(int col) const override { return field(col).is_null(); }
  std::string text(int col) const override {
    const auto& f = field(col);
    return f.is_null() ? std::string() : std::string(f.c_str(), f.size());
  }
  std::int64_t integer(int col) const override { return parse_integer(field(col)); }
  double real(int col) const override {
    const auto& f = field(col);
    return f.is_null() ? 0.0 : std::strtod(f.c_str(), nullptr);
  }

 private:
  std::optional<std::string>& slot(int idx) {
    if (idx < 1 || idx > static_cast<int>(params_.size()))
      throw Error(ErrorCode::kInternal, "internal", "bind index " + std::to_string(idx) + " outside the statement's parameters");
    return params_[idx - 1];
  }
  pqxx::field field(int col) const {
    if (!result_ || row_ < 1 || row_ > result_->size() || col < 0 || col >= static_cast<int>(result_->columns()))
      throw Error(ErrorCode::kInternal, "internal", "column read with no current row");
    return (*result_)[static_cast<pqxx::result::size_type>(row_ - 1)][col];
  }

  PostgresConnection& conn_;
  const std::string* prepared_name_;  // null: run unprepared
  std::string text_;
  std::vector<std::optional<std::string>> params_;
  std::optional<pqxx::result> result_;
  std::size_t row_ = 0;  // rows stepped over; the current row is row_ - 1
};

class PostgresConnection final : public ConnectionImpl {
 public:
  static constexpr std::size_t kMaxPrepared = 128;  // as for SQLite: the code has a few dozen texts

  explicit PostgresConnection(const std::string& url) : conn_(url) {}
  ~PostgresConnection() override {
    tx_.reset();  // aborts an open transaction
  }

  std::unique_ptr<StatementImpl> prepare(const char* sql) override {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      auto pg = to_postgres_placeholders(sql);
      Prepared p{"", std::move(pg.text), pg.parameters};
      if (prepared_.size() < kMaxPrepared) {
        p.name = "aifgen_" + std::to_string(prepared_.size());
        try {
          conn_.prepare(p.name, p.text);  // sent to the server on first use
        } catch (...) {
          rethrow_as_storage_error("prepare", broken_);
        }
      }
      it = prepared_.emplace(sql, std::move(p)).first;
    }
    const auto& p = it->second;
    return std::make_unique<PostgresStatement>(*this, p.name.empty() ? nullptr : &p.name, p.text, p.parameters);
  }

  // Runs `fn(transaction)` on the open transaction, or in a one-statement one.
  template <class F>
  auto run(const char* what, F&& fn) {
    try {
      if (tx_) return fn(*tx_);
      pqxx::nontransaction once(conn_);
      return fn(once);
    } catch (...) {
      rethrow_as_storage_error(what, broken_);
    }
  }

  void exec(const char* sql) override {
    run("exec", [&](pqxx::transaction_base& t) { return t.exec(sql); });
  }
  void begin(Isolation isolation) override {
    try {
      if (isolation == Isolation::kSerializable)
        tx_ = std::make_unique<pqxx::transaction<pqxx::serializable>>(conn_);
      else
        tx_ = std::make_unique<pqxx::transaction<pqxx::read_committed>>(conn_);
    } catch (...) {
      rethrow_as_storage_error("begin", broken_);
    }
  }
  void commit() override {
    auto tx = std::move(tx_);
    try {
      tx->commit();
    } catch (...) {
      rethrow_as_storage_error("commit", broken_);
    }
  }
  void rollback() noexcept override {
    try {
      if (tx_) tx_->abort();
    } catch (...) {
      broken_ = true;  // an abort that fails leaves the connection in doubt
    }
    tx_.reset();
  }
  bool broken() const override { return broken_ || !conn_.is_open(); }

 private:
  struct Prepared {
    std::string name;
    std::string text;
    int parameters;
  };

  pqxx::connection conn_;
  std::unique_ptr<pqxx::transaction_base> tx_;
  std::unordered_map<std::string, Prepared> prepared_;
  bool broken_ = false;
};

bool PostgresStatement::step() {
  if (!result_) {
    std::vector<const char*> values;
    values.reserve(params_.size());
    for (const auto& p : params_) values.push_back(p ? p->c_str() : nullptr);
    result_ = conn_.run("step", [&](pqxx::transaction_base& t) {
      auto params = pqxx::prepare::make_dynamic_params(values);
      return prepared_name_ ? t.exec_prepared(*prepared_name_, params) : t.exec_params(text_, params);
    });
  }
  if (row_ >= result_->size()) return false;
  ++row_;
  return true;
}

// LISTEN on its own connection; await_notification hands each payload (a job id) to the receiver.
class PostgresChangeFeed final : public ChangeFeed {
 public:
  static constexpr const char* kChannel = "aifgen_job_changes";  // the migration's trigger notifies it

  explicit PostgresChangeFeed(const std::string& url) : conn_(url), receiver_(conn_, *this) {}

  std::vector<std::string> wait(std::chrono::milliseconds timeout) override {
    try {
      if (conn_.get_notifs() == 0) {  // nothing already waiting: block until something comes
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
        conn_.await_notification(static_cast<long>(us / 1000000), static_cast<long>(us % 1000000));
      }
      if (!conn_.is_open()) throw pqxx::broken_connection("the listening connection closed");
    } catch (const pqxx::broken_connection& e) {
      throw Error(ErrorCode::kUnavailable, "storage-unavailable", std::string("job change feed: ") + e.what());
    }
    return std::exchange(pending_, {});
  }

 private:
  struct Receiver final : pqxx::notification_receiver {
    Receiver(pqxx::connection_base& c, PostgresChangeFeed& feed) : pqxx::notification_receiver(c, kChannel), feed_(feed) {}
    void operator()(const std::string& payload, int) override { feed_.pending_.push_back(payload); }
    PostgresChangeFeed& feed_;
  };

  pqxx::connection conn_;
  std::vector<std::string> pending_;
  Receiver receiver_;  // after conn_ and pending_: it LISTENs on construction
};

class PostgresBackend final : public Backend {
 public:
  explicit PostgresBackend(std::string url) : url_(std::move(url)) {}

  Dialect dialect() const override { return Dialect::kPostgres; }
  std::string describe() const override { return redact_database_url(url_); }

  std::unique_ptr<ConnectionImpl> open() override {
    try {
      return std::make_unique<PostgresConnection>(url_);
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kUnavailable, "storage-unavailable",
                  "cannot connect to PostgreSQL at " + describe() + ": " + e.what());
    }
  }

  void migrate(const Lease& lease) override {
    // READ COMMITTED, so each statement after the lock sees what an earlier migrator committed.
    Transaction tx(lease, Isolation::kReadCommitted);
    lease.prepare("SELECT pg_advisory_xact_lock(?)").bind(1, kMigrationLockKey).exec();
    lease.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
    const int version = schema_version(lease);
    refuse_newer_schema(version);
    for (int v = version; v < kLatestSchemaVersion; ++v) {
      lease.exec(kPostgresMigrations[v]);
      lease.prepare("INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)")
          .bind(1, std::int64_t{v + 1}).bind(2, now_iso8601()).exec();
    }
    tx.commit();
  }

  int schema_version(const Lease& lease) override {
    auto st = lease.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    return st.step() ? static_cast<int>(st.integer(0)) : 0;
  }

  std::unique_ptr<ChangeFeed> job_changes() override {
    try {
      return std::make_unique<PostgresChangeFeed>(url_);
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kUnavailable, "storage-unavailable", "cannot listen for job changes at " + describe() + ": " + e.what());
    }
  }

 private:
  std::string url_;
};

}  // namespace

std::unique_ptr<Backend> make_postgres_backend(const std::string& url) { return std::make_unique<PostgresBackend>(url); }

}  // namespace aifgen::storage

// The backend-neutral half of Database: the connection pool, leases, transactions and the
// choice of backend from the database's location.
#include "storage/database.h"

#include <algorithm>

#include "storage/migrations.h"
#include "storage/postgres_backend.h"
#include "storage/sqlite_backend.h"

namespace aifgen::storage {

bool is_postgres_url(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string redact_database_url(std::string_view location) {
  std::string out(location);
  if (!is_postgres_url(location)) return out;
  // postgresql://user:password@host/...: the password runs from the first ':' after the scheme
  // to the last '@' of the authority.
  const auto scheme_end = out.find("://") + 3;
  const auto authority_end = std::min(out.find_first_of("/?", scheme_end), out.size());
  const auto at = out.rfind('@', authority_end);
  if (at != std::string::npos && at >= scheme_end) {
    const auto colon = out.find(':', scheme_end);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // A password may also come as a query parameter.
  if (auto q = out.find('?'); q != std::string::npos) {
    for (auto p = out.find("password=", q); p != std::string::npos; p = out.find("password=", p + 1)) {
      if (out[p - 1] != '?' && out[p - 1] != '&') continue;
      const auto end = std::min(out.find('&', p), out.size());
      out.replace(p + 9, end - p - 9, "***");
    }
  }
  return out;
}

Lease::~Lease() {
  if (conn_) owner_->release(conn_);
}

Statement Lease::prepare(const char* sql) const {
  if (owner_->should_fail(sql))
    throw Error(ErrorCode::kIo, "storage-error", std::string("storage fault (injected) running: ") + sql);
  return Statement(conn_->prepare(sql));
}

void Lease::exec(const char* sql) const { conn_->exec(sql); }

Dialect Lease::dialect() const { return owner_->dialect(); }

Transaction::Transaction(const Lease& lease, Isolation isolation) : lease_(lease) {
  lease_.connection().begin(isolation);
}
Transaction::~Transaction() {
  if (!done_) lease_.connection().rollback();
}
void Transaction::commit() {
  lease_.connection().commit();
  done_ = true;
}

Database::Database(const std::string& location, int pool_size) : pool_size_(std::max(pool_size, 1)) {
  if (is_postgres_url(location))
    backend_ = make_postgres_backend(location);
  else
    backend_ = make_sqlite_backend(location);
  auto lease = acquire();
  backend_->migrate(lease);
}

Database::~Database() {
  // Connections before the backend: a SQLite connection's commit hook points at it.
  all_.clear();
}

Lease Database::acquire() {
  std::unique_lock lock(mu_);
  if (idle_.empty() && static_cast<int>(all_.size()) < pool_size_) {
    // Reserve the slot before opening outside the lock, so concurrent callers cannot overshoot.
    all_.push_back(nullptr);
    lock.unlock();
    std::unique_ptr<ConnectionImpl> conn;
    try {
      conn = backend_->open();
    } catch (...) {
      lock.lock();
      all_.erase(std::find(all_.begin(), all_.end(), nullptr));
      cv_.notify_one();
      throw;
    }
    lock.lock();
    auto* raw = conn.get();
    *std::find(all_.begin(), all_.end(), nullptr) = std::move(conn);
    return Lease(this, raw);
  }
  cv_.wait(lock, [&] { return !idle_.empty() || static_cast<int>(all_.size()) < pool_size_; });
  if (idle_.empty()) {
    lock.unlock();
    return acquire();  // a broken connection was dropped: open a new one in its slot
  }
  ConnectionImpl* conn = idle_.back();
  idle_.pop_back();
  if (conn->broken()) {  // it failed after its lease ended (a statement outlived the lease)
    std::erase_if(all_, [&](const auto& c) { return c.get() == conn; });
    lock.unlock();
    return acquire();
  }
  return Lease(this, conn);
}

void Database::release(ConnectionImpl* conn) {
  std::unique_ptr<ConnectionImpl> dropped;
  {
    std::lock_guard lock(mu_);
    if (conn->broken()) {
      auto it = std::find_if(all_.begin(), all_.end(), [&](const auto& c) { return c.get() == conn; });
      dropped = std::move(*it);
      all_.erase(it);
    } else {
      idle_.push_back(conn);
    }
  }
  cv_.notify_one();
}

int Database::latest_schema_version() { return kLatestSchemaVersion; }

int Database::schema_version() {
  auto lease = acquire();
  return backend_->schema_version(lease);
}

}  // namespace aifgen::storage

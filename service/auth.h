// API keys: creation (the key is shown once; only its SHA-256 is stored), lookup with a
// constant-time comparison, scopes read < write < admin, and the local-only mode of an install
// that has no key yet.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

#include "storage/api_key_repository.h"

namespace aifgen {

enum class Scope { kRead = 0, kWrite = 1, kAdmin = 2 };

std::optional<Scope> parse_scope(const std::string& s);
const char* scope_name(Scope s);

struct Principal {
  std::string key_id;
  std::string name;
  Scope scope;
};

struct CreatedKey {
  ApiKeyRecord record;
  std::string secret;  // the full key, to show once
};

class Auth {
 public:
  // `recheck`: how long a local_only() answer may be reused (zero: every call asks the database).
  explicit Auth(storage::ApiKeyRepository& keys, std::chrono::milliseconds recheck = std::chrono::milliseconds(0))
      : keys_(keys), recheck_ns_(std::chrono::nanoseconds(recheck).count()) {}

  // Throws Error(kInvalidArgument) for a bad name or scope.
  CreatedKey create(const std::string& name, const std::string& scope);
  // The key's principal, or nullopt for unknown, malformed or revoked keys.
  std::optional<Principal> authenticate(const std::string& presented);
  // True while no active key exists: the service then serves loopback only, without keys.
  // Keys are created by another process (`aifgen keys create`), so the answer comes from the
  // database; the service reuses it for `recheck` (a second), so a new key takes effect within
  // a second without a query on every request.
  bool local_only() {
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    if (recheck_ns_ == 0 || checked_at_.load() == 0 || now - checked_at_.load() > recheck_ns_) {
      local_only_.store(keys_.count_active() == 0);
      checked_at_.store(now);
    }
    return local_only_.load();
  }
  storage::ApiKeyRepository& keys() { return keys_; }

 private:
  storage::ApiKeyRepository& keys_;
  std::int64_t recheck_ns_;
  std::atomic<std::int64_t> checked_at_{0};
  std::atomic<bool> local_only_{true};
};

}  // namespace aifgen

// API keys: creation (the key is shown once; only its SHA-256 is stored), lookup with a
// constant-time comparison, scopes read < write < admin, and the local-only mode of an install
// that has no key yet.
#pragma once

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
  storage::ApiKeyRecord record;
  std::string secret;  // the full key, to show once
};

class Auth {
 public:
  explicit Auth(storage::ApiKeyRepository& keys) : keys_(keys) {}

  // Throws Error(kInvalidArgument) for a bad name or scope.
  CreatedKey create(const std::string& name, const std::string& scope);
  // The key's principal, or nullopt for unknown, malformed or revoked keys.
  std::optional<Principal> authenticate(const std::string& presented);
  // True while no active key exists: the service then serves loopback only, without keys.
  bool local_only() { return keys_.count_active() == 0; }
  storage::ApiKeyRepository& keys() { return keys_; }

 private:
  storage::ApiKeyRepository& keys_;
};

}  // namespace aifgen

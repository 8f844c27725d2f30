// Keys look like agk_<id>_<secret>: the id (12 hex) finds the row, the SHA-256 of the whole key
// is compared with CRYPTO_memcmp so timing does not reveal how much of a guess was right.
#include "service/auth.h"

#include <openssl/crypto.h>

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/base/random_hex.h"
#include "core/base/sha256.h"
#include "storage/database.h"

namespace aifgen {
std::optional<Scope> parse_scope(const std::string& s) {
  if (s == "read") return Scope::kRead;
  if (s == "write") return Scope::kWrite;
  if (s == "admin") return Scope::kAdmin;
  return std::nullopt;
}

const char* scope_name(Scope s) {
  switch (s) {
    case Scope::kRead: return "read";
    case Scope::kWrite: return "write";
    case Scope::kAdmin: return "admin";
  }
  return "read";
}

CreatedKey Auth::create(const std::string& name, const std::string& scope) {
  if (!parse_scope(scope))
    throw Error(ErrorCode::kInvalidArgument, "invalid-scope", "scope must be read, write or admin", {"read", "write", "admin"});
  if (name.empty() || name.size() > 100)
    throw Error(ErrorCode::kInvalidArgument, "invalid-name", "a key name must be 1 to 100 characters");
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f) throw Error(ErrorCode::kInvalidArgument, "invalid-name", "a key name must not contain control characters");
  CreatedKey k;
  k.record.id = random_hex(6);
  k.secret = "agk_" + k.record.id + "_" + random_hex(24);
  k.record.name = name;
  k.record.scope = scope;
  k.record.key_sha256 = Sha256::of(k.secret);
  k.record.created_at = now_iso8601();
  keys_.insert(k.record);
  return k;
}

std::optional<Principal> Auth::authenticate(const std::string& presented) {
  // agk_ + 12 hex + _ + 48 hex
  if (presented.size() != 4 + 12 + 1 + 48 || presented.rfind("agk_", 0) != 0 || presented[16] != '_') return std::nullopt;
  auto row = keys_.get(presented.substr(4, 12));
  if (!row || row->revoked_at) return std::nullopt;
  const std::string hash = Sha256::of(presented);
  if (hash.size() != row->key_sha256.size() || CRYPTO_memcmp(hash.data(), row->key_sha256.data(), hash.size()) != 0)
    return std::nullopt;
  return Principal{row->id, row->name, *parse_scope(row->scope)};
}

}  // namespace aifgen

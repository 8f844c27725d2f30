// Key management on the database directly: the SQLite file (WAL + busy timeout make that safe
// next to a running service) or the deployment's PostgreSQL database.
#include "service/cli/keys.h"

#include <cstdio>
#include <filesystem>

#include "core/base/error.h"
#include "service/auth.h"
#include "storage/database.h"

namespace aifgen {
namespace {

template <typename Fn>
int with_keys(const std::string& database, const char* cmd, Fn&& fn) {
  try {
    if (!storage::is_postgres_url(database)) std::filesystem::create_directories(std::filesystem::path(database).parent_path());
    storage::Database db(database, 1);
    storage::ApiKeyRepository repo(db);
    Auth auth(repo);
    return fn(auth);
  } catch (const Error& e) {
    std::fprintf(stderr, "aifgen keys %s: %s\n", cmd, e.what());
    return 2;
  }
}

}  // namespace

int keys_create(const std::string& database, const std::string& name, const std::string& scope, bool if_none) {
  return with_keys(database, "create", [&](Auth& auth) {
    if (if_none && !auth.local_only()) {
      std::printf("an active key exists; none created\n");
      return 0;
    }
    auto k = auth.create(name, scope);
    std::printf("created key %s (%s, scope %s); it is shown only now:\n%s\n", k.record.id.c_str(), k.record.name.c_str(),
                k.record.scope.c_str(), k.secret.c_str());
    return 0;
  });
}

int keys_list(const std::string& database) {
  return with_keys(database, "list", [&](Auth& auth) {
    std::printf("%-14s %-6s %-26s %-26s %s\n", "id", "scope", "created", "revoked", "name");
    for (const auto& k : auth.keys().list())
      std::printf("%-14s %-6s %-26s %-26s %s\n", k.id.c_str(), k.scope.c_str(), k.created_at.c_str(),
                  k.revoked_at.value_or("-").c_str(), k.name.c_str());
    return 0;
  });
}

int keys_revoke(const std::string& database, const std::string& id) {
  return with_keys(database, "revoke", [&](Auth& auth) {
    if (!auth.keys().revoke(id)) {
      std::fprintf(stderr, "aifgen keys revoke: no active key with id %s\n", id.c_str());
      return 2;
    }
    std::printf("revoked %s\n", id.c_str());
    return 0;
  });
}

}  // namespace aifgen

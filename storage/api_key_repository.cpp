#include "storage/api_key_repository.h"

namespace aifgen::storage {
namespace {

ApiKeyRecord read_row(const Statement& st) {
  return {st.text(0), st.text(1), st.text(2), st.text(3), st.text(4), st.opt_text(5)};
}

constexpr const char* kSelect = "SELECT id, name, scope, key_sha256, created_at, revoked_at FROM api_keys";

}  // namespace

void ApiKeyRepository::insert(const ApiKeyRecord& k) {
  auto c = db_.acquire();
  c.prepare("INSERT INTO api_keys(id, name, scope, key_sha256, created_at) VALUES (?, ?, ?, ?, ?)")
      .bind(1, k.id).bind(2, k.name).bind(3, k.scope).bind(4, k.key_sha256).bind(5, k.created_at).exec();
}

std::optional<ApiKeyRecord> ApiKeyRepository::get(const std::string& id) {
  auto c = db_.acquire();
  auto st = c.prepare((std::string(kSelect) + " WHERE id = ?").c_str());
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_row(st);
}

std::vector<ApiKeyRecord> ApiKeyRepository::list() {
  auto c = db_.acquire();
  auto st = c.prepare((std::string(kSelect) + " ORDER BY created_at, id").c_str());
  std::vector<ApiKeyRecord> out;
  while (st.step()) out.push_back(read_row(st));
  return out;
}

bool ApiKeyRepository::revoke(const std::string& id) {
  auto c = db_.acquire();
  return c.prepare("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL").bind(1, now_iso8601()).bind(2, id).exec() > 0;
}

std::int64_t ApiKeyRepository::count_active() {
  auto c = db_.acquire();
  auto st = c.prepare("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL");
  st.step();
  return st.integer(0);
}

}  // namespace aifgen::storage

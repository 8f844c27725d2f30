// The api_keys table.
#pragma once

#include <optional>
#include <vector>

#include "storage/database.h"
#include "core/base/records.h"

namespace aifgen::storage {

class ApiKeyRepository {
 public:
  explicit ApiKeyRepository(Database& db) : db_(db) {}
  void insert(const ApiKeyRecord& k);
  std::optional<ApiKeyRecord> get(const std::string& id);
  std::vector<ApiKeyRecord> list();
  // Returns false when no active key has this id.
  bool revoke(const std::string& id);
  std::int64_t count_active();

 private:
  Database& db_;
};

}  // namespace aifgen::storage

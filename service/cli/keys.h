// `aifgen keys create|list|revoke` against the service's database (it may be running): the SQLite
// file in a data dir, or a postgresql:// URL. `database` is a file path or that URL.
#pragma once

#include <string>

namespace aifgen {

// With `if_none`, creates the key only when no active key exists (prints nothing otherwise).
int keys_create(const std::string& database, const std::string& name, const std::string& scope, bool if_none = false);
int keys_list(const std::string& database);
int keys_revoke(const std::string& database, const std::string& id);

}  // namespace aifgen

// `aifgen keys create|list|revoke` against a data dir (the service may be running).
#pragma once

#include <string>

namespace aifgen {

// With `if_none`, creates the key only when no active key exists (prints nothing otherwise).
int keys_create(const std::string& data_dir, const std::string& name, const std::string& scope, bool if_none = false);
int keys_list(const std::string& data_dir);
int keys_revoke(const std::string& data_dir, const std::string& id);

}  // namespace aifgen

// The SQLite backend: the embedded default, one file in the data dir.
#pragma once

#include <memory>
#include <string>

#include "storage/database.h"

namespace aifgen::storage {

std::unique_ptr<Backend> make_sqlite_backend(const std::string& path);

}  // namespace aifgen::storage

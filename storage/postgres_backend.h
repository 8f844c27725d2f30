// The PostgreSQL backend (libpqxx): one database shared by every API and worker process of a
// scaled-out deployment.
#pragma once

#include <memory>
#include <string>

#include "storage/database.h"

namespace aifgen::storage {

// `url` is a libpq connection URI (postgresql://user:password@host:port/dbname?options).
std::unique_ptr<Backend> make_postgres_backend(const std::string& url);

}  // namespace aifgen::storage

// A fresh, empty database for one test on either backend, so the storage and e2e tests run the
// same assertions against SQLite and PostgreSQL.
//
// PostgreSQL comes from the test run's own server (tests/tools/postgres-server.sh, started by
// CTest as the `postgres` fixture): AIFGEN_TEST_POSTGRES_URL names it directly, or
// AIFGEN_TEST_POSTGRES_DIR holds the `url` file the script wrote (or a `skip-reason`). Each
// TestDatabase creates its own database there and drops it afterwards, so tests running in
// parallel never see each other's rows.
#pragma once

#include <pqxx/pqxx>

#include <fstream>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <string>

namespace aifgen::testing {

enum class DatabaseKind { kSqlite, kPostgres };

inline const char* kind_name(DatabaseKind kind) { return kind == DatabaseKind::kSqlite ? "Sqlite" : "Postgres"; }
// So a parameterised test's name in CTest reads "... GetParam() = Postgres".
inline void PrintTo(DatabaseKind kind, std::ostream* os) { *os << kind_name(kind); }

// The test server's URL (to its maintenance database), or nullopt with `why_not` set.
inline std::optional<std::string> test_postgres_url(std::string* why_not) {
  if (const char* url = std::getenv("AIFGEN_TEST_POSTGRES_URL"); url && *url) return std::string(url);
  const char* dir = std::getenv("AIFGEN_TEST_POSTGRES_DIR");
  if (!dir || !*dir) {
    *why_not = "no test PostgreSQL server: run the tests through ctest (which starts one) or set AIFGEN_TEST_POSTGRES_URL";
    return std::nullopt;
  }
  auto read = [](const std::string& path) -> std::optional<std::string> {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::string line;
    std::getline(in, line);
    return line;
  };
  if (auto url = read(std::string(dir) + "/url"); url && !url->empty()) return url;
  auto reason = read(std::string(dir) + "/skip-reason");
  *why_not = "no test PostgreSQL server: " + reason.value_or("tests/tools/postgres-server.sh did not start one");
  return std::nullopt;
}

// The URL of `database` on the server at `server_url` (whose path names another database).
inline std::string postgres_url_for(const std::string& server_url, const std::string& database) {
  const auto scheme_end = server_url.find("://") + 3;
  const auto slash = server_url.find('/', scheme_end);
  const auto query = server_url.find('?', scheme_end);
  std::string base = server_url.substr(0, std::min(slash, query));
  std::string tail = query == std::string::npos ? "" : server_url.substr(query);
  return base + "/" + database + tail;
}

class TestDatabase {
 public:
  // SQLite: `dir`/aifgen.db (the data dir's own file). PostgreSQL: a new database on the test
  // server; available() is false (and skip_reason() says why) when there is none.
  TestDatabase(DatabaseKind kind, const std::string& dir) : kind_(kind) {
    if (kind == DatabaseKind::kSqlite) {
      location_ = dir + "/aifgen.db";
      return;
    }
    auto server = test_postgres_url(&skip_reason_);
    if (!server) return;
    server_ = *server;
    std::random_device rd;
    std::ostringstream name;
    name << "aifgen_test_" << std::hex << rd() << rd();
    name_ = name.str();
    pqxx::connection admin(server_);
    pqxx::nontransaction(admin).exec("CREATE DATABASE " + name_);
    location_ = postgres_url_for(server_, name_);
  }
  ~TestDatabase() {
    if (name_.empty()) return;
    try {
      pqxx::connection admin(server_);
      pqxx::nontransaction(admin).exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (...) {
      // The server is throwaway; a database left behind goes with it.
    }
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  bool available() const { return !location_.empty(); }
  const std::string& skip_reason() const { return skip_reason_; }
  // What to open: a file path, or a postgresql:// URL (also what `serve --database` takes).
  const std::string& location() const { return location_; }
  DatabaseKind kind() const { return kind_; }

 private:
  DatabaseKind kind_;
  std::string location_, server_, name_, skip_reason_;
};

}  // namespace aifgen::testing

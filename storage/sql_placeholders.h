// SQLite-style parameters (`?`, `?NNN`) rewritten as PostgreSQL's `$N`, so the repositories write
// each SQL text once. Numbering follows SQLite: `?NNN` is parameter NNN, and a bare `?` is one
// more than the largest number used so far. Question marks inside quoted strings, quoted
// identifiers and comments are left alone.
#pragma once

#include <string>
#include <string_view>

namespace aifgen::storage {

struct PostgresSql {
  std::string text;
  int parameters = 0;  // the largest parameter number
};

// Throws Error(kInternal) for `?0`, a number above kMaxSqlParameters or an unterminated quote
// or comment: SQL texts are the code's own, so these are bugs.
inline constexpr int kMaxSqlParameters = 999;  // SQLite's historical SQLITE_MAX_VARIABLE_NUMBER
PostgresSql to_postgres_placeholders(std::string_view sql);

}  // namespace aifgen::storage

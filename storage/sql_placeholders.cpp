// The placeholder rewrite: one pass over the text, copying quoted and commented spans verbatim.
#include "storage/sql_placeholders.h"

#include <algorithm>

#include "core/base/error.h"

namespace aifgen::storage {
namespace {

[[noreturn]] void bad_sql(const std::string& why, std::string_view sql) {
  throw Error(ErrorCode::kInternal, "internal", "SQL text " + why + ": " + std::string(sql.substr(0, 200)));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Index just past the quoted span that starts at `i` (a doubled close
// quote inside a quoted span is an escaped one and does not end it).
std::size_t skip_quoted(std::string_view sql, std::size_t i, char quote) {
  for (std::size_t j = i + 1; j < sql.size(); ++j) {
    if (sql[j] != quote) continue;
    if (j + 1 < sql.size() && sql[j + 1] == quote) {
      ++j;
      continue;
    }
    return j + 1;
  }
  bad_sql("has an unterminated quote", sql);
}

}  // namespace

PostgresSql to_postgres_placeholders(std::string_view sql) {
  PostgresSql out;
  out.text.reserve(sql.size() + 16);
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      const auto end = skip_quoted(sql, i, c);
      out.text.append(sql.substr(i, end - i));
      i = end;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      const auto end = std::min(sql.find('\n', i), sql.size());
      out.text.append(sql.substr(i, end - i));
      i = end;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const auto close = sql.find("*/", i + 2);
      if (close == std::string_view::npos) bad_sql("has an unterminated comment", sql);
      out.text.append(sql.substr(i, close + 2 - i));
      i = close + 2;
    } else if (c == '?') {
      std::size_t j = i + 1;
      int number = 0;
      while (j < sql.size() && is_digit(sql[j])) {
        number = number * 10 + (sql[j] - '0');
        if (number > kMaxSqlParameters) bad_sql("has a parameter number above " + std::to_string(kMaxSqlParameters), sql);
        ++j;
      }
      if (j == i + 1) {
        number = out.parameters + 1;
        if (number > kMaxSqlParameters) bad_sql("has more than " + std::to_string(kMaxSqlParameters) + " parameters", sql);
      } else if (number == 0) {
        bad_sql("has parameter ?0", sql);
      }
      out.parameters = std::max(out.parameters, number);
      out.text += '$';
      out.text += std::to_string(number);
      i = j;
    } else {
      out.text += c;
      ++i;
    }
  }
  return out;
}

}  // namespace aifgen::storage

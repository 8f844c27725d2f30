// SQLite-style placeholders become PostgreSQL's $N with SQLite's numbering; quoted text and
// comments keep their question marks.
#include "storage/sql_placeholders.h"

#include <gtest/gtest.h>

#include "core/base/error.h"

namespace aifgen::storage {
namespace {

TEST(SqlPlaceholders, BareMarksAreNumberedInOrder) {
  auto out = to_postgres_placeholders("INSERT INTO t(a, b, c) VALUES (?, ?, ?)");
  EXPECT_EQ(out.text, "INSERT INTO t(a, b, c) VALUES ($1, $2, $3)");
  EXPECT_EQ(out.parameters, 3);
}

TEST(SqlPlaceholders, NumberedMarksKeepTheirNumberAndMayRepeat) {
  auto out = to_postgres_placeholders("UPDATE t SET a = ?2, b = ?1 WHERE c = ?2 OR d = ?10");
  EXPECT_EQ(out.text, "UPDATE t SET a = $2, b = $1 WHERE c = $2 OR d = $10");
  EXPECT_EQ(out.parameters, 10);
}

TEST(SqlPlaceholders, ABareMarkAfterNumberedOnesTakesOneMoreThanTheLargest) {
  // SQLite's rule: "?" is one more than the largest parameter number assigned so far.
  auto out = to_postgres_placeholders("SELECT ?3, ?, ?1, ?");
  EXPECT_EQ(out.text, "SELECT $3, $4, $1, $5");
  EXPECT_EQ(out.parameters, 5);
}

TEST(SqlPlaceholders, QuotedTextAndCommentsAreLeftAlone) {
  auto out = to_postgres_placeholders(
      "SELECT 'what?', 'it''s ?', \"odd?col\" -- why?\nFROM t /* really? */ WHERE a = ?");
  EXPECT_EQ(out.text, "SELECT 'what?', 'it''s ?', \"odd?col\" -- why?\nFROM t /* really? */ WHERE a = $1");
  EXPECT_EQ(out.parameters, 1);
}

TEST(SqlPlaceholders, TextWithoutMarksIsUnchanged) {
  auto out = to_postgres_placeholders("SELECT COUNT(*) FROM jobs WHERE state = 'queued'");
  EXPECT_EQ(out.text, "SELECT COUNT(*) FROM jobs WHERE state = 'queued'");
  EXPECT_EQ(out.parameters, 0);
}

TEST(SqlPlaceholders, MalformedTextIsABugReportedAsInternal) {
  for (const char* bad : {"SELECT ?0", "SELECT ?1000", "SELECT 'open", "SELECT \"open", "SELECT /* open"}) {
    try {
      to_postgres_placeholders(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInternal) << bad;
    }
  }
}

}  // namespace
}  // namespace aifgen::storage

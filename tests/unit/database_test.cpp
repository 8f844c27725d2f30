// The connection pool's statement cache: a cached statement comes back reset and unbound, the
// same SQL can be open twice at once, and more distinct texts than the cache holds still work.
#include "storage/database.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "tests/support/temp_dir.h"

namespace aifgen::storage {
namespace {

class DatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<Database>(dir_.path() + "/t.db", 1);  // one connection: every lease shares its cache
    auto lease = db_->acquire();
    lease.exec("CREATE TABLE numbers (n INTEGER PRIMARY KEY)");
    for (int i = 1; i <= 5; ++i) lease.prepare("INSERT INTO numbers (n) VALUES (?)").bind(1, std::int64_t{i}).exec();
  }

  aifgen::testing::TempDir dir_;
  std::unique_ptr<Database> db_;
};

constexpr const char* kAbove = "SELECT n FROM numbers WHERE n > ? ORDER BY n";

// The first column of the next row, or nullopt at the end.
std::optional<std::int64_t> next_row(Statement& s) { return s.step() ? std::optional(s.integer(0)) : std::nullopt; }

TEST_F(DatabaseTest, ReusedStatementStartsFromItsFirstRowWithNewBindings) {
  auto lease = db_->acquire();
  {
    auto s = lease.prepare(kAbove);
    s.bind(1, std::int64_t{0});
    EXPECT_EQ(next_row(s), 1);
    EXPECT_EQ(next_row(s), 2);
  }  // abandoned mid-result: must come back reset
  auto s = lease.prepare(kAbove);
  s.bind(1, std::int64_t{3});
  EXPECT_EQ(next_row(s), 4);
  EXPECT_EQ(next_row(s), 5);
  EXPECT_EQ(next_row(s), std::nullopt);
}

TEST_F(DatabaseTest, BindingsDoNotLeakIntoTheNextUse) {
  auto lease = db_->acquire();
  lease.prepare("SELECT ?").bind(1, std::string("left over")).exec();
  auto s = lease.prepare("SELECT ?");  // nothing bound this time: NULL
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.opt_text(0), std::nullopt);
}

TEST_F(DatabaseTest, SameSqlOpenTwiceAtOnceIteratesIndependently) {
  auto lease = db_->acquire();
  auto outer = lease.prepare(kAbove);
  outer.bind(1, std::int64_t{0});
  int pairs = 0;
  while (outer.step()) {
    auto inner = lease.prepare(kAbove);
    inner.bind(1, outer.integer(0));
    while (inner.step()) {
      EXPECT_GT(inner.integer(0), outer.integer(0));
      ++pairs;
    }
  }
  EXPECT_EQ(pairs, 10);  // 4 + 3 + 2 + 1
}

TEST_F(DatabaseTest, MoreDistinctTextsThanTheCacheHoldsStillRun) {
  auto lease = db_->acquire();
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 300; ++i) {
      std::string sql = "SELECT " + std::to_string(i) + " + count(*) FROM numbers";
      auto s = lease.prepare(sql.c_str());
      ASSERT_TRUE(s.step());
      EXPECT_EQ(s.integer(0), i + 5);
    }
}

TEST_F(DatabaseTest, CachedStatementSeesWritesFromAnotherConnection) {
  Database two(dir_.path() + "/t.db", 2);
  auto reader = two.acquire();
  auto count = [&] {
    auto s = reader.prepare("SELECT count(*) FROM numbers");
    EXPECT_TRUE(s.step());
    return s.integer(0);
  };
  EXPECT_EQ(count(), 5);
  {
    auto writer = two.acquire();
    writer.prepare("INSERT INTO numbers (n) VALUES (?)").bind(1, std::int64_t{6}).exec();
  }
  EXPECT_EQ(count(), 6);  // a kept statement holds no read snapshot between uses
}

TEST_F(DatabaseTest, CommitGenerationGrowsWithEveryCommitAndOnlyThen) {
  Database two(dir_.path() + "/t.db", 2);
  auto before = two.commit_generation();
  ASSERT_TRUE(before.has_value());  // WAL mode: commits are tracked
  {
    auto reader = two.acquire();
    auto s = reader.prepare("SELECT count(*) FROM numbers");
    ASSERT_TRUE(s.step());
  }
  EXPECT_EQ(two.commit_generation(), before);  // reads commit nothing
  {
    auto writer = two.acquire();
    writer.prepare("INSERT INTO numbers (n) VALUES (7)").exec();
  }
  EXPECT_EQ(*two.commit_generation(), *before + 1);
  {
    auto writer = two.acquire();
    Transaction tx(writer);
    writer.prepare("INSERT INTO numbers (n) VALUES (8)").exec();
    writer.prepare("INSERT INTO numbers (n) VALUES (9)").exec();
    EXPECT_EQ(*two.commit_generation(), *before + 1);  // not yet committed
    tx.commit();
  }
  EXPECT_EQ(*two.commit_generation(), *before + 2);  // one transaction, one commit
}

}  // namespace
}  // namespace aifgen::storage

// What only the PostgreSQL backend does: URLs, unreachable servers, dropped connections,
// concurrent migrations, serializable retries and the column types read back.
#include "storage/postgres_backend.h"

#include <gtest/gtest.h>

#include <latch>
#include <thread>

#include "storage/database.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_database.h"

namespace aifgen::storage {
namespace {

using aifgen::testing::DatabaseKind;
using aifgen::testing::TempDir;
using aifgen::testing::TestDatabase;

TEST(DatabaseLocation, OnlyPostgresUrlsPickThePostgresBackend) {
  EXPECT_TRUE(is_postgres_url("postgresql://u@h/db"));
  EXPECT_TRUE(is_postgres_url("postgres://h/db"));
  EXPECT_FALSE(is_postgres_url("/var/lib/aifgen/aifgen.db"));
  EXPECT_FALSE(is_postgres_url("mysql://h/db"));
  EXPECT_FALSE(is_postgres_url("POSTGRESQL://h/db"));  // libpq's scheme is lower case
}

TEST(DatabaseLocation, PasswordsAreRedacted) {
  EXPECT_EQ(redact_database_url("postgresql://aifgen:s3cret@db:5432/aifgen"), "postgresql://aifgen:***@db:5432/aifgen");
  EXPECT_EQ(redact_database_url("postgresql://aifgen@db/aifgen?password=s3cret&sslmode=require"),
            "postgresql://aifgen@db/aifgen?password=***&sslmode=require");
  EXPECT_EQ(redact_database_url("postgresql://db/aifgen"), "postgresql://db/aifgen");
  EXPECT_EQ(redact_database_url("/data/aifgen.db"), "/data/aifgen.db");
}

TEST(PostgresBackend, AnUnreachableServerIsUnavailableAndTheMessageHidesThePassword) {
  try {
    Database db("postgresql://aifgen:s3cret@127.0.0.1:1/aifgen?connect_timeout=5");
    FAIL() << "opened a database on port 1";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_EQ(e.type(), "storage-unavailable");
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
  }
}

class PostgresBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!where_.available()) GTEST_SKIP() << where_.skip_reason();
  }
  TempDir dir_;
  TestDatabase where_{DatabaseKind::kPostgres, dir_.path()};
};

TEST_F(PostgresBackendTest, ReplicasStartingTogetherMigrateOnce) {
  constexpr int kReplicas = 6;
  std::latch start(kReplicas);
  std::vector<std::thread> replicas;
  std::atomic<int> failures{0};
  for (int i = 0; i < kReplicas; ++i)
    replicas.emplace_back([&] {
      start.arrive_and_wait();
      try {
        Database db(where_.location(), 1);
        if (db.schema_version() != Database::latest_schema_version()) ++failures;
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failures;
      }
    });
  for (auto& t : replicas) t.join();
  EXPECT_EQ(failures.load(), 0);
  Database db(where_.location(), 1);
  auto lease = db.acquire();
  auto st = lease.prepare("SELECT COUNT(*), MIN(version), MAX(version) FROM schema_migrations");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.integer(0), Database::latest_schema_version());
  EXPECT_EQ(st.integer(1), 1);
  EXPECT_EQ(st.integer(2), Database::latest_schema_version());
}

TEST_F(PostgresBackendTest, ASchemaFromANewerAifgenIsRefused) {
  {
    Database db(where_.location(), 1);
    db.acquire().prepare("INSERT INTO schema_migrations(version, applied_at) VALUES (?, 'later')")
        .bind(1, std::int64_t{Database::latest_schema_version() + 1}).exec();
  }
  try {
    Database again(where_.location(), 1);
    FAIL() << "opened a newer schema";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "schema-too-new");
  }
}

TEST_F(PostgresBackendTest, ValuesReadBackAsTheyWereBound) {
  Database db(where_.location(), 1);
  auto lease = db.acquire();
  lease.exec("CREATE TABLE v (i BIGINT, d DOUBLE PRECISION, t TEXT, b BOOLEAN)");
  const std::string text = "naïve 'quoted' ? $1 \\ \xF0\x9F\x98\x80";
  lease.prepare("INSERT INTO v VALUES (?, ?, ?, ?)").bind(1, std::int64_t{-9007199254740993}).bind(2, 0.1 + 0.2)
      .bind(3, text).bind(4, std::string("true")).exec();
  lease.prepare("INSERT INTO v VALUES (NULL, NULL, NULL, false)").exec();
  auto st = lease.prepare("SELECT i, d, t, b FROM v ORDER BY i NULLS LAST");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.integer(0), -9007199254740993);
  EXPECT_EQ(st.real(1), 0.1 + 0.2);  // exactly: the shortest text that reads back to the same double
  EXPECT_EQ(st.text(2), text);
  EXPECT_EQ(st.integer(3), 1);
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.opt_text(0), std::nullopt);
  EXPECT_EQ(st.opt_text(2), std::nullopt);
  EXPECT_EQ(st.integer(3), 0);
  EXPECT_FALSE(st.step());
}

TEST_F(PostgresBackendTest, AConstraintViolationIsAConflict) {
  Database db(where_.location(), 1);
  auto lease = db.acquire();
  lease.exec("CREATE TABLE u (k TEXT PRIMARY KEY)");
  lease.prepare("INSERT INTO u VALUES ('a')").exec();
  try {
    lease.prepare("INSERT INTO u VALUES ('a')").exec();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kConflict);
    EXPECT_EQ(e.type(), "constraint");
  }
  EXPECT_NO_THROW(lease.prepare("INSERT INTO u VALUES ('b')").exec());  // the connection is still usable
}

TEST_F(PostgresBackendTest, ALostRaceRunsTheTransactionAgainAndNoUpdateIsLost) {
  Database db(where_.location(), 2);
  db.acquire().exec("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL); INSERT INTO counter VALUES (1, 0)");
  std::latch first_read(1), other_committed(1);
  std::atomic<int> slow_attempts{0};
  std::thread slow([&] {
    db.transact([&](const Lease& c) {
      auto st = c.prepare("SELECT n FROM counter WHERE id = 1");
      st.step();
      const auto n = st.integer(0);
      if (++slow_attempts == 1) {
        first_read.count_down();
        other_committed.wait();  // the other increment commits between this read and this write
      }
      c.prepare("UPDATE counter SET n = ? WHERE id = 1").bind(1, n + 1).exec();
    });
  });
  first_read.wait();
  db.transact([&](const Lease& c) {
    auto st = c.prepare("SELECT n FROM counter WHERE id = 1");
    st.step();
    c.prepare("UPDATE counter SET n = ? WHERE id = 1").bind(1, st.integer(0) + 1).exec();
  });
  other_committed.count_down();
  slow.join();
  auto lease = db.acquire();
  auto st = lease.prepare("SELECT n FROM counter WHERE id = 1");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.integer(0), 2) << "an increment was lost";
  EXPECT_EQ(slow_attempts.load(), 2);
  EXPECT_GE(db.contention_retries(), 1u);
}

TEST_F(PostgresBackendTest, AnotherProcesssJobChangesAreAnnouncedButLeaseRenewalsAreNot) {
  Database here(where_.location(), 1);
  Database elsewhere(where_.location(), 1);
  auto feed = here.job_changes();
  ASSERT_NE(feed, nullptr);
  elsewhere.acquire().exec("INSERT INTO models(id, name, size_bytes, info_json, created_at) VALUES ('m', 'm', 1, '{}', 'now')");
  elsewhere.acquire().exec(
      "INSERT INTO jobs(id, model_id, state, stage, created_at, updated_at) VALUES ('job-1', 'm', 'queued', 'queued', 'now', 'now')");
  auto collect = [&](std::size_t want) {
    std::vector<std::string> seen;
    for (int i = 0; i < 20 && seen.size() < want; ++i)
      for (auto& id : feed->wait(std::chrono::milliseconds(250))) seen.push_back(id);
    return seen;
  };
  EXPECT_EQ(collect(1), std::vector<std::string>{"job-1"});
  elsewhere.acquire().exec("UPDATE jobs SET lease_expires_ms = 5 WHERE id = 'job-1'");  // a renewal: no new version
  elsewhere.acquire().exec("UPDATE jobs SET stage = 'x', version = version + 1 WHERE id = 'job-1'");
  EXPECT_EQ(collect(2), std::vector<std::string>{"job-1"});  // one announcement: the version change
}

TEST(SqliteBackend, HasNoChangeFeedBecauseOneProcessMakesEveryChange) {
  TempDir dir;
  Database db(dir.path() + "/t.db", 1);
  EXPECT_EQ(db.job_changes(), nullptr);
}

TEST_F(PostgresBackendTest, ADroppedConnectionFailsOnceThenThePoolReconnects) {
  Database db(where_.location(), 1);
  std::int64_t pid;
  {
    auto lease = db.acquire();
    auto st = lease.prepare("SELECT pg_backend_pid()");
    ASSERT_TRUE(st.step());
    pid = st.integer(0);
  }
  {
    Database admin(where_.location(), 1);
    admin.acquire().prepare("SELECT pg_terminate_backend(?)").bind(1, pid).exec();
  }
  try {
    auto lease = db.acquire();
    lease.prepare("SELECT 1").step();
    FAIL() << "a terminated connection answered";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "storage-unavailable") << e.what();
  }
  auto lease = db.acquire();
  auto st = lease.prepare("SELECT pg_backend_pid()");
  ASSERT_TRUE(st.step());
  EXPECT_NE(st.integer(0), pid);
}

}  // namespace
}  // namespace aifgen::storage

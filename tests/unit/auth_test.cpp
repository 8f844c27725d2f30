// API keys: only hashes are stored, keys authenticate with their scope, malformed, unknown and
// revoked keys do not.
#include "service/auth.h"

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "tests/support/temp_dir.h"

namespace aifgen {
namespace {

TEST(Auth, CreateAuthenticateRevoke) {
  testing::TempDir dir;
  storage::Database db(dir.path() + "/k.db");
  storage::ApiKeyRepository repo(db);
  Auth auth(repo);
  EXPECT_TRUE(auth.local_only());
  auto k = auth.create("ci", "write");
  EXPECT_FALSE(auth.local_only());
  EXPECT_EQ(k.secret.size(), 65u);
  for (const auto& row : repo.list()) EXPECT_EQ(row.key_sha256.find(k.secret), std::string::npos);  // never stored in clear
  auto who = auth.authenticate(k.secret);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->scope, Scope::kWrite);
  EXPECT_EQ(who->name, "ci");
  std::string tampered = k.secret;
  tampered.back() = tampered.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(auth.authenticate(tampered));
  EXPECT_FALSE(auth.authenticate(""));
  EXPECT_FALSE(auth.authenticate("agk_short"));
  EXPECT_FALSE(auth.authenticate(std::string(200, 'x')));
  EXPECT_TRUE(repo.revoke(k.record.id));
  EXPECT_FALSE(auth.authenticate(k.secret));
  EXPECT_FALSE(repo.revoke(k.record.id));
  EXPECT_TRUE(auth.local_only());
}

TEST(Auth, RejectsBadScopesAndNames) {
  testing::TempDir dir;
  storage::Database db(dir.path() + "/k.db");
  storage::ApiKeyRepository repo(db);
  Auth auth(repo);
  EXPECT_THROW(auth.create("x", "root"), Error);
  EXPECT_THROW(auth.create("", "read"), Error);
  EXPECT_THROW(auth.create("bad\nname", "read"), Error);
}

}  // namespace
}  // namespace aifgen

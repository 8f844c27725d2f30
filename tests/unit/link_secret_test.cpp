// The link-signing secret on disk: owner-only from creation, whole or absent after a crash, an
// empty file (the old in-place write's crash) replaced, a corrupt one refused untouched.
#include <gtest/gtest.h>

#include <latch>
#include <thread>
#include <vector>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core/base/error.h"
#include "service/link_signer.h"
#include "tests/support/temp_dir.h"

namespace aifgen {
namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(LinkSecret, IsCreatedOwnerOnlyWhateverTheUmaskAndReadBackTheSame) {
  testing::TempDir dir;
  const mode_t old = ::umask(0);  // the old code created it with the process umask, then chmod-ed
  const auto key = LinkSigner::load_or_create_secret(dir.path(), "");
  ::umask(old);
  const auto file = std::filesystem::path(dir.path()) / "link-secret";
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(read(file).size(), 65u);  // 64 hex digits and a newline
  EXPECT_EQ(LinkSigner::load_or_create_secret(dir.path(), ""), key);
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().extension(), "") << "left behind: " << e.path();
}

TEST(LinkSecret, AnEmptyFileIsReplacedACorruptOneRefusedUntouched) {
  testing::TempDir dir;
  const auto file = std::filesystem::path(dir.path()) / "link-secret";
  std::ofstream(file).close();
  const auto key = LinkSigner::load_or_create_secret(dir.path(), "");
  EXPECT_EQ(key.size(), 32u);
  EXPECT_EQ(read(file).size(), 65u);
  std::ofstream(file) << "not-hex\n";
  try {
    LinkSigner::load_or_create_secret(dir.path(), "");
    ADD_FAILURE() << "a corrupt secret must not be replaced silently";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "link-secret-corrupt");
  }
  EXPECT_EQ(read(file), "not-hex\n");
}

}  // namespace
TEST(LinkSecret, ProcessesStartingTogetherOnASharedDataDirAgreeOnOneSecret) {
  // Scaled out, every serve process shares the data dir; each must sign with the same key.
  for (int round = 0; round < 20; ++round) {
    testing::TempDir dir;
    constexpr int kStarters = 8;
    std::vector<std::string> secrets(kStarters);
    std::latch go(kStarters);
    std::vector<std::thread> starters;
    for (int i = 0; i < kStarters; ++i)
      starters.emplace_back([&, i] {
        go.arrive_and_wait();
        secrets[i] = LinkSigner::load_or_create_secret(dir.path(), "");
      });
    for (auto& t : starters) t.join();
    for (const auto& s : secrets) ASSERT_EQ(s, secrets[0]) << "round " << round;
    EXPECT_EQ(LinkSigner::load_or_create_secret(dir.path(), ""), secrets[0]);
  }
}

}  // namespace aifgen

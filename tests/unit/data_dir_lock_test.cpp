// One serve per data dir: a second lock on the same dir is refused, naming the holder.
#include "service/data_dir_lock.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include "core/base/error.h"
#include "tests/support/temp_dir.h"

namespace aifgen {
namespace {

TEST(DataDirLock, SecondHolderIsRefusedUntilTheFirstLetsGo) {
  aifgen::testing::TempDir dir;
  const std::string data = dir.path() + "/data";  // created by the lock
  std::optional<DataDirLock> first;
  first.emplace(data);
  EXPECT_TRUE(std::filesystem::exists(data + "/serve.lock"));
  try {
    DataDirLock second(data);
    ADD_FAILURE() << "a second lock on the same data dir was granted";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "data-dir-in-use");
    EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(::getpid())), std::string::npos) << e.what();
  }
  first.reset();
  EXPECT_NO_THROW(DataDirLock again(data));
}

TEST(DataDirLock, OtherDataDirsAreIndependent) {
  aifgen::testing::TempDir dir;
  DataDirLock a(dir.path() + "/a");
  EXPECT_NO_THROW(DataDirLock b(dir.path() + "/b"));
}

}  // namespace
}  // namespace aifgen

// The artifact store under file-system faults, injected through its FileSystem seam (no tmpfs,
// no root): a full disk mid-write, an fsync or a rename that fails, a directory that cannot be
// synced. Each must end in a clear storage error, leave no half blob under a content address
// and no temp file behind, keep what was stored before intact, and let the next write succeed.
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "core/base/error.h"
#include "core/base/file_system.h"
#include "core/base/sha256.h"
#include "storage/artifact_store.h"
#include "tests/support/temp_dir.h"

namespace aifgen::storage {
namespace {

// Fails the chosen call (counted from 1 across the store's life) with `err`; every other call
// is the real one.
class FaultyFileSystem : public FileSystem {
 public:
  enum class Call { kWrite, kFsync, kRename };
  void fail(Call call, int nth, int err) {
    call_ = call;
    nth_ = nth;
    err_ = err;
    count_ = 0;
  }
  void heal() { nth_ = 0; }

  ssize_t write(int fd, const void* data, std::size_t size) override {
    if (hit(Call::kWrite)) return -1;
    return FileSystem::write(fd, data, size);
  }
  int fsync(int fd) override {
    if (hit(Call::kFsync)) return -1;
    return FileSystem::fsync(fd);
  }
  int rename(const std::string& from, const std::string& to) override {
    if (hit(Call::kRename)) return -1;
    return FileSystem::rename(from, to);
  }

 private:
  bool hit(Call c) {
    if (nth_ == 0 || c != call_ || ++count_ != nth_) return false;
    errno = err_;
    return true;
  }
  Call call_ = Call::kWrite;
  int nth_ = 0, count_ = 0, err_ = 0;
};

std::string put(ArtifactStore& store, const std::string& bytes, std::size_t chunk = 4) {
  auto w = store.begin();
  for (std::size_t at = 0; at < bytes.size(); at += chunk) w->write(bytes.data() + at, std::min(chunk, bytes.size() - at));
  store.commit(*w);
  return w->sha256();
}

std::size_t files_in(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) ++n;
  return n;
}

// The slug of the Error `f` throws; "" when it throws nothing.
template <class F>
std::string slug_thrown(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo) << e.what();
    return e.type();
  }
  return "";
}

class ArtifactStoreFault : public ::testing::Test {
 protected:
  ArtifactStoreFault() : store_(dir_.path(), fs_) { kept_ = put(store_, "stored before the fault"); }

  // After a failed write: nothing new under blobs/, no temp file, the earlier blob intact, and
  // the same bytes store fine once the fault is gone.
  void expect_nothing_lost(const std::string& bytes) {
    EXPECT_FALSE(store_.exists(Sha256::of(bytes)));
    EXPECT_EQ(files_in(dir_.path() + "/blobs"), 1u);
    EXPECT_EQ(files_in(store_.temp_dir()), 0u);
    EXPECT_TRUE(store_.verify(kept_));
    fs_.heal();
    EXPECT_EQ(put(store_, bytes), Sha256::of(bytes));
    EXPECT_TRUE(store_.verify(Sha256::of(bytes)));
  }

  testing::TempDir dir_;
  FaultyFileSystem fs_;
  ArtifactStore store_;
  std::string kept_;
};

TEST_F(ArtifactStoreFault, DiskFullMidWriteIsStorageFullAndLeavesNoPartialBlob) {
  const std::string bytes = "a model that does not fit on the disk";
  fs_.fail(FaultyFileSystem::Call::kWrite, 3, ENOSPC);
  EXPECT_EQ(slug_thrown([&] { put(store_, bytes); }), "storage-full");
  expect_nothing_lost(bytes);
}

TEST_F(ArtifactStoreFault, QuotaExceededIsStorageFullToo) {
  const std::string bytes = "over quota";
  fs_.fail(FaultyFileSystem::Call::kWrite, 1, EDQUOT);
  EXPECT_EQ(slug_thrown([&] { put(store_, bytes); }), "storage-full");
  expect_nothing_lost(bytes);
}

TEST_F(ArtifactStoreFault, FailedFsyncIsStorageErrorAndNothingIsCommitted) {
  const std::string bytes = "bytes the disk could not make durable";
  fs_.fail(FaultyFileSystem::Call::kFsync, 1, EIO);
  EXPECT_EQ(slug_thrown([&] { put(store_, bytes); }), "storage-error");
  expect_nothing_lost(bytes);
}

TEST_F(ArtifactStoreFault, FailedRenameLeavesNoBlobAndNoTempFile) {
  const std::string bytes = "bytes that never reach their address";
  fs_.fail(FaultyFileSystem::Call::kRename, 1, EIO);
  EXPECT_EQ(slug_thrown([&] { put(store_, bytes); }), "storage-error");
  expect_nothing_lost(bytes);
}

TEST_F(ArtifactStoreFault, DirectorySyncFailureIsReportedButTheRenamedBlobIsWhole) {
  // The second fsync of a commit is the directory's: the blob is already in place and complete;
  // the caller hears of the failure (its row is not written) and a retry finds the blob stored.
  const std::string bytes = "renamed, but the directory entry is not yet durable";
  fs_.fail(FaultyFileSystem::Call::kFsync, 2, EIO);
  EXPECT_EQ(slug_thrown([&] { put(store_, bytes); }), "storage-error");
  EXPECT_TRUE(store_.verify(Sha256::of(bytes)));
  EXPECT_EQ(files_in(store_.temp_dir()), 0u);
  fs_.heal();
  auto w = store_.begin();
  w->write(bytes.data(), bytes.size());
  EXPECT_FALSE(store_.commit(*w)) << "the retry should find the blob already stored";
}

TEST_F(ArtifactStoreFault, WithoutFaultsTheSeamIsThePlainFileSystem) {
  const std::string bytes(100000, 'x');
  EXPECT_EQ(put(store_, bytes, 4096), Sha256::of(bytes));
  EXPECT_EQ(*store_.size_of(Sha256::of(bytes)), bytes.size());
  EXPECT_EQ(slug_thrown([] {}), "");
}

}  // namespace
}  // namespace aifgen::storage

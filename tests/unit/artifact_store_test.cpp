// Content-addressed store: hashing, dedupe, verification, temp cleanup, size limit.
#include "storage/artifact_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/base/error.h"
#include "core/base/sha256.h"
#include "tests/support/temp_dir.h"

namespace aifgen::storage {
namespace {

using aifgen::testing::TempDir;

std::string put_bytes(ArtifactStore& store, const std::string& bytes, bool* created = nullptr) {
  auto w = store.begin();
  w->write(bytes.data(), bytes.size());
  bool c = store.commit(*w);
  if (created) *created = c;
  return w->sha256();
}

TEST(ArtifactStore, StoresUnderTheSha256OfTheBytes) {
  TempDir dir;
  ArtifactStore store(dir.path());
  auto sha = put_bytes(store, "hello aifgen");
  EXPECT_EQ(sha, Sha256::of("hello aifgen"));
  EXPECT_TRUE(store.exists(sha));
  EXPECT_EQ(*store.size_of(sha), 12u);
  std::ifstream in(store.path_of(sha));
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "hello aifgen");
}

TEST(ArtifactStore, SameContentIsStoredOnce) {
  TempDir dir;
  ArtifactStore store(dir.path());
  bool first = false, second = true;
  auto a = put_bytes(store, "same", &first);
  auto b = put_bytes(store, "same", &second);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
  EXPECT_TRUE(std::filesystem::is_empty(store.temp_dir()));  // the duplicate's temp file is gone
}

TEST(ArtifactStore, AbandonedWriterLeavesNothing) {
  TempDir dir;
  ArtifactStore store(dir.path());
  {
    auto w = store.begin();
    w->write("partial", 7);
  }
  EXPECT_TRUE(std::filesystem::is_empty(store.temp_dir()));
}

TEST(ArtifactStore, AFileThatCannotBeReadToItsEndIsNotStored) {
  TempDir dir;
  ArtifactStore store(dir.path() + "/store");
  // Opening a directory succeeds and its first read fails (EISDIR): the copy used to stop there
  // as if at the end of the file and store an empty blob as the whole bundle.
  std::filesystem::create_directories(dir.path() + "/unreadable");
  try {
    store.put_file(dir.path() + "/unreadable");
    ADD_FAILURE() << "a read error must not store a blob";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "storage-error");
  }
  EXPECT_FALSE(store.exists(Sha256::of("")));
  EXPECT_TRUE(std::filesystem::is_empty(store.temp_dir()));
  // A whole file still is.
  const auto whole = dir.file("bundle.tar.gz", "all of it");
  EXPECT_EQ(store.put_file(whole), Sha256::of("all of it"));
}

TEST(ArtifactStore, StaleTempFilesAreRemovedAtOpen) {
  TempDir dir;
  { ArtifactStore store(dir.path()); }
  dir.file("tmp/blob-dead.part", "half a blob from a killed process");
  ArtifactStore reopened(dir.path());
  EXPECT_TRUE(std::filesystem::is_empty(reopened.temp_dir()));
}

TEST(ArtifactStore, SharedStoresOpeningLaterLeaveALiveProcesssTempFilesAlone) {
  // Scaled out, a process starting on the shared data dir must not delete what another is
  // writing; only temp directories untouched for a day (a dead process's) go.
  TempDir dir;
  ArtifactStore first(dir.path(), posix_file_system(), /*shared=*/true);
  auto writer = first.begin();
  const std::string bytes = "a bundle being written by a live process";
  writer->write(bytes.data(), bytes.size());
  std::filesystem::create_directories(dir.path() + "/tmp/p-deadbeef");
  dir.file("tmp/p-deadbeef/blob-old.part", "left by a process that died long ago");
  const auto old = std::filesystem::file_time_type::clock::now() - ArtifactStore::kStaleTempAge - std::chrono::hours(1);
  std::filesystem::last_write_time(dir.path() + "/tmp/p-deadbeef", old);
  ArtifactStore second(dir.path(), posix_file_system(), /*shared=*/true);
  EXPECT_NE(second.temp_dir(), first.temp_dir());
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/tmp/p-deadbeef"));
  const auto sha = writer->finish();   // its temp file survived the second opening
  EXPECT_TRUE(first.commit(*writer));
  EXPECT_TRUE(first.verify(sha));
}

TEST(ArtifactStore, VerifyDetectsCorruption) {
  TempDir dir;
  ArtifactStore store(dir.path());
  auto sha = put_bytes(store, "precious bytes");
  EXPECT_TRUE(store.verify(sha));
  std::filesystem::permissions(store.path_of(sha), std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  std::ofstream(store.path_of(sha), std::ios::binary | std::ios::trunc) << "tampered bytes";
  EXPECT_FALSE(store.verify(sha));
  store.remove(sha);
  EXPECT_FALSE(store.verify(sha));
}

TEST(ArtifactStore, StoringTheSameBytesAgainRepairsADamagedBlob) {
  TempDir dir;
  ArtifactStore store(dir.path());
  const std::string bytes = "bytes that will rot on disk";
  for (const std::string& damage : {std::string("bytes that will ROT on disk"), std::string("bytes that")}) {
    auto sha = put_bytes(store, bytes);
    std::filesystem::permissions(store.path_of(sha), std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
    std::ofstream(store.path_of(sha), std::ios::binary | std::ios::trunc) << damage;  // same size, then truncated
    ASSERT_FALSE(store.verify(sha));
    bool created = false;
    EXPECT_EQ(put_bytes(store, bytes, &created), sha);
    EXPECT_TRUE(created) << "the damaged copy was kept";
    EXPECT_TRUE(store.verify(sha));
  }
  bool created = true;
  put_bytes(store, bytes, &created);
  EXPECT_FALSE(created);  // a healthy copy is still deduplicated
}

TEST(ArtifactStore, ServingChecksAStatAndReHashesOnlyFilesChangedOnDisk) {
  TempDir dir;
  ArtifactStore store(dir.path());
  auto sha = put_bytes(store, std::string(1 << 20, 'b'));
  const auto before = store.verifications();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(store.verify_if_changed(sha));
  EXPECT_EQ(store.verifications(), before) << "an unchanged blob was re-hashed";
  std::filesystem::permissions(store.path_of(sha), std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  {
    std::fstream f(store.path_of(sha), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    f.put('X');  // same size, new ctime
  }
  EXPECT_FALSE(store.verify_if_changed(sha));
  EXPECT_EQ(store.verifications(), before + 1);
}

TEST(ArtifactStore, ScrubQuarantinesCorruptBlobsAndAReuploadRestoresThem) {
  TempDir dir;
  ArtifactStore store(dir.path());
  auto good = put_bytes(store, "good bytes");
  auto bad = put_bytes(store, "bytes to corrupt");
  std::filesystem::permissions(store.path_of(bad), std::filesystem::perms::owner_write, std::filesystem::perm_options::add);
  std::ofstream(store.path_of(bad), std::ios::binary | std::ios::trunc) << "bytes to CORRUPT";
  auto report = store.scrub();
  EXPECT_EQ(report.checked, 2u);
  EXPECT_EQ(report.corrupt, std::vector<std::string>{bad});
  EXPECT_FALSE(store.exists(bad));  // never served again
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/quarantine/" + bad));
  EXPECT_TRUE(store.verify(good));
  bool created = false;
  put_bytes(store, "bytes to corrupt", &created);
  EXPECT_TRUE(created);
  EXPECT_TRUE(store.verify(bad));
  EXPECT_TRUE(store.scrub().corrupt.empty());
  int stops = 0;
  EXPECT_EQ(store.scrub([&] { return ++stops > 1; }).checked, 1u);  // stops between blobs
}

TEST(ArtifactStore, WriterEnforcesItsLimit) {
  TempDir dir;
  ArtifactStore store(dir.path());
  auto w = store.begin(10);
  w->write("12345", 5);
  try {
    w->write("678901", 6);
    FAIL() << "expected upload-too-large";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kTooLarge);
  }
}

TEST(ArtifactStore, RejectsNonDigestNames) {
  TempDir dir;
  ArtifactStore store(dir.path());
  EXPECT_THROW(store.path_of("../../etc/passwd"), Error);
}

}  // namespace
}  // namespace aifgen::storage

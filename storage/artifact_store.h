// Content-addressed blob store on local disk: <root>/blobs/<aa>/<sha256>.
//
// Durability contract: a blob is written to <root>/tmp, fsynced, renamed into place and its
// directory fsynced. A crash at any moment leaves either no blob or the complete blob under its
// final name; leftovers in tmp/ are removed at open. Thread-safe: concurrent writers of the
// same content both succeed and the blob is stored once.
#pragma once

#include <chrono>

#include <cstdint>
#include <memory>
#include <array>
#include <atomic>
#include <functional>
#include <unordered_map>
#include <vector>
#include <mutex>
#include <optional>
#include <string>

#include "core/base/file_system.h"
#include "core/base/sha256.h"

namespace aifgen::storage {

class ArtifactStore;

// Streams bytes into a temp file while hashing them. Removes the temp file on destruction
// unless committed.
class BlobWriter {
 public:
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // Throws Error(kTooLarge, "upload-too-large") past the writer's limit, Error(kIo) on disk
  // errors ("storage-full" when the disk is full).
  void write(const void* data, std::size_t size);
  // Flushes and fsyncs; returns the sha256. No writes afterwards.
  const std::string& finish();

  std::uint64_t size() const { return size_; }
  const std::string& temp_path() const { return temp_path_; }
  const std::string& sha256() const { return sha_; }

 private:
  friend class ArtifactStore;
  BlobWriter(std::string temp_path, int fd, std::uint64_t max_bytes, FileSystem& fs);

  std::string temp_path_;
  int fd_;
  std::uint64_t max_bytes_;
  std::uint64_t size_ = 0;
  Sha256 hasher_;
  std::string sha_;
  bool committed_ = false;
  FileSystem& fs_;
};

class ArtifactStore {
 public:
  // Creates <root>/blobs and <root>/tmp if needed and clears stale temp files. Blobs are
  // written, synced and renamed through `fs` (tests pass one that injects faults).
  //
  // `shared`: other processes (other nodes, scaled out) use the same root at the same time.
  // Each process then writes its temp files in its own tmp/<process>/ and, at open, removes only
  // temp directories untouched for kStaleTempAge (left by processes that died), never the files
  // of a live one. Unshared (one process per data dir), everything in tmp/ is a dead process's
  // and is removed at open.
  static constexpr std::chrono::hours kStaleTempAge{24};
  explicit ArtifactStore(std::string root, FileSystem& fs = posix_file_system(), bool shared = false);

  std::unique_ptr<BlobWriter> begin(std::uint64_t max_bytes = UINT64_MAX);
  // Moves a finished writer's file to its content address. Returns true when the blob is new,
  // false when identical content was already stored (the temp file is then dropped). A stored
  // copy changed on disk since its last good hash (verify_if_changed) is replaced when it no
  // longer matches: re-uploading the same bytes repairs it. Bit rot is the scrub's to find.
  bool commit(BlobWriter& writer);

  // Serializes "store the blob and add the row that references it" against "drop the row and
  // unlink the blob if nothing references it" for one digest, so a delete racing a re-upload of
  // the same bytes cannot unlink the blob under the new row. In-process (striped mutexes): one
  // `serve` owns a data dir.
  std::unique_lock<std::mutex> lock_blob(const std::string& sha);
  // Stores an existing file by streaming it through a writer (the source is left in place).
  std::string put_file(const std::string& path);

  bool exists(const std::string& sha) const;
  std::string path_of(const std::string& sha) const;
  std::optional<std::uint64_t> size_of(const std::string& sha) const;
  // Removes a blob; absent blobs are not an error.
  void remove(const std::string& sha);
  // Re-hashes a blob; false when missing or when its bytes no longer match its name.
  bool verify(const std::string& sha) const;
  // The check for serving: re-hashes only when the file changed on disk (inode, size, mtime or
  // ctime differ) since it was written or last verified in this process; otherwise one stat.
  // Changes that leave those alone (bit rot) are the scrub's to find.
  bool verify_if_changed(const std::string& sha) const;
  // Full re-hashes done so far (each verify that read a whole file).
  std::uint64_t verifications() const { return verifications_.load(); }

  struct ScrubReport {
    std::uint64_t checked = 0, bytes = 0;
    std::vector<std::string> corrupt;  // moved to <root>/quarantine/
    double seconds = 0;
  };
  // Re-hashes every blob; one that no longer matches its name is moved to <root>/quarantine/ so
  // it is never served again (a re-upload of the same bytes restores it). `stop` is polled
  // between blobs.
  ScrubReport scrub(const std::function<bool()>& stop = [] { return false; });
  // This process's temp directory (created again if another process's clean-up removed it).
  const std::string& temp_dir() const;

 private:
  // What a file looked like when its hash last matched.
  struct Stamp {
    std::uint64_t dev = 0, ino = 0, size = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const Stamp&) const = default;
  };
  std::optional<Stamp> stamp_of(const std::string& sha) const;
  void remember(const std::string& sha) const;

  std::string root_, blobs_, tmp_;
  FileSystem& fs_;
  mutable std::mutex verified_mu_;
  mutable std::unordered_map<std::string, Stamp> verified_;
  mutable std::atomic<std::uint64_t> verifications_{0};
  std::array<std::mutex, 64> blob_locks_;
};

}  // namespace aifgen::storage

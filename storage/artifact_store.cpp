// Crash-safe content-addressed storage: temp file + fsync + rename + directory fsync.
#include "storage/artifact_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "core/base/error.h"
#include "core/base/random_hex.h"
#include "core/base/sha256.h"

namespace fs = std::filesystem;

namespace aifgen::storage {
namespace {

Error io_error(const std::string& what, int err) {
  return Error(ErrorCode::kIo, err == ENOSPC || err == EDQUOT ? "storage-full" : "storage-error",
               what + ": " + std::strerror(err));
}

void fsync_dir(FileSystem& fs, const std::string& dir) {
  int fd = fs.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) throw io_error("open " + dir, errno);
  int rc = fs.fsync(fd);
  int err = errno;
  fs.close(fd);
  if (rc != 0) throw io_error("fsync " + dir, err);
}

}  // namespace

BlobWriter::BlobWriter(std::string temp_path, int fd, std::uint64_t max_bytes, FileSystem& fs)
    : temp_path_(std::move(temp_path)), fd_(fd), max_bytes_(max_bytes), fs_(fs) {}

BlobWriter::~BlobWriter() {
  if (fd_ >= 0) fs_.close(fd_);
  if (!committed_) fs_.unlink(temp_path_);
}

void BlobWriter::write(const void* data, std::size_t size) {
  if (fd_ < 0) throw Error(ErrorCode::kInternal, "internal", "write after finish");
  if (size_ + size > max_bytes_)
    throw Error(ErrorCode::kTooLarge, "upload-too-large",
                "the upload exceeds the limit of " + std::to_string(max_bytes_) + " bytes");
  const char* p = static_cast<const char*>(data);
  std::size_t left = size;
  while (left > 0) {
    ssize_t n = fs_.write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw io_error("write " + temp_path_, errno);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  hasher_.update(data, size);
  size_ += size;
}

const std::string& BlobWriter::finish() {
  if (fd_ >= 0) {
    if (fs_.fsync(fd_) != 0) throw io_error("fsync " + temp_path_, errno);
    fs_.close(fd_);
    fd_ = -1;
    sha_ = hasher_.finish_hex();
  }
  return sha_;
}

ArtifactStore::ArtifactStore(std::string root, FileSystem& fs, bool shared)
    : root_(std::move(root)), blobs_(root_ + "/blobs"), tmp_(root_ + "/tmp"), fs_(fs) {
  fs::create_directories(blobs_);
  fs::create_directories(tmp_);
  const auto all_tmp = tmp_;
  if (shared) tmp_ += "/p-" + random_hex(8);
  // Temp files are only ever half-written uploads or bundles; unshared, of a process that died.
  const auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator(all_tmp)) {
    std::error_code ec;
    if (shared) {
      const auto touched = fs::last_write_time(e.path(), ec);
      if (ec || now - touched < kStaleTempAge) continue;  // perhaps a live process's
    }
    fs::remove_all(e.path(), ec);
  }
  fs::create_directories(tmp_);
}

const std::string& ArtifactStore::temp_dir() const {
  std::error_code ec;
  fs::create_directories(tmp_, ec);
  return tmp_;
}

std::unique_ptr<BlobWriter> ArtifactStore::begin(std::uint64_t max_bytes) {
  std::string path = temp_dir() + "/blob-" + random_hex(8) + ".part";
  int fd = fs_.open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) throw io_error("create " + path, errno);
  return std::unique_ptr<BlobWriter>(new BlobWriter(path, fd, max_bytes, fs_));
}

std::string ArtifactStore::path_of(const std::string& sha) const {
  if (!is_sha256_hex(sha)) throw Error(ErrorCode::kInvalidArgument, "bad-digest", "not a sha256: " + sha);
  return blobs_ + "/" + sha.substr(0, 2) + "/" + sha;
}

bool ArtifactStore::commit(BlobWriter& writer) {
  const std::string& sha = writer.finish();
  std::string final_path = path_of(sha);
  std::string dir = blobs_ + "/" + sha.substr(0, 2);
  fs::create_directories(dir);
  if (exists(sha)) {
    struct stat st {};
    const bool whole = ::stat(final_path.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) == writer.size();
    // One stat when the copy is unchanged since its last good hash; bit rot is the scrub's to find
    // (it quarantines the blob, and this upload then restores it).
    if (whole && verify_if_changed(sha)) return false;  // destructor drops the temp file
    // The stored copy is damaged: the fresh bytes take its place (rename is atomic).
  }
  if (fs_.rename(writer.temp_path(), final_path) != 0) throw io_error("rename", errno);
  writer.committed_ = true;
  fsync_dir(fs_, dir);
  remember(sha);  // hashed while written
  return true;
}

std::string ArtifactStore::put_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, "storage-error", "cannot read " + path);
  auto w = begin();
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) w->write(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  // Only the end of the file ends the copy: a read error (badbit, or a stop short of EOF) must
  // not store a truncated blob as if it were whole. The writer's temp file goes with it.
  if (in.bad() || !in.eof()) throw Error(ErrorCode::kIo, "storage-error", "reading " + path + " failed before its end");
  commit(*w);
  return w->sha256();
}

bool ArtifactStore::exists(const std::string& sha) const {
  struct stat st {};
  return ::stat(path_of(sha).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::optional<std::uint64_t> ArtifactStore::size_of(const std::string& sha) const {
  struct stat st {};
  if (::stat(path_of(sha).c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.st_size);
}

std::unique_lock<std::mutex> ArtifactStore::lock_blob(const std::string& sha) {
  return std::unique_lock<std::mutex>(blob_locks_[std::hash<std::string>{}(sha) % blob_locks_.size()]);
}

void ArtifactStore::remove(const std::string& sha) { fs_.unlink(path_of(sha)); }

bool ArtifactStore::verify(const std::string& sha) const {
  const auto before = stamp_of(sha);
  bool ok = false;
  if (before) {
    ++verifications_;
    try {
      ok = Sha256::of_file(path_of(sha)) == sha;
    } catch (const Error&) {
      ok = false;
    }
  }
  std::lock_guard lock(verified_mu_);
  // Remembered only if the file did not change while it was read.
  if (ok && stamp_of(sha) == before) verified_[sha] = *before;
  else verified_.erase(sha);
  return ok;
}

bool ArtifactStore::verify_if_changed(const std::string& sha) const {
  const auto now = stamp_of(sha);
  if (!now) return false;
  {
    std::lock_guard lock(verified_mu_);
    auto it = verified_.find(sha);
    if (it != verified_.end() && it->second == *now) return true;
  }
  return verify(sha);
}

std::optional<ArtifactStore::Stamp> ArtifactStore::stamp_of(const std::string& sha) const {
  struct stat st {};
  if (::stat(path_of(sha).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  Stamp s;
  s.dev = static_cast<std::uint64_t>(st.st_dev);
  s.ino = static_cast<std::uint64_t>(st.st_ino);
  s.size = static_cast<std::uint64_t>(st.st_size);
  s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  return s;
}

void ArtifactStore::remember(const std::string& sha) const {
  auto s = stamp_of(sha);
  std::lock_guard lock(verified_mu_);
  if (s) verified_[sha] = *s;
}

ArtifactStore::ScrubReport ArtifactStore::scrub(const std::function<bool()>& stop) {
  ScrubReport r;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> names;
  for (const auto& prefix : fs::directory_iterator(blobs_)) {
    if (!prefix.is_directory()) continue;
    for (const auto& e : fs::directory_iterator(prefix.path())) {
      const auto name = e.path().filename().string();
      if (is_sha256_hex(name) && name.compare(0, 2, prefix.path().filename().string()) == 0) names.push_back(name);
    }
  }
  for (const auto& sha : names) {
    if (stop()) break;
    auto lock = lock_blob(sha);  // not while an upload of the same bytes replaces it
    const auto size = size_of(sha);
    if (!size) continue;  // deleted meanwhile
    ++r.checked;
    r.bytes += *size;
    if (verify(sha)) continue;
    const std::string quarantine = root_ + "/quarantine";
    fs::create_directories(quarantine);
    if (fs_.rename(path_of(sha), quarantine + "/" + sha) != 0) throw io_error("quarantine " + sha, errno);
    r.corrupt.push_back(sha);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace aifgen::storage

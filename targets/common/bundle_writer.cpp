// tar.gz writing: the tar through libarchive (Debian libarchive-dev) rather than a hand-made tar
// encoder, the gzip through libdeflate in parallel pieces (parallel_gzip.h).
#include "targets/common/bundle_writer.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <ctime>
#include <exception>
#include <thread>

#include "core/base/error.h"
#include "targets/common/parallel_gzip.h"

namespace aifgen {
namespace {

bool safe_relative_name(const std::string& n) {
  if (n.empty() || n.front() == '/' || n.back() == '/') return false;
  std::size_t start = 0;
  while (start <= n.size()) {
    auto end = n.find('/', start);
    if (end == std::string::npos) end = n.size();
    auto part = n.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (unsigned char c : part)
      if (c < 0x20 || c == 0x7f || c == '\\') return false;
    start = end + 1;
  }
  return true;
}

// libarchive may leave no message (null); never build a std::string from null.
std::string message_of(archive* a) {
  const char* m = a ? archive_error_string(a) : nullptr;
  return m ? m : "unknown libarchive error";
}

}  // namespace

BundleWriter::BundleWriter(const std::string& out_path, std::string top_dir)
    // gzip level 1: model weights shrink by about 7% at any level, and the higher ones cost
    // seconds per 100 MB bundle. Up to 4 threads: pieces are independent, and more than a
    // job's share of cores only while it packages.
    : gzip_(std::make_unique<ParallelGzipFile>(out_path, 1, static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u)))),
      a_(archive_write_new()),
      top_(std::move(top_dir)) {
  const auto write = [](archive*, void* self, const void* buffer, size_t length) -> la_ssize_t {
    try {
      static_cast<ParallelGzipFile*>(self)->write(buffer, length);
      return static_cast<la_ssize_t>(length);
    } catch (const std::exception&) {
      return -1;  // libarchive reports a write failure; close() names the file
    }
  };
  if (!a_ || archive_write_set_format_pax_restricted(a_) != ARCHIVE_OK ||
      archive_write_open2(a_, gzip_.get(), nullptr, write, nullptr, nullptr) != ARCHIVE_OK) {
    std::string msg = a_ ? message_of(a_) : "out of memory";
    if (a_) archive_write_free(a_);
    a_ = nullptr;
    throw Error(ErrorCode::kIo, "storage-error", "cannot create bundle " + out_path + ": " + msg);
  }
}

BundleWriter::~BundleWriter() {
  if (a_) archive_write_free(a_);  // also closes; errors are irrelevant for an abandoned bundle
}

void BundleWriter::add(const std::string& name, std::string_view bytes, bool executable) {
  if (!safe_relative_name(name)) throw Error(ErrorCode::kInternal, "unsafe-bundle-path", "unsafe bundle entry name: " + name);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, (top_ + "/" + name).c_str());
  archive_entry_set_size(e, static_cast<la_int64_t>(bytes.size()));
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, executable ? 0755 : 0644);
  archive_entry_set_mtime(e, std::time(nullptr), 0);
  bool ok = archive_write_header(a_, e) == ARCHIVE_OK &&
            archive_write_data(a_, bytes.data(), bytes.size()) == static_cast<la_ssize_t>(bytes.size());
  archive_entry_free(e);
  if (!ok) throw Error(ErrorCode::kIo, "storage-error", "bundle write failed: " + message_of(a_));
}

void BundleWriter::close() {
  if (closed_) return;
  closed_ = true;
  if (archive_write_close(a_) != ARCHIVE_OK)
    throw Error(ErrorCode::kIo, "storage-error", "bundle close failed: " + message_of(a_));
  gzip_->close();
}

}  // namespace aifgen

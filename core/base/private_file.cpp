#include "core/base/private_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/base/error.h"
#include "core/base/random_hex.h"

namespace aifgen {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw Error(ErrorCode::kIo, "io-error", what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

namespace {

// The new file's bytes in a fsynced temp file beside `path`; returns its name.
std::string write_temp(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + "." + random_hex(8) + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail("cannot create", tmp);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      fail("cannot write", tmp);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("cannot fsync", tmp);
  }
  ::close(fd);
  return tmp;
}

void sync_parent(const std::string& path) {
  const auto dir = std::filesystem::path(path).parent_path();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

void write_private_file(const std::string& path, const std::string& bytes) {
  const std::string tmp = write_temp(path, bytes);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    fail("cannot rename into", path);
  }
  sync_parent(path);
}

bool create_private_file(const std::string& path, const std::string& bytes) {
  const std::string tmp = write_temp(path, bytes);
  const bool created = ::link(tmp.c_str(), path.c_str()) == 0;
  const int link_errno = errno;
  ::unlink(tmp.c_str());
  if (!created) {
    if (link_errno == EEXIST) return false;
    errno = link_errno;
    fail("cannot create", path);
  }
  sync_parent(path);
  return true;
}

}  // namespace aifgen

// The file system calls the artifact store makes, behind one seam: tests put a FileSystem in
// its place that fails a chosen call with a chosen errno (a full disk on the 3rd write, an fsync
// that reports EIO, a rename that does not happen) without mounting a tmpfs or needing root.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace aifgen {

// Each method behaves as the POSIX call of the same name: a result below 0 with errno set on
// failure. The defaults are those calls; a test double overrides the ones it breaks.
class FileSystem {
 public:
  virtual ~FileSystem() = default;
  virtual int open(const std::string& path, int flags, mode_t mode);
  virtual ssize_t write(int fd, const void* data, std::size_t size);
  virtual int fsync(int fd);
  virtual int close(int fd);
  virtual int rename(const std::string& from, const std::string& to);
  virtual int unlink(const std::string& path);
};

// The machine's own file system (the plain POSIX calls).
FileSystem& posix_file_system();

}  // namespace aifgen

#include "core/base/file_system.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

namespace aifgen {

int FileSystem::open(const std::string& path, int flags, mode_t mode) { return ::open(path.c_str(), flags, mode); }
ssize_t FileSystem::write(int fd, const void* data, std::size_t size) { return ::write(fd, data, size); }
int FileSystem::fsync(int fd) { return ::fsync(fd); }
int FileSystem::close(int fd) { return ::close(fd); }
int FileSystem::rename(const std::string& from, const std::string& to) { return std::rename(from.c_str(), to.c_str()); }
int FileSystem::unlink(const std::string& path) { return ::unlink(path.c_str()); }

FileSystem& posix_file_system() {
  static FileSystem fs;
  return fs;
}

}  // namespace aifgen

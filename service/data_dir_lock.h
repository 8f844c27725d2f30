// One `aifgen serve` per data dir. Two would both claim jobs and write the same database, and
// each keeps in-memory views (job versions, listings) that only its own writes invalidate.
#pragma once

#include <string>

namespace aifgen {

class DataDirLock {
 public:
  // Creates `data_dir` if needed and takes an exclusive lock on DATA_DIR/serve.lock, held until
  // destruction (the OS drops it when the process dies, even by SIGKILL). Throws
  // Error(kUnavailable, "data-dir-in-use") naming the holder's pid when another process has it.
  explicit DataDirLock(const std::string& data_dir);
  ~DataDirLock();
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace aifgen

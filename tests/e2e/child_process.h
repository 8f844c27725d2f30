// A child process running a shell command in a directory, with its output in a log file; its
// whole process group is stopped (SIGTERM) when the object goes out of scope.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace aifgen::e2e {

class Child {
 public:
  Child(const std::string& command, const std::string& dir, const std::string& log) {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      if (::chdir(dir.c_str()) != 0) _exit(127);
      execl("/bin/bash", "bash", "-c", (command + " >" + log + " 2>&1").c_str(), nullptr);
      _exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(-pid_, SIGTERM);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

}  // namespace aifgen::e2e

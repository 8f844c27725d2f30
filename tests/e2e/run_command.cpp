#include "tests/e2e/run_command.h"

#include <sys/wait.h>

#include <cstdio>

namespace aifgen::e2e {

CommandResult run_command(const std::string& command) {
  CommandResult r{-1, ""};
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

}  // namespace aifgen::e2e

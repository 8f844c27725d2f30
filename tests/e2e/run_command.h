// Runs a shell command for end-to-end tests, capturing what it prints.
#pragma once

#include <string>

namespace aifgen::e2e {

struct CommandResult {
  int status;          // exit status, -1 when the command did not exit normally
  std::string output;  // stdout and stderr together
};

CommandResult run_command(const std::string& command);

}  // namespace aifgen::e2e

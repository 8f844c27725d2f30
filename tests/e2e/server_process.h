// Runs the real `aifgen serve` binary on a free loopback port with its own data dir, for
// end-to-end tests. The process is SIGKILLed when the object goes away.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace aifgen::e2e {

class ServerProcess {
 public:
  // With `tls`, the server is expected to speak HTTPS (extra_args carry --tls-cert/--tls-key).
  ServerProcess(std::string data_dir, std::vector<std::string> extra_args = {}, bool tls = false);
  ~ServerProcess();

  // Starts the process (on a new free port unless `keep_port`) and waits until /healthz answers.
  void start(bool keep_port = false);
  void kill9();
  // SIGTERM and wait for exit; returns the exit status.
  int terminate();
  bool running() const { return pid_ > 0; }
  std::string base_url() const { return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::string plain_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log() const;
  // Where stdout and stderr go (appended); default: the data dir's path + ".log". Processes that
  // share a data dir need their own.
  void set_log_path(std::string path) { log_path_ = std::move(path); }
  // The subcommand run: "serve" (default) or "worker".
  void set_command(std::string command) { command_ = std::move(command); }
  const std::string& log_path() const { return log_path_; }

 private:
  std::string data_dir_;
  std::string log_path_;
  std::string command_ = "serve";
  std::vector<std::string> extra_args_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool tls_ = false;
};

int free_port();
// A TCP connection to 127.0.0.1:port, or -1.
int connect_loopback(int port);

}  // namespace aifgen::e2e

#include "tests/e2e/server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace aifgen::e2e {

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return fd;
  ::close(fd);
  return -1;
}

namespace {

bool port_accepts(int port) {
  int fd = connect_loopback(port);
  if (fd >= 0) ::close(fd);
  return fd >= 0;
}

bool port_answers(int port) {
  int fd = connect_loopback(port);
  bool ok = fd >= 0;
  if (ok) {
    const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    ok = ::write(fd, req, sizeof req - 1) > 0;
    char buf[64] = {};
    ok = ok && ::read(fd, buf, sizeof buf - 1) > 0 && std::string(buf).find(" 200 ") != std::string::npos;
    ::close(fd);
  }
  return ok;
}

}  // namespace

ServerProcess::ServerProcess(std::string data_dir, std::vector<std::string> extra_args, bool tls)
    : data_dir_(std::move(data_dir)), log_path_(data_dir_ + ".log"), extra_args_(std::move(extra_args)), tls_(tls) {}

ServerProcess::~ServerProcess() { kill9(); }

void ServerProcess::start(bool keep_port) {
  if (!keep_port || port_ == 0) port_ = free_port();
  std::vector<std::string> args = {AIFGEN_BINARY, command_, "--listen", "127.0.0.1:" + std::to_string(port_),
                                   "--data-dir", data_dir_};
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  const std::string log_path = log_path_;
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (tls_ ? port_accepts(port_) : port_answers(port_)) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("aifgen serve exited at start:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("aifgen serve did not answer /healthz in 20 s:\n" + log());
}

void ServerProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int ServerProcess::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string ServerProcess::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace aifgen::e2e

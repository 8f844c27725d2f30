// Raw-socket clients that send a POST's headers and the start of its body, then go quiet: what a
// slow uploader, a stuck client or a slowloris attack looks like to a server.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/e2e/server_process.h"

namespace aifgen::e2e {

// Opens `n` loopback connections to `port`, each sending a POST to `path` that declares
// `length` body bytes but sends only 100. Close the returned descriptors to hang up.
inline std::vector<int> open_stalled_posts(int port, int n, const std::string& path, const std::string& content_type,
                                           int length) {
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = connect_loopback(port);
    if (fd < 0) {
      ADD_FAILURE() << "cannot connect to port " << port;
      break;
    }
    std::string head = "POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + content_type +
                       "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n" + std::string(100, '{');
    EXPECT_EQ(::write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
    fds.push_back(fd);
  }
  return fds;
}

inline void hang_up(const std::vector<int>& fds) {
  for (int fd : fds) ::close(fd);
}

}  // namespace aifgen::e2e

// A second `aifgen serve` on a data dir already served exits with a clear message instead of
// sharing the database (both would claim jobs, and each caches views the other's writes stale).
#include <sys/wait.h>

#include <cstdio>

#include "tests/e2e/fixture.h"

namespace aifgen::e2e {
namespace {

class DataDirLockE2E : public ServerTest {};

TEST_F(DataDirLockE2E, SecondServeOnTheSameDataDirIsRefusedAndTheFirstKeepsServing) {
  // Same port as the running server too: the lock must be what refuses it, before any bind.
  const std::string listen = server_->base_url().substr(std::string("http://").size());
  const std::string cmd = std::string(AIFGEN_BINARY) + " serve --listen " + listen + " --data-dir " + data_dir() + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[1024];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  ASSERT_TRUE(WIFEXITED(status)) << out;
  EXPECT_EQ(WEXITSTATUS(status), 2) << out;
  EXPECT_NE(out.find("data-dir-in-use"), std::string::npos) << out;
  EXPECT_NE(out.find("another aifgen serve (pid "), std::string::npos) << out;
  EXPECT_EQ(http().get("/healthz").status, 200);
}

}  // namespace
}  // namespace aifgen::e2e

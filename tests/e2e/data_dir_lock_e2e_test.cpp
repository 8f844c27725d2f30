// A second `aifgen serve` on a data dir already served exits with a clear message instead of
// sharing the database (both would claim jobs, and each caches views the other's writes stale).
#include "tests/e2e/fixture.h"
#include "tests/e2e/run_command.h"

namespace aifgen::e2e {
namespace {

class DataDirLockE2E : public ServerTest {};

TEST_F(DataDirLockE2E, SecondServeOnTheSameDataDirIsRefusedAndTheFirstKeepsServing) {
  // Same port as the running server too: the lock must be what refuses it, before any bind.
  auto second = run_command(std::string(AIFGEN_BINARY) + " serve --listen 127.0.0.1:" + std::to_string(server_->port()) +
                            " --data-dir " + data_dir());
  EXPECT_EQ(second.status, 2) << second.output;
  EXPECT_NE(second.output.find("data-dir-in-use"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("another aifgen serve (pid "), std::string::npos) << second.output;
  EXPECT_EQ(http().get("/healthz").status, 200);
}

}  // namespace
}  // namespace aifgen::e2e

// A second `aifgen serve` on a data dir already served exits with a clear message instead of
// sharing the database (both would claim jobs, and each caches views the other's writes stale).
#include "tests/e2e/fixture.h"
#include "tests/e2e/run_command.h"
#include "tests/support/temp_dir.h"

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

TEST_F(DataDirLockE2E, AServeThatCannotSetUpItsDataDirSaysWhyAndExits) {
  // The artifact store's "blobs" folder is a regular file: std::filesystem throws (not an
  // aifgen::Error), which used to end in std::terminate's abort (exit by SIGABRT).
  testing::TempDir other;
  other.file("blobs", "in the way");
  auto r = run_command(std::string(AIFGEN_BINARY) + " serve --listen 127.0.0.1:0 --data-dir " + other.path());
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("cannot start"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("blobs"), std::string::npos) << r.output;
  EXPECT_EQ(http().get("/healthz").status, 200);
}

}  // namespace
}  // namespace aifgen::e2e

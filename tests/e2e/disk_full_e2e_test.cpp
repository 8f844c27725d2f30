// A full disk: the data dir on a 3 MiB tmpfs. An upload that does not fit answers 507 with
// nothing half-written left, the service keeps serving, and a small upload still works.
// Needs permission to mount tmpfs (root in this project's sandboxes); skipped, saying so, where
// mounting is not allowed.
#include <sys/mount.h>

#include <filesystem>
#include <random>
#include <cerrno>
#include <cstring>

#include "tests/e2e/fixture.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class DiskFullE2E : public ServerTest {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(data_dir());
    if (::mount("tmpfs", data_dir().c_str(), "tmpfs", 0, "size=3m") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << "); disk-full test skipped";
    mounted_ = true;
    ServerTest::SetUp();
  }
  void TearDown() override {
    if (server_) server_->kill9();
    if (mounted_) ::umount2(data_dir().c_str(), MNT_DETACH);
    ServerTest::TearDown();
  }
  bool mounted_ = false;
};

TEST_F(DiskFullE2E, UploadThatDoesNotFitAnswers507AndLeavesNothing) {
  std::string big(4 << 20, '\0');
  std::mt19937 gen(1);
  for (auto& c : big) c = static_cast<char>(gen());
  auto r = http().upload(big);
  EXPECT_EQ(r.status, 507) << r.body;
  EXPECT_EQ(r.problem_type(), "storage-full");
  EXPECT_TRUE(std::filesystem::is_empty(data_dir() + "/tmp"));
  EXPECT_EQ(http().get("/healthz").status, 200);
  EXPECT_EQ(http().upload(testing::serialize(testing::conv_bn_relu_model())).status, 201);
}

}  // namespace
}  // namespace aifgen::e2e

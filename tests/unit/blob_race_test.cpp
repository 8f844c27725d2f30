// Deleting a model while the same bytes are uploaded again: the rows go in one transaction and
// the blob after, so without the per-digest lock the delete could unlink the blob under the
// row the upload had just added (a model that lists fine and cannot be read).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "core/base/error.h"
#include "service/model_service.h"
#include "storage/database.h"
#include "tests/support/model_builder.h"
#include "tests/support/temp_dir.h"

namespace aifgen {
namespace {

ModelRecord upload(ModelService& service, const std::string& bytes) {
  auto w = service.begin_upload();
  w->write(bytes.data(), bytes.size());
  return service.ingest(*w, "raced").model;
}

TEST(BlobRace, ARowNeverOutlivesItsBlobWhenDeleteAndReuploadOverlap) {
  testing::TempDir dir;
  storage::Database db(dir.path() + "/aifgen.db");
  storage::ArtifactStore artifacts(dir.path());
  storage::ModelRepository models(db);
  ModelService service(artifacts, models, 1 << 20, 8);
  const std::string bytes = testing::serialize(testing::conv_bn_relu_model());
  const std::string sha = upload(service, bytes).id;
  std::atomic<bool> stop{false};
  std::thread deleter([&] {
    while (!stop.load()) {
      try {
        service.remove(sha);
      } catch (const Error&) {  // not found: the uploader has not put it back yet
      }
    }
  });
  int broken = 0;
  for (int i = 0; i < 300; ++i) {
    upload(service, bytes);
    // Under the blob's lock no delete is between its two steps: a row must have its blob.
    auto lock = artifacts.lock_blob(sha);
    if (models.get(sha) && !artifacts.verify(sha)) ++broken;
  }
  stop = true;
  deleter.join();
  EXPECT_EQ(broken, 0);
  if (models.get(sha)) {
    EXPECT_TRUE(artifacts.verify(sha));
  }
}

}  // namespace
}  // namespace aifgen

// Accepting, listing and deleting models. The API streams an upload into a BlobWriter from
// begin_upload(), then hands it to ingest(), which validates the bytes as ONNX before they are
// committed to the artifact store: an invalid upload leaves nothing behind.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/artifact_store.h"
#include "storage/model_repository.h"
#include "storage/records.h"

namespace aifgen {

struct IngestResult {
  storage::ModelRecord model;
  bool created = false;  // false: the same bytes were already stored
};

class ModelService {
 public:
  ModelService(storage::ArtifactStore& artifacts, storage::ModelRepository& models, std::uint64_t max_upload_bytes)
      : artifacts_(artifacts), models_(models), max_upload_bytes_(max_upload_bytes) {}

  std::unique_ptr<storage::BlobWriter> begin_upload();
  // Validates and stores the upload. `name` may be empty (a name is derived). Throws
  // Error(kInvalidModel, ...) for bad models, Error(kInvalidArgument, "invalid-name").
  IngestResult ingest(storage::BlobWriter& upload, const std::string& name);

  storage::ModelRecord get(const std::string& id);  // throws kNotFound
  std::vector<storage::ModelRecord> list(int limit, int offset);
  void remove(const std::string& id);               // throws kNotFound, kConflict
  std::uint64_t max_upload_bytes() const { return max_upload_bytes_; }

  // Throws Error(kInvalidArgument, "invalid-name") unless `name` is 1..200 bytes of printable
  // characters without path separators.
  static void check_name(const std::string& name);

 private:
  storage::ArtifactStore& artifacts_;
  storage::ModelRepository& models_;
  std::uint64_t max_upload_bytes_;
};

}  // namespace aifgen

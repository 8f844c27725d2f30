// Accepting, listing and deleting models. The API streams an upload into a BlobWriter from
// begin_upload(), then hands it to ingest(), which validates the bytes as ONNX before they are
// committed to the artifact store: an invalid upload leaves nothing behind.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/artifact_store.h"
#include "storage/model_repository.h"
#include "core/base/records.h"

namespace aifgen {

struct IngestResult {
  ModelRecord model;
  bool created = false;  // false: the same bytes were already stored
};

class ModelService {
 public:
  // `shared_database`: other processes add and remove models too (PostgreSQL, scaled out).
  ModelService(storage::ArtifactStore& artifacts, storage::ModelRepository& models, std::uint64_t max_upload_bytes,
               int max_concurrent_uploads, bool shared_database = false)
      : artifacts_(artifacts), models_(models), max_upload_bytes_(max_upload_bytes),
        max_concurrent_uploads_(max_concurrent_uploads), shared_database_(shared_database) {}

  // One upload in progress; the slot is given back when the object goes away.
  class UploadSlot {
   public:
    explicit UploadSlot(std::atomic<int>& in_flight) : in_flight_(in_flight) {}
    ~UploadSlot() { --in_flight_; }
    UploadSlot(const UploadSlot&) = delete;
    UploadSlot& operator=(const UploadSlot&) = delete;

   private:
    std::atomic<int>& in_flight_;
  };
  // Throws Error(kUnavailable, "too-many-uploads") when max_concurrent_uploads are running.
  std::unique_ptr<UploadSlot> acquire_upload_slot();

  std::unique_ptr<storage::BlobWriter> begin_upload();
  // Validates and stores the upload. `name` may be empty (a name is derived). Throws
  // Error(kInvalidModel, ...) for bad models, Error(kInvalidArgument, "invalid-name").
  IngestResult ingest(storage::BlobWriter& upload, const std::string& name);

  ModelRecord get(const std::string& id);  // throws kNotFound
  std::vector<ModelRecord> list(int limit, int offset);
  void remove(const std::string& id);               // throws kNotFound, kConflict
  std::uint64_t max_upload_bytes() const { return max_upload_bytes_; }
  // Changes whenever this process adds or removes a model. Listings may be cached per
  // generation only when listings_cacheable(): alone on its database (SQLite), this process
  // makes every change; on a shared database other processes' uploads would not show.
  std::uint64_t generation() const { return generation_.load(); }
  bool listings_cacheable() const { return !shared_database_; }

  // Throws Error(kInvalidArgument, "invalid-name") unless `name` is 1..200 bytes of printable
  // characters without path separators.
  static void check_name(const std::string& name);

 private:
  storage::ArtifactStore& artifacts_;
  storage::ModelRepository& models_;
  std::uint64_t max_upload_bytes_;
  int max_concurrent_uploads_;
  std::atomic<int> uploads_in_flight_{0};
  std::atomic<std::uint64_t> generation_{1};
  bool shared_database_;
};

}  // namespace aifgen

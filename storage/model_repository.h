// The models table.
#pragma once

#include <optional>
#include <vector>

#include "storage/database.h"
#include "core/base/records.h"

namespace aifgen::storage {

class ModelRepository {
 public:
  explicit ModelRepository(Database& db) : db_(db) {}

  // Inserts the model unless a row with its id exists. Returns the stored row and whether it
  // was created by this call.
  std::pair<ModelRecord, bool> insert_if_absent(const ModelRecord& m);
  std::optional<ModelRecord> get(const std::string& id);
  std::vector<ModelRecord> list(int limit, int offset);
  // Deletes the model with its jobs and variants in one transaction. Returns the artifact
  // digests of its variants and of calibration sets no other model uses (for the caller to
  // remove from the artifact store).
  // Throws Error(kNotFound) / Error(kConflict, "model-has-active-jobs").
  // True when any model, variant or calibration set row still names blob `sha`.
  bool blob_referenced(const std::string& sha);
  std::vector<std::string> remove(const std::string& id);

 private:
  Database& db_;
};

}  // namespace aifgen::storage

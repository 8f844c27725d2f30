// Calibration sets for INT8: uploaded per model (.npy or .npz), checked against the model's
// inputs at upload so a job never finds out late that its data does not fit, and loaded for
// variant builds.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/calibration/calibration_set.h"
#include "storage/artifact_store.h"
#include "storage/calibration_repository.h"
#include "storage/model_repository.h"

namespace aifgen {

class CalibrationService {
 public:
  CalibrationService(storage::ArtifactStore& artifacts, storage::ModelRepository& models, storage::CalibrationRepository& sets,
                     std::uint64_t max_bytes)
      : artifacts_(artifacts), models_(models), sets_(sets), max_bytes_(max_bytes) {}

  std::unique_ptr<storage::BlobWriter> begin_upload() { return artifacts_.begin(max_bytes_); }
  // Validates the upload against the model and stores it. Throws Error: kNotFound (model),
  // kInvalidArgument "calibration-invalid", kTooLarge "calibration-too-large",
  // kUnprocessable "calibration-mismatch".
  CalibrationRecord add(const std::string& model_id, storage::BlobWriter& upload, const std::string& file_name);
  std::vector<CalibrationRecord> list(const std::string& model_id);  // throws kNotFound
  // Throws Error(kUnprocessable, "calibration-not-found") when `id` is not one of the model's sets.
  void check_exists(const std::string& model_id, const std::string& id);
  // The set `id`, or without one the model's latest set; nullopt when the model has none.
  std::optional<CalibrationSet> load(const std::string& model_id, const std::optional<std::string>& id);
  std::uint64_t max_bytes() const { return max_bytes_; }

 private:
  CalibrationLimits limits() const;

  storage::ArtifactStore& artifacts_;
  storage::ModelRepository& models_;
  storage::CalibrationRepository& sets_;
  std::uint64_t max_bytes_;
};

}  // namespace aifgen

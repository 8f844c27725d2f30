// The calibration_sets table.
#pragma once

#include <optional>
#include <vector>

#include "storage/database.h"
#include "core/base/records.h"

namespace aifgen::storage {

class CalibrationRepository {
 public:
  explicit CalibrationRepository(Database& db) : db_(db) {}

  void insert(const CalibrationRecord& r);
  std::optional<CalibrationRecord> get(const std::string& model_id, const std::string& id);
  std::optional<CalibrationRecord> latest(const std::string& model_id);
  std::vector<CalibrationRecord> list(const std::string& model_id);

 private:
  Database& db_;
};

}  // namespace aifgen::storage

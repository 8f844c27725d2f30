#include "storage/calibration_repository.h"

namespace aifgen::storage {
namespace {

constexpr const char* kSelect =
    "SELECT id, model_id, sha256, size_bytes, file_name, inputs_json, samples, created_at FROM calibration_sets ";

CalibrationRecord read_row(const Statement& st) {
  return CalibrationRecord{st.text(0), st.text(1), st.text(2), st.integer(3), st.text(4), st.text(5), st.integer(6), st.text(7)};
}

}  // namespace

void CalibrationRepository::insert(const CalibrationRecord& r) {
  auto c = db_.acquire();
  c.prepare("INSERT INTO calibration_sets(id, model_id, sha256, size_bytes, file_name, inputs_json, samples, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(1, r.id).bind(2, r.model_id).bind(3, r.sha256).bind(4, r.size_bytes).bind(5, r.file_name)
      .bind(6, r.inputs_json).bind(7, r.samples).bind(8, r.created_at)
      .exec();
}

std::optional<CalibrationRecord> CalibrationRepository::get(const std::string& model_id, const std::string& id) {
  auto c = db_.acquire();
  auto st = c.prepare((std::string(kSelect) + "WHERE model_id = ? AND id = ?").c_str());
  st.bind(1, model_id).bind(2, id);
  if (!st.step()) return std::nullopt;
  return read_row(st);
}

std::optional<CalibrationRecord> CalibrationRepository::latest(const std::string& model_id) {
  auto c = db_.acquire();
  auto st = c.prepare((std::string(kSelect) + "WHERE model_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1").c_str());
  st.bind(1, model_id);
  if (!st.step()) return std::nullopt;
  return read_row(st);
}

std::vector<CalibrationRecord> CalibrationRepository::list(const std::string& model_id) {
  auto c = db_.acquire();
  auto st = c.prepare((std::string(kSelect) + "WHERE model_id = ? ORDER BY created_at DESC, rowid DESC").c_str());
  st.bind(1, model_id);
  std::vector<CalibrationRecord> out;
  while (st.step()) out.push_back(read_row(st));
  return out;
}

}  // namespace aifgen::storage

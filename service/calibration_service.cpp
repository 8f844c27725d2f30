#include "service/calibration_service.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/onnx_model.h"
#include "core/base/random_hex.h"
#include "storage/database.h"

namespace aifgen {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) throw Error(ErrorCode::kIo, "storage-read-failed", "cannot read " + path);
  return ss.str();
}

}  // namespace

CalibrationLimits CalibrationService::limits() const {
  CalibrationLimits l;
  l.max_total_bytes = static_cast<std::int64_t>(max_bytes_);
  return l;
}

CalibrationRecord CalibrationService::add(const std::string& model_id, storage::BlobWriter& upload,
                                                   const std::string& file_name) {
  if (!models_.get(model_id)) throw Error(ErrorCode::kNotFound, "model-not-found", "no model with id " + model_id);
  const std::string sha = upload.finish();
  if (upload.size() == 0) throw Error(ErrorCode::kInvalidArgument, "empty-body", "the upload is empty: send the .npy or .npz file as the body");
  auto set = parse_calibration(read_file(upload.temp_path()), file_name, limits());
  auto model = load_model_file(artifacts_.path_of(model_id));
  auto inputs = model_inputs(model);
  auto samples = bind_calibration(set, inputs);
  if (samples.empty()) throw Error(ErrorCode::kUnprocessable, "calibration-mismatch", "the calibration set has no samples");
  nlohmann::json described = nlohmann::json::array();
  for (const auto& [name, t] : set.tensors) described.push_back({{"name", name}, {"dtype", engine::dtype_str(t.dtype)}, {"shape", t.shape}});
  CalibrationRecord r;
  r.id = new_id("cal");
  r.model_id = model_id;
  r.sha256 = sha;
  r.size_bytes = static_cast<std::int64_t>(upload.size());
  r.file_name = file_name;
  r.inputs_json = described.dump();
  r.samples = static_cast<std::int64_t>(samples.size());
  r.created_at = now_iso8601();
  auto lock = artifacts_.lock_blob(sha);  // against a model delete unlinking the same bytes
  artifacts_.commit(upload);  // blob first: a row never points at a missing blob
  sets_.insert(r);
  return r;
}

std::vector<CalibrationRecord> CalibrationService::list(const std::string& model_id) {
  if (!models_.get(model_id)) throw Error(ErrorCode::kNotFound, "model-not-found", "no model with id " + model_id);
  return sets_.list(model_id);
}

void CalibrationService::check_exists(const std::string& model_id, const std::string& id) {
  if (!sets_.get(model_id, id))
    throw Error(ErrorCode::kUnprocessable, "calibration-not-found", "model " + model_id + " has no calibration set " + id);
}

std::optional<CalibrationSet> CalibrationService::load(const std::string& model_id, const std::optional<std::string>& id) {
  auto rec = id ? sets_.get(model_id, *id) : sets_.latest(model_id);
  if (!rec) {
    if (id) check_exists(model_id, *id);
    return std::nullopt;
  }
  if (!artifacts_.verify(rec->sha256))
    throw Error(ErrorCode::kIo, "artifact-corrupt", "calibration set " + rec->id + " is missing or corrupted on disk");
  auto set = parse_calibration(read_file(artifacts_.path_of(rec->sha256)), rec->file_name, limits());
  set.source = rec->file_name + " (" + rec->id + ")";
  return set;
}

}  // namespace aifgen

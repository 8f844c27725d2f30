// Upload ingestion: bounded parse, checker, shape inference, census, then commit + row.
#include "service/model_service.h"

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/model_info.h"
#include "core/model_info_json.h"
#include "core/onnx_model.h"
#include "storage/database.h"

namespace aifgen {

void ModelService::check_name(const std::string& name) {
  if (name.empty() || name.size() > 200)
    throw Error(ErrorCode::kInvalidArgument, "invalid-name", "a model name must be 1 to 200 bytes long");
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\')
      throw Error(ErrorCode::kInvalidArgument, "invalid-name",
                  "a model name must not contain '/', '\\\\' or control characters");
  if (name == "." || name == "..")
    throw Error(ErrorCode::kInvalidArgument, "invalid-name", "a model name must not be '.' or '..'");
}

std::unique_ptr<ModelService::UploadSlot> ModelService::acquire_upload_slot() {
  if (++uploads_in_flight_ > max_concurrent_uploads_) {
    --uploads_in_flight_;
    throw Error(ErrorCode::kUnavailable, "too-many-uploads",
                std::to_string(max_concurrent_uploads_) + " uploads are already in progress; retry later");
  }
  return std::make_unique<UploadSlot>(uploads_in_flight_);
}

std::unique_ptr<storage::BlobWriter> ModelService::begin_upload() { return artifacts_.begin(max_upload_bytes_); }

IngestResult ModelService::ingest(storage::BlobWriter& upload, const std::string& name) {
  if (!name.empty()) check_name(name);
  const std::string sha = upload.finish();
  if (upload.size() == 0) throw Error(ErrorCode::kInvalidArgument, "empty-body", "the upload is empty: send the ONNX file as the body");
  {
    // Known bytes: no parsing again, but the upload still repairs a stored copy that has gone
    // bad (commit replaces a blob that no longer matches its digest).
    auto lock = artifacts_.lock_blob(sha);
    if (auto existing = models_.get(sha)) {
      artifacts_.commit(upload);
      return {*existing, false};
    }
  }

  ModelLimits limits;
  limits.max_bytes = max_upload_bytes_;
  auto proto = load_model_file(upload.temp_path(), limits);
  accept_model(proto, limits);
  auto info = inspect_model(proto);

  ModelRecord rec;
  rec.id = sha;
  rec.name = name.empty() ? (proto.graph().name().empty() ? "model-" + sha.substr(0, 12) : proto.graph().name()) : name;
  // A graph name from the file is untrusted too; fall back when it is not a valid name.
  try {
    check_name(rec.name);
  } catch (const Error&) {
    rec.name = "model-" + sha.substr(0, 12);
  }
  rec.size_bytes = static_cast<std::int64_t>(upload.size());
  rec.info_json = model_info_to_json(info).dump();
  rec.created_at = now_iso8601();
  auto lock = artifacts_.lock_blob(sha);  // against a concurrent delete of the same bytes
  artifacts_.commit(upload);  // blob first: a row never points at a missing blob
  auto [stored, created] = models_.insert_if_absent(rec);
  if (created) ++generation_;
  return {stored, created};
}

ModelRecord ModelService::get(const std::string& id) {
  auto m = models_.get(id);
  if (!m) throw Error(ErrorCode::kNotFound, "model-not-found", "no model with id " + id);
  return *m;
}

std::vector<ModelRecord> ModelService::list(int limit, int offset) { return models_.list(limit, offset); }

void ModelService::remove(const std::string& id) {
  auto artifacts = models_.remove(id);
  ++generation_;
  artifacts.push_back(id);
  // Rows first (one transaction), blobs after, each under its lock and only if no row names it
  // by now: an upload of the same bytes may have added one since the rows went.
  for (const auto& sha : artifacts) {
    auto lock = artifacts_.lock_blob(sha);
    if (!models_.blob_referenced(sha)) artifacts_.remove(sha);
  }
}

}  // namespace aifgen

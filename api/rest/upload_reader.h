// Streams an upload body (raw application/octet-stream or multipart/form-data field `file_field`)
// into a BlobWriter chunk by chunk while it arrives, so memory stays flat whatever the size.
#pragma once

#include <string>

#include "api/rest/request_context.h"
#include "storage/artifact_store.h"

namespace aifgen::api {

struct UploadFields {
  std::string name;       // from the multipart field `name` or the `name` query parameter
  std::string file_name;  // the multipart file part's filename, if it had one
};

// Throws Error: 415 unsupported content type, 413 over the writer's limit, 400 malformed
// multipart / missing `model` field / unknown fields.
UploadFields read_upload(const RequestContext& ctx, storage::BlobWriter& sink, const std::string& file_field = "model");

}  // namespace aifgen::api

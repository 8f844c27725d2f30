// Streams an upload body (raw application/octet-stream or multipart/form-data field `model`)
// into a BlobWriter chunk by chunk while it arrives, so memory stays flat whatever the size.
#pragma once

#include <string>

#include "api/request_context.h"
#include "storage/artifact_store.h"

namespace aifgen::api {

struct UploadFields {
  std::string name;  // from the multipart field `name` or the `name` query parameter
};

// Throws Error: 415 unsupported content type, 413 over the writer's limit, 400 malformed
// multipart / missing `model` field / unknown fields.
UploadFields read_upload(const RequestContext& ctx, storage::BlobWriter& sink);

}  // namespace aifgen::api

// Streams an upload body (raw application/octet-stream or multipart/form-data field `file_field`)
// into a byte sink chunk by chunk while it arrives, so memory stays flat whatever the size. The
// sink is the service's (an upload it began), so this reader knows nothing of storage.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "api/rest/request_context.h"

namespace aifgen::api {

struct UploadFields {
  std::string name;       // from the multipart field `name` or the `name` query parameter
  std::string file_name;  // the multipart file part's filename, if it had one
};

// Receives the file's bytes in order; may throw (e.g. 413 past the upload's limit).
using ByteSink = std::function<void(const char* data, std::size_t size)>;

// Throws Error: 415 unsupported content type, 400 malformed multipart / missing `model` field /
// unknown fields, and whatever the sink throws.
UploadFields read_upload(const RequestContext& ctx, const ByteSink& sink, const std::string& file_field = "model");

}  // namespace aifgen::api

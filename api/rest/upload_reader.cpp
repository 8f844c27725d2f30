// Upload body streaming. cpprest hands the body over as an async stream while it is still
// arriving; reading 1 MiB at a time keeps a large upload's memory at one buffer.
#include "api/rest/upload_reader.h"

#include <vector>

#include "api/rest/multipart.h"
#include "core/base/error.h"

namespace aifgen::api {
namespace {

constexpr std::size_t kChunk = 1 << 20;
constexpr std::size_t kMaxNameField = 1024;

std::string media_type(const std::string& content_type) {
  std::string base = content_type.substr(0, content_type.find(';'));
  while (!base.empty() && base.back() == ' ') base.pop_back();
  for (auto& c : base) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return base;
}

template <typename Fn>
void for_each_chunk(const RequestContext& ctx, Fn&& fn) {
  std::vector<uint8_t> chunk(kChunk);
  for (;;) {
    std::size_t n = read_body_chunk(ctx, chunk.data(), chunk.size());
    if (n == 0) break;
    fn(reinterpret_cast<const char*>(chunk.data()), n);
  }
}

}  // namespace

UploadFields read_upload(const RequestContext& ctx, const ByteSink& sink, const std::string& file_field) {
  const std::string ct = ctx.header("Content-Type").value_or("");
  const std::string type = media_type(ct);
  UploadFields fields;
  fields.name = ctx.query_param("name").value_or("");

  if (type == "application/octet-stream" || type == "application/onnx" || type == "application/x-onnx") {
    for_each_chunk(ctx, sink);
    return fields;
  }
  if (type != "multipart/form-data")
    throw Error(ErrorCode::kUnsupportedMedia, "unsupported-media-type",
                "upload the file as application/octet-stream or as field '" + file_field + "' of multipart/form-data (got '" +
                    ct + "')");

  MultipartParser parser(multipart_boundary(ct));
  enum class Field { kNone, kModel, kName } current = Field::kNone;
  bool saw_model = false;
  std::string name_field;
  parser.on_part_begin = [&](const PartHeaders& h) {
    if (h.name == file_field) {
      if (saw_model) throw Error(ErrorCode::kInvalidArgument, "multipart-malformed", "more than one '" + file_field + "' field");
      if (fields.file_name.empty()) fields.file_name = h.filename;
      saw_model = true;
      current = Field::kModel;
    } else if (h.name == "name") {
      current = Field::kName;
      name_field.clear();
    } else {
      throw Error(ErrorCode::kInvalidArgument, "unknown-field",
                  "unknown form field '" + h.name + "'; expected '" + file_field + "' and optionally 'name'");
    }
  };
  parser.on_part_data = [&](const char* p, std::size_t n) {
    if (current == Field::kModel) {
      sink(p, n);
    } else {
      name_field.append(p, n);
      if (name_field.size() > kMaxNameField)
        throw Error(ErrorCode::kInvalidArgument, "invalid-name", "the 'name' field is too long");
    }
  };
  parser.on_part_end = [&] {
    if (current == Field::kName) fields.name = name_field;
    current = Field::kNone;
  };
  for_each_chunk(ctx, [&](const char* p, std::size_t n) { parser.feed(p, n); });
  parser.finish();
  if (!saw_model)
    throw Error(ErrorCode::kInvalidArgument, file_field == "model" ? "missing-model-field" : "missing-file-field",
                "the multipart body has no '" + file_field + "' field");
  return fields;
}

}  // namespace aifgen::api

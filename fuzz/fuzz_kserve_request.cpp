// libFuzzer target: infer-server request bodies (KServe v2 JSON, binary tensor extension). The
// first 4 input bytes choose the Inference-Header-Content-Length (0 = all JSON).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "api/kserve/kserve_codec.h"
#include "core/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  std::uint32_t header = 0;
  std::memcpy(&header, data, 4);
  std::string body(reinterpret_cast<const char*>(data) + 4, size - 4);
  const std::size_t header_length = body.empty() ? 0 : header % (body.size() + 1);
  try {
    auto r = aifgen::api::decode_request(body, header_length);
    // Round trip what was decoded, as the server would answer it.
    std::vector<std::pair<std::string, aifgen::engine::Tensor>> outs(r.inputs.begin(), r.inputs.end());
    auto e = aifgen::api::encode_response("m", r.id, outs, r.binary_outputs, r.binary_by_default);
    auto back = aifgen::api::decode_response(e.body, e.header_length);
    if (back.size() != outs.size()) __builtin_trap();
  } catch (const aifgen::Error&) {
  }
  return 0;
}

// libFuzzer target: the streaming multipart/form-data parser, fed in chunks whose size comes
// from the first input byte, so split delimiters are exercised too.
#include <cstddef>
#include <cstdint>
#include <string>

#include "api/rest/multipart.h"
#include "core/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    aifgen::api::MultipartParser p(aifgen::api::multipart_boundary("multipart/form-data; boundary=fuzzb"));
    std::size_t bytes = 0;
    p.on_part_begin = [](const aifgen::api::PartHeaders&) {};
    p.on_part_data = [&](const char* d, std::size_t n) {
      bytes += n;
      if (n > 0) (void)d[n - 1];
    };
    p.on_part_end = [] {};
    for (std::size_t i = 0; i < body.size(); i += chunk) p.feed(body.data() + i, std::min(chunk, body.size() - i));
    p.finish();
  } catch (const aifgen::Error&) {
  }
  return 0;
}

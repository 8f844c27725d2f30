// libFuzzer target: the Accept-Encoding reader the dashboard's routes use (any header value
// must be answered without a crash), and gzip_compress, whose output must inflate back to the
// input exactly (the browser sees nothing else).
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/rest/content_encoding.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)aifgen::api::accepts_gzip(bytes);
  const std::string gz = aifgen::api::gzip_compress(bytes);
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) std::abort();
  std::string out(size + 1, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = inflate(&z, Z_FINISH);
  const auto produced = out.size() - z.avail_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || produced != size || std::string_view(out.data(), produced) != bytes) std::abort();
  return 0;
}

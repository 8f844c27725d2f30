#include "api/rest/content_encoding.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "core/base/error.h"

namespace aifgen::api {

std::string gzip_compress(std::string_view bytes) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error(ErrorCode::kInternal, "internal", "zlib deflateInit2 failed");
  std::string out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  const auto produced = out.size() - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw Error(ErrorCode::kInternal, "internal", "zlib deflate did not finish");
  out.resize(produced);
  return out;
}

bool accepts_gzip(std::string_view header) {
  std::string h(header);
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // RFC 9110 12.5.3: an explicit `gzip` entry decides; without one, `*` stands for it.
  std::optional<bool> gzip, star;
  std::size_t pos = 0;
  while (pos <= h.size()) {
    auto comma = h.find(',', pos);
    std::string item = h.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? h.size() + 1 : comma + 1;
    item.erase(std::remove_if(item.begin(), item.end(), [](char c) { return c == ' ' || c == '\t'; }), item.end());
    auto semi = item.find(';');
    const std::string token = item.substr(0, semi);
    if (token != "gzip" && token != "*") continue;
    bool offered = true;
    if (semi != std::string::npos && item.compare(semi + 1, 2, "q=") == 0) {
      try {
        offered = std::stod(item.substr(semi + 3)) > 0;
      } catch (const std::exception&) {
        offered = false;  // an unreadable q-value: treat the coding as not offered
      }
    }
    (token == "gzip" ? gzip : star) = offered;
  }
  return gzip.value_or(star.value_or(false));
}

}  // namespace aifgen::api

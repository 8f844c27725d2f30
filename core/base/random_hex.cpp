#include "core/base/random_hex.h"

#include <openssl/rand.h>

#include <vector>

#include "core/base/error.h"

namespace aifgen {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (bytes > 0 && RAND_bytes(raw.data(), static_cast<int>(bytes)) != 1)
    throw Error(ErrorCode::kInternal, "internal", "RAND_bytes failed");
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace aifgen

#include "service/ids.h"

#include <openssl/rand.h>

#include "core/error.h"

namespace aifgen {

std::string new_id(const std::string& prefix) {
  unsigned char b[12];
  if (RAND_bytes(b, sizeof b) != 1) throw Error(ErrorCode::kInternal, "internal", "RAND_bytes failed");
  static const char* kHex = "0123456789abcdef";
  std::string s = prefix + "_";
  for (unsigned char c : b) {
    s.push_back(kHex[c >> 4]);
    s.push_back(kHex[c & 15]);
  }
  return s;
}

}  // namespace aifgen

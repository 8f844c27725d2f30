#include "core/base/random_hex.h"

#include <openssl/rand.h>

#include <vector>

#include "core/base/encoding.h"
#include "core/base/error.h"

namespace aifgen {

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (bytes > 0 && RAND_bytes(raw.data(), static_cast<int>(bytes)) != 1)
    throw Error(ErrorCode::kInternal, "internal", "RAND_bytes failed");
  return to_hex(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
}

std::string new_id(const std::string& prefix) { return prefix + "_" + random_hex(12); }

}  // namespace aifgen

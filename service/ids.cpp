#include "service/ids.h"

#include "core/base/random_hex.h"

namespace aifgen {

std::string new_id(const std::string& prefix) { return prefix + "_" + random_hex(12); }

}  // namespace aifgen

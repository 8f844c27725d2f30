// libFuzzer target: the .npy reader (aifgen run inputs, calibration sets later).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/engine/npy.h"
#include "core/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto t = aifgen::engine::parse_npy(std::string(reinterpret_cast<const char*>(data), size));
    volatile auto n = t.numel();
    (void)n;
  } catch (const aifgen::Error&) {
  }
  return 0;
}

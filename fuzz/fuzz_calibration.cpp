// libFuzzer target: calibration uploads (.npy, and .npz zips read through libarchive with the
// decompressed size counted), then binding to a model's inputs.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/calibration/calibration_set.h"
#include "core/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<aifgen::BoundInput> inputs = {{"x", aifgen::engine::DType::kF32, {-1, 3, 4, -1}},
                                                          {"ids", aifgen::engine::DType::kI64, {-1, 8}}};
  aifgen::CalibrationLimits limits;
  limits.max_total_bytes = 64 << 20;  // within the fuzzer's memory limit
  try {
    auto set = aifgen::parse_calibration(std::string(reinterpret_cast<const char*>(data), size), "upload.npz", limits);
    auto samples = aifgen::bind_calibration(set, inputs);
    volatile auto n = samples.size();
    (void)n;
  } catch (const aifgen::Error&) {
  }
  return 0;
}

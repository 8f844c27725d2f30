// A tiny ONNX model (Conv -> BatchNormalization -> Relu, fixed weights) written into the data
// dir at start, so the curl example `aifgen serve` prints works on any machine as printed.
#pragma once

#include <string>

namespace aifgen {

// Writes the demo model to `path` (if absent) and returns its sha256 (its model id).
std::string write_demo_model(const std::string& path);

}  // namespace aifgen

// NumPy .npy files (format versions 1-3, C order, little-endian numeric types), the CLI's
// input/output format.
#pragma once

#include <string>

#include "core/engine/tensor.h"

namespace aifgen::engine {

// Throws Error(kInvalidArgument, "npy-invalid") for malformed or unsupported files; declared
// shapes are checked against the file size before anything is allocated.
Tensor read_npy(const std::string& path);
Tensor parse_npy(const std::string& bytes);
void write_npy(const std::string& path, const Tensor& t);

}  // namespace aifgen::engine

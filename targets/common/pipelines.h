// Pipelines shared by several targets.
#pragma once

#include <string>
#include <vector>

#include "core/passes/pass.h"

namespace aifgen {

// Graph optimizations every target starts with: shapes, Identity removal, constant folding
// (so BN folding sees constant parameters), BN folding, MatMul+Add -> Gemm, dead nodes, shapes.
std::vector<PassSpec> fp32_optimizations();

// fp32_optimizations, then the precision's conversion: fp16 -> convert_fp16, int8 ->
// quantize_int8 with `int8_scheme`.
std::vector<PassSpec> standard_pipeline(const std::string& precision, const std::string& int8_scheme);

}  // namespace aifgen

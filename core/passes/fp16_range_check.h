// Which fp16 candidates must stay float32 because the values they produce or read leave what
// binary16 can hold: observed on sample inputs with the float32 model, before conversion.
//
// Overflow (|x| > 65504) turns into ±inf on the device and then NaN (inf - inf, 0 * inf); values
// below 2^-25 flush to zero, which is harmless in a sum but not ahead of a logarithm or a
// divisor. The rules:
//   - overflow: any finite observed value with |x| > 65504;
//   - underflow: any element rounds to zero in fp16 where the value feeds Log, Reciprocal or the
//     divisor of Div directly; or more than 1% do and the whole tensor lies below fp16's
//     smallest normal number (2^-14), so fp16 keeps almost nothing of it. Tiny elements beside
//     normal-sized ones are below the larger ones' rounding step anyway and are not counted.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/calibration/calibration_set.h"

namespace aifgen {

struct ObservedRange {
  float max_abs = 0;            // largest finite |x|
  std::int64_t nonzero = 0;     // finite nonzero elements seen
  std::int64_t flushed = 0;     // of those, how many round to 0 in fp16
};

// Runs `model` (float32) on `samples` with `values` exposed and returns each one's range, on
// `threads` cores (PassEnv::threads); the ranges do not depend on it.
std::map<std::string, ObservedRange> observe_ranges(const onnx::ModelProto& model, const std::vector<std::string>& values,
                                                    const std::vector<Sample>& samples, int threads = 1);

// Why `value` cannot be held in fp16 ("" when it can). `feeds_zero_sensitive`: the value is read
// by Log, Reciprocal or as Div's divisor.
std::string fp16_range_problem(const ObservedRange& r, bool feeds_zero_sensitive);

}  // namespace aifgen

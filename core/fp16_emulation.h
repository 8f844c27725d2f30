// Runs float16 models on a float32-only engine: every float16 value becomes float32 rounded to
// the nearest float16 where the fp16 model would store it (after each node, at graph inputs),
// so the results carry fp16 storage rounding. Arithmetic inside each op is float32, which is
// what fp16 tensor-core GEMMs accumulate in; reports call this "validated by emulation".
#pragma once

#include <onnx/onnx_pb.h>

namespace aifgen {

// True when the model has any float16 initializer, value, input or output.
bool uses_fp16(const onnx::ModelProto& model);

// True when a graph input or output is float16.
bool has_fp16_io(const onnx::ModelProto& model);

// The float32 model with fp16 rounding points (Cast to float16 then back to float32 after every
// value that was float16). Throws Error(kInvalidModel) when type inference fails.
onnx::ModelProto emulate_fp16(const onnx::ModelProto& model);

}  // namespace aifgen

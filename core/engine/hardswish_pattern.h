// Hardswish as exporters write it without the opset-14 op: x * Clip(x + 3, 0, 6) / 6 (Add,
// Clip, Mul, Div, or Mul by 1/6 at the end). Paddle2ONNX writes the PP-OCR models this way: 28
// times in the v4 recognizer, four float kernels each where one does. The engine plans each such
// chain as one HardSwish, which it also fuses into the convolution before it (a oneDNN post-op)
// when there is one. Engine-internal: the model on disk is not changed.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>

namespace aifgen::engine {

// The model with every such chain replaced by one HardSwish node, or nullopt when there is none.
// `fused` counts them.
std::optional<onnx::ModelProto> fuse_decomposed_hardswish(const onnx::ModelProto& model, std::int64_t* fused = nullptr);

}  // namespace aifgen::engine

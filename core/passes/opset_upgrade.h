// Raises a model's default-domain opset to 13 (what per-channel QuantizeLinear needs).
#pragma once

#include <onnx/onnx_pb.h>

namespace aifgen {

// Opsets below 12 go through ONNX's version converter to 12; the 12 -> 13 step is done here,
// because the converter's Softmax adapter insists on known input ranks, which models with
// dynamic shapes (PaddleOCR's) do not have. The ops whose meaning changed at 13 are rewritten:
// Softmax/LogSoftmax/Hardmax (coerced-2D semantics kept with Flatten -> op -> Reshape unless the
// axis is already the last), Squeeze/Unsqueeze/ReduceSum axes and Split sizes (attributes
// become inputs). Everything else only gained types at 13. Throws Error(kUnprocessable,
// "opset-upgrade-failed").
onnx::ModelProto upgrade_to_opset13(const onnx::ModelProto& model);

}  // namespace aifgen

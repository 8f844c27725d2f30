// Evaluates one ONNX node on constant inputs with the engine's kernels: what constant folding
// needs, outside of a planned session.
#pragma once

#include <onnx/onnx_pb.h>

#include <vector>

#include "core/engine/tensor.h"

namespace aifgen::engine {

// True when the engine has a kernel for the node's op (default domain only).
bool can_evaluate(const onnx::NodeProto& node);

// Runs `node` on `inputs` (nullptr for omitted optional inputs). Throws Error when the kernel
// refuses the node or its inputs.
std::vector<Tensor> evaluate_node(const onnx::NodeProto& node, std::int64_t opset, const std::vector<const Tensor*>& inputs);

// The value of a Constant node (tensor, float(s) or int(s)); engine-unsupported for the others.
Tensor constant_node_value(const onnx::NodeProto& n);

// The value of a Shape (with opset 15's start and end) or Size node reading a value of `shape`.
Tensor shape_node_value(const onnx::NodeProto& n, const Shape& shape);

}  // namespace aifgen::engine

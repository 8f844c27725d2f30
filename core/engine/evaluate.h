// Evaluates one ONNX node on constant inputs with the engine's kernels: what constant folding
// needs, outside of a planned session.
#pragma once

#include "core/engine/conv_algorithm.h"

#include <onnx/onnx_pb.h>

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/kernel.h"
#include "core/engine/packed_weights.h"
#include "core/engine/tensor.h"

namespace aifgen::engine {

// True when the engine has a kernel for the node's op (default domain only).
bool can_evaluate(const onnx::NodeProto& node);

// A node planned for one set of input descriptions, to run on any inputs that have them (and
// the same values for the inputs it was planned with as known).
struct PlannedNode {
  std::unique_ptr<Kernel> kernel;
  std::vector<TensorDesc> outputs;
  std::size_t scratchpad_bytes = 0;
  // A Reshape, Flatten, Squeeze, Unsqueeze or Identity: its output is input 0's bytes under
  // another shape, so run_planned hands out a view of an owned input instead of a copy (Keypoint
  // R-CNN's box head flattened 50 MB of pooled features every run).
  bool view_of_input = false;
};

// Plans `node` for `inputs` (nullptr for omitted optional inputs); the kernel may rely on the
// values of the inputs whose `known` flag is set, and on the others' dtypes and shapes only.
// Throws Error when the kernel refuses them (engine-unsupported when it needs a value not known).
//
// With `convolution_layouts`, a Conv or ConvTranspose may read and write oneDNN's preferred
// (channel-blocked) layouts and run as Winograd by `conv_algorithm`: the planned node reorders
// its plain input into that layout and its output back, in its scratchpad. A planned session
// chains such layouts between convolutions; a node planned alone (the dynamic tail's) otherwise
// gets oneDNN's slow kernels for plain layouts. Mask R-CNN's mask head, 100 ROIs of 256x14x14:
// the 3x3 convolution took 360 ms as oneDNN's gemm on plain layouts, its 2x upsampling
// ConvTranspose 600.
struct NodePlanOptions {
  bool convolution_layouts = false;
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kDirect;
  // Where the node's constant weights are packed, shared with its other live plans
  // (packed_weights.h): only for plans whose constant inputs outlive the cache.
  PackedWeights* packed_weights = nullptr;
};
PlannedNode plan_node(const onnx::NodeProto& node, std::int64_t opset, const std::vector<const Tensor*>& inputs,
                      const std::vector<bool>& known, const NodePlanOptions& options = {});
// Runs a planned node on inputs of the descriptions it was planned for, into new tensors.
std::vector<Tensor> run_planned(const PlannedNode& planned, const std::vector<const Tensor*>& inputs);

// The node's inputs found in `values`, in order (nullptr for omitted optional ones); nullopt when
// one is not there. Constant folding asks so whether a node's inputs are all known.
std::optional<std::vector<const Tensor*>> inputs_among(const onnx::NodeProto& node, const std::unordered_map<std::string, Tensor>& values);

// Runs `node` on `inputs` (nullptr for omitted optional inputs), every value known. Throws
// Error when the kernel refuses the node or its inputs.
std::vector<Tensor> evaluate_node(const onnx::NodeProto& node, std::int64_t opset, const std::vector<const Tensor*>& inputs);

// The value of a Constant node (tensor, float(s) or int(s)); engine-unsupported for the others.
Tensor constant_node_value(const onnx::NodeProto& n);

// The value of a Shape (with opset 15's start and end) or Size node reading a value of `shape`.
Tensor shape_node_value(const onnx::NodeProto& n, const Shape& shape);

}  // namespace aifgen::engine

// If, Loop and Scan on the CPU engine.
//
// Each body graph is planned as its own Session, with the values it reads from the enclosing
// graph as extra inputs (constants among them bound at plan time, so shape arithmetic in the
// body still folds). The engine plans static shapes, so:
//   If    both branches must give the same dtypes and shapes, unless the condition is known
//         when planning (then only the taken branch is planned; with every input constant the
//         whole If folds).
//   Loop  loop-carried values keep their shape across iterations; scan outputs (values stacked
//         per iteration) need a trip count known when planning and a condition that cannot end
//         the loop early (absent, or the body passes its condition input through unchanged).
//   Scan  opset 9+ (no batch axis); the sequence length is the scan inputs' planned extent.
// Anything else is refused with engine-unsupported saying which rule it breaks.
#pragma once

#include <onnx/onnx_pb.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/kernel.h"
#include "core/engine/session.h"

namespace aifgen::engine {

bool is_control_flow(const onnx::NodeProto& n);

// Names a graph's nodes read (also inside nested subgraphs) that the graph neither declares as
// input or initializer nor produces: what it takes from enclosing scopes, in first-use order.
std::vector<std::string> outer_scope_reads(const onnx::GraphProto& g);

// The model with each If, Loop and Scan node of the main graph reading what its bodies take
// from the graph as extra inputs after its own, so planning, fusion and liveness see those
// reads as they see any other. nullopt when no body reads from outside.
std::optional<onnx::ModelProto> expose_subgraph_reads(const onnx::ModelProto& model);

// Plans a control-flow node (after expose_subgraph_reads: inputs past the op's own are the
// bodies' outer reads, in node order). `parent` gives the opset and IR version the bodies are
// planned under; `options` the threads and int8 setting. Fills `outputs`.
std::unique_ptr<Kernel> plan_control_flow(const NodeCtx& ctx, const onnx::ModelProto& parent, const SessionOptions& options,
                                          std::vector<TensorDesc>& outputs);

}  // namespace aifgen::engine

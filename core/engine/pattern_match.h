// Small predicates shared by the engine's graph-pattern rewrites (hardswish_pattern,
// transformer_patterns, pad_fusion).
#pragma once

#include <onnx/onnx_pb.h>

#include <optional>
#include <string>

namespace aifgen::engine {

// A node of the default ONNX domain.
inline bool is_standard_op(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

// The value of a one-element float32 constant (initializer or Constant node), if `name` is one.
std::optional<float> scalar_constant(const onnx::GraphProto& g, const std::string& name);

// `v` is within `rel` (relative, at least absolute for |want| < 1) of `want`.
bool near_value(std::optional<float> v, float want, float rel);

}  // namespace aifgen::engine

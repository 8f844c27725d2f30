// Small predicates and helpers shared by the engine's graph-pattern rewrites (hardswish_pattern,
// transformer_patterns, pad_fusion, concat_batchnorm, concat_split).
#pragma once

#include <onnx/onnx_pb.h>

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace aifgen::engine {

// A node of the default ONNX domain.
inline bool is_standard_op(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

// The value of a one-element float32 constant (initializer or Constant node), if `name` is one.
std::optional<float> scalar_constant(const onnx::GraphProto& g, const std::string& name);

// `v` is within `rel` (relative, at least absolute for |want| < 1) of `want`.
bool near_value(std::optional<float> v, float want, float rel);

// The index of the node reading each value of `g` (the last such node when several do; the
// callers check use counts first).
std::unordered_map<std::string, int> reader_index(const onnx::GraphProto& g);

// `model` with the nodes whose index is marked in `drop` left out and those in `rewritten`
// replaced, the graph's order otherwise kept: how each rewrite lands its matches.
onnx::ModelProto with_nodes_replaced(const onnx::ModelProto& model, const std::vector<char>& drop,
                                     const std::unordered_map<int, onnx::NodeProto>& rewritten);

// The same where a rewrite puts several nodes in one node's place (in the order given), e.g. one
// convolution split into partial convolutions and their sums.
onnx::ModelProto with_nodes_replaced(const onnx::ModelProto& model, const std::vector<char>& drop,
                                     const std::unordered_map<int, std::vector<onnx::NodeProto>>& rewritten);

}  // namespace aifgen::engine

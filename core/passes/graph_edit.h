// Graph-editing helpers shared by passes: value use counts and renaming, subgraph-aware.
#pragma once

#include <onnx/onnx_pb.h>

#include <optional>
#include <string>
#include <vector>
#include <unordered_map>

namespace aifgen {

// How many times each value name is read: node inputs (including nodes inside subgraphs, which
// may read outer-scope values) and graph outputs.
std::unordered_map<std::string, int> value_use_counts(const onnx::GraphProto& graph);

// Replaces every read of `from` by `to` in node inputs of `graph` and its subgraphs.
void rename_uses(onnx::GraphProto& graph, const std::string& from, const std::string& to);

// Index of the node producing `value` in `graph` (not searching subgraphs), or -1.
int producer_of(const onnx::GraphProto& graph, const std::string& value);

// Index of the initializer named `name`, or -1.
int find_initializer(const onnx::GraphProto& graph, const std::string& name);

// The constant value named `name`: an initializer that is not also a graph input (a caller could
// override those), or the `value` tensor of a Constant node. nullptr otherwise.
const onnx::TensorProto* find_constant(const onnx::GraphProto& graph, const std::string& name);

// A float32 initializer (not overridable by a graph input): a weight quantizers may rewrite.
bool is_float_initializer(const onnx::GraphProto& graph, const std::string& name);

bool is_graph_output(const onnx::GraphProto& graph, const std::string& name);
bool is_graph_input(const onnx::GraphProto& graph, const std::string& name);

// The declared dims of value `name` (graph inputs, value_info, outputs; -1 for unknown dims), or
// nullopt when no shape is declared.
std::optional<std::vector<std::int64_t>> declared_dims(const onnx::GraphProto& graph, const std::string& name);

// Removes initializers nothing reads any more (graph inputs stay).
void drop_unused_initializers(onnx::GraphProto& graph);

// A Cast node from `from` to `to` (ONNX TensorProto type `type`), named after its output.
onnx::NodeProto cast_node(const std::string& from, const std::string& to, int type);

// QuantizeLinear(input) -> DequantizeLinear with a scalar scale and zero point (ONNX type
// `zero_type`) stored as initializers <base>_scale and <base>_zero_point; appends the two nodes
// (<base>_QuantizeLinear, <base>_DequantizeLinear) to `out` and returns <base>_dequantized.
std::string add_qdq_pair(onnx::GraphProto& graph, const std::string& input, const std::string& base, float scale, int zero_type,
                         std::int32_t zero_point, std::vector<onnx::NodeProto>& out);

// Integer/float attribute lookup with a default.
std::int64_t attr_int(const onnx::NodeProto& node, const std::string& name, std::int64_t dflt);
float attr_float(const onnx::NodeProto& node, const std::string& name, float dflt);
std::vector<std::int64_t> attr_ints(const onnx::NodeProto& node, const std::string& name, std::vector<std::int64_t> dflt = {});

}  // namespace aifgen

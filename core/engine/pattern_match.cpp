#include "core/engine/pattern_match.h"

#include <algorithm>
#include <cmath>

#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"

namespace aifgen::engine {

std::optional<float> scalar_constant(const onnx::GraphProto& g, const std::string& name) {
  const auto* t = find_constant(g, name);
  if (!t || t->data_type() != onnx::TensorProto::FLOAT) return std::nullopt;
  auto v = tensor_from_proto(*t);
  if (v.numel() != 1) return std::nullopt;
  return v.as<float>()[0];
}

bool near_value(std::optional<float> v, float want, float rel) { return v && std::abs(*v - want) <= rel * std::max(1.f, std::abs(want)); }

std::unordered_map<std::string, int> reader_index(const onnx::GraphProto& g) {
  std::unordered_map<std::string, int> reader;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& in : g.node(i).input()) reader[in] = i;
  return reader;
}

onnx::ModelProto with_nodes_replaced(const onnx::ModelProto& model, const std::vector<char>& drop,
                                     const std::unordered_map<int, onnx::NodeProto>& rewritten) {
  const auto& g = model.graph();
  auto m = model;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (int i = 0; i < g.node_size(); ++i) {
    if (static_cast<std::size_t>(i) < drop.size() && drop[static_cast<std::size_t>(i)]) continue;
    auto it = rewritten.find(i);
    *nodes.Add() = it != rewritten.end() ? it->second : g.node(i);
  }
  m.mutable_graph()->mutable_node()->Swap(&nodes);
  return m;
}

onnx::ModelProto with_nodes_replaced(const onnx::ModelProto& model, const std::vector<char>& drop,
                                     const std::unordered_map<int, std::vector<onnx::NodeProto>>& rewritten) {
  const auto& g = model.graph();
  auto m = model;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (int i = 0; i < g.node_size(); ++i) {
    if (static_cast<std::size_t>(i) < drop.size() && drop[static_cast<std::size_t>(i)]) continue;
    if (auto it = rewritten.find(i); it != rewritten.end())
      for (const auto& n : it->second) *nodes.Add() = n;
    else
      *nodes.Add() = g.node(i);
  }
  m.mutable_graph()->mutable_node()->Swap(&nodes);
  return m;
}

}  // namespace aifgen::engine

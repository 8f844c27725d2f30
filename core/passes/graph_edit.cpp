// Subgraph-aware use counting and renaming: If/Loop/Scan bodies may read outer values by name,
// so a pass that only looked at the top-level node list could delete or rename a value a
// subgraph still needs.
#include "core/passes/graph_edit.h"

namespace aifgen {
namespace {

void count_uses(const onnx::GraphProto& g, std::unordered_map<std::string, int>& uses) {
  for (const auto& n : g.node()) {
    for (const auto& in : n.input())
      if (!in.empty()) ++uses[in];
    for (const auto& a : n.attribute()) {
      if (a.has_g()) count_uses(a.g(), uses);
      for (const auto& sg : a.graphs()) count_uses(sg, uses);
    }
  }
  for (const auto& out : g.output()) ++uses[out.name()];
}

}  // namespace

std::unordered_map<std::string, int> value_use_counts(const onnx::GraphProto& graph) {
  std::unordered_map<std::string, int> uses;
  count_uses(graph, uses);
  return uses;
}

void rename_uses(onnx::GraphProto& graph, const std::string& from, const std::string& to) {
  for (auto& n : *graph.mutable_node()) {
    for (auto& in : *n.mutable_input())
      if (in == from) in = to;
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_g()) rename_uses(*a.mutable_g(), from, to);
      for (auto& sg : *a.mutable_graphs()) rename_uses(sg, from, to);
    }
  }
}

int producer_of(const onnx::GraphProto& graph, const std::string& value) {
  for (int i = 0; i < graph.node_size(); ++i)
    for (const auto& o : graph.node(i).output())
      if (o == value) return i;
  return -1;
}

int find_initializer(const onnx::GraphProto& graph, const std::string& name) {
  for (int i = 0; i < graph.initializer_size(); ++i)
    if (graph.initializer(i).name() == name) return i;
  return -1;
}

const onnx::TensorProto* find_constant(const onnx::GraphProto& graph, const std::string& name) {
  int idx = find_initializer(graph, name);
  if (idx >= 0) return is_graph_input(graph, name) ? nullptr : &graph.initializer(idx);
  for (const auto& n : graph.node()) {
    if (n.op_type() != "Constant" || n.output_size() != 1 || n.output(0) != name) continue;
    if (!(n.domain().empty() || n.domain() == "ai.onnx")) return nullptr;
    for (const auto& a : n.attribute())
      if (a.name() == "value" && a.has_t()) return &a.t();
    return nullptr;
  }
  return nullptr;
}

bool is_graph_output(const onnx::GraphProto& graph, const std::string& name) {
  for (const auto& o : graph.output())
    if (o.name() == name) return true;
  return false;
}

bool is_graph_input(const onnx::GraphProto& graph, const std::string& name) {
  for (const auto& i : graph.input())
    if (i.name() == name) return true;
  return false;
}

std::optional<std::vector<std::int64_t>> declared_dims(const onnx::GraphProto& graph, const std::string& name) {
  for (const auto* list : {&graph.input(), &graph.value_info(), &graph.output()})
    for (const auto& v : *list) {
      if (v.name() != name || !v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) continue;
      std::vector<std::int64_t> dims;
      for (const auto& d : v.type().tensor_type().shape().dim()) dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
      return dims;
    }
  return std::nullopt;
}

void drop_unused_initializers(onnx::GraphProto& g) {
  auto uses = value_use_counts(g);
  google::protobuf::RepeatedPtrField<onnx::TensorProto> kept;
  for (auto& t : *g.mutable_initializer())
    if (uses.count(t.name()) || is_graph_input(g, t.name())) *kept.Add() = std::move(t);
  g.mutable_initializer()->Swap(&kept);
}

onnx::NodeProto cast_node(const std::string& from, const std::string& to, int type) {
  onnx::NodeProto n;
  n.set_op_type("Cast");
  n.set_name(to + "_Cast");
  n.add_input(from);
  n.add_output(to);
  auto* a = n.add_attribute();
  a->set_name("to");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(type);
  return n;
}

std::int64_t attr_int(const onnx::NodeProto& node, const std::string& name, std::int64_t dflt) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return a.i();
  return dflt;
}

std::vector<std::int64_t> attr_ints(const onnx::NodeProto& node, const std::string& name, std::vector<std::int64_t> dflt) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  return dflt;
}

float attr_float(const onnx::NodeProto& node, const std::string& name, float dflt) {
  for (const auto& a : node.attribute())
    if (a.name() == name) return a.f();
  return dflt;
}

std::string add_qdq_pair(onnx::GraphProto& graph, const std::string& input, const std::string& base, float scale, int zero_type,
                         std::int32_t zero_point, std::vector<onnx::NodeProto>& out) {
  auto* s = graph.add_initializer();
  s->set_name(base + "_scale");
  s->set_data_type(onnx::TensorProto::FLOAT);
  s->add_float_data(scale);
  auto* z = graph.add_initializer();
  z->set_name(base + "_zero_point");
  z->set_data_type(zero_type);
  z->add_int32_data(zero_point);
  for (const char* op : {"QuantizeLinear", "DequantizeLinear"}) {
    onnx::NodeProto n;
    const bool quantize = op[0] == 'Q';
    n.set_op_type(op);
    n.set_name(base + "_" + op);
    n.add_input(quantize ? input : base + "_quantized");
    n.add_input(base + "_scale");
    n.add_input(base + "_zero_point");
    n.add_output(base + (quantize ? "_quantized" : "_dequantized"));
    out.push_back(std::move(n));
  }
  return base + "_dequantized";
}

bool is_float_initializer(const onnx::GraphProto& graph, const std::string& name) {
  const auto* t = find_constant(graph, name);
  return t && t->data_type() == onnx::TensorProto::FLOAT && find_initializer(graph, name) >= 0;
}

}  // namespace aifgen

#include "core/passes/quantize_dpu_layout.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"
#include "core/quantize/dpu_rules.h"
#include "core/quantize/scheme.h"

namespace aifgen {
namespace {

const std::set<std::string> kFused = {"Relu", "Clip", "LeakyRelu"};
const std::set<std::string> kPools = {"MaxPool", "AveragePool", "GlobalAveragePool"};

bool is_float_value(const onnx::GraphProto& g, const std::string& name) {
  if (name.empty() || find_constant(g, name)) return false;
  for (const auto* list : {&g.value_info(), &g.input(), &g.output()})
    for (const auto& vi : *list)
      if (vi.name() == name) return vi.type().tensor_type().elem_type() == onnx::TensorProto::FLOAT;
  return true;
}

float abs_max(const onnx::TensorProto& t) {
  auto v = engine::tensor_from_proto(t);
  float m = 0;
  for (std::int64_t i = 0; i < v.numel(); ++i) m = std::max(m, std::abs(v.as<float>()[i]));
  return m;
}

// A DPU op and the tensors whose positions its rules tie together.
struct Anchor {
  int node = -1;
  std::string op;
  std::vector<std::string> inputs;  // float activations it reads (quantized)
  std::string output;               // where its result is quantized (after a fused activation)
  std::string weight, bias;         // float initializers (weighted ops)
};

class Layout {
 public:
  Layout(const onnx::GraphProto& g, const std::set<int>& cpu_nodes) : g_(g), cpu_nodes_(cpu_nodes) {
    std::map<std::string, std::vector<int>> consumers;
    for (int i = 0; i < g.node_size(); ++i)
      for (const auto& in : g.node(i).input()) consumers[in].push_back(i);
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      if (!(n.domain().empty() || n.domain() == "ai.onnx") || n.output_size() == 0 || cpu_nodes.count(i)) continue;
      Anchor a;
      a.node = i;
      a.op = n.op_type();
      const bool weighted = (a.op == "Conv" || a.op == "ConvTranspose" || a.op == "MatMul" ||
                             (a.op == "Gemm" && attr_int(n, "transA", 0) == 0)) &&
                            n.input_size() >= 2 && is_float_initializer(g, n.input(1)) && is_float_value(g, n.input(0));
      if (weighted) {
        a.inputs = {n.input(0)};
        a.weight = n.input(1);
        if (a.op != "MatMul" && n.input_size() > 2 && is_float_initializer(g, n.input(2))) a.bias = n.input(2);
      } else if (a.op == "Add" || a.op == "Concat") {
        for (const auto& in : n.input())
          if (is_float_value(g, in)) a.inputs.push_back(in);
        if (a.op == "Concat" && static_cast<int>(a.inputs.size()) != n.input_size()) continue;  // constant pieces: CPU
        if (a.inputs.empty()) continue;
      } else if (kPools.count(a.op) && is_float_value(g, n.input(0))) {
        a.inputs = {n.input(0)};
      } else {
        continue;
      }
      a.output = n.output(0);
      auto c = consumers.find(a.output);
      if (c != consumers.end() && c->second.size() == 1 && kFused.count(g.node(c->second[0]).op_type()) && !is_graph_output(g, a.output))
        a.output = g.node(c->second[0]).output(0);
      if (!is_float_value(g, a.output)) continue;
      anchors_.push_back(a);
    }
  }

  std::vector<int> anchor_nodes() const {
    std::vector<int> out;
    for (const auto& a : anchors_) out.push_back(a.node);
    return out;
  }

  std::vector<std::string> activations() const {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& a : anchors_) {
      for (const auto& in : a.inputs)
        if (seen.insert(in).second) out.push_back(in);
      if (seen.insert(a.output).second) out.push_back(a.output);
    }
    return out;
  }

  DpuLayoutCounts apply(onnx::GraphProto& g, const quantize::Observers& observers, quantize::CalibrationMethod method, double percentile) {
    for (const auto& t : activations()) {
      auto it = observers.find(t);
      if (it == observers.end()) continue;  // not float at run time: left to the CPU
      pos_[t] = quantize::position_of(quantize::activation_params(quantize::Scheme::kPow2, it->second.range(method, percentile, 127)).scale);
    }
    for (auto& a : anchors_) {
      if (!a.weight.empty()) wpos_[a.node] = quantize::position_of(quantize::weight_scale(quantize::Scheme::kPow2, abs_max(*find_constant(g_, a.weight))));
      if (!a.bias.empty()) bpos_[a.node] = quantize::position_of(quantize::weight_scale(quantize::Scheme::kPow2, abs_max(*find_constant(g_, a.bias))));
    }
    for (int loop = 0; loop < 5 && refine(); ++loop) {
    }
    // Nodes left out of the layout on purpose are marked so that the rules checker and the DPU
    // partition report leave them to the CPU instead of flagging them (before rewrite(), which
    // renumbers the nodes).
    for (int n : cpu_nodes_) g.mutable_node(n)->set_doc_string(kCpuFallbackMark);
    rewrite(g);
    counts_.activations = static_cast<std::int64_t>(pos_.size());
    return counts_;
  }

 private:
  bool known(const std::string& t) const { return pos_.count(t) > 0; }

  void move(int& value, int to, const Anchor& a, const std::string& rule, const std::string& tensor) {
    if (value == to) return;
    ++counts_.positions_adjusted;
    if (counts_.adjustments.size() < 50)
      counts_.adjustments.push_back({{"node", g_.node(a.node).name()}, {"rule", rule}, {"tensor", tensor}, {"from", value}, {"to", to}});
    value = to;
    changed_ = true;
  }

  // One sweep of vai_q_onnx's refine rules; true when something moved.
  bool refine() {
    changed_ = false;
    for (const auto& a : anchors_) {
      if (!known(a.output)) continue;
      bool inputs_known = true;
      for (const auto& in : a.inputs) inputs_known = inputs_known && known(in);
      if (!inputs_known) continue;
      int& opos = pos_[a.output];
      if (!a.weight.empty()) {
        const int ipos = pos_[a.inputs[0]];
        int& wpos = wpos_[a.node];
        const int cut = wpos + ipos - opos;
        if (cut < 0) move(wpos, opos - ipos, a, "shift_cut >= 0", a.weight);
        if (cut > 16) move(wpos, 16 + opos - ipos, a, "shift_cut <= 16", a.weight);
        if (!a.bias.empty()) {
          int& bpos = bpos_[a.node];
          const int shift_cut = wpos + ipos - opos, lo = std::min(0, -(24 - (8 + shift_cut)));
          const int shift_bias = wpos + ipos - bpos;
          if (shift_bias < lo) move(bpos, wpos + ipos - lo, a, "shift_bias >= min(0, shift_cut - 16)", a.bias);
          if (shift_bias > 16) move(bpos, wpos + ipos - 16, a, "shift_bias <= 16", a.bias);
        }
      } else if (a.op == "Add") {
        auto lo_it = std::min_element(a.inputs.begin(), a.inputs.end(), [&](auto& x, auto& y) { return pos_[x] < pos_[y]; });
        auto hi_it = std::max_element(a.inputs.begin(), a.inputs.end(), [&](auto& x, auto& y) { return pos_[x] < pos_[y]; });
        const int lo = pos_[*lo_it];
        if (pos_[*hi_it] - lo > 15) move(pos_[*hi_it], lo + 15, a, "shift_read <= 15", *hi_it);
        if (lo - opos > 15) move(opos, lo - 15, a, "shift_write <= 15", a.output);
        if (lo - opos < -15) move(opos, lo + 15, a, "shift_write >= -15", a.output);
      } else {  // Concat and pools: one position for inputs and output, the coarsest
        int m = opos;
        for (const auto& in : a.inputs) m = std::min(m, pos_[in]);
        for (const auto& in : a.inputs) move(pos_[in], m, a, a.op == "Concat" ? "concat inputs = output" : "pool input = output", in);
        move(opos, m, a, a.op == "Concat" ? "concat inputs = output" : "pool input = output", a.output);
      }
    }
    return changed_;
  }

  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 1; names_.count(name); ++k) name = base + "_" + std::to_string(k);
    names_.insert(name);
    return name;
  }

  // base_scale / base_zero_point initializers and Q -> DQ nodes; returns the DQ output.
  std::string qdq(onnx::GraphProto& g, const std::string& input, int pos, const std::string& hint, std::vector<onnx::NodeProto>& out) {
    return add_qdq_pair(g, input, fresh(hint), std::ldexp(1.f, -pos), onnx::TensorProto::INT8, 0, out);
  }

  void rewrite(onnx::GraphProto& g) {
    for (const auto& n : g.node())
      for (const auto& o : n.output()) names_.insert(o);
    for (const auto& t : g.initializer()) names_.insert(t.name());
    for (const auto& v : g.input()) names_.insert(v.name());
    std::map<int, std::vector<onnx::NodeProto>> before, after;  // node index -> nodes around it
    std::vector<onnx::NodeProto> prologue;                       // for graph inputs
    std::map<std::string, std::string> renamed;                  // activation -> its DQ output
    std::map<std::string, int> producer;
    for (int i = 0; i < g.node_size(); ++i)
      for (const auto& o : g.node(i).output()) producer[o] = i;
    for (const auto& [t, p] : pos_) {
      auto it = producer.find(t);
      renamed[t] = qdq(g, t, p, t, it == producer.end() ? prologue : after[it->second]);
    }
    for (int i = 0; i < g.node_size(); ++i) {
      auto* n = g.mutable_node(i);
      for (int k = 0; k < n->input_size(); ++k)
        if (auto r = renamed.find(n->input(k)); r != renamed.end()) n->set_input(k, r->second);
    }
    for (const auto& a : anchors_) {
      auto* n = g.mutable_node(a.node);
      if (!a.weight.empty()) {
        n->set_input(1, qdq(g, a.weight, wpos_[a.node], a.weight, before[a.node]));
        ++counts_.weights;
      }
      if (!a.bias.empty()) {
        n->set_input(2, qdq(g, a.bias, bpos_[a.node], a.bias, before[a.node]));
        ++counts_.biases;
      }
    }
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    for (auto& n : prologue) *nodes.Add() = std::move(n);
    for (int i = 0; i < g.node_size(); ++i) {
      for (auto& n : before[i]) *nodes.Add() = std::move(n);
      *nodes.Add() = g.node(i);
      for (auto& n : after[i]) *nodes.Add() = std::move(n);
    }
    g.mutable_node()->Swap(&nodes);
  }

  const onnx::GraphProto& g_;
  std::set<int> cpu_nodes_;
  std::vector<Anchor> anchors_;
  std::map<std::string, int> pos_;
  std::map<int, int> wpos_, bpos_;
  std::set<std::string> names_;
  DpuLayoutCounts counts_;
  bool changed_ = false;
};

}  // namespace

std::vector<std::string> dpu_layout_activations(const onnx::GraphProto& graph) { return Layout(graph, {}).activations(); }

std::vector<int> dpu_layout_nodes(const onnx::GraphProto& graph) { return Layout(graph, {}).anchor_nodes(); }

DpuLayoutCounts apply_dpu_layout(onnx::GraphProto& graph, const quantize::Observers& observers, quantize::CalibrationMethod method,
                                 double percentile, const std::set<int>& cpu_nodes) {
  // Layout reads the graph as it was until rewrite() changes it, at the very end: no copy.
  return Layout(graph, cpu_nodes).apply(graph, observers, method, percentile);
}

}  // namespace aifgen

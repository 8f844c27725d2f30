#include "core/engine/transformer_patterns.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/pattern_match.h"
#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"

namespace aifgen::engine {
namespace {

bool standard(const onnx::NodeProto& n) { return is_standard_op(n); }
std::optional<float> scalar(const onnx::GraphProto& g, const std::string& name) { return scalar_constant(g, name); }
bool near(std::optional<float> v, float want) { return near_value(v, want, 1e-5f); }

class Matcher {
 public:
  explicit Matcher(const onnx::GraphProto& g) : g_(g), uses_(value_use_counts(g)) {
    for (int i = 0; i < g.node_size(); ++i)
      for (const auto& o : g.node(i).output()) producer_[o] = i;
    for (int i = 0; i < g.node_size(); ++i)
      for (const auto& in : g.node(i).input()) readers_[in].push_back(i);
  }

  // The node making `v` when it is a standard `op` whose output nothing but the chain reads
  // (`uses` reads in all), else -1.
  int made_by(const std::string& v, const char* op, int uses = 1) const {
    auto it = producer_.find(v);
    if (it == producer_.end() || !standard(g_.node(it->second)) || g_.node(it->second).op_type() != op) return -1;
    if (taken_.count(it->second)) return -1;
    auto u = uses_.find(v);
    return u != uses_.end() && u->second == uses && !is_graph_output(g_, v) ? it->second : -1;
  }

  // The one node reading `v` when it is a standard `op` (and v is not a graph output), else -1.
  int read_by(const std::string& v, const char* op) const {
    auto r = readers_.find(v);
    auto u = uses_.find(v);
    if (r == readers_.end() || r->second.size() != 1 || u == uses_.end() || u->second != 1 || is_graph_output(g_, v)) return -1;
    const auto& n = g_.node(r->second[0]);
    return standard(n) && n.op_type() == op && !taken_.count(r->second[0]) ? r->second[0] : -1;
  }

  // The other input of a two-input node, given one of them.
  static const std::string* other(const onnx::NodeProto& n, const std::string& known) {
    if (n.input_size() != 2) return nullptr;
    if (n.input(0) == known) return &n.input(1);
    if (n.input(1) == known) return &n.input(0);
    return nullptr;
  }

  void take(std::initializer_list<int> nodes) {
    for (int n : nodes) taken_.insert({n, 1});
  }
  bool taken(int n) const { return taken_.count(n) > 0; }

 private:
  const onnx::GraphProto& g_;
  std::unordered_map<std::string, int> uses_, producer_;
  std::unordered_map<std::string, std::vector<int>> readers_;
  std::unordered_map<int, int> taken_;
};

// ReduceMean over the last axis only, keeping dims (opset 13: axes attribute; 18: input).
bool mean_over_last_axis(const onnx::GraphProto& g, const onnx::NodeProto& n) {
  if (attr_int(n, "keepdims", 1) != 1) return false;
  std::vector<std::int64_t> axes;
  for (const auto& a : n.attribute())
    if (a.name() == "axes") axes.assign(a.ints().begin(), a.ints().end());
  if (axes.empty() && n.input_size() >= 2) {
    const auto* t = find_constant(g, n.input(1));
    if (!t) return false;
    auto v = tensor_from_proto(*t);
    axes = to_int64_vector(v);
  }
  return axes == std::vector<std::int64_t>{-1};
}

// The per-channel constant a Mul/Add applies to the chain's value `v`, if it is a 1-D constant.
const std::string* channel_constant(const onnx::GraphProto& g, const onnx::NodeProto& n, const std::string& v) {
  const std::string* c = Matcher::other(n, v);
  if (!c) return nullptr;
  const auto* t = find_constant(g, *c);
  return t && t->data_type() == onnx::TensorProto::FLOAT && t->dims_size() == 1 ? c : nullptr;
}

struct Replacement {
  onnx::NodeProto node;
  std::vector<int> drop;
};

}  // namespace

std::optional<onnx::ModelProto> fuse_transformer_patterns(const onnx::ModelProto& model, TransformerFusions* fused) {
  const auto& g = model.graph();
  Matcher m(g);
  std::unordered_map<int, Replacement> at;  // index of the chain's last node -> its replacement
  TransformerFusions count;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& mean = g.node(i);
    // LayerNorm, anchored at the first ReduceMean: x -> mean -> d = x - mean (read by Pow and Div).
    if (standard(mean) && mean.op_type() == "ReduceMean" && mean.input_size() >= 1 && mean_over_last_axis(g, mean) && !m.taken(i)) {
      const std::string& x = mean.input(0);
      const int sub = m.read_by(mean.output(0), "Sub");
      if (sub < 0 || g.node(sub).input_size() != 2 || g.node(sub).input(0) != x || g.node(sub).input(1) != mean.output(0)) continue;
      const std::string& d = g.node(sub).output(0);
      // d is read exactly twice: by Pow(d, 2) and by Div(d, sqrt(...)).
      int pow = -1, div = -1;
      for (int j = 0; j < g.node_size(); ++j) {
        const auto& n = g.node(j);
        if (!standard(n) || n.input_size() < 1 || n.input(0) != d) continue;
        if (n.op_type() == "Pow" && n.input_size() == 2 && near(scalar(g, n.input(1)), 2.f)) pow = j;
        if (n.op_type() == "Div" && n.input_size() == 2) div = j;
      }
      if (pow < 0 || div < 0 || m.made_by(d, "Sub", 2) != sub) continue;
      const int var = m.read_by(g.node(pow).output(0), "ReduceMean");
      if (var < 0 || !mean_over_last_axis(g, g.node(var))) continue;
      const int add_eps = m.read_by(g.node(var).output(0), "Add");
      if (add_eps < 0) continue;
      const std::string* eps_name = Matcher::other(g.node(add_eps), g.node(var).output(0));
      const auto eps = eps_name ? scalar(g, *eps_name) : std::nullopt;
      if (!eps || !(*eps >= 0.f)) continue;
      const int sqrt = m.read_by(g.node(add_eps).output(0), "Sqrt");
      if (sqrt < 0 || g.node(div).input(1) != g.node(sqrt).output(0) || m.made_by(g.node(sqrt).output(0), "Sqrt") != sqrt) continue;
      std::vector<int> chain = {i, sub, pow, var, add_eps, sqrt, div};
      std::string out = g.node(div).output(0), scale, bias;
      if (int mul = m.read_by(out, "Mul"); mul >= 0) {
        if (const auto* c = channel_constant(g, g.node(mul), out)) {
          scale = *c;
          chain.push_back(mul);
          out = g.node(mul).output(0);
          if (int add = m.read_by(out, "Add"); add >= 0)
            if (const auto* b = channel_constant(g, g.node(add), out)) {
              bias = *b;
              chain.push_back(add);
              out = g.node(add).output(0);
            }
        }
      }
      onnx::NodeProto ln;
      ln.set_op_type("LayerNormalization");
      ln.set_name(mean.name() + "_layernorm");
      ln.add_input(x);
      ln.add_input(scale);  // empty: no scale (the kernel takes 1)
      if (!bias.empty()) ln.add_input(bias);
      ln.add_output(out);
      auto* a = ln.add_attribute();
      a->set_name("epsilon");
      a->set_type(onnx::AttributeProto::FLOAT);
      a->set_f(*eps);
      auto* ax = ln.add_attribute();
      ax->set_name("axis");
      ax->set_type(onnx::AttributeProto::INT);
      ax->set_i(-1);
      for (int n : chain) m.take({n});
      const int last = *std::max_element(chain.begin(), chain.end());
      at[last] = {ln, chain};
      ++count.layer_norms;
      continue;
    }
    // GELU, anchored at the Erf: x -> {Div sqrt2 | Mul 1/sqrt2} -> Erf -> Add 1 -> Mul by x and by
    // 0.5 (either order, 0.5 applied to x or to the product).
    if (standard(mean) && mean.op_type() == "Erf" && !m.taken(i)) {
      const int pre = [&] {
        int d = m.made_by(mean.input(0), "Div");
        if (d >= 0 && g.node(d).input_size() == 2 && near(scalar(g, g.node(d).input(1)), std::sqrt(2.f))) return d;
        int k = m.made_by(mean.input(0), "Mul");
        if (k >= 0 && g.node(k).input_size() == 2 && near(scalar(g, g.node(k).input(1)), 1.f / std::sqrt(2.f))) return k;
        return -1;
      }();
      if (pre < 0) continue;
      const std::string& x = g.node(pre).input(0);
      const int add1 = m.read_by(mean.output(0), "Add");
      if (add1 < 0) continue;
      const std::string* one = Matcher::other(g.node(add1), mean.output(0));
      if (!one || !near(scalar(g, *one), 1.f)) continue;
      const int mul1 = m.read_by(g.node(add1).output(0), "Mul");
      if (mul1 < 0) continue;
      const std::string* other = Matcher::other(g.node(mul1), g.node(add1).output(0));
      if (!other) continue;
      std::vector<int> chain = {pre, i, add1, mul1};
      std::string out = g.node(mul1).output(0);
      if (*other == x) {  // (x * (1 + erf)) * 0.5
        const int half = m.read_by(out, "Mul");
        if (half < 0) continue;
        const std::string* h = Matcher::other(g.node(half), out);
        if (!h || !near(scalar(g, *h), 0.5f)) continue;
        chain.push_back(half);
        out = g.node(half).output(0);
      } else {  // (x * 0.5) * (1 + erf)
        const int half = m.made_by(*other, "Mul");
        if (half < 0 || g.node(half).input_size() != 2 || g.node(half).input(0) != x || !near(scalar(g, g.node(half).input(1)), 0.5f)) continue;
        chain.push_back(half);
      }
      onnx::NodeProto gelu;
      gelu.set_op_type("Gelu");
      gelu.set_name(mean.name() + "_gelu");
      gelu.add_input(x);
      gelu.add_output(out);
      for (int n : chain) m.take({n});
      const int last = *std::max_element(chain.begin(), chain.end());
      at[last] = {gelu, chain};
      ++count.gelus;
    }
  }
  if (fused) *fused = count;
  if (at.empty()) return std::nullopt;
  std::vector<char> drop(static_cast<std::size_t>(g.node_size()), 0);
  for (const auto& [_, r] : at)
    for (int n : r.drop) drop[static_cast<std::size_t>(n)] = 1;
  auto out = model;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (int i = 0; i < g.node_size(); ++i) {
    if (auto it = at.find(i); it != at.end()) *nodes.Add() = it->second.node;
    else if (!drop[static_cast<std::size_t>(i)]) *nodes.Add() = g.node(i);
  }
  out.mutable_graph()->mutable_node()->Swap(&nodes);
  return out;
}

}  // namespace aifgen::engine

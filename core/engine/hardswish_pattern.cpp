#include "core/engine/hardswish_pattern.h"

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
bool near(std::optional<float> v, float want) { return near_value(v, want, 1e-6f); }

// Clip(a) to [0, 6], bounds as inputs (opset 11+) or attributes (older).
bool clips_to_0_6(const onnx::GraphProto& g, const onnx::NodeProto& n) {
  if (n.input_size() >= 3) return near(scalar(g, n.input(1)), 0.f) && near(scalar(g, n.input(2)), 6.f);
  if (n.input_size() == 1) return attr_float(n, "min", -1.f) == 0.f && attr_float(n, "max", -1.f) == 6.f;
  return false;
}

}  // namespace

std::optional<onnx::ModelProto> fuse_decomposed_hardswish(const onnx::ModelProto& model, std::int64_t* fused) {
  const auto& g = model.graph();
  const auto uses = value_use_counts(g);
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& o : g.node(i).output()) producer[o] = i;
  auto made_by = [&](const std::string& v, const char* op) -> int {
    auto it = producer.find(v);
    if (it == producer.end() || !standard(g.node(it->second)) || g.node(it->second).op_type() != op) return -1;
    auto u = uses.find(v);
    return u != uses.end() && u->second == 1 && !is_graph_output(g, v) ? it->second : -1;  // read only by the chain
  };
  std::vector<char> drop(static_cast<std::size_t>(g.node_size()), 0);
  std::unordered_map<int, std::string> hardswish_of;  // last node of a chain -> its x
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& last = g.node(i);
    if (!standard(last) || last.input_size() != 2 || last.output_size() != 1) continue;
    const bool div = last.op_type() == "Div" && near(scalar(g, last.input(1)), 6.f);
    const bool mul = last.op_type() == "Mul" && near(scalar(g, last.input(1)), 1.f / 6.f);
    if (!div && !mul) continue;
    const int m = made_by(last.input(0), "Mul");
    if (m < 0 || g.node(m).input_size() != 2) continue;
    // Mul(x, Clip(...)) in either order.
    for (int side = 0; side < 2; ++side) {
      const std::string& x = g.node(m).input(side);
      const int c = made_by(g.node(m).input(1 - side), "Clip");
      if (c < 0 || !clips_to_0_6(g, g.node(c))) continue;
      const int a = made_by(g.node(c).input(0), "Add");
      if (a < 0 || g.node(a).input_size() != 2) continue;
      const auto& add = g.node(a);
      const bool add_x3 = (add.input(0) == x && near(scalar(g, add.input(1)), 3.f)) || (add.input(1) == x && near(scalar(g, add.input(0)), 3.f));
      if (!add_x3 || drop[static_cast<std::size_t>(a)] || drop[static_cast<std::size_t>(c)] || drop[static_cast<std::size_t>(m)]) continue;
      drop[static_cast<std::size_t>(a)] = drop[static_cast<std::size_t>(c)] = drop[static_cast<std::size_t>(m)] = 1;
      hardswish_of[i] = x;
      break;
    }
  }
  if (fused) *fused = static_cast<std::int64_t>(hardswish_of.size());
  if (hardswish_of.empty()) return std::nullopt;
  std::unordered_map<int, onnx::NodeProto> rewritten;
  for (const auto& [i, x] : hardswish_of) {
    onnx::NodeProto hs;
    hs.set_op_type("HardSwish");
    hs.set_name(g.node(i).name() + "_hardswish");
    hs.add_input(x);
    hs.add_output(g.node(i).output(0));
    rewritten.emplace(i, std::move(hs));
  }
  return with_nodes_replaced(model, drop, rewritten);
}

}  // namespace aifgen::engine

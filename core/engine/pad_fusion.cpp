#include "core/engine/pad_fusion.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/pattern_match.h"
#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"

namespace aifgen::engine {
namespace {

bool standard(const onnx::NodeProto& n) { return is_standard_op(n); }

std::string string_attr(const onnx::NodeProto& n, const char* name, const std::string& dflt) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.s();
  return dflt;
}

void set_ints(onnx::NodeProto& n, const char* name, const std::vector<std::int64_t>& v) {
  for (auto& a : *n.mutable_attribute())
    if (a.name() == name) {
      a.clear_ints();
      for (auto x : v) a.add_ints(x);
      return;
    }
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

void set_int(onnx::NodeProto& n, const char* name, std::int64_t v) {
  for (auto& a : *n.mutable_attribute())
    if (a.name() == name) {
      a.set_i(v);
      return;
    }
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

// The Pad's [begin..., end...] when it pads only dims from 2 on, with zeros, non-negatively.
std::optional<std::vector<std::int64_t>> spatial_zero_pads(const onnx::GraphProto& g, const onnx::NodeProto& pad, std::int64_t opset) {
  if (opset < 11 || pad.input_size() < 2 || string_attr(pad, "mode", "constant") != "constant") return std::nullopt;
  if (pad.input_size() >= 4 && !pad.input(3).empty()) return std::nullopt;  // axes: keep the general kernel
  const auto* p = find_constant(g, pad.input(1));
  if (!p) return std::nullopt;
  auto pads = to_int64_vector(tensor_from_proto(*p));
  if (pads.size() < 6 || pads.size() % 2 != 0) return std::nullopt;
  if (pad.input_size() >= 3 && !pad.input(2).empty()) {
    const auto* v = find_constant(g, pad.input(2));
    if (!v) return std::nullopt;
    auto t = tensor_from_proto(*v);
    if (t.dtype != DType::kF32 || t.numel() != 1 || t.as<float>()[0] != 0.f) return std::nullopt;
  }
  const std::size_t rank = pads.size() / 2;
  if (pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank + 1] != 0) return std::nullopt;
  for (auto x : pads)
    if (x < 0) return std::nullopt;
  return pads;
}

}  // namespace

std::optional<onnx::ModelProto> fold_pads_into_consumers(const onnx::ModelProto& model, std::int64_t* folded) {
  std::int64_t opset = 1;
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  const auto& g = model.graph();
  const auto uses = value_use_counts(g);
  const auto reader = reader_index(g);
  std::vector<char> drop(static_cast<std::size_t>(g.node_size()), 0);
  std::unordered_map<int, onnx::NodeProto> rewritten;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& pad = g.node(i);
    if (!standard(pad) || pad.op_type() != "Pad" || pad.output_size() != 1) continue;
    const std::string& out = pad.output(0);
    auto u = uses.find(out);
    if (u == uses.end() || u->second != 1 || is_graph_output(g, out)) continue;
    auto pads = spatial_zero_pads(g, pad, opset);
    if (!pads) continue;
    const int r = reader.at(out);
    if (rewritten.count(r)) continue;
    onnx::NodeProto c = g.node(r);
    if (!standard(c) || c.input_size() < 1 || c.input(0) != out) continue;
    const bool conv = c.op_type() == "Conv", avg = c.op_type() == "AveragePool";
    if ((!conv && !avg) || string_attr(c, "auto_pad", "NOTSET") != "NOTSET") continue;
    const std::size_t spatial = pads->size() / 2 - 2;
    auto own = attr_ints(c, "pads");
    if (own.empty()) own.assign(2 * spatial, 0);
    if (own.size() != 2 * spatial) continue;
    if (avg && attr_int(c, "count_include_pad", 0) == 0) {
      bool own_zero = true;
      for (auto x : own) own_zero = own_zero && x == 0;
      if (!own_zero) continue;  // the pool's own padding is excluded from its averages; the Pad's is not
      set_int(c, "count_include_pad", 1);
    }
    const std::size_t rank = spatial + 2;
    for (std::size_t d = 0; d < spatial; ++d) {
      own[d] += (*pads)[2 + d];
      own[spatial + d] += (*pads)[rank + 2 + d];
    }
    set_ints(c, "pads", own);
    c.set_input(0, pad.input(0));
    rewritten[r] = std::move(c);
    drop[static_cast<std::size_t>(i)] = 1;
  }
  if (folded) *folded = static_cast<std::int64_t>(rewritten.size());
  if (rewritten.empty()) return std::nullopt;
  return with_nodes_replaced(model, drop, rewritten);
}

}  // namespace aifgen::engine

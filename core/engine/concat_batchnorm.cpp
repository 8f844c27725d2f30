#include "core/engine/concat_batchnorm.h"

#include <cmath>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/engine/pattern_match.h"
#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"

namespace aifgen::engine {
namespace {

// The only node reading `value` (as any input), or -1 when it has several readers, is a graph
// output, or is read by nothing.
int only_reader(const onnx::GraphProto& g, const std::unordered_map<std::string, int>& uses,
                const std::unordered_map<std::string, int>& reader, const std::string& value) {
  auto u = uses.find(value);
  if (u == uses.end() || u->second != 1 || is_graph_output(g, value)) return -1;
  auto r = reader.find(value);
  return r == reader.end() ? -1 : r->second;
}

// A float32 constant's values, or nullopt when `name` is not a float32 constant. PyTorch's
// exporter shares equal initializers (a freshly built model's BatchNormalization scales are
// all ones) through Identity nodes, so a chain of those is followed.
std::optional<std::vector<float>> float_constant(const onnx::GraphProto& g, const std::string& name, int hops = 0) {
  const auto* p = find_constant(g, name);
  if (!p) {
    const int i = hops < 8 ? producer_of(g, name) : -1;
    if (i < 0 || !is_standard_op(g.node(i)) || g.node(i).op_type() != "Identity") return std::nullopt;
    return float_constant(g, g.node(i).input(0), hops + 1);
  }
  Tensor t = tensor_from_proto(*p);
  if (t.dtype != DType::kF32) return std::nullopt;
  return std::vector<float>(t.as<float>(), t.as<float>() + t.numel());
}

// An inference BatchNormalization reading `value` as its data: its statistics folded into one
// scale and shift per channel (the arithmetic of the engine's own BatchNormalization kernels).
std::optional<std::pair<std::vector<float>, std::vector<float>>> inference_batchnorm(const onnx::GraphProto& g, const onnx::NodeProto& bn,
                                                                                     const std::string& value) {
  if (!is_standard_op(bn) || bn.op_type() != "BatchNormalization" || bn.input_size() != 5 || bn.input(0) != value) return std::nullopt;
  if (attr_int(bn, "training_mode", 0) != 0 || attr_int(bn, "spatial", 1) != 1) return std::nullopt;
  for (int i = 1; i < bn.output_size(); ++i)
    if (!bn.output(i).empty()) return std::nullopt;  // running statistics are training outputs
  auto gamma = float_constant(g, bn.input(1)), beta = float_constant(g, bn.input(2)), mean = float_constant(g, bn.input(3)),
       var = float_constant(g, bn.input(4));
  if (!gamma || !beta || !mean || !var) return std::nullopt;
  const std::size_t c = gamma->size();
  if (c == 0 || beta->size() != c || mean->size() != c || var->size() != c) return std::nullopt;
  const float eps = attr_float(bn, "epsilon", 1e-5f);
  std::vector<float> scale(c), shift(c);
  for (std::size_t k = 0; k < c; ++k) {
    scale[k] = (*gamma)[k] / std::sqrt((*var)[k] + eps);
    shift[k] = (*beta)[k] - (*mean)[k] * scale[k];
  }
  return std::make_pair(std::move(scale), std::move(shift));
}

void add_floats(onnx::NodeProto& n, const char* name, const std::vector<float>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOATS);
  for (float x : v) a->add_floats(x);
}

}  // namespace

bool is_plain_concat(const onnx::NodeProto& n) {
  if (!is_standard_op(n) || n.op_type() != "Concat") return false;
  for (const auto& a : n.attribute())
    if (a.name() != "axis") return false;
  return true;
}

std::optional<onnx::ModelProto> fuse_concat_batchnorm(const onnx::ModelProto& model, std::int64_t* fused) {
  const auto& g = model.graph();
  const auto uses = value_use_counts(g);
  const auto reader = reader_index(g);
  std::vector<char> drop(static_cast<std::size_t>(g.node_size()), 0);
  std::unordered_map<int, onnx::NodeProto> rewritten;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& concat = g.node(i);
    // Only axis 1 (the channels BatchNormalization normalizes) when written as 1: a negative
    // axis would need the rank, which is not known here.
    if (!is_standard_op(concat) || concat.op_type() != "Concat" || concat.output_size() != 1 || attr_int(concat, "axis", 0) != 1)
      continue;
    bool private_attrs = false;
    for (const auto& a : concat.attribute()) private_attrs = private_attrs || a.name() != "axis";
    if (private_attrs) continue;
    const int b = only_reader(g, uses, reader, concat.output(0));
    if (b < 0 || drop[static_cast<std::size_t>(b)]) continue;
    auto affine = inference_batchnorm(g, g.node(b), concat.output(0));
    if (!affine) continue;
    onnx::NodeProto c = concat;
    c.set_output(0, g.node(b).output(0));
    drop[static_cast<std::size_t>(b)] = 1;
    bool relu = false;
    const int r = only_reader(g, uses, reader, g.node(b).output(0));
    if (r >= 0 && is_standard_op(g.node(r)) && g.node(r).op_type() == "Relu" && g.node(r).output_size() == 1) {
      relu = true;
      c.set_output(0, g.node(r).output(0));
      drop[static_cast<std::size_t>(r)] = 1;
    }
    add_floats(c, kConcatScaleAttr, affine->first);
    add_floats(c, kConcatShiftAttr, affine->second);
    auto* a = c.add_attribute();
    a->set_name(kConcatReluAttr);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(relu ? 1 : 0);
    rewritten[i] = std::move(c);
  }
  if (fused) *fused = static_cast<std::int64_t>(rewritten.size());
  if (rewritten.empty()) return std::nullopt;
  return with_nodes_replaced(model, drop, rewritten);
}

}  // namespace aifgen::engine

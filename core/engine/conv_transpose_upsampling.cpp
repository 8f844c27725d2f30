#include "core/engine/conv_transpose_upsampling.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/pattern_match.h"
#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"

namespace aifgen::engine {
namespace {

// The float32 constant named `name`, or nullptr. (The session removes Identity aliases of
// constants before this rewrite: remove_dropouts_and_constant_aliases.)
const onnx::TensorProto* float_constant(const onnx::GraphProto& g, const std::string& name) {
  const auto* t = find_constant(g, name);
  return t && t->data_type() == onnx::TensorProto::FLOAT ? t : nullptr;
}

bool all_equal(const std::vector<std::int64_t>& v, std::int64_t want) {
  for (auto x : v)
    if (x != want) return false;
  return true;
}

// The stride s when `n` qualifies (see the header), else 0.
std::int64_t upsampling_stride(const onnx::GraphProto& g, const onnx::NodeProto& n) {
  if (!is_standard_op(n) || n.op_type() != "ConvTranspose" || n.input_size() < 2 || n.output_size() != 1) return 0;
  for (const auto& a : n.attribute()) {
    if (a.name() == "auto_pad" && a.s() != "NOTSET" && a.s() != "VALID") return 0;
    if (a.name() == "output_shape") return 0;
  }
  if (attr_int(n, "group", 1) != 1) return 0;
  const auto* w = float_constant(g, n.input(1));
  if (!w || w->dims_size() != 4 || w->dims(2) != w->dims(3) || w->dims(2) < 2) return 0;
  const std::int64_t s = w->dims(2);
  if (attr_ints(n, "kernel_shape", {s, s}) != std::vector<std::int64_t>{s, s} || attr_ints(n, "strides", {1, 1}) != std::vector<std::int64_t>{s, s})
    return 0;
  if (!all_equal(attr_ints(n, "dilations", {1, 1}), 1) || !all_equal(attr_ints(n, "pads", {0, 0, 0, 0}), 0) ||
      !all_equal(attr_ints(n, "output_padding", {0, 0}), 0))
    return 0;
  if (n.input_size() >= 3 && !n.input(2).empty()) {
    const auto* b = float_constant(g, n.input(2));
    if (!b || b->dims_size() != 1 || b->dims(0) != w->dims(1)) return 0;
  }
  return s;
}

}  // namespace

std::optional<onnx::ModelProto> conv_transposes_as_pointwise(const onnx::ModelProto& model, std::int64_t* rewritten) {
  const auto& g = model.graph();
  std::vector<char> drop(static_cast<std::size_t>(g.node_size()), 0);
  std::unordered_map<int, std::vector<onnx::NodeProto>> replaced;
  std::vector<onnx::TensorProto> added;
  for (int k = 0; k < g.node_size(); ++k) {
    const auto& n = g.node(k);
    const std::int64_t s = upsampling_stride(g, n);
    if (s == 0) continue;
    const Tensor w = tensor_from_proto(*float_constant(g, n.input(1)));  // [C, M, s, s]
    const std::int64_t c = w.shape[0], m = w.shape[1], ss = s * s;
    Tensor pointwise = Tensor::allocate_for_overwrite(DType::kF32, {m * ss, c, 1, 1});
    for (std::int64_t ci = 0; ci < c; ++ci)
      for (std::int64_t r = 0; r < m * ss; ++r) pointwise.as<float>()[r * c + ci] = w.as<float>()[ci * m * ss + r];
    const std::string base = n.output(0) + "/as_pointwise";
    added.push_back(tensor_to_proto(pointwise, base + "/weight"));
    onnx::NodeProto conv;
    conv.set_op_type("Conv");
    conv.set_name(base + "/conv");
    conv.add_input(n.input(0));
    conv.add_input(base + "/weight");
    if (n.input_size() >= 3 && !n.input(2).empty()) {
      const Tensor b = tensor_from_proto(*float_constant(g, n.input(2)));
      Tensor repeated = Tensor::allocate_for_overwrite(DType::kF32, {m * ss});
      for (std::int64_t r = 0; r < m * ss; ++r) repeated.as<float>()[r] = b.as<float>()[r / ss];
      added.push_back(tensor_to_proto(repeated, base + "/bias"));
      conv.add_input(base + "/bias");
    }
    conv.add_output(base);
    onnx::NodeProto d2s;
    d2s.set_op_type("DepthToSpace");
    d2s.set_name(base + "/depth_to_space");
    d2s.add_input(base);
    d2s.add_output(n.output(0));
    auto* bs = d2s.add_attribute();
    bs->set_name("blocksize");
    bs->set_type(onnx::AttributeProto::INT);
    bs->set_i(s);
    auto* mode = d2s.add_attribute();
    mode->set_name("mode");
    mode->set_type(onnx::AttributeProto::STRING);
    mode->set_s("CRD");
    replaced[k] = {conv, d2s};
  }
  if (replaced.empty()) return std::nullopt;
  if (rewritten) *rewritten = static_cast<std::int64_t>(replaced.size());
  auto out = with_nodes_replaced(model, drop, replaced);
  for (auto& t : added) *out.mutable_graph()->add_initializer() = std::move(t);
  drop_unused_initializers(*out.mutable_graph());
  return out;
}

}  // namespace aifgen::engine

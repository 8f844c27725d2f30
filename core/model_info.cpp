// Model census for inspect/upload. MACs are counted on a lightweight copy of the graph whose
// symbolic batch dimension is bound to 1 and whose float weights are dropped (shape inference
// only needs their dims), so inspecting a large model does not double its memory.
#include "core/model_info.h"

#include <onnx/shape_inference/implementation.h>

#include <unordered_map>
#include <unordered_set>

#include "core/tensor_util.h"

namespace aifgen {
namespace {

TensorInfo tensor_info(const onnx::ValueInfoProto& v) {
  TensorInfo info;
  info.name = v.name();
  const auto& type = v.type();
  if (!type.has_tensor_type()) {
    info.dtype = type.has_sequence_type() ? "sequence" : type.has_map_type() ? "map" : "unknown";
    info.has_shape = false;
    return info;
  }
  info.dtype = dtype_name(type.tensor_type().elem_type());
  if (!type.tensor_type().has_shape()) {
    info.has_shape = false;
    return info;
  }
  for (const auto& d : type.tensor_type().shape().dim()) {
    if (d.has_dim_value()) info.shape.emplace_back(d.dim_value());
    else if (d.has_dim_param() && !d.dim_param().empty()) info.shape.emplace_back(d.dim_param());
    else info.shape.emplace_back(std::monostate{});
  }
  return info;
}

bool is_floating(int t) {
  return t == onnx::TensorProto::FLOAT || t == onnx::TensorProto::FLOAT16 || t == onnx::TensorProto::BFLOAT16 ||
         t == onnx::TensorProto::DOUBLE;
}

using ShapeMap = std::unordered_map<std::string, std::vector<std::int64_t>>;

// Records fully known shapes only; a shape with any unknown dim is left out.
void record_shape(ShapeMap& shapes, const onnx::ValueInfoProto& v) {
  if (!v.type().has_tensor_type() || !v.type().tensor_type().has_shape()) return;
  std::vector<std::int64_t> dims;
  for (const auto& d : v.type().tensor_type().shape().dim()) {
    if (!d.has_dim_value() || d.dim_value() < 0) return;
    dims.push_back(d.dim_value());
  }
  shapes[v.name()] = std::move(dims);
}

onnx::ModelProto batch_one_skeleton(const onnx::ModelProto& model) {
  onnx::ModelProto copy;
  copy.set_ir_version(model.ir_version());
  *copy.mutable_opset_import() = model.opset_import();
  *copy.mutable_functions() = model.functions();
  auto* g = copy.mutable_graph();
  const auto& src = model.graph();
  *g->mutable_node() = src.node();
  *g->mutable_input() = src.input();
  *g->mutable_output() = src.output();
  for (const auto& init : src.initializer()) {
    auto* t = g->add_initializer();
    if (init.data_type() == onnx::TensorProto::INT64 || init.data_type() == onnx::TensorProto::INT32) {
      *t = init;  // shape arithmetic may read these through data propagation
    } else {
      t->set_name(init.name());
      t->set_data_type(init.data_type());
      *t->mutable_dims() = init.dims();
    }
  }
  for (auto& in : *g->mutable_input()) {
    auto* tt = in.mutable_type()->mutable_tensor_type();
    if (!tt->has_shape() || tt->shape().dim_size() == 0) continue;
    auto* d0 = tt->mutable_shape()->mutable_dim(0);
    if (!d0->has_dim_value()) d0->set_dim_value(1);
  }
  return copy;
}

std::int64_t product(const std::vector<std::int64_t>& v, std::size_t from = 0) {
  std::int64_t p = 1;
  for (std::size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

// MACs of one node, or -1 when a needed shape is unknown.
std::int64_t node_macs(const onnx::NodeProto& n, const ShapeMap& shapes) {
  auto get = [&](int idx, bool output) -> const std::vector<std::int64_t>* {
    const auto& names = output ? n.output() : n.input();
    if (idx >= names.size()) return nullptr;
    auto it = shapes.find(names.Get(idx));
    return it == shapes.end() ? nullptr : &it->second;
  };
  const auto* y = get(0, true);
  if (n.op_type() == "Conv") {
    const auto* w = get(1, false);
    if (!y || !w || w->size() < 2) return -1;
    return product(*y) * product(*w, 1);
  }
  if (n.op_type() == "Gemm") {
    const auto* a = get(0, false);
    if (!y || !a || a->size() != 2) return -1;
    bool trans_a = false;
    for (const auto& at : n.attribute())
      if (at.name() == "transA") trans_a = at.i() != 0;
    return product(*y) * (trans_a ? (*a)[0] : (*a)[1]);
  }
  if (n.op_type() == "MatMul") {
    const auto* a = get(0, false);
    if (!y || !a || a->empty()) return -1;
    return product(*y) * a->back();
  }
  return 0;
}

}  // namespace

ModelInfo inspect_model(const onnx::ModelProto& model) {
  ModelInfo info;
  info.ir_version = model.ir_version();
  for (const auto& op : model.opset_import())
    info.opset_imports[op.domain() == "ai.onnx" ? "" : op.domain()] = op.version();
  info.producer_name = model.producer_name();
  info.producer_version = model.producer_version();
  const auto& g = model.graph();
  info.graph_name = g.name();

  std::unordered_set<std::string> init_names;
  for (const auto& t : g.initializer()) {
    init_names.insert(t.name());
    if (auto n = element_count(t)) info.parameter_count += *n;
  }
  for (const auto& in : g.input())
    if (!init_names.count(in.name())) info.inputs.push_back(tensor_info(in));
  for (const auto& out : g.output()) info.outputs.push_back(tensor_info(out));
  // Weights exported as Constant nodes (Paddle, some TF converters) are parameters too; small
  // integer constants (shapes, axes) are not.
  for (const auto& n : g.node()) {
    if (n.op_type() != "Constant") continue;
    for (const auto& a : n.attribute())
      if (a.name() == "value" && a.has_t() && is_floating(a.t().data_type()))
        if (auto c = element_count(a.t())) info.parameter_count += *c;
  }
  for (const auto& n : g.node()) {
    bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    ++info.op_census[default_domain ? n.op_type() : n.domain() + "::" + n.op_type()];
  }
  info.node_count = g.node_size();

  auto skeleton = batch_one_skeleton(model);
  try {
    onnx::ShapeInferenceOptions lenient(false, 0, true);
    onnx::shape_inference::InferShapes(skeleton, onnx::OpSchemaRegistry::Instance(), lenient);
  } catch (const std::exception&) {
    // Lenient inference should not throw; if it does, MACs are simply counted as unknown.
  }
  ShapeMap shapes;
  const auto& sg = skeleton.graph();
  for (const auto& v : sg.input()) record_shape(shapes, v);
  for (const auto& v : sg.value_info()) record_shape(shapes, v);
  for (const auto& v : sg.output()) record_shape(shapes, v);
  for (const auto& t : sg.initializer())
    shapes[t.name()] = std::vector<std::int64_t>(t.dims().begin(), t.dims().end());
  for (const auto& n : sg.node()) {
    auto m = node_macs(n, shapes);
    if (m < 0) ++info.macs_unknown_nodes;
    else info.macs += m;
  }
  return info;
}

}  // namespace aifgen

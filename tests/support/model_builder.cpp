#include "tests/support/model_builder.h"

#include "core/engine/tensor.h"

namespace aifgen::testing {

onnx::TensorProto random_tensor(const std::string& name, const std::vector<std::int64_t>& dims, std::uint32_t seed,
                                float lo, float hi) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::int64_t n = 1;
  for (auto d : dims) n *= d;
  std::vector<float> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(gen);
  return float_tensor(name, dims, v);
}

onnx::TensorProto float_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                               const std::vector<float>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) t.add_dims(d);
  for (float v : values) t.add_float_data(v);
  return t;
}

onnx::TensorProto int64_tensor(const std::string& name, const std::vector<std::int64_t>& values) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::INT64);
  t.add_dims(static_cast<std::int64_t>(values.size()));
  for (auto x : values) t.add_int64_data(x);
  return t;
}

onnx::ValueInfoProto tensor_value(const std::string& name, int elem_type, const std::vector<std::string>& dims) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  auto* tt = v.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape->add_dim();
    if (!d.empty() && std::isdigit(static_cast<unsigned char>(d[0]))) dim->set_dim_value(std::stoll(d));
    else if (!d.empty()) dim->set_dim_param(d);
  }
  return v;
}

onnx::NodeProto node(const std::string& op, const std::vector<std::string>& inputs,
                     const std::vector<std::string>& outputs, const std::string& name) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(name.empty() ? op + "_" + outputs.at(0) : name);
  for (const auto& i : inputs) n.add_input(i);
  for (const auto& o : outputs) n.add_output(o);
  return n;
}

void add_int_attr(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void add_float_attr(onnx::NodeProto& n, const std::string& name, float v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void add_ints_attr(onnx::NodeProto& n, const std::string& name, const std::vector<std::int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

onnx::ModelProto empty_model(const std::string& graph_name) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.set_producer_name("aifgen-tests");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  m.mutable_graph()->set_name(graph_name);
  return m;
}

onnx::ModelProto conv_bn_relu_model(bool with_identity) {
  auto m = empty_model("conv_bn_relu");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"N", "3", "8", "8"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"N", "4", "8", "8"});
  *g->add_initializer() = random_tensor("W", {4, 3, 3, 3}, 1);
  *g->add_initializer() = random_tensor("B", {4}, 2);
  *g->add_initializer() = random_tensor("gamma", {4}, 3, 0.5f, 1.5f);
  *g->add_initializer() = random_tensor("beta", {4}, 4);
  *g->add_initializer() = random_tensor("mean", {4}, 5);
  *g->add_initializer() = random_tensor("var", {4}, 6, 0.1f, 2.0f);
  auto conv = node("Conv", {"x", "W", "B"}, {"c"});
  add_ints_attr(conv, "pads", {1, 1, 1, 1});
  add_ints_attr(conv, "kernel_shape", {3, 3});
  *g->add_node() = conv;
  auto bn = node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"bn"});
  add_float_attr(bn, "epsilon", 1e-3f);
  *g->add_node() = bn;
  if (with_identity) {
    *g->add_node() = node("Identity", {"bn"}, {"bn_id"});
    *g->add_node() = node("Relu", {"bn_id"}, {"y"});
  } else {
    *g->add_node() = node("Relu", {"bn"}, {"y"});
  }
  return m;
}

void point_first_weight_at_external_file(onnx::ModelProto& m, const std::string& location) {
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* e = w->add_external_data();
  e->set_key("location");
  e->set_value(location);
}

std::string serialize(const onnx::ModelProto& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

onnx::ModelProto with_raw_initializers(onnx::ModelProto m) {
  for (auto& init : *m.mutable_graph()->mutable_initializer())
    init = engine::tensor_to_proto(engine::tensor_from_proto(init), init.name());
  return m;
}

}  // namespace aifgen::testing

// Deterministic demo model: same bytes every run, so its model id can be printed up front.
#include "service/demo_model.h"

#include <onnx/onnx_pb.h>

#include <filesystem>

#include "core/onnx_model.h"
#include "core/base/sha256.h"

namespace aifgen {
namespace {

void add_weights(onnx::GraphProto* g, const std::string& name, std::vector<std::int64_t> dims, float base) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  std::int64_t n = 1;
  for (auto d : dims) {
    t->add_dims(d);
    n *= d;
  }
  for (std::int64_t i = 0; i < n; ++i) t->add_float_data(base + 0.01f * static_cast<float>(i % 17));
}

void add_io(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list, const std::string& name, int channels) {
  auto* v = list->Add();
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("batch");
  for (std::int64_t d : {std::int64_t(channels), std::int64_t(32), std::int64_t(32)}) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

}  // namespace

std::string write_demo_model(const std::string& path) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.set_producer_name("aifgen-demo");
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("demo_conv_bn_relu");
  add_io(g->mutable_input(), "image", 3);
  add_io(g->mutable_output(), "features", 8);
  add_weights(g, "conv.weight", {8, 3, 3, 3}, -0.08f);
  add_weights(g, "bn.scale", {8}, 0.9f);
  add_weights(g, "bn.bias", {8}, -0.05f);
  add_weights(g, "bn.mean", {8}, 0.02f);
  add_weights(g, "bn.var", {8}, 0.8f);
  auto* conv = g->add_node();
  conv->set_op_type("Conv");
  conv->set_name("conv");
  conv->add_input("image");
  conv->add_input("conv.weight");
  conv->add_output("conv_out");
  auto* pads = conv->add_attribute();
  pads->set_name("pads");
  pads->set_type(onnx::AttributeProto::INTS);
  for (int i = 0; i < 4; ++i) pads->add_ints(1);
  auto* bn = g->add_node();
  bn->set_op_type("BatchNormalization");
  bn->set_name("bn");
  for (const char* in : {"conv_out", "bn.scale", "bn.bias", "bn.mean", "bn.var"}) bn->add_input(in);
  bn->add_output("bn_out");
  auto* relu = g->add_node();
  relu->set_op_type("Relu");
  relu->set_name("relu");
  relu->add_input("bn_out");
  relu->add_output("features");
  if (!std::filesystem::exists(path)) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    save_model_file(m, path);
  }
  return Sha256::of_file(path);  // the file on disk is what the printed curl uploads
}

}  // namespace aifgen

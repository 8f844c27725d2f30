// Writes a valid ONNX model of about SIZE_MB megabytes (one Gemm with a large weight), for the
// upload memory benchmark: aifgen's peak RSS while it receives and checks a large model.
//   make_large_model OUT.onnx SIZE_MB
#include <onnx/onnx_pb.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s OUT.onnx SIZE_MB\n", argv[0]);
    return 2;
  }
  const long mb = std::atol(argv[2]);
  const long k = 1024, n = mb * 1024 * 1024 / 4 / k;  // W is [n, k] float32
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.set_producer_name("aifgen-bench");
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("large_gemm");
  auto io = [](onnx::ValueInfoProto* v, const char* name, long cols) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_param("batch");
    tt->mutable_shape()->add_dim()->set_dim_value(cols);
  };
  io(g->add_input(), "x", k);
  io(g->add_output(), "y", n);
  auto* w = g->add_initializer();
  w->set_name("W");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(n);
  w->add_dims(k);
  std::string raw(static_cast<std::size_t>(n * k * 4), '\0');
  for (std::size_t i = 0; i < raw.size(); i += 4) raw[i + 1] = static_cast<char>(i >> 10);  // small varied floats
  w->set_raw_data(std::move(raw));
  auto* node = g->add_node();
  node->set_op_type("Gemm");
  node->add_input("x");
  node->add_input("W");
  node->add_output("y");
  auto* a = node->add_attribute();
  a->set_name("transB");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(1);
  std::ofstream out(argv[1], std::ios::binary);
  if (!m.SerializeToOstream(&out)) return 1;
  return 0;
}

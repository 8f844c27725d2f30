// libFuzzer target: Einsum's equation parser and planning, the one string a model hands the
// engine to interpret. Input: 1 byte input count (1-3), per input 1 byte rank (0-4) and that many
// dim bytes (1-4), then the equation. Plans the node and runs it once on zeros.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/engine/session.h"
#include "core/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::size_t p = 0;
  auto next = [&]() -> int { return p < size ? data[p++] : 0; };
  const int inputs = 1 + next() % 3;
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("fuzz");
  auto* n = g->add_node();
  n->set_op_type("Einsum");
  std::vector<aifgen::engine::Tensor> values;
  for (int i = 0; i < inputs; ++i) {
    auto* in = g->add_input();
    in->set_name("x" + std::to_string(i));
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = tt->mutable_shape();
    const int rank = next() % 5;
    aifgen::engine::Shape dims;
    for (int d = 0; d < rank; ++d) {
      dims.push_back(1 + next() % 4);
      shape->add_dim()->set_dim_value(dims.back());
    }
    n->add_input(in->name());
    values.push_back(aifgen::engine::Tensor::allocate(aifgen::engine::DType::kF32, dims));
  }
  n->add_output("y");
  auto* a = n->add_attribute();
  a->set_name("equation");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(std::string(reinterpret_cast<const char*>(data + p), size - p));
  g->add_output()->set_name("y");
  try {
    aifgen::engine::Session s(m, {});
    s.run(values);
  } catch (const aifgen::Error&) {
  }
  return 0;
}

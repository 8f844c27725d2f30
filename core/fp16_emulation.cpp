#include "core/fp16_emulation.h"

#include <unordered_set>

#include "core/engine/tensor.h"
#include "core/base/error.h"
#include "core/numeric/half.h"
#include "core/onnx_model.h"
#include "core/passes/graph_edit.h"

namespace aifgen {
namespace {

constexpr int kF16 = onnx::TensorProto::FLOAT16;
constexpr int kF32 = onnx::TensorProto::FLOAT;

void to_float(onnx::TensorProto& t) {
  if (t.data_type() != kF16) return;
  auto v = engine::tensor_from_proto(t);
  std::string raw(static_cast<std::size_t>(v.numel()) * 4, '\0');
  auto* f = reinterpret_cast<float*>(raw.data());
  for (std::int64_t i = 0; i < v.numel(); ++i) f[i] = half_bits_to_float(v.as<std::uint16_t>()[i]);
  t.clear_int32_data();
  t.set_data_type(kF32);
  t.set_raw_data(raw);
}

}  // namespace

bool uses_fp16(const onnx::ModelProto& model) {
  const auto& g = model.graph();
  for (const auto& t : g.initializer())
    if (t.data_type() == kF16) return true;
  for (const auto* list : {&g.input(), &g.output(), &g.value_info()})
    for (const auto& v : *list)
      if (v.type().tensor_type().elem_type() == kF16) return true;
  for (const auto& n : g.node())
    for (const auto& a : n.attribute())
      if ((a.name() == "to" && a.i() == kF16) || (a.has_t() && a.t().data_type() == kF16)) return true;
  return false;
}

bool has_fp16_io(const onnx::ModelProto& model) {
  for (const auto* list : {&model.graph().input(), &model.graph().output()})
    for (const auto& v : *list)
      if (v.type().tensor_type().elem_type() == kF16) return true;
  return false;
}

onnx::ModelProto emulate_fp16(const onnx::ModelProto& model) {
  auto typed = model;
  reinfer_shapes(typed, /*check_types=*/false);
  std::unordered_set<std::string> half_values;
  for (const auto& v : typed.graph().value_info())
    if (v.type().tensor_type().elem_type() == kF16) half_values.insert(v.name());
  for (const auto& v : typed.graph().output())
    if (v.type().tensor_type().elem_type() == kF16) half_values.insert(v.name());

  auto out = model;
  auto* g = out.mutable_graph();
  g->clear_value_info();
  for (auto& t : *g->mutable_initializer()) to_float(t);
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  // fp16 graph inputs: float32 now, rounded once before anything reads them.
  for (auto& in : *g->mutable_input()) {
    auto* tt = in.mutable_type()->mutable_tensor_type();
    if (tt->elem_type() != kF16) continue;
    tt->set_elem_type(kF32);
    const std::string rounded = in.name() + "_fp16_rounded";
    rename_uses(*g, in.name(), rounded);
    *nodes.Add() = cast_node(in.name(), rounded + "_h", kF16);
    *nodes.Add() = cast_node(rounded + "_h", rounded, kF32);
  }
  for (auto& n : *g->mutable_node()) {
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_t()) to_float(*a.mutable_t());
      if (a.name() == "to" && a.i() == kF16) a.set_i(kF32);
    }
    std::vector<std::string> rounded;
    for (auto& o : *n.mutable_output())
      if (half_values.count(o)) {
        rounded.push_back(o);
        o += "_unrounded";
      }
    *nodes.Add() = n;
    for (const auto& o : rounded) {
      *nodes.Add() = cast_node(o + "_unrounded", o + "_h", kF16);
      *nodes.Add() = cast_node(o + "_h", o, kF32);
    }
  }
  g->mutable_node()->Swap(&nodes);
  for (auto& o : *g->mutable_output()) {
    auto* tt = o.mutable_type()->mutable_tensor_type();
    if (tt->elem_type() == kF16) tt->set_elem_type(kF32);
  }
  return out;
}

}  // namespace aifgen

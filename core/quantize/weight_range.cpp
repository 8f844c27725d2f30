#include "core/quantize/weight_range.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"

namespace aifgen::quantize {

onnx::ModelProto halve_int8_weights(const onnx::ModelProto& model, std::int64_t* changed) {
  auto out = model;
  auto* g = out.mutable_graph();
  std::int64_t count = 0;
  std::unordered_map<std::string, int> done;  // a weight read by several DQs is halved once
  for (const auto& n : g->node()) {
    if (n.op_type() != "DequantizeLinear" || !(n.domain().empty() || n.domain() == "ai.onnx") || n.input_size() < 2) continue;
    const int wi = find_initializer(*g, n.input(0)), si = find_initializer(*g, n.input(1));
    if (wi < 0 || si < 0 || is_graph_input(*g, n.input(0)) || done.count(n.input(0))) continue;
    if (g->initializer(wi).data_type() != onnx::TensorProto::INT8 || g->initializer(si).data_type() != onnx::TensorProto::FLOAT) continue;
    if (n.input_size() > 2 && !n.input(2).empty()) {
      const auto* z = find_constant(*g, n.input(2));
      if (!z) continue;
      auto zt = engine::tensor_from_proto(*z);
      if (zt.dtype != engine::DType::kI8 || std::any_of(zt.as<std::int8_t>(), zt.as<std::int8_t>() + zt.numel(), [](std::int8_t v) { return v != 0; }))
        continue;
    }
    auto w = engine::tensor_from_proto(g->initializer(wi));
    std::string raw(static_cast<std::size_t>(w.numel()), '\0');
    for (std::int64_t i = 0; i < w.numel(); ++i)
      raw[static_cast<std::size_t>(i)] =
          static_cast<char>(static_cast<std::int8_t>(std::clamp(std::nearbyint(w.as<std::int8_t>()[i] / 2.f), -64.f, 63.f)));
    auto* wt = g->mutable_initializer(wi);
    wt->clear_int32_data();
    wt->set_raw_data(raw);
    auto s = engine::tensor_from_proto(g->initializer(si));
    auto* st = g->mutable_initializer(si);
    st->clear_float_data();
    std::string sraw(static_cast<std::size_t>(s.numel()) * sizeof(float), '\0');
    for (std::int64_t i = 0; i < s.numel(); ++i) {
      const float v = s.as<float>()[i] * 2.f;
      std::memcpy(sraw.data() + i * static_cast<std::int64_t>(sizeof(float)), &v, sizeof(float));
    }
    st->set_raw_data(sraw);
    done[n.input(0)] = 1;
    ++count;
  }
  if (changed) *changed = count;
  return out;
}

onnx::ModelProto strip_activation_qdq(const onnx::ModelProto& model, std::int64_t* removed) {
  auto out = model;
  auto* g = out.mutable_graph();
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < g->node_size(); ++i)
    for (const auto& o : g->node(i).output()) producer[o] = i;
  std::unordered_map<std::string, std::string> replace;  // DQ output -> the float value before Q
  std::vector<char> drop(static_cast<std::size_t>(g->node_size()), 0);
  for (int i = 0; i < g->node_size(); ++i) {
    const auto& dq = g->node(i);
    if (dq.op_type() != "DequantizeLinear" || dq.input_size() < 1 || dq.output_size() != 1) continue;
    auto p = producer.find(dq.input(0));
    if (p == producer.end() || g->node(p->second).op_type() != "QuantizeLinear") continue;
    if (is_graph_output(*g, dq.output(0))) continue;
    replace[dq.output(0)] = g->node(p->second).input(0);
    drop[static_cast<std::size_t>(i)] = 1;
  }
  for (int i = 0; i < g->node_size(); ++i)
    for (int k = 0; k < g->node(i).input_size(); ++k)
      if (auto r = replace.find(g->node(i).input(k)); r != replace.end()) g->mutable_node(i)->set_input(k, r->second);
  // QuantizeLinear nodes only the dropped DQs read go too.
  std::unordered_map<std::string, int> readers;
  for (int i = 0; i < g->node_size(); ++i)
    if (!drop[static_cast<std::size_t>(i)])
      for (const auto& in : g->node(i).input()) ++readers[in];
  for (int i = 0; i < g->node_size(); ++i) {
    const auto& n = g->node(i);
    if (n.op_type() == "QuantizeLinear" && n.output_size() == 1 && !readers.count(n.output(0)) && !is_graph_output(*g, n.output(0)))
      drop[static_cast<std::size_t>(i)] = 1;
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (int i = 0; i < g->node_size(); ++i)
    if (!drop[static_cast<std::size_t>(i)]) *kept.Add() = g->node(i);
  g->mutable_node()->Swap(&kept);
  drop_unused_initializers(*g);
  if (removed) *removed = static_cast<std::int64_t>(replace.size());
  return out;
}

bool halving_allowed(const onnx::ModelProto& model) {
  for (const auto& p : model.metadata_props())
    if (p.key() == kNoVnniWeightsKey) return p.value() != "float";
  return true;
}

}  // namespace aifgen::quantize

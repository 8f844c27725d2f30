#include "core/quantize/weight_range.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"

namespace aifgen::quantize {

onnx::ModelProto halve_int8_weights(const onnx::ModelProto& model, std::int64_t* changed, const std::set<std::string>& keep_for) {
  auto out = model;
  auto* g = out.mutable_graph();
  std::int64_t count = 0;
  std::unordered_map<std::string, int> done;  // a weight read by several DQs is halved once
  std::set<std::string> kept_values;          // what the nodes in keep_for read
  for (const auto& n : g->node())
    if (n.output_size() > 0 && keep_for.count(n.output(0)))
      for (const auto& in : n.input()) kept_values.insert(in);
  for (const auto& n : g->node()) {
    if (n.op_type() != "DequantizeLinear" || !(n.domain().empty() || n.domain() == "ai.onnx") || n.input_size() < 2) continue;
    if (n.output_size() > 0 && kept_values.count(n.output(0))) {
      done[n.input(0)] = 1;  // shared with a halving reader: 8-bit wins, the float node needs it
      continue;
    }
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

onnx::ModelProto strip_activation_qdq(const onnx::ModelProto& model, std::int64_t* removed, const std::set<std::string>* only_for) {
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
  }
  auto chosen = [&](const onnx::NodeProto& n) { return !only_for || (n.output_size() > 0 && only_for->count(n.output(0)) > 0); };
  std::int64_t rewired = 0;
  for (int i = 0; i < g->node_size(); ++i) {
    if (!chosen(g->node(i))) continue;
    for (int k = 0; k < g->node(i).input_size(); ++k)
      if (auto r = replace.find(g->node(i).input(k)); r != replace.end()) {
        g->mutable_node(i)->set_input(k, r->second);
        ++rewired;
      }
  }
  // DQ nodes on activations that nothing reads any more go, then the Q nodes only they read.
  for (int pass = 0; pass < 2; ++pass) {
    std::unordered_map<std::string, int> readers;
    for (int i = 0; i < g->node_size(); ++i)
      if (!drop[static_cast<std::size_t>(i)])
        for (const auto& in : g->node(i).input()) ++readers[in];
    for (int i = 0; i < g->node_size(); ++i) {
      const auto& n = g->node(i);
      const bool activation_dq = n.op_type() == "DequantizeLinear" && n.output_size() == 1 && replace.count(n.output(0));
      const bool q = n.op_type() == "QuantizeLinear" && n.output_size() == 1;
      if ((pass == 0 ? activation_dq : q) && !readers.count(n.output(0)) && !is_graph_output(*g, n.output(0)))
        drop[static_cast<std::size_t>(i)] = 1;
    }
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (int i = 0; i < g->node_size(); ++i)
    if (!drop[static_cast<std::size_t>(i)]) *kept.Add() = g->node(i);
  g->mutable_node()->Swap(&kept);
  drop_unused_initializers(*g);
  if (removed) *removed = only_for ? rewired : static_cast<std::int64_t>(replace.size());
  return out;
}

bool halving_allowed(const onnx::ModelProto& model) {
  for (const auto& p : model.metadata_props())
    if (p.key() == kNoVnniWeightsKey) return p.value() != "float";
  return true;
}

std::set<std::string> float_nodes_without_vnni(const onnx::ModelProto& model) {
  std::set<std::string> out;
  for (const auto& p : model.metadata_props()) {
    if (p.key() != kNoVnniFloatNodesKey) continue;
    std::size_t start = 0;
    while (start <= p.value().size()) {
      const auto end = std::min(p.value().find(',', start), p.value().size());
      if (end > start) out.insert(p.value().substr(start, end - start));
      start = end + 1;
    }
  }
  return out;
}

void set_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value) {
  for (auto& p : *model.mutable_metadata_props())
    if (p.key() == key) {
      p.set_value(value);
      return;
    }
  auto* p = model.add_metadata_props();
  p->set_key(key);
  p->set_value(value);
}

onnx::ModelProto as_run_without_vnni(const onnx::ModelProto& model, std::int64_t* changed) {
  if (!halving_allowed(model)) return strip_activation_qdq(model, changed);
  const auto floats = float_nodes_without_vnni(model);
  std::int64_t halved = 0, rewired = 0;
  auto out = halve_int8_weights(model, &halved, floats);
  if (!floats.empty()) out = strip_activation_qdq(out, &rewired, &floats);
  if (changed) *changed = halved + rewired;
  return out;
}

}  // namespace aifgen::quantize

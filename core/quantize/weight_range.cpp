#include "core/quantize/weight_range.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"
#include "core/quantize/saturation_safe.h"

namespace aifgen::quantize {

namespace {

std::optional<WeightPairing> pairing_of(const onnx::NodeProto& reader, const onnx::TensorProto& weight) {
  return weight_pairing(reader.op_type(), attr_int(reader, "group", 1), attr_int(reader, "transB", 0) != 0,
                        std::vector<std::int64_t>(weight.dims().begin(), weight.dims().end()));
}

}  // namespace

bool exact_without_vnni(const onnx::NodeProto& reader, const onnx::TensorProto& weight) {
  if (reader.input_size() < 2) return false;
  const auto p = pairing_of(reader, weight);
  return p && p->kind == WeightPairing::Kind::kDepthwise;
}

namespace {

void set_int8_values(onnx::TensorProto& t, const std::vector<std::int8_t>& v) {
  t.clear_int32_data();
  t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size()));
}

void set_float_values(onnx::TensorProto& t, const std::vector<float>& v) {
  t.clear_float_data();
  t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
}

// One int8 weight behind a DequantizeLinear with zero point 0, as the rewrites below see it.
struct Int8Weight {
  const onnx::NodeProto* dq;
  onnx::TensorProto* values;
  onnx::TensorProto* scale;
  const std::vector<const onnx::NodeProto*>* readers;  // of the DQ's output
};

// Calls `rewrite` once per int8 weight that may change without VNNI: not read (through its DQ)
// by a node in `keep_for` (first outputs), nor only by depthwise convolutions, which are exact
// in 8 bits there. Returns how many `rewrite` changed.
std::int64_t for_each_int8_weight(onnx::ModelProto& out, const std::set<std::string>& keep_for,
                                  const std::function<bool(const Int8Weight&)>& rewrite) {
  auto* g = out.mutable_graph();
  std::int64_t count = 0;
  std::unordered_map<std::string, int> done;  // a weight read by several DQs is rewritten once
  std::set<std::string> kept_values;          // what the nodes in keep_for read
  std::unordered_map<std::string, std::vector<const onnx::NodeProto*>> readers;
  for (const auto& n : g->node()) {
    if (n.output_size() > 0 && keep_for.count(n.output(0)))
      for (const auto& in : n.input()) kept_values.insert(in);
    for (const auto& in : n.input()) readers[in].push_back(&n);
  }
  static const std::vector<const onnx::NodeProto*> none;
  for (const auto& n : g->node()) {
    if (n.op_type() != "DequantizeLinear" || !(n.domain().empty() || n.domain() == "ai.onnx") || n.input_size() < 2 ||
        n.output_size() != 1)
      continue;
    if (kept_values.count(n.output(0))) {
      done[n.input(0)] = 1;  // shared with a rewritten reader: 8-bit wins, the float node needs it
      continue;
    }
    const int wi = find_initializer(*g, n.input(0)), si = find_initializer(*g, n.input(1));
    if (wi < 0 || si < 0 || is_graph_input(*g, n.input(0)) || done.count(n.input(0))) continue;
    if (g->initializer(wi).data_type() != onnx::TensorProto::INT8 || g->initializer(si).data_type() != onnx::TensorProto::FLOAT) continue;
    const auto r = readers.find(n.output(0));
    const auto& rs = r == readers.end() ? none : r->second;
    if (!rs.empty() && std::all_of(rs.begin(), rs.end(), [&](const onnx::NodeProto* x) { return exact_without_vnni(*x, g->initializer(wi)); }))
      continue;
    if (n.input_size() > 2 && !n.input(2).empty()) {
      const auto* z = find_constant(*g, n.input(2));
      if (!z) continue;
      auto zt = engine::tensor_from_proto(*z);
      if (zt.dtype != engine::DType::kI8 || std::any_of(zt.as<std::int8_t>(), zt.as<std::int8_t>() + zt.numel(), [](std::int8_t v) { return v != 0; }))
        continue;
    }
    done[n.input(0)] = 1;
    if (rewrite({&n, g->mutable_initializer(wi), g->mutable_initializer(si), &rs})) ++count;
  }
  return count;
}

bool halve(const Int8Weight& w) {
  auto q = engine::tensor_from_proto(*w.values);
  std::vector<std::int8_t> v(static_cast<std::size_t>(q.numel()));
  for (std::int64_t i = 0; i < q.numel(); ++i)
    v[static_cast<std::size_t>(i)] = static_cast<std::int8_t>(std::clamp(std::nearbyint(q.as<std::int8_t>()[i] / 2.f), -64.f, 63.f));
  set_int8_values(*w.values, v);
  auto s = engine::tensor_from_proto(*w.scale);
  std::vector<float> sv(s.as<float>(), s.as<float>() + s.numel());
  for (auto& x : sv) x *= 2.f;
  set_float_values(*w.scale, sv);
  return true;
}

// The pairing every reader agrees on; nullopt for a reader that is not a Conv, MatMul or Gemm
// reading it as its weight, or readers that disagree.
std::optional<WeightPairing> reader_pairing(const Int8Weight& w) {
  std::optional<WeightPairing> found;
  for (const auto* r : *w.readers) {
    if (r->input_size() < 2 || r->input(1) != w.dq->output(0)) return std::nullopt;
    auto p = pairing_of(*r, *w.values);
    if (!p || (found && found->kind != p->kind)) return std::nullopt;
    found = std::move(p);
  }
  return found;
}

bool fit(const Int8Weight& w) {
  const auto pairing = reader_pairing(w);
  if (!pairing || pairing->layout.channels == 0) return halve(w);  // unknown pairing: halving is safe for any
  auto q = engine::tensor_from_proto(*w.values);
  auto s = engine::tensor_from_proto(*w.scale);
  const auto& pairs = pairing->layout;
  const int axis = pairing->channel_axis;
  const auto rank = static_cast<std::int64_t>(q.shape.size());
  auto dq_axis = attr_int(*w.dq, "axis", 1);
  if (dq_axis < 0) dq_axis += rank;
  const bool per_channel = s.numel() == pairs.channels && s.numel() > 1 && dq_axis == axis;
  if (s.numel() != 1 && !per_channel) return halve(w);
  std::vector<std::int8_t> v(q.as<std::int8_t>(), q.as<std::int8_t>() + q.numel());
  auto safe = saturation_safe(v, pairs, per_channel);
  if (safe.changed_values == 0) return false;
  set_int8_values(*w.values, safe.values);
  std::vector<float> sv(s.as<float>(), s.as<float>() + s.numel());
  for (std::size_t c = 0; c < sv.size(); ++c) sv[c] /= safe.shrink[per_channel ? c : 0];
  set_float_values(*w.scale, sv);
  return true;
}

}  // namespace

onnx::ModelProto halve_int8_weights(const onnx::ModelProto& model, std::int64_t* changed, const std::set<std::string>& keep_for) {
  auto out = model;
  const auto count = for_each_int8_weight(out, keep_for, halve);
  if (changed) *changed = count;
  return out;
}

onnx::ModelProto fit_int8_weights(const onnx::ModelProto& model, std::int64_t* changed, const std::set<std::string>& keep_for) {
  auto out = model;
  const auto count = for_each_int8_weight(out, keep_for, fit);
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

NoVnniWeights no_vnni_weights(const onnx::ModelProto& model) {
  for (const auto& p : model.metadata_props())
    if (p.key() == kNoVnniWeightsKey) {
      if (p.value() == "float") return NoVnniWeights::kFloat;
      if (p.value() == "halve") return NoVnniWeights::kHalve;
      return NoVnniWeights::kFit;
    }
  return NoVnniWeights::kFit;
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
  const auto mode = no_vnni_weights(model);
  if (mode == NoVnniWeights::kFloat) return strip_activation_qdq(model, changed);
  const auto floats = float_nodes_without_vnni(model);
  std::int64_t rewritten = 0, rewired = 0;
  auto out = mode == NoVnniWeights::kHalve ? halve_int8_weights(model, &rewritten, floats) : fit_int8_weights(model, &rewritten, floats);
  if (!floats.empty()) out = strip_activation_qdq(out, &rewired, &floats);
  if (changed) *changed = rewritten + rewired;
  return out;
}

}  // namespace aifgen::quantize

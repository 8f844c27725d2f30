#include "core/quantize/equalization.h"

#include <algorithm>
#include <cmath>

#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"

namespace aifgen::quantize {
namespace {

bool standard_domain(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

// A float initializer read only once (by the node being rewritten), so rescaling it in place
// changes nothing else.
bool private_weight(const onnx::GraphProto& g, const std::unordered_map<std::string, int>& uses, const std::string& name) {
  auto it = uses.find(name);
  return !name.empty() && is_float_initializer(g, name) && it != uses.end() && it->second == 1;
}

std::vector<std::int64_t> dims_of(const onnx::TensorProto& t) { return {t.dims().begin(), t.dims().end()}; }

std::vector<float> floats_of(const onnx::TensorProto& t) {
  auto v = engine::tensor_from_proto(t);
  return {v.as<float>(), v.as<float>() + v.numel()};
}

void store(onnx::TensorProto& t, const std::vector<float>& v) {
  t.clear_float_data();
  t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
}

onnx::TensorProto& initializer(onnx::GraphProto& g, const std::string& name) { return *g.mutable_initializer(find_initializer(g, name)); }

// Output channels of a producer and the number of them; 0 when it cannot be rescaled.
std::int64_t producer_channels(const onnx::GraphProto& g, const onnx::NodeProto& n, const std::unordered_map<std::string, int>& uses) {
  if (!standard_domain(n) || n.input_size() < 2 || !private_weight(g, uses, n.input(1))) return 0;
  const auto w = dims_of(*find_constant(g, n.input(1)));
  std::int64_t c = 0;
  if (n.op_type() == "Conv" && w.size() >= 3) c = w[0];
  else if (n.op_type() == "MatMul" && w.size() == 2 && n.input_size() == 2) c = w[1];
  else if (n.op_type() == "Gemm" && w.size() == 2) c = attr_int(n, "transB", 0) ? w[0] : w[1];
  else return 0;
  if (n.input_size() >= 3 && !n.input(2).empty()) {
    if (!private_weight(g, uses, n.input(2))) return 0;
    const auto b = dims_of(*find_constant(g, n.input(2)));
    if (!(b.size() == 1 && b[0] == c)) return 0;  // a broadcast Gemm bias cannot follow the channels
  }
  return c;
}

// Whether `n` reads `value` as its data input with input channels `c` it can absorb; sets the
// channel axis of `value` it implies.
bool reader_absorbs(const onnx::GraphProto& g, const onnx::NodeProto& n, const std::string& value, std::int64_t c,
                    const std::unordered_map<std::string, int>& uses, int& axis) {
  if (!standard_domain(n) || n.input_size() < 2 || n.input(0) != value || !private_weight(g, uses, n.input(1))) return false;
  const auto w = dims_of(*find_constant(g, n.input(1)));
  if (n.op_type() == "Conv" && w.size() >= 3) {
    const std::int64_t per_group = w[1], groups = per_group > 0 ? c / per_group : 0;
    if (groups < 1 || per_group * groups != c || w[0] % groups != 0) return false;
    axis = 1;
    return true;
  }
  if (n.op_type() == "MatMul" && w.size() == 2 && w[0] == c) {
    axis = -1;
    return true;
  }
  if (n.op_type() == "Gemm" && w.size() == 2 && attr_int(n, "transA", 0) == 0 && (attr_int(n, "transB", 0) ? w[1] : w[0]) == c) {
    axis = -1;
    return true;
  }
  return false;
}

// Calls f(k, c) for every element k of a reader's weight (dims `d`) with the input channel c it
// multiplies: Conv [M, C/group, ...] by group, Gemm with transB [N, K], else [K, N].
template <class F>
void each_input_channel(const onnx::NodeProto& n, const std::vector<std::int64_t>& d, std::int64_t channels, F f) {
  if (n.op_type() == "Conv") {
    const std::int64_t per_group = d[1], groups = channels / per_group, out_per_group = d[0] / groups;
    std::int64_t inner = 1;
    for (std::size_t k = 2; k < d.size(); ++k) inner *= d[k];
    for (std::int64_t o = 0; o < d[0]; ++o)
      for (std::int64_t l = 0; l < per_group; ++l) {
        const auto ch = static_cast<std::size_t>((o / out_per_group) * per_group + l);
        for (std::int64_t i = 0; i < inner; ++i) f(static_cast<std::size_t>((o * per_group + l) * inner + i), ch);
      }
    return;
  }
  const bool k_major = !(n.op_type() == "Gemm" && attr_int(n, "transB", 0));
  for (std::int64_t a = 0; a < d[0]; ++a)
    for (std::int64_t b = 0; b < d[1]; ++b) f(static_cast<std::size_t>(a * d[1] + b), static_cast<std::size_t>(k_major ? a : b));
}

}  // namespace

std::vector<EqualizationSite> find_equalization_sites(const onnx::GraphProto& g) {
  const auto uses = value_use_counts(g);
  std::unordered_map<std::string, std::vector<int>> readers;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& in : g.node(i).input()) readers[in].push_back(i);
  std::vector<EqualizationSite> sites;
  for (int p = 0; p < g.node_size(); ++p) {
    const auto& prod = g.node(p);
    if (prod.output_size() != 1) continue;
    const std::int64_t c = producer_channels(g, prod, uses);
    if (c <= 1) continue;
    EqualizationSite s;
    s.producer = p;
    s.channels = c;
    s.value = prod.output(0);
    // Relu and LeakyRelu commute with a positive per-channel scale.
    const auto& first = readers[s.value];
    if (first.size() == 1 && uses.at(s.value) == 1) {
      const auto& act = g.node(first[0]);
      if (standard_domain(act) && (act.op_type() == "Relu" || act.op_type() == "LeakyRelu") && act.output_size() == 1) {
        s.activation = first[0];
        s.value = act.output(0);
      }
    }
    if (is_graph_output(g, s.value)) continue;
    const auto& rs = readers[s.value];
    auto use = uses.find(s.value);
    if (rs.empty() || use == uses.end() || use->second != static_cast<int>(rs.size())) continue;  // read elsewhere (a subgraph)
    bool ok = true;
    int axis = 0;
    for (int r : rs) {
      int a = 0;
      if (std::count(rs.begin(), rs.end(), r) != 1 || !reader_absorbs(g, g.node(r), s.value, c, uses, a) || (axis != 0 && a != axis)) {
        ok = false;
        break;
      }
      axis = a;
    }
    if (!ok) continue;
    s.readers = rs;
    s.channel_axis = axis;
    sites.push_back(s);
  }
  return sites;
}

nlohmann::json apply_equalization(onnx::GraphProto& g, const std::vector<EqualizationSite>& sites,
                                  const std::map<std::string, std::vector<float>>& channel_abs_max) {
  nlohmann::json applied = nlohmann::json::array();
  for (const auto& s : sites) {
    auto it = channel_abs_max.find(s.value);
    if (it == channel_abs_max.end() || static_cast<std::int64_t>(it->second.size()) != s.channels) continue;
    const auto& x = it->second;
    const auto c = static_cast<std::size_t>(s.channels);
    // The widest weight of each input channel over all readers.
    std::vector<float> w_max(c, 0.f);
    for (int r : s.readers) {
      const auto& n = g.node(r);
      const auto& t = *find_constant(g, n.input(1));
      const auto w = floats_of(t);
      each_input_channel(n, dims_of(t), s.channels, [&](std::size_t k, std::size_t ch) { w_max[ch] = std::max(w_max[ch], std::abs(w[k])); });
    }
    std::vector<float> scale(c, 1.f);
    float widest = 0, narrowest = INFINITY;
    for (std::size_t k = 0; k < c; ++k) {
      if (x[k] > 0 && w_max[k] > 0) scale[k] = std::clamp(std::sqrt(x[k] / w_max[k]), 1e-3f, 1e3f);
      if (x[k] > 0) {
        widest = std::max(widest, x[k]);
        narrowest = std::min(narrowest, x[k]);
      }
    }
    // Producer: output channel k divided by scale[k] (weights and bias).
    const auto& prod = g.node(s.producer);
    {
      auto& t = initializer(g, prod.input(1));
      const auto d = dims_of(t);
      auto w = floats_of(t);
      if (prod.op_type() == "Conv") {
        const std::size_t inner = w.size() / c;
        for (std::size_t k = 0; k < c; ++k)
          for (std::size_t i = 0; i < inner; ++i) w[k * inner + i] /= scale[k];
      } else {
        const bool n_major = prod.op_type() == "Gemm" && attr_int(prod, "transB", 0);  // [N, K]
        for (std::int64_t a = 0; a < d[0]; ++a)
          for (std::int64_t b = 0; b < d[1]; ++b) w[static_cast<std::size_t>(a * d[1] + b)] /= scale[static_cast<std::size_t>(n_major ? a : b)];
      }
      store(t, w);
      if (prod.input_size() >= 3 && !prod.input(2).empty()) {
        auto& bt = initializer(g, prod.input(2));
        auto b = floats_of(bt);
        for (std::size_t k = 0; k < c; ++k) b[k] /= scale[k];
        store(bt, b);
      }
    }
    // Readers: input channel k multiplied by scale[k].
    for (int r : s.readers) {
      const auto& n = g.node(r);
      auto& t = initializer(g, n.input(1));
      auto w = floats_of(t);
      each_input_channel(n, dims_of(t), s.channels, [&](std::size_t k, std::size_t ch) { w[k] *= scale[ch]; });
      store(t, w);
    }
    applied.push_back({{"value", s.value}, {"channels", s.channels}, {"readers", s.readers.size()},
                       {"channel_range_ratio_before", narrowest > 0 && std::isfinite(narrowest) ? widest / narrowest : 0.0}});
  }
  return applied;
}

}  // namespace aifgen::quantize

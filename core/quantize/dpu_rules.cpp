#include "core/quantize/dpu_rules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <cstring>
#include <set>

#include "core/passes/graph_edit.h"
#include "core/passes/quantize_dpu_layout.h"

namespace aifgen::quantize {
namespace {

const std::set<std::string> kFusedActivations = {"Relu", "Clip", "LeakyRelu"};
const std::set<std::string> kPools = {"MaxPool", "AveragePool", "GlobalAveragePool"};

float scalar_float(const onnx::TensorProto& t) {
  if (t.float_data_size() > 0) return t.float_data(0);
  if (t.raw_data().size() >= sizeof(float)) {
    float v;
    std::memcpy(&v, t.raw_data().data(), sizeof v);
    return v;
  }
  return NAN;
}

class Checker {
 public:
  explicit Checker(const onnx::GraphProto& g) : g_(g) {
    for (int i = 0; i < g.node_size(); ++i) {
      for (const auto& out : g.node(i).output()) producer_[out] = i;
      for (const auto& in : g.node(i).input()) consumers_[in].push_back(i);
    }
  }

  std::vector<std::string> run() {
    for (int i = 0; i < g_.node_size(); ++i) {
      const auto& n = g_.node(i);
      const std::string& op = n.op_type();
      if (n.doc_string() == kCpuFallbackMark) continue;  // left to the CPU on purpose
      if (op == "QuantizeLinear" || op == "DequantizeLinear") check_qdq(n);
      // Only ops with a constant weight can go to the DPU; one whose weight arrives at run time
      // stays on the CPU (the partition says so) and has nothing to meet here.
      const bool weighted = (op == "Conv" || op == "ConvTranspose" || op == "Gemm" || op == "MatMul") && n.input_size() >= 2 &&
                            (find_constant(g_, n.input(1)) || weight_source(n.input(1)) || int8_weight(n.input(1)));
      if (weighted) check_weighted(n);
      // An Add or Concat none of whose inputs is dequantized is integer or shape arithmetic that
      // stays on the CPU (the partition says so), not a DPU op missing its quantization.
      if ((op == "Add" || op == "Concat") && !any_dequantized_input(n)) continue;
      if (op == "Add") check_add(n);
      if (op == "Concat") check_concat(n);
      if (kPools.count(op)) check_pool(n);
    }
    return problems_;
  }

 private:
  void problem(const onnx::NodeProto& n, const std::string& what) { problems_.push_back(n.op_type() + " '" + n.name() + "': " + what); }

  const onnx::NodeProto* producer(const std::string& t) const {
    auto it = producer_.find(t);
    return it == producer_.end() ? nullptr : &g_.node(it->second);
  }

  // Position of the Q/DQ pair that `t` comes out of (t = DQ output), if any.
  std::optional<int> dq_position(const std::string& t) const {
    const auto* dq = producer(t);
    if (!dq || dq->op_type() != "DequantizeLinear" || dq->input_size() < 2) return std::nullopt;
    const auto* s = find_constant(g_, dq->input(1));
    if (!s) return std::nullopt;
    return position_of(scalar_float(*s));
  }

  // Position at which `t` (an op's output) is quantized: a QuantizeLinear reading it, or reading
  // the output of the single fused activation after it.
  std::optional<int> output_position(const std::string& t) const {
    auto it = consumers_.find(t);
    if (it == consumers_.end()) return std::nullopt;
    for (int c : it->second) {
      const auto& n = g_.node(c);
      if (n.op_type() == "QuantizeLinear") {
        if (const auto* s = find_constant(g_, n.input(1))) return position_of(scalar_float(*s));
      }
    }
    if (it->second.size() == 1 && kFusedActivations.count(g_.node(it->second[0]).op_type()))
      return output_position(g_.node(it->second[0]).output(0));
    return std::nullopt;
  }

  bool any_dequantized_input(const onnx::NodeProto& n) const {
    for (const auto& in : n.input())
      if (dq_position(in)) return true;
    return false;
  }

  // A constant already quantized, behind DequantizeLinear alone (the standard QDQ layout).
  bool int8_weight(const std::string& t) const {
    const auto* dq = producer(t);
    return dq && dq->op_type() == "DequantizeLinear" && find_constant(g_, dq->input(0)) != nullptr;
  }

  // The float initializer behind DQ(Q(initializer)), or nullptr.
  const onnx::TensorProto* weight_source(const std::string& t) const {
    const auto* dq = producer(t);
    if (!dq || dq->op_type() != "DequantizeLinear") return nullptr;
    const auto* q = producer(dq->input(0));
    if (!q || q->op_type() != "QuantizeLinear") return nullptr;
    const auto* w = find_constant(g_, q->input(0));
    return w && w->data_type() == onnx::TensorProto::FLOAT ? w : nullptr;
  }

  void check_qdq(const onnx::NodeProto& n) {
    if (n.input_size() < 3) return problem(n, "needs an explicit int8 zero point");
    const auto* s = find_constant(g_, n.input(1));
    const auto* z = find_constant(g_, n.input(2));
    if (!s || !z) return problem(n, "scale and zero point must be constants");
    if (s->dims_size() > 0 && !(s->dims_size() == 1 && s->dims(0) == 1)) problem(n, "per-channel scales: the DPU takes one position per tensor");
    const float v = scalar_float(*s);
    if (!(v > 0) || std::ldexp(1.f, -position_of(v)) != v) problem(n, "scale " + std::to_string(v) + " is not a power of two");
    if (z->data_type() != onnx::TensorProto::INT8) problem(n, "zero point must be int8");
    const bool zero = (z->int32_data_size() == 0 || z->int32_data(0) == 0) && (z->raw_data().empty() || z->raw_data()[0] == 0);
    if (!zero) problem(n, "zero point must be 0 (symmetric)");
  }

  void check_weighted(const onnx::NodeProto& n) {
    const auto ipos = dq_position(n.input(0));
    if (!ipos) return problem(n, "input is not dequantized from int8");
    if (n.input_size() < 2 || !weight_source(n.input(1))) return problem(n, "weight is not a float initializer behind QuantizeLinear -> DequantizeLinear");
    const int wpos = *dq_position(n.input(1));
    const auto opos = output_position(n.output(0));
    if (!opos) return problem(n, "output is not quantized");
    const int shift_cut = wpos + *ipos - *opos;
    if (shift_cut < 0 || shift_cut > 16) problem(n, "shift_cut " + std::to_string(shift_cut) + " outside [0, 16]");
    if (n.input_size() > 2 && !n.input(2).empty()) {
      if (!weight_source(n.input(2))) return problem(n, "bias is not a float initializer behind QuantizeLinear -> DequantizeLinear");
      const int shift_bias = wpos + *ipos - *dq_position(n.input(2));
      const int lo = std::min(0, -(24 - (8 + shift_cut)));
      if (shift_bias < lo || shift_bias > 16)
        problem(n, "shift_bias " + std::to_string(shift_bias) + " outside [" + std::to_string(lo) + ", 16]");
    }
  }

  void check_add(const onnx::NodeProto& n) {
    std::vector<int> ipos;
    for (const auto& in : n.input()) {
      if (find_constant(g_, in)) continue;
      auto p = dq_position(in);
      if (!p) return problem(n, "input '" + in + "' is not dequantized from int8");
      ipos.push_back(*p);
    }
    const auto opos = output_position(n.output(0));
    if (!opos) return problem(n, "output is not quantized");
    if (ipos.empty()) return;
    const auto [lo, hi] = std::minmax_element(ipos.begin(), ipos.end());
    if (*hi - *lo > 15) problem(n, "shift_read " + std::to_string(*hi - *lo) + " above 15");
    if (*lo - *opos < -15 || *lo - *opos > 15) problem(n, "shift_write " + std::to_string(*lo - *opos) + " outside [-15, 15]");
  }

  void check_concat(const onnx::NodeProto& n) {
    const auto opos = output_position(n.output(0));
    if (!opos) return problem(n, "output is not quantized");
    for (const auto& in : n.input()) {
      auto p = dq_position(in);
      if (!p) return problem(n, "input '" + in + "' is not dequantized from int8");
      if (*p != *opos) problem(n, "input position " + std::to_string(*p) + " differs from the output's " + std::to_string(*opos));
    }
  }

  void check_pool(const onnx::NodeProto& n) {
    const auto ipos = dq_position(n.input(0));
    const auto opos = output_position(n.output(0));
    if (!ipos || !opos) return problem(n, "input and output must both be quantized");
    if (*ipos != *opos) problem(n, "input position " + std::to_string(*ipos) + " differs from the output's " + std::to_string(*opos));
  }

  const onnx::GraphProto& g_;
  std::map<std::string, int> producer_;
  std::map<std::string, std::vector<int>> consumers_;
  std::vector<std::string> problems_;
};

}  // namespace

int position_of(float scale) { return static_cast<int>(std::lround(-std::log2(static_cast<double>(scale)))); }

std::vector<std::string> check_dpu_qdq(const onnx::GraphProto& graph) { return Checker(graph).run(); }

}  // namespace aifgen::quantize

// Pass "convert_fp16": weights and compute in float16, Casts only where fp16 and fp32 regions
// meet.
//
// Options: keep_io_types (true | false, default true: graph inputs and outputs stay float32),
// block_ops (comma list replacing the default list of ops kept in float32), range_check (true |
// false, default true: run the float32 model on the calibration samples, or synthetic ones, and
// keep in float32 every op whose inputs or outputs leave fp16's range; see fp16_range_check.h).
//
// An op runs in fp16 when it is on the convertible list below, not blocked, and its float
// inputs are float32 in the source. Ops whose range or accumulation is fragile in fp16 stay
// float32 by default: Exp, Log, Pow, Softmax/LogSoftmax and the reductions (which sit before
// Softmax and inside LayerNormalization), plus ops that compute indices or sizes from floats.
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/base/error.h"
#include "core/passes/fp16_range_check.h"
#include "core/engine/control_flow.h"
#include "core/onnx_model.h"
#include "core/numeric/half.h"
#include "core/passes/graph_edit.h"
#include "core/passes/pass.h"
#include "core/passes/pass_manager.h"
#include "core/engine/tensor.h"

namespace aifgen {
namespace {

constexpr int kAll = -1;

// Convertible ops and which inputs carry the float data type T (kAll = every float input).
const std::map<std::string, std::vector<int>>& convertible_ops() {
  static const std::map<std::string, std::vector<int>> ops = {
      {"Conv", {kAll}}, {"ConvTranspose", {kAll}}, {"MatMul", {kAll}}, {"Gemm", {kAll}}, {"Add", {kAll}},
      {"Sub", {kAll}}, {"Mul", {kAll}}, {"Div", {kAll}}, {"Relu", {kAll}}, {"LeakyRelu", {kAll}},
      {"PRelu", {kAll}}, {"Sigmoid", {kAll}}, {"Tanh", {kAll}}, {"HardSigmoid", {kAll}}, {"HardSwish", {kAll}},
      {"Erf", {kAll}}, {"Sqrt", {kAll}}, {"Abs", {kAll}}, {"Neg", {kAll}}, {"MaxPool", {0}},
      {"AveragePool", {kAll}}, {"GlobalAveragePool", {kAll}}, {"GlobalMaxPool", {kAll}}, {"Concat", {kAll}},
      {"Transpose", {kAll}}, {"Flatten", {kAll}}, {"Identity", {kAll}}, {"BatchNormalization", {kAll}},
      {"Max", {kAll}}, {"Min", {kAll}}, {"Sum", {kAll}}, {"Clip", {kAll}}, {"Where", {1, 2}}, {"Elu", {kAll}},
      {"Softplus", {kAll}}, {"Reshape", {0}}, {"Squeeze", {0}}, {"Unsqueeze", {0}}, {"Slice", {0}},
      {"Gather", {0}}, {"Expand", {0}}, {"Tile", {0}}, {"Pad", {0, 2}}, {"Split", {0}}, {"Resize", {0}},
      {"DepthToSpace", {kAll}}, {"SpaceToDepth", {kAll}},
  };
  return ops;
}

const std::set<std::string> kDefaultBlocked = {"Exp", "Log", "Pow", "Softmax", "LogSoftmax", "ReduceMean", "ReduceSum",
                                               "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp", "ReduceProd",
                                               "LayerNormalization", "Range", "CumSum", "TopK", "NonMaxSuppression"};

constexpr float kHalfMax = 65504.f;

bool parse_bool(const std::string& pass, const std::string& key, const std::string& v) {
  if (v == "true") return true;
  if (v == "false") return false;
  throw Error(ErrorCode::kInvalidArgument, "bad-pass-option", pass + ": " + key + " must be true or false");
}

class ConvertFp16Pass final : public Pass {
 public:
  ConvertFp16Pass(const PassOptions& o, const PassEnv& env) : blocked_(kDefaultBlocked), env_(env) {
    check_pass_options("convert_fp16", o, {"keep_io_types", "block_ops", "range_check"});
    if (auto it = o.find("keep_io_types"); it != o.end()) keep_io_ = parse_bool("convert_fp16", "keep_io_types", it->second);
    if (auto it = o.find("range_check"); it != o.end()) range_check_ = parse_bool("convert_fp16", "range_check", it->second);
    if (auto it = o.find("block_ops"); it != o.end()) {
      blocked_.clear();
      std::stringstream ss(it->second);
      std::string op;
      while (std::getline(ss, op, ','))
        if (!op.empty()) blocked_.insert(op);
    }
  }
  std::string name() const override { return "convert_fp16"; }

  PassCounts run(onnx::ModelProto& model) override {
    auto* g = model.mutable_graph();
    // If, Loop and Scan stay float32, bodies included, and a body reads values of this graph by
    // name, not as node inputs: the values a body reads stay float32 too (their producers run in
    // float32, with Casts before them as for any float32 node). A detector's NMS and mask
    // pasting sit in such bodies; its backbone and heads still run in fp16.
    std::set<std::string> body_reads;
    for (const auto& n : g->node())
      for (const auto& a : n.attribute()) {
        if (a.has_g())
          for (const auto& r : engine::outer_scope_reads(a.g())) body_reads.insert(r);
        for (const auto& sub : a.graphs())
          for (const auto& r : engine::outer_scope_reads(sub)) body_reads.insert(r);
      }
    types_ = value_types(model);
    if (range_check_) check_ranges(model);

    google::protobuf::RepeatedPtrField<onnx::NodeProto> out;
    std::int64_t fp16_nodes = 0, fp32_nodes = 0, kept_for_bodies = 0;
    if (!keep_io_)
      for (auto& in : *g->mutable_input())
        if (is_float(in.name()) && find_initializer(*g, in.name()) < 0 && !body_reads.count(in.name())) {
          in.mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT16);
          half_.insert(in.name());
        }
    for (int i = 0; i < g->node_size(); ++i) {
      onnx::NodeProto node = g->node(i);
      bool read_by_body = false;
      for (const auto& o : node.output()) read_by_body = read_by_body || body_reads.count(o);
      if (read_by_body && runs_in_fp16(node)) ++kept_for_bodies;
      if (runs_in_fp16(node) && !range_kept_.count(i) && !read_by_body) {
        ++fp16_nodes;
        const auto& which = convertible_ops().at(node.op_type());
        for (int k = 0; k < node.input_size(); ++k) {
          const bool data = which[0] == kAll || std::find(which.begin(), which.end(), k) != which.end();
          if (data && !node.input(k).empty() && (is_float(node.input(k)) || half_.count(node.input(k))))
            node.set_input(k, as_half(*g, node.input(k), out));
        }
        for (const auto& o : node.output())
          if (is_float(o)) half_.insert(o);
      } else {
        if (node.op_type() != "Constant") ++fp32_nodes;
        for (int k = 0; k < node.input_size(); ++k)
          if (half_.count(node.input(k))) node.set_input(k, as_float(node.input(k), out));
      }
      *out.Add() = std::move(node);
    }
    g->mutable_node()->Swap(&out);
    for (auto& o : *g->mutable_output()) {
      if (!half_.count(o.name())) continue;
      if (keep_io_) {
        // The graph output keeps its name and float32 type: the fp16 producer writes a new name.
        const std::string h = o.name() + "_fp16";
        rename_uses(*g, o.name(), h);
        for (auto& n : *g->mutable_node())
          for (auto& name : *n.mutable_output())
            if (name == o.name()) name = h;
        *g->add_node() = cast_node(h, o.name(), onnx::TensorProto::FLOAT);
        ++casts_;
      } else {
        o.mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT16);
      }
    }
    drop_unused_initializers(*g);
    try {
      reinfer_shapes(model);
    } catch (const Error& e) {
      throw Error(ErrorCode::kInternal, "fp16-conversion-invalid", std::string("the fp16 model fails type inference: ") + e.what());
    }
    return {{"nodes_fp16", fp16_nodes}, {"nodes_fp32", fp32_nodes}, {"casts_inserted", casts_},
            {"initializers_converted", initializers_}, {"values_clamped", clamped_},
            {"nodes_kept_for_range", static_cast<std::int64_t>(kept_for_range_.size())},
            {"nodes_kept_for_control_flow", kept_for_bodies}};
  }

  nlohmann::json details() const override {
    if (!range_check_) return {{"range_check", "off"}};
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& [node, why] : kept_for_range_) kept.push_back({{"node", node.first}, {"op", node.second}, {"reason", why}});
    return {{"range_check", range_note_}, {"kept_float_for_range", kept}};
  }

 private:
  static std::unordered_map<std::string, int> value_types(const onnx::ModelProto& model) {
    auto copy = model;
    reinfer_shapes(copy, /*check_types=*/false);
    std::unordered_map<std::string, int> types;
    const auto& g = copy.graph();
    for (const auto* list : {&g.input(), &g.value_info(), &g.output()})
      for (const auto& v : *list)
        if (v.type().has_tensor_type()) types[v.name()] = v.type().tensor_type().elem_type();
    for (const auto& t : g.initializer()) types[t.name()] = t.data_type();
    for (const auto& n : g.node())
      if (n.op_type() == "Constant" && n.output_size() == 1)
        for (const auto& a : n.attribute())
          if (a.name() == "value") types[n.output(0)] = a.t().data_type();
    return types;
  }

  bool is_float(const std::string& name) const {
    auto it = types_.find(name);
    return it != types_.end() && it->second == onnx::TensorProto::FLOAT;
  }

  static std::string node_label(const onnx::NodeProto& n, int index) {
    return n.name().empty() ? n.op_type() + "#" + std::to_string(index) : n.name();
  }

  // Observes every float value an fp16 candidate reads or writes on the samples and marks the
  // candidates whose values fp16 cannot hold. A model the engine cannot run is converted
  // without the check, and the report says so.
  void check_ranges(const onnx::ModelProto& model) {
    const auto& g = model.graph();
    std::set<std::string> initializers;
    for (const auto& t : g.initializer()) initializers.insert(t.name());
    std::set<std::string> zero_sensitive;  // values read by Log, Reciprocal or as a divisor
    for (const auto& n : g.node()) {
      if ((n.op_type() == "Log" || n.op_type() == "Reciprocal") && n.input_size() > 0) zero_sensitive.insert(n.input(0));
      if (n.op_type() == "Div" && n.input_size() > 1) zero_sensitive.insert(n.input(1));
    }
    std::vector<std::string> values;
    std::set<std::string> seen;
    for (const auto& n : g.node()) {
      if (!runs_in_fp16(n)) continue;
      for (const auto* list : {&n.input(), &n.output()})
        for (const auto& v : *list)
          if (!v.empty() && is_float(v) && !initializers.count(v) && seen.insert(v).second) values.push_back(v);
    }
    std::map<std::string, ObservedRange> ranges;
    try {
      // Up to 8 of the user's samples; 3 synthetic ones otherwise (their ranges say less, and
      // exposing every value makes each run several times slower than inference).
      auto split = split_samples(model, env_.calibration, env_.calibration ? 8 : 3);
      ranges = observe_ranges(model, values, split.calibrate, env_.threads);
      range_note_ = "observed on " + std::to_string(split.calibrate.size()) + " " + (split.synthetic ? "synthetic" : "calibration") +
                    " sample(s)";
    } catch (const std::exception& e) {
      range_note_ = std::string("not done: the float32 model could not be run to observe ranges (") + e.what() + ")";
      return;
    }
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      if (!runs_in_fp16(n)) continue;
      std::string why;
      for (const auto* list : {&n.input(), &n.output()})
        for (const auto& v : *list) {
          auto it = ranges.find(v);
          if (!why.empty() || it == ranges.end()) continue;
          if (auto p = fp16_range_problem(it->second, zero_sensitive.count(v) > 0); !p.empty()) why = "'" + v + "' " + p;
        }
      if (!why.empty()) {
        kept_for_range_.push_back({{node_label(n, i), n.op_type()}, why});
        range_kept_.insert(i);
      }
    }
  }

  bool runs_in_fp16(const onnx::NodeProto& n) const {
    if (!(n.domain().empty() || n.domain() == "ai.onnx")) return false;
    auto it = convertible_ops().find(n.op_type());
    if (it == convertible_ops().end() || blocked_.count(n.op_type())) return false;
    bool any_float_out = false;
    for (const auto& o : n.output()) any_float_out = any_float_out || is_float(o);
    return any_float_out;
  }

  // The fp16 version of `name`: converted constants, fp16 values as they are, a Cast otherwise.
  std::string as_half(onnx::GraphProto& g, const std::string& name, google::protobuf::RepeatedPtrField<onnx::NodeProto>& out) {
    if (half_.count(name)) return name;
    if (auto it = half_copy_.find(name); it != half_copy_.end()) return it->second;
    const std::string h = name + "_fp16";
    if (const auto* c = find_constant(g, name)) {
      auto t = engine::tensor_from_proto(*c);
      onnx::TensorProto p;
      p.set_name(h);
      p.set_data_type(onnx::TensorProto::FLOAT16);
      for (auto d : c->dims()) p.add_dims(d);
      std::string raw(static_cast<std::size_t>(t.numel()) * 2, '\0');
      auto* bits = reinterpret_cast<std::uint16_t*>(raw.data());
      for (std::int64_t i = 0; i < t.numel(); ++i) {
        float v = t.as<float>()[i];
        if (std::abs(v) > kHalfMax && std::isfinite(v)) {
          v = std::copysign(kHalfMax, v);
          ++clamped_;
        }
        bits[i] = float_to_half_bits(v);
      }
      p.set_raw_data(raw);
      *g.add_initializer() = std::move(p);
      ++initializers_;
    } else {
      *out.Add() = cast_node(name, h, onnx::TensorProto::FLOAT16);
      ++casts_;
    }
    half_copy_[name] = h;
    return h;
  }

  std::string as_float(const std::string& name, google::protobuf::RepeatedPtrField<onnx::NodeProto>& out) {
    if (auto it = float_copy_.find(name); it != float_copy_.end()) return it->second;
    const std::string f = name + "_fp32";
    *out.Add() = cast_node(name, f, onnx::TensorProto::FLOAT);
    ++casts_;
    float_copy_[name] = f;
    return f;
  }

  bool keep_io_ = true;
  bool range_check_ = true;
  std::set<std::string> blocked_;
  PassEnv env_;
  std::string range_note_;
  std::set<int> range_kept_;  // node indices kept in float32 for their ranges
  std::vector<std::pair<std::pair<std::string, std::string>, std::string>> kept_for_range_;  // ((node, op), why)
  std::unordered_map<std::string, int> types_;
  std::set<std::string> half_;                                   // values that are fp16 now
  std::unordered_map<std::string, std::string> half_copy_, float_copy_;
  std::int64_t casts_ = 0, initializers_ = 0, clamped_ = 0;
};

}  // namespace

std::unique_ptr<Pass> make_convert_fp16_pass(const PassOptions& options, const PassEnv& env) {
  return std::make_unique<ConvertFp16Pass>(options, env);
}

}  // namespace aifgen

// Pass "fuse_conv_activation": Conv followed by its only reader, an activation (Relu,
// LeakyRelu, Clip with constant bounds, Sigmoid, Tanh, HardSigmoid, HardSwish), becomes one
// com.aifgen.FusedConv node (see aifgen_ops.h). Only for targets run by aifgen's engine: the
// result is no longer standard ONNX. Runs last in a pipeline, after shape inference, because
// ONNX shape inference does not know the private op.
#include "core/engine/tensor.h"
#include "core/onnx_model.h"
#include "core/passes/aifgen_ops.h"
#include "core/passes/graph_edit.h"
#include "core/passes/pass.h"

namespace aifgen {
namespace {

bool is_op(const onnx::NodeProto& n, const char* op) { return n.op_type() == op && (n.domain().empty() || n.domain() == "ai.onnx"); }

// Reads an optional scalar float bound of Clip (opset >= 11 inputs).
bool clip_bound(const onnx::GraphProto& g, const onnx::NodeProto& n, int k, float dflt, float& out) {
  if (k >= n.input_size() || n.input(k).empty()) {
    out = dflt;
    return true;
  }
  const auto* t = find_constant(g, n.input(k));
  if (!t || t->data_type() != onnx::TensorProto::FLOAT) return false;
  auto v = engine::tensor_from_proto(*t);
  if (v.numel() != 1) return false;
  out = v.as<float>()[0];
  return true;
}

class FuseConvActivationPass final : public Pass {
 public:
  std::string name() const override { return "fuse_conv_activation"; }

  PassCounts run(onnx::ModelProto& model) override {
    auto& g = *model.mutable_graph();
    const auto opset = default_opset(model);
    std::int64_t fused = 0;
    auto uses = value_use_counts(g);
    std::unordered_map<std::string, int> reader;
    for (int i = 0; i < g.node_size(); ++i)
      for (const auto& in : g.node(i).input()) reader[in] = i;
    std::vector<bool> drop(static_cast<std::size_t>(g.node_size()), false);
    for (int i = 0; i < g.node_size(); ++i) {
      auto& conv = *g.mutable_node(i);
      if (!is_op(conv, "Conv") || conv.output_size() != 1) continue;
      const auto& y = conv.output(0);
      if (uses[y] != 1 || is_graph_output(g, y) || !reader.count(y)) continue;
      const int j = reader[y];
      const auto& act = g.node(j);
      if (act.input_size() < 1 || act.input(0) != y || act.output_size() != 1) continue;
      std::vector<float> params;
      if (is_op(act, "Relu") || is_op(act, "Sigmoid") || is_op(act, "Tanh") || is_op(act, "HardSwish")) {
      } else if (is_op(act, "LeakyRelu")) {
        params = {attr_float(act, "alpha", 0.01f)};
      } else if (is_op(act, "HardSigmoid")) {
        params = {attr_float(act, "alpha", 0.2f), attr_float(act, "beta", 0.5f)};
      } else if (is_op(act, "Clip")) {
        float lo, hi;
        if (opset < 11) {
          lo = attr_float(act, "min", -3.4028235e38f);
          hi = attr_float(act, "max", 3.4028235e38f);
        } else if (!clip_bound(g, act, 1, -3.4028235e38f, lo) || !clip_bound(g, act, 2, 3.4028235e38f, hi)) {
          continue;
        }
        params = {lo, hi};
      } else {
        continue;
      }
      conv.set_domain(kAifgenDomain);
      conv.set_op_type("FusedConv");
      conv.set_output(0, act.output(0));
      auto* a = conv.add_attribute();
      a->set_name("activation");
      a->set_type(onnx::AttributeProto::STRING);
      a->set_s(act.op_type());
      if (!params.empty()) {
        auto* p = conv.add_attribute();
        p->set_name("activation_params");
        p->set_type(onnx::AttributeProto::FLOATS);
        for (float v : params) p->add_floats(v);
      }
      drop[static_cast<std::size_t>(j)] = true;
      ++fused;
    }
    if (fused) {
      google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
      for (int i = 0; i < g.node_size(); ++i)
        if (!drop[static_cast<std::size_t>(i)]) *kept.Add() = g.node(i);
      g.mutable_node()->Swap(&kept);
      bool has_domain = false;
      for (const auto& op : model.opset_import()) has_domain = has_domain || op.domain() == kAifgenDomain;
      if (!has_domain) {
        auto* op = model.add_opset_import();
        op->set_domain(kAifgenDomain);
        op->set_version(1);
      }
      // The convolutions' own outputs are gone; their value_info would describe nothing.
      google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> vi;
      auto now = value_use_counts(g);
      for (const auto& v : g.value_info())
        if (now.count(v.name()) || producer_of(g, v.name()) >= 0) *vi.Add() = v;
      g.mutable_value_info()->Swap(&vi);
    }
    return {{"convs_fused", fused}};
  }
};

}  // namespace

std::unique_ptr<Pass> make_fuse_conv_activation_pass() { return std::make_unique<FuseConvActivationPass>(); }

}  // namespace aifgen

// Pass "fold_batchnorm": folds an inference-mode BatchNormalization into the Conv feeding it.
//
//   y = gamma * (conv(x, W) + b - mean) / sqrt(var + eps) + beta
//     = conv(x, W * s) + (b - mean) * s + beta,   s = gamma / sqrt(var + eps)  (per channel)
//
// Applies only when it is exact: float32 Conv whose output feeds nothing but this BN, BN with a
// single output (no training statistics), and every parameter a constant (initializer or
// Constant node, as Paddle exports them). Weights
// shared with another node are copied under a new name instead of being changed in place.
#include <cmath>

#include "core/base/error.h"
#include "core/passes/graph_edit.h"
#include "core/passes/pass.h"
#include "core/tensor_util.h"

namespace aifgen {

class FoldBatchNormPass final : public Pass {
 public:
  std::string name() const override { return "fold_batchnorm"; }

  PassCounts run(onnx::ModelProto& model) override {
    auto& g = *model.mutable_graph();
    std::int64_t folded = 0, skipped = 0;
    for (int bn_idx = 0; bn_idx < g.node_size(); ++bn_idx) {
      const auto& bn = g.node(bn_idx);
      if (bn.op_type() != "BatchNormalization" || !(bn.domain().empty() || bn.domain() == "ai.onnx"))
        continue;
      if (fold_one(g, bn_idx)) {
        g.mutable_node()->DeleteSubrange(bn_idx, 1);
        --bn_idx;
        ++folded;
      } else {
        ++skipped;
      }
    }
    return {{"batchnorms_folded", folded}, {"batchnorms_kept", skipped}};
  }

 private:
  static const onnx::TensorProto* constant(const onnx::GraphProto& g, const std::string& name) {
    return find_constant(g, name);
  }

  // Returns true when the BN at `bn_idx` was folded into its Conv (the caller deletes the BN).
  static bool fold_one(onnx::GraphProto& g, int bn_idx) {
    const auto bn = g.node(bn_idx);  // copy: the node list is edited below
    if (bn.input_size() != 5 || bn.output_size() < 1) return false;
    for (int i = 1; i < bn.output_size(); ++i)
      if (!bn.output(i).empty()) return false;
    if (attr_int(bn, "training_mode", 0) != 0) return false;
    int conv_idx = producer_of(g, bn.input(0));
    if (conv_idx < 0) return false;
    const auto& conv = g.node(conv_idx);
    if (conv.op_type() != "Conv" || !(conv.domain().empty() || conv.domain() == "ai.onnx")) return false;
    auto uses = value_use_counts(g);
    if (uses[conv.output(0)] != 1) return false;

    const auto* w = constant(g, conv.input(1));
    const onnx::TensorProto* b = conv.input_size() > 2 && !conv.input(2).empty() ? constant(g, conv.input(2)) : nullptr;
    if (conv.input_size() > 2 && !conv.input(2).empty() && !b) return false;
    const auto *gamma = constant(g, bn.input(1)), *beta = constant(g, bn.input(2));
    const auto *mean = constant(g, bn.input(3)), *var = constant(g, bn.input(4));
    if (!w || !gamma || !beta || !mean || !var || w->dims_size() < 3) return false;
    for (const auto* t : {w, gamma, beta, mean, var})
      if (t->data_type() != onnx::TensorProto::FLOAT) return false;
    if (b && b->data_type() != onnx::TensorProto::FLOAT) return false;

    const std::int64_t m = w->dims(0);
    auto wv = read_floats(*w);
    auto gv = read_floats(*gamma), bv = read_floats(*beta), mv = read_floats(*mean), vv = read_floats(*var);
    std::vector<float> biasv = b ? read_floats(*b) : std::vector<float>(static_cast<std::size_t>(m), 0.f);
    for (const auto* v : {&gv, &bv, &mv, &vv, &biasv})
      if (static_cast<std::int64_t>(v->size()) != m) return false;
    const float eps = attr_float(bn, "epsilon", 1e-5f);

    const std::size_t per_out = wv.size() / static_cast<std::size_t>(m);
    for (std::int64_t c = 0; c < m; ++c) {
      const double s = static_cast<double>(gv[c]) / std::sqrt(static_cast<double>(vv[c]) + eps);
      for (std::size_t k = 0; k < per_out; ++k) wv[c * per_out + k] = static_cast<float>(wv[c * per_out + k] * s);
      biasv[c] = static_cast<float>((static_cast<double>(biasv[c]) - mv[c]) * s + bv[c]);
    }

    // Write new tensors under fresh names so shared initializers keep their old values.
    auto& conv_mut = *g.mutable_node(conv_idx);
    const std::string w_name = unique_name(g, conv.input(1) + "_bnfolded");
    const std::string b_name = unique_name(g, bn.output(0) + "_bias_bnfolded");
    auto* w_new = g.add_initializer();
    w_new->set_name(w_name);
    w_new->set_data_type(onnx::TensorProto::FLOAT);
    *w_new->mutable_dims() = w->dims();
    write_floats(*w_new, wv);
    auto* b_new = g.add_initializer();
    b_new->set_name(b_name);
    b_new->set_data_type(onnx::TensorProto::FLOAT);
    b_new->add_dims(m);
    write_floats(*b_new, biasv);
    conv_mut.set_input(1, w_name);
    if (conv_mut.input_size() > 2) conv_mut.set_input(2, b_name);
    else conv_mut.add_input(b_name);
    conv_mut.set_output(0, bn.output(0));  // the Conv now produces what the BN produced
    return true;
  }

  static std::string unique_name(const onnx::GraphProto& g, const std::string& base) {
    std::string name = base;
    for (int i = 1; find_initializer(g, name) >= 0; ++i) name = base + "_" + std::to_string(i);
    return name;
  }
};

std::unique_ptr<Pass> make_fold_batchnorm_pass() { return std::make_unique<FoldBatchNormPass>(); }

}  // namespace aifgen

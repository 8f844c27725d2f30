// Pass "eliminate_identity": removes Identity nodes (and Dropout nodes whose mask output is
// unused, which are identities at inference) by wiring their readers to their input. A Dropout
// told to train is kept unless its ratio is a constant 0: torchvision's Swin exports its
// attention dropouts that way (training_mode true, ratio 0), and those scale by 1/(1-0) and
// drop nothing. Option `dropout_only=true` leaves Identity nodes alone (the CPU engine's planner
// makes them views already, and tests use them to keep patterns apart); with
// `constant_identities=true` as well, it still removes the Identity nodes that alias a constant.
// torch.onnx.export stores a parameter equal to an earlier one as an Identity of that one (every
// LayerNorm's ones and zeros in a randomly initialised ViT), and fusions that want a constant
// operand (a LayerNorm's scale and bias) do not look through it.
//
// When the Identity's output is a graph output the name must survive, so instead the producer
// of its input is renamed to produce the output directly. That is only possible when the input
// is an ordinary node output; otherwise (graph input passed straight through, initializer,
// or a value that is itself a graph output) the node is kept and counted as such.
#include <unordered_map>

#include "core/base/error.h"
#include "core/passes/graph_edit.h"
#include "core/passes/pass.h"
#include "core/passes/pass_manager.h"
#include "core/tensor_util.h"

namespace aifgen {

class EliminateIdentityPass final : public Pass {
 public:
  EliminateIdentityPass(bool dropout_only, bool constant_identities)
      : dropout_only_(dropout_only), constant_identities_(constant_identities) {}

  std::string name() const override { return "eliminate_identity"; }

  PassCounts run(onnx::ModelProto& model) override {
    auto& g = *model.mutable_graph();
    std::int64_t removed = 0, kept = 0;
    for (int i = 0; i < g.node_size();) {
      const auto& n = g.node(i);
      if (!is_identity_like(n, g)) {
        ++i;
        continue;
      }
      const std::string in = n.input(0), out = n.output(0);
      if (!is_graph_output(g, out)) {
        rename_uses(g, out, in);
      } else if (int producer = producer_of(g, in); producer >= 0 && !is_graph_output(g, in)) {
        for (auto& o : *g.mutable_node(producer)->mutable_output())
          if (o == in) o = out;
        rename_uses(g, in, out);
      } else {
        ++kept;
        ++i;
        continue;
      }
      g.mutable_node()->DeleteSubrange(i, 1);
      ++removed;
    }
    return {{"nodes_removed", removed}, {"nodes_kept", kept}};
  }

 private:
  bool is_identity_like(const onnx::NodeProto& n, const onnx::GraphProto& g) const {
    bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!default_domain || n.input_size() < 1 || n.input(0).empty() || n.output_size() < 1) return false;
    if (n.op_type() == "Identity") return !dropout_only_ || (constant_identities_ && find_constant(g, n.input(0)) != nullptr);
    if (n.op_type() != "Dropout") return false;
    // Dropout(opset 12+) may be told to train through its third input; unless it drops nothing.
    if (n.input_size() >= 3 && !n.input(2).empty() && !drops_nothing(n, g)) return false;
    if (n.output_size() >= 2 && !n.output(1).empty()) {
      auto uses = value_use_counts(g);
      if (uses.count(n.output(1))) return false;
    }
    return true;
  }

  // The ratio input is a constant float 0 (an absent ratio means 0.5).
  static bool drops_nothing(const onnx::NodeProto& n, const onnx::GraphProto& g) {
    if (n.input_size() < 2 || n.input(1).empty()) return false;
    const auto* ratio = find_constant(g, n.input(1));
    if (!ratio || ratio->data_type() != onnx::TensorProto::FLOAT) return false;
    try {
      auto v = read_floats(*ratio);
      return v.size() == 1 && v[0] == 0.0f;
    } catch (const std::exception&) {
      return false;
    }
  }

  bool dropout_only_;
  bool constant_identities_;
};

std::unique_ptr<Pass> make_eliminate_identity_pass(const PassOptions& options, const PassEnv&) {
  check_pass_options("eliminate_identity", options, {"dropout_only", "constant_identities"});
  auto flag = [&](const std::string& name) {
    auto it = options.find(name);
    if (it != options.end() && it->second != "true" && it->second != "false")
      throw Error(ErrorCode::kInvalidArgument, "bad-pass-option", "eliminate_identity: " + name + " must be true or false");
    return it != options.end() && it->second == "true";
  };
  return std::make_unique<EliminateIdentityPass>(flag("dropout_only"), flag("constant_identities"));
}

}  // namespace aifgen

// Pass "eliminate_identity": removes Identity nodes (and Dropout nodes whose mask output is
// unused, which are identities at inference) by wiring their readers to their input.
//
// When the Identity's output is a graph output the name must survive, so instead the producer
// of its input is renamed to produce the output directly. That is only possible when the input
// is an ordinary node output; otherwise (graph input passed straight through, initializer,
// or a value that is itself a graph output) the node is kept and counted as such.
#include <unordered_map>

#include "core/passes/graph_edit.h"
#include "core/passes/pass.h"

namespace aifgen {

class EliminateIdentityPass final : public Pass {
 public:
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
  static bool is_identity_like(const onnx::NodeProto& n, const onnx::GraphProto& g) {
    bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!default_domain || n.input_size() < 1 || n.input(0).empty() || n.output_size() < 1) return false;
    if (n.op_type() == "Identity") return true;
    if (n.op_type() != "Dropout") return false;
    // Dropout(opset 12+) may be told to train through its third input; leave those alone.
    if (n.input_size() >= 3 && !n.input(2).empty()) return false;
    if (n.output_size() >= 2 && !n.output(1).empty()) {
      auto uses = value_use_counts(g);
      if (uses.count(n.output(1))) return false;
    }
    return true;
  }

};

std::unique_ptr<Pass> make_eliminate_identity_pass() { return std::make_unique<EliminateIdentityPass>(); }

}  // namespace aifgen

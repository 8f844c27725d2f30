// Pass "eliminate_dead_nodes": removes nodes none of whose outputs reach a graph output, then
// initializers nobody reads and value_info entries for values that no longer exist.
#include <unordered_map>
#include <unordered_set>

#include "core/passes/graph_edit.h"
#include "core/passes/pass.h"

namespace aifgen {

class EliminateDeadNodesPass final : public Pass {
 public:
  std::string name() const override { return "eliminate_dead_nodes"; }

  PassCounts run(onnx::ModelProto& model) override {
    auto& g = *model.mutable_graph();
    std::int64_t nodes_removed = 0, inits_removed = 0;
    auto uses = value_use_counts(g);
    // Walk backwards: a node's readers come after it in a topologically sorted graph, so one
    // reverse sweep with live use counts removes whole dead chains.
    for (int i = g.node_size() - 1; i >= 0; --i) {
      const auto& n = g.node(i);
      bool used = false;
      for (const auto& o : n.output())
        if (!o.empty() && uses[o] > 0) used = true;
      if (used) continue;
      decrement_reads(n, uses);
      g.mutable_node()->DeleteSubrange(i, 1);
      ++nodes_removed;
    }
    for (int i = g.initializer_size() - 1; i >= 0; --i) {
      const auto& name = g.initializer(i).name();
      if (uses[name] > 0) continue;
      for (int k = g.input_size() - 1; k >= 0; --k)
        if (g.input(k).name() == name) g.mutable_input()->DeleteSubrange(k, 1);
      g.mutable_initializer()->DeleteSubrange(i, 1);
      ++inits_removed;
    }
    std::unordered_set<std::string> produced;
    for (const auto& n : g.node())
      for (const auto& o : n.output()) produced.insert(o);
    for (int i = g.value_info_size() - 1; i >= 0; --i)
      if (!produced.count(g.value_info(i).name())) g.mutable_value_info()->DeleteSubrange(i, 1);
    return {{"nodes_removed", nodes_removed}, {"initializers_removed", inits_removed}};
  }

 private:
  static void decrement_reads(const onnx::NodeProto& n, std::unordered_map<std::string, int>& uses) {
    onnx::GraphProto wrapper;
    *wrapper.add_node() = n;
    for (const auto& [name, count] : value_use_counts(wrapper)) uses[name] -= count;
  }
};

std::unique_ptr<Pass> make_eliminate_dead_nodes_pass() {
  return std::make_unique<EliminateDeadNodesPass>();
}

}  // namespace aifgen

// Pass "fold_constants": evaluates nodes whose inputs are all constants (initializers and
// Constant nodes) with the engine's own kernels and replaces them by initializers; Shape and
// Size of values whose shape is fully known become constants too, so shape arithmetic
// (Shape -> Gather -> Concat -> Reshape) folds away. Outputs larger than 64 MiB stay computed
// at run time rather than bloating the model file.
#include <algorithm>
#include <unordered_map>

#include "core/engine/evaluate.h"
#include "core/onnx_model.h"
#include "core/passes/graph_edit.h"
#include "core/passes/pass.h"

namespace aifgen {
namespace {

constexpr std::size_t kMaxFoldedBytes = 64u << 20;

}  // namespace

class FoldConstantsPass final : public Pass {
 public:
  std::string name() const override { return "fold_constants"; }

  PassCounts run(onnx::ModelProto& model) override {
    auto& g = *model.mutable_graph();
    const auto opset = default_opset(model);
    std::unordered_map<std::string, engine::Tensor> constants;
    for (const auto& t : g.initializer())
      if (!is_graph_input(g, t.name())) {
        try {
          constants.emplace(t.name(), engine::tensor_from_proto(t));
        } catch (const std::exception&) {
        }
      }

    std::int64_t folded = 0, added = 0;
    for (int i = 0; i < g.node_size();) {
      const auto& n = g.node(i);
      std::vector<engine::Tensor> outs;
      if (!fold(n, opset, g, constants, outs)) {
        ++i;
        continue;
      }
      bool feeds_output = false;
      for (const auto& o : n.output()) feeds_output = feeds_output || is_graph_output(g, o);
      if (feeds_output) {  // keep the node: graph outputs stay produced by a node
        ++i;
        continue;
      }
      for (int k = 0; k < n.output_size(); ++k) {
        if (n.output(k).empty()) continue;
        *g.add_initializer() = engine::tensor_to_proto(outs[static_cast<std::size_t>(k)], n.output(k));
        constants.emplace(n.output(k), outs[static_cast<std::size_t>(k)]);
        ++added;
      }
      g.mutable_node()->DeleteSubrange(i, 1);
      ++folded;
    }
    return {{"nodes_folded", folded}, {"initializers_added", added}};
  }

 private:
  static bool fold(const onnx::NodeProto& n, std::int64_t opset, const onnx::GraphProto& g,
                   const std::unordered_map<std::string, engine::Tensor>& constants, std::vector<engine::Tensor>& outs) {
    const bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
    if (!default_domain || n.output_size() == 0) return false;
    for (const auto& a : n.attribute())
      if (a.has_g() || a.graphs_size() > 0) return false;  // control flow: leave alone
    try {
      if (n.op_type() == "Constant") {
        for (const auto& a : n.attribute())
          if (a.name() == "value" && a.has_t()) {
            outs = {engine::tensor_from_proto(a.t())};
            return true;
          }
        return false;
      }
      if ((n.op_type() == "Shape" || n.op_type() == "Size") && n.input_size() == 1) {
        auto dims = declared_dims(g, n.input(0));
        if (!dims || std::any_of(dims->begin(), dims->end(), [](std::int64_t d) { return d < 0; })) return false;
        const auto& s = *dims;
        if (n.op_type() == "Size" || n.attribute_size() > 0) return false;  // start/end (opset 15): leave to the engine
        engine::Tensor t = engine::Tensor::allocate(engine::DType::kI64, {static_cast<std::int64_t>(s.size())});
        for (std::size_t k = 0; k < s.size(); ++k) t.as<std::int64_t>()[k] = s[k];
        outs = {t};
        return true;
      }
      if (n.input_size() == 0 || !engine::can_evaluate(n)) return false;
      const auto in = engine::inputs_among(n, constants);
      if (!in) return false;
      outs = engine::evaluate_node(n, opset, *in);
      for (const auto& t : outs)
        if (t.bytes() > kMaxFoldedBytes) return false;
      return outs.size() >= static_cast<std::size_t>(n.output_size());
    } catch (const std::exception&) {
      return false;  // not foldable here: the runtime will compute it
    }
  }
};

std::unique_ptr<Pass> make_fold_constants_pass() { return std::make_unique<FoldConstantsPass>(); }

}  // namespace aifgen

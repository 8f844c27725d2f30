#include "core/engine/pool_through_concat.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/concat_batchnorm.h"
#include "core/engine/pattern_match.h"
#include "core/passes/graph_edit.h"

namespace aifgen::engine {

std::optional<onnx::ModelProto> pool_through_concats(const onnx::ModelProto& model, std::int64_t* moved) {
  const auto& g = model.graph();
  const auto uses = value_use_counts(g);
  const auto reader = reader_index(g);
  std::vector<char> drop(static_cast<std::size_t>(g.node_size()), 0);
  std::unordered_map<int, std::vector<onnx::NodeProto>> replaced;  // concat index -> pools and the new Concat
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& concat = g.node(i);
    if (!is_plain_concat(concat) || concat.output_size() != 1 || concat.input_size() < 2) continue;
    const auto axis = attr_int(concat, "axis", 0);
    if (axis != 1 && axis != -3) continue;
    // Axis -3 is the channel axis only of a 4-D value: require the rank where it is declared.
    bool four_d = axis == 1;
    if (!four_d)
      if (auto dims = declared_dims(g, concat.input(0)); dims && dims->size() == 4) four_d = true;
    if (!four_d) continue;
    const std::string& out = concat.output(0);
    auto u = uses.find(out);
    if (u == uses.end() || u->second != 1 || is_graph_output(g, out)) continue;
    const int r = reader.at(out);
    const auto& pool = g.node(r);
    if (!is_standard_op(pool) || (pool.op_type() != "MaxPool" && pool.op_type() != "AveragePool") || pool.input_size() != 1 ||
        pool.output_size() != 1 || drop[static_cast<std::size_t>(r)])
      continue;
    std::vector<onnx::NodeProto> seq;
    onnx::NodeProto joined = concat;
    joined.clear_input();
    for (int k = 0; k < concat.input_size(); ++k) {
      onnx::NodeProto part = pool;
      part.set_name(pool.name() + "/through_concat_" + std::to_string(k));
      part.set_input(0, concat.input(k));
      const std::string pooled = pool.output(0) + "/through_concat_" + std::to_string(k);
      part.set_output(0, pooled);
      seq.push_back(part);
      joined.add_input(pooled);
    }
    joined.set_output(0, pool.output(0));
    seq.push_back(joined);
    replaced[i] = std::move(seq);
    drop[static_cast<std::size_t>(r)] = 1;
  }
  if (moved) *moved = static_cast<std::int64_t>(replaced.size());
  if (replaced.empty()) return std::nullopt;
  return with_nodes_replaced(model, drop, replaced);
}

}  // namespace aifgen::engine

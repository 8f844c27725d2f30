// Pass "unroll_static_sequences": ONNX sequences whose every element is known when the model is
// planned become plain tensors.
//
// torch's exporter writes torch.tensor_split and Python lists built in loops as a sequence:
// SequenceEmpty, a Loop with a constant trip count whose body appends a Slice to it with
// SequenceInsert, then SequenceAt with constant positions (torchvision's mvit_v1_b has 38 such
// Loops, each of one iteration). The engine's values are tensors, so such a model was refused.
// This pass
//   1. unrolls each top-level Loop that carries a sequence, when its trip count is a constant
//      (at most kMaxTrips) and its condition stays a constant true: the body's nodes are copied
//      once per iteration, reading that iteration's number as a constant;
//   2. follows each sequence through SequenceEmpty, SequenceConstruct, SequenceInsert and
//      SequenceErase at constant positions and Identity, as a list of tensor names, and
//      rewrites its readers:
//      SequenceAt at a constant position becomes an Identity of that tensor, SequenceLength a
//      constant, ConcatFromSequence a Concat (after an Unsqueeze each, for new_axis 1).
// What it cannot follow (a position computed at run time, a sequence a graph output or a
// subgraph reads) is left as it was, and the engine refuses it by name as before. The sequence
// nodes nothing reads any more are left for eliminate_dead_nodes.
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/passes/graph_edit.h"
#include "core/passes/pass.h"

namespace aifgen {
namespace {

// A Loop runs its body at most this many times once unrolled (and its copies hold at most
// kMaxUnrolledNodes nodes), so a long loop stays a Loop.
constexpr std::int64_t kMaxTrips = 64;
constexpr std::int64_t kMaxUnrolledNodes = 4096;

bool is_op(const onnx::NodeProto& n, const char* op) { return n.op_type() == op && (n.domain().empty() || n.domain() == "ai.onnx"); }

bool has_subgraph(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.has_g() || a.graphs_size() > 0) return true;
  return false;
}

bool is_sequence_op(const onnx::NodeProto& n) { return n.op_type().rfind("Sequence", 0) == 0 || n.op_type() == "ConcatFromSequence"; }

// The one integer (or boolean) a constant holds, if `name` is a constant of one element.
std::optional<std::int64_t> constant_scalar(const onnx::GraphProto& g, const std::string& name) {
  const onnx::TensorProto* t = find_constant(g, name);
  if (!t) return std::nullopt;
  std::int64_t count = 1;
  for (auto d : t->dims()) count *= d;
  if (count != 1) return std::nullopt;
  switch (t->data_type()) {
    case onnx::TensorProto::INT64:
      if (t->int64_data_size() == 1) return t->int64_data(0);
      if (t->raw_data().size() == 8) {
        std::int64_t v;
        std::memcpy(&v, t->raw_data().data(), 8);
        return v;
      }
      return std::nullopt;
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::BOOL:
      if (t->int32_data_size() == 1) return t->int32_data(0);
      if (t->data_type() == onnx::TensorProto::BOOL && t->raw_data().size() == 1) return t->raw_data()[0] != 0;
      if (t->data_type() == onnx::TensorProto::INT32 && t->raw_data().size() == 4) {
        std::int32_t v;
        std::memcpy(&v, t->raw_data().data(), 4);
        return v;
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

onnx::NodeProto constant_node(const std::string& output, int type, std::int64_t value, bool scalar) {
  onnx::NodeProto n;
  n.set_op_type("Constant");
  n.set_name(output);
  n.add_output(output);
  auto* a = n.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  auto* t = a->mutable_t();
  t->set_data_type(type);
  if (!scalar) t->add_dims(1);
  if (type == onnx::TensorProto::INT64) t->add_int64_data(value);
  else t->add_int32_data(static_cast<std::int32_t>(value));
  return n;
}

onnx::NodeProto simple_node(const char* op, std::vector<std::string> inputs, const std::string& output) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(output);
  for (auto& i : inputs) n.add_input(std::move(i));
  n.add_output(output);
  return n;
}

onnx::NodeProto concat_node(const std::vector<std::string>& parts, const std::string& output, std::int64_t axis) {
  auto n = simple_node("Concat", parts, output);
  auto* a = n.add_attribute();
  a->set_name("axis");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(axis);
  return n;
}

// The graph's nodes replaced by `nodes` (already in topological order).
void replace_nodes(onnx::GraphProto& g, std::vector<onnx::NodeProto>& nodes) {
  g.clear_node();
  for (auto& n : nodes) *g.add_node() = std::move(n);
}

// Unsqueeze of `input` at `axis` into `output`: axes an input from opset 13, an attribute before.
void append_unsqueeze(std::vector<onnx::NodeProto>& out, const std::string& input, std::int64_t axis, const std::string& output,
                      std::int64_t opset) {
  if (opset >= 13) {
    out.push_back(constant_node(output + "_axes", onnx::TensorProto::INT64, axis, false));
    out.push_back(simple_node("Unsqueeze", {input, output + "_axes"}, output));
  } else {
    auto n = simple_node("Unsqueeze", {input}, output);
    auto* a = n.add_attribute();
    a->set_name("axes");
    a->set_type(onnx::AttributeProto::INTS);
    a->add_ints(axis);
    out.push_back(std::move(n));
  }
}

// Whether the body's condition output is always true: the condition input passed through, or
// an Identity of (or) a constant true.
bool condition_stays_true(const onnx::GraphProto& outer, const onnx::GraphProto& body) {
  if (body.output_size() < 1 || body.input_size() < 2) return false;
  std::string cond = body.output(0).name();
  for (int hops = 0; hops < 4; ++hops) {
    if (cond == body.input(1).name()) return true;
    if (auto v = constant_scalar(body, cond)) return *v != 0;
    if (auto v = constant_scalar(outer, cond)) return *v != 0;
    const int p = producer_of(body, cond);
    if (p < 0 || !is_op(body.node(p), "Identity")) return false;
    cond = body.node(p).input(0);
  }
  return false;
}

class UnrollStaticSequencesPass final : public Pass {
 public:
  std::string name() const override { return "unroll_static_sequences"; }

  PassCounts run(onnx::ModelProto& model) override {
    opset_ = 1;
    for (const auto& o : model.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
    auto& g = *model.mutable_graph();
    const std::int64_t unrolled = unroll_loops(g);
    const std::int64_t resolved = resolve_sequences(g);
    return {{"loops_unrolled", unrolled}, {"sequence_reads_resolved", resolved}};
  }

 private:
  // Values that are sequences: made by a sequence op, or carried by a Loop from one.
  static std::unordered_set<std::string> sequence_values(const onnx::GraphProto& g) {
    std::unordered_set<std::string> seqs;
    for (const auto& n : g.node())
      if (is_sequence_op(n) && !is_op(n, "SequenceAt") && !is_op(n, "SequenceLength") && !is_op(n, "ConcatFromSequence"))
        for (const auto& o : n.output()) seqs.insert(o);
    return seqs;
  }

  std::int64_t unroll_loops(onnx::GraphProto& g) {
    std::int64_t count = 0;
    const auto seqs = sequence_values(g);
    std::vector<onnx::NodeProto> nodes;
    for (const auto& n : g.node()) {
      if (is_op(n, "Loop") && carries_a_sequence(n, seqs))
        if (auto copies = unrolled(g, n, count)) {
          for (auto& c : *copies) nodes.push_back(std::move(c));
          ++count;
          continue;
        }
      nodes.push_back(n);
    }
    if (count > 0) replace_nodes(g, nodes);
    return count;
  }

  static bool carries_a_sequence(const onnx::NodeProto& loop, const std::unordered_set<std::string>& seqs) {
    for (int i = 2; i < loop.input_size(); ++i)
      if (seqs.count(loop.input(i))) return true;
    for (const auto& a : loop.attribute())
      if (a.name() == "body")
        for (const auto& n : a.g().node())
          if (is_sequence_op(n)) return true;
    return false;
  }

  // The Loop's body copied once per iteration, or nullopt where it cannot be unrolled.
  std::optional<std::vector<onnx::NodeProto>> unrolled(const onnx::GraphProto& g, const onnx::NodeProto& loop, std::int64_t index) const {
    const onnx::GraphProto* body = nullptr;
    for (const auto& a : loop.attribute())
      if (a.name() == "body" && a.has_g()) body = &a.g();
    if (!body || loop.input_size() < 2 || loop.input(0).empty()) return std::nullopt;
    const auto trips = constant_scalar(g, loop.input(0));
    if (!trips || *trips < 0 || *trips > kMaxTrips || *trips * body->node_size() > kMaxUnrolledNodes) return std::nullopt;
    if (!loop.input(1).empty()) {
      const auto cond = constant_scalar(g, loop.input(1));
      if (!cond || *cond == 0) return std::nullopt;
    }
    const int carried = loop.input_size() - 2;
    if (body->input_size() != 2 + carried || body->output_size() < 1 + carried) return std::nullopt;
    if (loop.output_size() > body->output_size() - 1) return std::nullopt;
    if (!condition_stays_true(g, *body)) return std::nullopt;
    for (const auto& n : body->node())
      if (has_subgraph(n)) return std::nullopt;
    const int scans = body->output_size() - 1 - carried;
    if (scans > 0 && *trips == 0) return std::nullopt;  // an empty scan output has no element type to make it from

    const std::string prefix = (loop.name().empty() ? "loop" + std::to_string(index) : loop.name()) + "/unrolled";
    std::vector<onnx::NodeProto> out;
    // Body initializers do not change between iterations: one Constant each.
    std::unordered_map<std::string, std::string> fixed;
    for (const auto& init : body->initializer()) {
      const std::string name = prefix + "/" + init.name();
      fixed[init.name()] = name;
      onnx::NodeProto c;
      c.set_op_type("Constant");
      c.set_name(name);
      c.add_output(name);
      auto* a = c.add_attribute();
      a->set_name("value");
      a->set_type(onnx::AttributeProto::TENSOR);
      *a->mutable_t() = init;
      out.push_back(std::move(c));
    }
    std::vector<std::string> state;
    for (int k = 0; k < carried; ++k) state.push_back(loop.input(2 + k));
    std::vector<std::vector<std::string>> scanned(static_cast<std::size_t>(scans));
    for (std::int64_t it = 0; it < *trips; ++it) {
      const std::string at = prefix + std::to_string(it) + "/";
      std::unordered_map<std::string, std::string> names = fixed;
      out.push_back(constant_node(at + "iteration", onnx::TensorProto::INT64, it, true));
      names[body->input(0).name()] = at + "iteration";
      out.push_back(constant_node(at + "condition", onnx::TensorProto::BOOL, 1, true));
      names[body->input(1).name()] = at + "condition";
      for (int k = 0; k < carried; ++k) names[body->input(2 + k).name()] = state[static_cast<std::size_t>(k)];
      for (const auto& n : body->node()) {
        onnx::NodeProto c = n;
        c.set_name(at + (n.name().empty() ? n.op_type() : n.name()));
        for (auto& in : *c.mutable_input())
          if (auto f = names.find(in); f != names.end()) in = f->second;  // else an outer value, read as is
        for (auto& o : *c.mutable_output())
          if (!o.empty()) names[o] = at + o, o = at + o;
        out.push_back(std::move(c));
      }
      auto mapped = [&](const std::string& v) {
        auto f = names.find(v);
        return f != names.end() ? f->second : v;
      };
      for (int k = 0; k < carried; ++k) state[static_cast<std::size_t>(k)] = mapped(body->output(1 + k).name());
      for (int s = 0; s < scans; ++s) scanned[static_cast<std::size_t>(s)].push_back(mapped(body->output(1 + carried + s).name()));
    }
    // The Loop's outputs under their own names: the final carried values, then each scan output
    // as its iterations' values stacked on a new first axis.
    for (int k = 0; k < loop.output_size(); ++k) {
      const std::string& name = loop.output(k);
      if (name.empty()) continue;
      if (k < carried) {
        out.push_back(simple_node("Identity", {state[static_cast<std::size_t>(k)]}, name));
        continue;
      }
      std::vector<std::string> parts;
      for (std::size_t it = 0; it < scanned[static_cast<std::size_t>(k - carried)].size(); ++it) {
        const std::string part = name + "/unrolled" + std::to_string(it);
        append_unsqueeze(out, scanned[static_cast<std::size_t>(k - carried)][it], 0, part, opset_);
        parts.push_back(part);
      }
      out.push_back(concat_node(parts, name, 0));
    }
    return out;
  }

  // Follows sequences as lists of tensor names and rewrites the reads it can resolve.
  std::int64_t resolve_sequences(onnx::GraphProto& g) {
    std::unordered_map<std::string, std::vector<std::string>> lists;
    std::int64_t resolved = 0;
    std::vector<onnx::NodeProto> nodes;
    for (const auto& n : g.node()) {
      auto list_of = [&](int input) -> const std::vector<std::string>* {
        if (input >= n.input_size()) return nullptr;
        auto f = lists.find(n.input(input));
        return f == lists.end() ? nullptr : &f->second;
      };
      // A position: constant, within [-len, len] (len allowed where it inserts at the end).
      auto position = [&](int input, std::size_t len, bool insert) -> std::optional<std::size_t> {
        if (input >= n.input_size() || n.input(input).empty()) return insert ? std::optional<std::size_t>(len) : std::nullopt;
        const auto p = constant_scalar(g, n.input(input));
        if (!p) return std::nullopt;
        const auto l = static_cast<std::int64_t>(len);
        const std::int64_t q = *p < 0 ? *p + l : *p;
        if (q < 0 || q > l || (!insert && q == l)) return std::nullopt;
        return static_cast<std::size_t>(q);
      };
      if (is_op(n, "SequenceEmpty") && n.output_size() == 1) {
        lists[n.output(0)] = {};
      } else if (is_op(n, "Identity") && n.output_size() == 1 && list_of(0)) {  // an unrolled Loop's output
        lists[n.output(0)] = *list_of(0);
      } else if (is_op(n, "SequenceConstruct") && n.output_size() == 1) {
        lists[n.output(0)] = {n.input().begin(), n.input().end()};
      } else if (is_op(n, "SequenceInsert") && n.output_size() == 1 && n.input_size() >= 2) {
        if (const auto* l = list_of(0))
          if (auto p = position(2, l->size(), true)) {
            auto copy = *l;
            copy.insert(copy.begin() + static_cast<std::ptrdiff_t>(*p), n.input(1));
            lists[n.output(0)] = std::move(copy);
          }
      } else if (is_op(n, "SequenceErase") && n.output_size() == 1) {
        if (const auto* l = list_of(0))
          if (!l->empty())
            if (auto p = n.input_size() >= 2 && !n.input(1).empty() ? position(1, l->size(), false) : std::optional(l->size() - 1)) {
              auto copy = *l;
              copy.erase(copy.begin() + static_cast<std::ptrdiff_t>(*p));
              lists[n.output(0)] = std::move(copy);
            }
      } else if (is_op(n, "SequenceAt") && n.output_size() == 1) {
        if (const auto* l = list_of(0))
          if (auto p = position(1, l->size(), false)) {
            nodes.push_back(simple_node("Identity", {(*l)[*p]}, n.output(0)));
            ++resolved;
            continue;
          }
      } else if (is_op(n, "SequenceLength") && n.output_size() == 1) {
        if (const auto* l = list_of(0)) {
          nodes.push_back(constant_node(n.output(0), onnx::TensorProto::INT64, static_cast<std::int64_t>(l->size()), true));
          ++resolved;
          continue;
        }
      } else if (is_op(n, "ConcatFromSequence") && n.output_size() == 1) {
        if (const auto* l = list_of(0); l && !l->empty()) {
          const std::int64_t axis = attr_int(n, "axis", 0);
          const bool new_axis = attr_int(n, "new_axis", 0) != 0;
          std::vector<std::string> parts = *l;
          if (new_axis)
            for (std::size_t i = 0; i < parts.size(); ++i) {
              const std::string part = n.output(0) + "/stacked" + std::to_string(i);
              append_unsqueeze(nodes, parts[i], axis, part, opset_);
              parts[i] = part;
            }
          // Concat's axis counts in the stacked rank; a negative one already does with new_axis.
          nodes.push_back(concat_node(parts, n.output(0), axis));
          ++resolved;
          continue;
        }
      }
      nodes.push_back(n);
    }
    if (resolved > 0) replace_nodes(g, nodes);
    return resolved;
  }

  std::int64_t opset_ = 13;
};

}  // namespace

std::unique_ptr<Pass> make_unroll_static_sequences_pass() { return std::make_unique<UnrollStaticSequencesPass>(); }

}  // namespace aifgen

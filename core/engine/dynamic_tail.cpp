#include "core/engine/dynamic_tail.h"

#include <chrono>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <unordered_set>

#include "core/base/error.h"
#include "core/engine/control_flow.h"
#include "core/engine/evaluate.h"
#include "core/engine/registry.h"

namespace aifgen::engine {

struct DynamicTail::NodePlans {
  std::mutex mu;
  bool needs_values = false;  // the kernel reads values a run computes: planned on every run
  std::deque<std::pair<std::vector<TensorDesc>, std::shared_ptr<const PlannedNode>>> recent;  // newest first
  // The weights the kept plans packed: a plan for new shapes takes theirs (the node's constant
  // inputs are the tail's constants, which live as long as it does).
  PackedWeights packed;
};

namespace {

bool has_value_shaped_op(const onnx::GraphProto& g);

// Whether the node, or a node of one of its subgraphs, makes an output whose shape depends on
// values: an If whose branch ends in NonMaxSuppression gives outputs of unknown length too.
bool makes_value_shaped_output(const onnx::NodeProto& n) {
  if (output_shape_depends_on_values(n)) return true;
  for (const auto& a : n.attribute()) {
    if (a.has_g() && has_value_shaped_op(a.g())) return true;
    for (const auto& sub : a.graphs())
      if (has_value_shaped_op(sub)) return true;
  }
  return false;
}

bool has_value_shaped_op(const onnx::GraphProto& g) {
  for (const auto& n : g.node())
    if (makes_value_shaped_output(n)) return true;
  return false;
}

// What a node reads: its inputs and what its subgraphs take from enclosing scopes.
std::vector<std::string> node_reads(const onnx::NodeProto& n) {
  std::vector<std::string> reads;
  for (const auto& i : n.input())
    if (!i.empty()) reads.push_back(i);
  for (const auto& a : n.attribute()) {
    if (a.has_g())
      for (auto& r : outer_scope_reads(a.g())) reads.push_back(std::move(r));
    for (const auto& sub : a.graphs())
      for (auto& r : outer_scope_reads(sub)) reads.push_back(std::move(r));
  }
  return reads;
}

bool is_constant_node(const onnx::NodeProto& n) {
  return n.op_type() == "Constant" && (n.domain().empty() || n.domain() == "ai.onnx") && n.input_size() == 0;
}

// A node whose outputs are constants when its inputs are: no subgraph, and a kernel to fold it
// with (Constant nodes included), as for the planner's constant folding (fold_constants.cpp).
// The engine has no kernel for the random ops, so none of them is folded.
bool can_fold_for_tail(const onnx::NodeProto& n) {
  if (is_constant_node(n)) return true;
  for (const auto& a : n.attribute())
    if (a.has_g() || a.graphs_size() > 0) return false;
  return can_evaluate(n);
}

// Shape and Size are the planner's constants, not kernels: the tail reads them off the value.
bool is_shape_node(const onnx::NodeProto& n) {
  return (n.op_type() == "Shape" || n.op_type() == "Size") && (n.domain().empty() || n.domain() == "ai.onnx") &&
         n.input_size() == 1;
}

// Refuses, while planning, what the tail could not run: ops without a kernel, and Loop and Scan
// (their bodies would need planning per run; none of the detection tails met so far has one).
void check_runnable(const onnx::NodeProto& n) {
  const auto& op = n.op_type();
  const std::string where = "node '" + n.name() + "' (" + op + ")";
  if (op == "Scan")
    throw Error(ErrorCode::kUnprocessable, "engine-unsupported",
                where + " reads values whose shapes depend on the data (after NonZero or NonMaxSuppression); the engine runs "
                        "If and Loop nodes there, not Scan");
  if (op == "If" || op == "Loop") {
    for (const auto& a : n.attribute())
      if (a.has_g())
        for (const auto& b : a.g().node()) check_runnable(b);
    return;
  }
  if (is_constant_node(n) || is_shape_node(n)) return;
  if (!can_evaluate(n))
    throw Error(ErrorCode::kUnprocessable, "engine-unsupported", where + ": op " + op + " is not implemented by the CPU engine");
}

// Values of one graph scope, falling back to the enclosing scope's (If branches read the
// values around them).
struct Scope {
  std::unordered_map<std::string, Tensor>& own;
  const Scope* outer = nullptr;
  const Tensor* find(const std::string& name) const {
    if (auto it = own.find(name); it != own.end()) return &it->second;
    return outer ? outer->find(name) : nullptr;
  }
};

// What run_nodes may reuse between runs: the tail's own nodes' plans, and which values are the
// model's constants (the same on every run). Null for an If branch's nodes.
struct Reuse {
  const std::vector<std::shared_ptr<DynamicTail::NodePlans>>& plans;
  const std::vector<bool>& folded;  // per node: its outputs are among the constants
  const std::unordered_map<std::string, Tensor>& constants;
  const NodePlanOptions& plan_options;
  // With `keep`: per node, the values to drop once it has run unless `keep` names them.
  const std::vector<std::vector<std::string>>& last_read_by;
  const std::unordered_set<std::string>* keep = nullptr;
};

// Drops the values node k was the last to read (Reuse::last_read_by), but not those `keep` names.
void drop_values_read_last_by(std::size_t k, Scope& scope, const Reuse* reuse) {
  if (!reuse || !reuse->keep) return;
  for (const auto& name : reuse->last_read_by[k])
    if (!reuse->keep->count(name)) scope.own.erase(name);
}

// Runs a node in place of its kernel when it returns a value (a Loop body's appends, below).
using NodeOverride = std::function<std::optional<std::vector<Tensor>>(const onnx::NodeProto&, const std::vector<const Tensor*>&)>;

template <typename Nodes>
void run_nodes(const Nodes& nodes, Scope& scope, std::int64_t opset, DynamicTail::Profile* profile, const Reuse* reuse = nullptr,
               const NodeOverride* override_node = nullptr);

std::vector<Tensor> run_if(const onnx::NodeProto& n, const Scope& scope, const std::vector<const Tensor*>& in, std::int64_t opset,
                           DynamicTail::Profile* profile) {
  const Tensor* cond = in.empty() ? nullptr : in[0];
  if (!cond || cond->dtype != DType::kBool || cond->numel() != 1)
    throw Error(ErrorCode::kInvalidModel, "engine-invalid-node", "node '" + n.name() + "' (If): the condition must be one bool");
  const char* branch = cond->as<bool>()[0] ? "then_branch" : "else_branch";
  const onnx::GraphProto* g = nullptr;
  for (const auto& a : n.attribute())
    if (a.name() == branch && a.has_g()) g = &a.g();
  if (!g) throw Error(ErrorCode::kInvalidModel, "engine-invalid-node", "node '" + n.name() + "' (If): no " + branch);
  std::unordered_map<std::string, Tensor> local;
  for (const auto& init : g->initializer()) local[init.name()] = tensor_from_proto(init);
  Scope inner{local, &scope};
  run_nodes(g->node(), inner, opset, profile);
  if (g->output_size() != n.output_size())
    throw Error(ErrorCode::kInvalidModel, "engine-invalid-node",
                "node '" + n.name() + "' (If): the " + branch + " gives " + std::to_string(g->output_size()) +
                    " outputs, the node declares " + std::to_string(n.output_size()));
  std::vector<Tensor> outs;
  for (const auto& o : g->output()) {
    const Tensor* v = inner.find(o.name());
    if (!v) throw Error(ErrorCode::kInvalidModel, "engine-invalid-graph", "If branch output '" + o.name() + "' is never produced");
    outs.push_back(*v);
  }
  return outs;
}

// `nodes`: the tail's own (a vector) or an If branch's (a RepeatedPtrField), in graph order.
// An omitted optional input is kept as this description (no value has a negative dim).
const TensorDesc kOmitted{DType::kBool, {-1}};

bool same_descs(const std::vector<TensorDesc>& kept, const std::vector<const Tensor*>& in) {
  if (kept.size() != in.size()) return false;
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (!in[i] ? kept[i].shape != kOmitted.shape : kept[i].dtype != in[i]->dtype || kept[i].shape != in[i]->shape) return false;
  }
  return true;
}

// The node run by a plan kept for these input shapes, or planned for them and kept; nullopt when
// its kernel needs values a run computes (then the caller plans it with every value known).
std::optional<std::vector<Tensor>> run_with_kept_plan(const onnx::NodeProto& n, DynamicTail::NodePlans& np, const Reuse& reuse,
                                                      const std::vector<const Tensor*>& in, std::int64_t opset) {
  std::shared_ptr<const PlannedNode> plan;
  {
    std::lock_guard lock(np.mu);
    if (np.needs_values) return std::nullopt;
    for (const auto& [descs, p] : np.recent)
      if (same_descs(descs, in)) plan = p;
  }
  if (!plan) {
    std::vector<bool> known;
    for (const auto& name : n.input()) known.push_back(!name.empty() && reuse.constants.count(name) > 0);
    try {
      NodePlanOptions options = reuse.plan_options;
      options.packed_weights = &np.packed;
      plan = std::make_shared<const PlannedNode>(plan_node(n, opset, in, known, options));
    } catch (const Error&) {
      // Planned with only shapes, the kernel refused: it reads a computed value (or the node is
      // wrong, which planning it with every value known reports).
      std::lock_guard lock(np.mu);
      np.needs_values = true;
      return std::nullopt;
    }
    std::vector<TensorDesc> descs;
    for (const auto* t : in) descs.push_back(t ? t->desc() : kOmitted);
    std::lock_guard lock(np.mu);
    np.recent.emplace_front(std::move(descs), plan);
    if (np.recent.size() > DynamicTail::kPlansPerNode) np.recent.pop_back();
  }
  return run_planned(*plan, in);
}

// A loop-carried value the body grows by one Concat along axis 0 each iteration
// (torchvision's paste_masks_in_image: res = cat(res, mask)). Copied whole every iteration, that
// is quadratic: Mask R-CNN's 100 pasted 320x320 masks moved 2 GB per run, 0.9 s of its tail.
// Here the rows live in one buffer with room to grow (doubling), each iteration copies only its
// new rows, and the carried value is a view of the rows so far. Rows already written are never
// changed, so an older view stays valid; a Concat whose first input is not the newest view (or
// whose inputs do not line up) is left to the kernel.
class GrowingRows {
 public:
  std::optional<Tensor> append(const std::vector<const Tensor*>& in) {
    const Tensor* head = in.empty() ? nullptr : in[0];
    if (!head || head->shape.empty()) return std::nullopt;
    const Shape row(head->shape.begin() + 1, head->shape.end());
    std::int64_t rows = head->shape[0];
    for (std::size_t i = 1; i < in.size(); ++i) {
      if (!in[i] || in[i]->dtype != head->dtype || in[i]->shape.size() != head->shape.size() ||
          !std::equal(row.begin(), row.end(), in[i]->shape.begin() + 1))
        return std::nullopt;
      rows += in[i]->shape[0];
    }
    // The newest view is extended where it lies; any other first input (the loop's initial
    // value) is copied into a new buffer first, as is the view when the buffer is full.
    const bool in_place = owner_ && head->data == owner_.get() && head->dtype == dtype_ && head->shape == shape_;
    const std::size_t wanted =
        head->bytes() + static_cast<std::size_t>(rows - head->shape[0]) * static_cast<std::size_t>(numel(row)) * dtype_size(head->dtype);
    if (!in_place || wanted > capacity_) {
      const std::size_t capacity = std::max<std::size_t>({wanted, 2 * capacity_, 64});
      auto grown = Tensor::allocate_for_overwrite(DType::kU8, {static_cast<std::int64_t>(capacity)});
      if (head->bytes() > 0) std::memcpy(grown.data, head->data, head->bytes());
      owner_ = grown.owner;
      capacity_ = capacity;
    }
    std::size_t at = head->bytes();
    for (std::size_t i = 1; i < in.size(); ++i) {
      if (in[i]->bytes() > 0) std::memcpy(owner_.get() + at, in[i]->data, in[i]->bytes());
      at += in[i]->bytes();
    }
    dtype_ = head->dtype;
    shape_ = row;
    shape_.insert(shape_.begin(), rows);
    return Tensor{dtype_, shape_, owner_.get(), owner_};
  }

 private:
  std::shared_ptr<std::byte[]> owner_;
  std::size_t capacity_ = 0;
  DType dtype_ = DType::kF32;
  Shape shape_;  // of the newest view
};

// The body's Concat nodes that grow carried value j: Concat(body input 2+j, ...) along axis 0
// giving body output 1+j.
std::unordered_map<const onnx::NodeProto*, std::size_t> appends_to_carried(const onnx::GraphProto& body, std::size_t carried) {
  std::unordered_map<const onnx::NodeProto*, std::size_t> appends;
  for (std::size_t j = 0; j < carried; ++j) {
    const auto& in = body.input(static_cast<int>(2 + j)).name();
    const auto& out = body.output(static_cast<int>(1 + j)).name();
    for (const auto& n : body.node()) {
      if (n.op_type() != "Concat" || !(n.domain().empty() || n.domain() == "ai.onnx") || n.input_size() < 2 || n.output_size() != 1 ||
          n.input(0) != in || n.output(0) != out)
        continue;
      std::int64_t axis = -1;
      for (const auto& a : n.attribute())
        if (a.name() == "axis") axis = a.i();
      if (axis == 0) appends[&n] = j;
    }
  }
  return appends;
}

// Loop: the body run until the trip count M or its condition ends it, its carried values
// passed on, its scan outputs stacked along a new first axis (each iteration's must have one
// shape). Mask and Keypoint R-CNN paste each detection's mask or heatmap so, one per iteration.
std::vector<Tensor> run_loop(const onnx::NodeProto& n, const Scope& scope, const std::vector<const Tensor*>& in, std::int64_t opset,
                             DynamicTail::Profile* profile) {
  const std::string where = "node '" + n.name() + "' (Loop)";
  const onnx::GraphProto* body = nullptr;
  for (const auto& a : n.attribute())
    if (a.name() == "body" && a.has_g()) body = &a.g();
  if (!body) throw Error(ErrorCode::kInvalidModel, "engine-invalid-node", where + ": no body");
  const std::size_t carried = in.size() > 2 ? in.size() - 2 : 0;
  if (static_cast<std::size_t>(body->input_size()) != 2 + carried || static_cast<std::size_t>(body->output_size()) < 1 + carried)
    throw Error(ErrorCode::kInvalidModel, "engine-invalid-node", where + ": the body's inputs and outputs do not match the loop's");
  const std::size_t scans = static_cast<std::size_t>(body->output_size()) - 1 - carried;
  auto scalar_of = [&](const Tensor* t, DType want, const char* what) {
    if (t && (t->dtype != want || t->numel() != 1))
      throw Error(ErrorCode::kInvalidModel, "engine-invalid-node", where + ": " + what + " must hold one value");
    return t;
  };
  const Tensor* trips_in = scalar_of(in.size() > 0 ? in[0] : nullptr, DType::kI64, "M");
  const Tensor* cond_in = scalar_of(in.size() > 1 ? in[1] : nullptr, DType::kBool, "cond");
  if (!trips_in && !cond_in) throw Error(ErrorCode::kUnprocessable, "engine-unsupported", where + ": neither a trip count nor a condition");
  const std::int64_t trips = trips_in ? trips_in->as<std::int64_t>()[0] : std::numeric_limits<std::int64_t>::max();
  bool cond = cond_in ? cond_in->as<bool>()[0] : true;
  std::vector<Tensor> state;
  for (std::size_t j = 0; j < carried; ++j) state.push_back(*in[2 + j]);
  std::vector<std::vector<Tensor>> stacked(scans);
  std::unordered_map<std::string, Tensor> initializers;
  for (const auto& init : body->initializer()) initializers[init.name()] = tensor_from_proto(init);
  const auto appends = appends_to_carried(*body, carried);
  std::vector<GrowingRows> growing(carried);
  const NodeOverride grow = [&](const onnx::NodeProto& node, const std::vector<const Tensor*>& node_in) -> std::optional<std::vector<Tensor>> {
    auto it = appends.find(&node);
    if (it == appends.end()) return std::nullopt;
    auto grown = growing[it->second].append(node_in);
    if (!grown) return std::nullopt;
    return std::vector<Tensor>{std::move(*grown)};
  };
  constexpr std::int64_t kMaxIterations = 10'000'000;  // a loop ended only by its condition
  for (std::int64_t it = 0; it < trips && cond; ++it) {
    if (it == kMaxIterations)
      throw Error(ErrorCode::kUnprocessable, "engine-unsupported", where + " ran " + std::to_string(kMaxIterations) + " iterations");
    std::unordered_map<std::string, Tensor> local = initializers;
    auto iteration = Tensor::allocate(DType::kI64, {});
    *iteration.as<std::int64_t>() = it;
    auto c = Tensor::allocate(DType::kBool, {});
    *c.as<bool>() = cond;
    local[body->input(0).name()] = iteration;
    local[body->input(1).name()] = c;
    for (std::size_t j = 0; j < carried; ++j) local[body->input(static_cast<int>(2 + j)).name()] = state[j];
    Scope inner{local, &scope};
    run_nodes(body->node(), inner, opset, profile, nullptr, appends.empty() ? nullptr : &grow);
    auto out = [&](std::size_t k) -> const Tensor& {
      const Tensor* v = inner.find(body->output(static_cast<int>(k)).name());
      if (!v) throw Error(ErrorCode::kInvalidModel, "engine-invalid-graph", where + ": body output '" + body->output(static_cast<int>(k)).name() + "' is never produced");
      return *v;
    };
    const Tensor& next_cond = out(0);
    if (next_cond.dtype != DType::kBool || next_cond.numel() != 1)
      throw Error(ErrorCode::kInvalidModel, "engine-invalid-node", where + ": the body's condition must be one bool");
    cond = next_cond.as<bool>()[0];
    for (std::size_t j = 0; j < carried; ++j) state[j] = out(1 + j);
    for (std::size_t j = 0; j < scans; ++j) {
      const Tensor& v = out(1 + carried + j);
      if (!stacked[j].empty() && (v.dtype != stacked[j][0].dtype || v.shape != stacked[j][0].shape))
        throw Error(ErrorCode::kInvalidModel, "engine-invalid-node",
                    where + ": scan output " + std::to_string(j) + " changes shape from " + shape_str(stacked[j][0].shape) + " to " +
                        shape_str(v.shape) + " between iterations");
      stacked[j].push_back(v);
    }
  }
  std::vector<Tensor> outs = std::move(state);
  for (std::size_t j = 0; j < scans; ++j) {
    // With no iteration, the body's declared element type and shape (its free dims 0) say what
    // an empty stack is.
    Shape shape{static_cast<std::int64_t>(stacked[j].size())};
    DType dtype = DType::kF32;
    if (stacked[j].empty()) {
      const auto& tt = body->output(static_cast<int>(1 + carried + j)).type().tensor_type();
      if (tt.elem_type() != 0) dtype = dtype_from_onnx(tt.elem_type());
      for (const auto& d : tt.shape().dim()) shape.push_back(d.has_dim_value() ? d.dim_value() : 0);
    } else {
      dtype = stacked[j][0].dtype;
      shape.insert(shape.end(), stacked[j][0].shape.begin(), stacked[j][0].shape.end());
    }
    auto t = Tensor::allocate_for_overwrite(dtype, shape);
    std::size_t at = 0;
    for (const auto& v : stacked[j]) {
      if (v.bytes() > 0) std::memcpy(t.data + at, v.data, v.bytes());
      at += v.bytes();
    }
    outs.push_back(std::move(t));
  }
  return outs;
}

template <typename Nodes>
void run_nodes(const Nodes& nodes, Scope& scope, std::int64_t opset, DynamicTail::Profile* profile, const Reuse* reuse,
               const NodeOverride* override_node) {
  std::size_t index = 0;
  std::vector<const Tensor*> in;
  for (const auto& n : nodes) {
    const std::size_t k = index++;
    if (reuse && reuse->folded[k]) {  // evaluated once, when the tail was made
      drop_values_read_last_by(k, scope, reuse);
      continue;
    }
    in.clear();
    for (const auto& name : n.input()) {
      if (name.empty()) {
        in.push_back(nullptr);
        continue;
      }
      const Tensor* v = scope.find(name);
      if (!v) throw Error(ErrorCode::kInvalidModel, "engine-invalid-graph", "node '" + n.name() + "' reads '" + name + "', which nothing makes");
      in.push_back(v);
    }
    const auto t0 = profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    std::vector<Tensor> outs;
    std::optional<std::vector<Tensor>> overridden = override_node ? (*override_node)(n, in) : std::nullopt;
    if (overridden) {
      outs = std::move(*overridden);
    } else if (n.op_type() == "If") {
      outs = run_if(n, scope, in, opset, profile);
    } else if (n.op_type() == "Loop") {
      outs = run_loop(n, scope, in, opset, profile);
    } else if (is_constant_node(n)) {
      outs = {constant_node_value(n)};
    } else if (is_shape_node(n)) {
      outs = {shape_node_value(n, in[0]->shape)};
    } else {
      std::optional<std::vector<Tensor>> reused;
      if (reuse) reused = run_with_kept_plan(n, *reuse->plans[k], *reuse, in, opset);
      outs = reused ? std::move(*reused) : evaluate_node(n, opset, in);
    }
    if (profile) {
      auto& p = (*profile)[n.op_type()];
      ++p.calls;
      p.ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    }
    for (int i = 0; i < n.output_size() && i < static_cast<int>(outs.size()); ++i)
      if (!n.output(i).empty()) scope.own[n.output(i)] = std::move(outs[static_cast<std::size_t>(i)]);
    in.clear();
    drop_values_read_last_by(k, scope, reuse);
  }
}

}  // namespace

std::vector<std::string> tail_reads(const std::vector<onnx::NodeProto>& tail) {
  std::unordered_set<std::string> made, seen;
  std::vector<std::string> reads;
  for (const auto& n : tail) {
    for (auto& r : node_reads(n))
      if (!made.count(r) && seen.insert(r).second) reads.push_back(std::move(r));
    for (const auto& o : n.output()) made.insert(o);
  }
  return reads;
}

std::optional<TailSplit> split_dynamic_tail(const onnx::ModelProto& model) {
  const auto& g = model.graph();
  std::unordered_set<std::string> dynamic;  // values whose shapes may depend on the data
  std::vector<bool> in_tail(static_cast<std::size_t>(g.node_size()), false);
  bool any = false;
  for (int k = 0; k < g.node_size(); ++k) {
    const auto& n = g.node(k);
    bool tail = makes_value_shaped_output(n);
    for (const auto& r : node_reads(n)) tail = tail || dynamic.count(r) > 0;
    if (!tail) continue;
    in_tail[static_cast<std::size_t>(k)] = any = true;
    for (const auto& o : n.output()) dynamic.insert(o);
  }
  if (!any) return std::nullopt;

  // Constant nodes the tail reads go with it (evaluated there, not passed from the head); they
  // stay in the head too when something there reads them.
  std::unordered_set<std::string> tail_needs;
  for (int k = 0; k < g.node_size(); ++k)
    if (in_tail[static_cast<std::size_t>(k)])
      for (auto& r : node_reads(g.node(k))) tail_needs.insert(std::move(r));
  std::unordered_set<std::string> head_needs;
  for (int k = 0; k < g.node_size(); ++k)
    if (!in_tail[static_cast<std::size_t>(k)])
      for (auto& r : node_reads(g.node(k))) head_needs.insert(std::move(r));
  for (const auto& o : g.output()) head_needs.insert(o.name());

  // Head nodes that compute constants the tail reads (an Identity of an initializer: PyTorch's
  // exporter shares one zero bias among Mask R-CNN's mask-head convolutions so) go with it too,
  // with what they read, so the tail plans with their values known: passed from the head they
  // are run-time values, and the convolutions lost their Winograd kernel for an unknown bias.
  std::unordered_set<std::string> constant_values;
  for (const auto& init : g.initializer()) constant_values.insert(init.name());
  std::vector<bool> computes_constant(static_cast<std::size_t>(g.node_size()), false);
  for (int k = 0; k < g.node_size(); ++k) {
    const auto& n = g.node(k);
    if (in_tail[static_cast<std::size_t>(k)] || !can_fold_for_tail(n)) continue;
    bool all = true;
    for (const auto& i : n.input()) all = all && (i.empty() || constant_values.count(i) > 0);
    if (!all) continue;
    computes_constant[static_cast<std::size_t>(k)] = true;
    for (const auto& o : n.output()) constant_values.insert(o);
  }
  std::vector<bool> copy_to_tail(static_cast<std::size_t>(g.node_size()), false);
  for (int k = g.node_size() - 1; k >= 0; --k) {
    const auto& n = g.node(k);
    if (!computes_constant[static_cast<std::size_t>(k)]) continue;
    bool read = false;
    for (const auto& o : n.output()) read = read || tail_needs.count(o) > 0;
    if (!read) continue;
    copy_to_tail[static_cast<std::size_t>(k)] = true;
    for (const auto& i : n.input())
      if (!i.empty()) tail_needs.insert(i);
  }

  TailSplit split;
  split.head = model;
  auto* hg = split.head.mutable_graph();
  hg->clear_node();
  for (int k = 0; k < g.node_size(); ++k) {
    const auto& n = g.node(k);
    const bool constant_for_tail = copy_to_tail[static_cast<std::size_t>(k)];
    bool head_reads = false;
    for (const auto& o : n.output()) head_reads = head_reads || head_needs.count(o) > 0;
    if (in_tail[static_cast<std::size_t>(k)] || constant_for_tail) split.tail.push_back(n);
    if (!in_tail[static_cast<std::size_t>(k)] && (!constant_for_tail || head_reads)) *hg->add_node() = n;
  }
  // The head keeps only the initializers its own nodes read: the tail holds its own copies.
  std::unordered_set<std::string> head_reads;
  for (const auto& n : hg->node())
    for (auto& r : node_reads(n)) head_reads.insert(std::move(r));
  for (const auto& o : g.output()) head_reads.insert(o.name());
  hg->clear_initializer();
  for (const auto& init : g.initializer())
    if (head_reads.count(init.name())) *hg->add_initializer() = init;
  // The head's outputs: the model's outputs it makes, then what the tail reads from it.
  std::unordered_set<std::string> graph_inputs, initializers, head_made;
  for (const auto& i : g.input()) graph_inputs.insert(i.name());
  for (const auto& i : g.initializer()) initializers.insert(i.name());
  for (const auto& n : hg->node())
    for (const auto& o : n.output()) head_made.insert(o);
  hg->clear_output();
  std::unordered_set<std::string> outputs;
  for (const auto& o : g.output())
    if (!dynamic.count(o.name()) && outputs.insert(o.name()).second) *hg->add_output() = o;
  for (const auto& r : tail_reads(split.tail))
    if (head_made.count(r) && !graph_inputs.count(r) && !initializers.count(r) && outputs.insert(r).second)
      hg->add_output()->set_name(r);
  return split;
}

DynamicTail::DynamicTail(std::vector<onnx::NodeProto> nodes, std::unordered_map<std::string, Tensor> constants, std::int64_t opset,
                         NodePlanOptions plan_options)
    : nodes_(std::move(nodes)),
      constants_(std::move(constants)),
      opset_(opset),
      plan_options_(plan_options),
      blocks_(BlockCache::make(kMaxCachedBytes)) {
  for (const auto& n : nodes_) {
    check_runnable(n);
    plans_.push_back(std::make_shared<NodePlans>());
    folded_.push_back(fold_once(n));
  }
  std::unordered_map<std::string, std::size_t> last_reader;  // value -> the last node reading or making it
  for (std::size_t k = 0; k < nodes_.size(); ++k) {
    for (auto& r : node_reads(nodes_[k])) last_reader[std::move(r)] = k;
    for (const auto& o : nodes_[k].output())
      if (!o.empty()) last_reader[o] = k;
  }
  last_read_by_.resize(nodes_.size());
  for (auto& [name, k] : last_reader) last_read_by_[k].push_back(name);
}

// Evaluates a node whose inputs are all constants once, into constants_ (false where it is not
// such a node, or its kernel refuses: then it runs, and reports, on each run).
bool DynamicTail::fold_once(const onnx::NodeProto& n) {
  if (is_constant_node(n) && n.output_size() == 1) {
    constants_[n.output(0)] = constant_node_value(n);
    return true;
  }
  if (!can_fold_for_tail(n) || n.input_size() == 0) return false;
  const auto in = inputs_among(n, constants_);
  if (!in) return false;
  try {
    auto outs = is_shape_node(n) ? std::vector<Tensor>{shape_node_value(n, (*in)[0]->shape)} : evaluate_node(n, opset_, *in);
    for (int i = 0; i < n.output_size() && i < static_cast<int>(outs.size()); ++i)
      if (!n.output(i).empty()) constants_[n.output(i)] = std::move(outs[static_cast<std::size_t>(i)]);
    return true;
  } catch (const Error&) {
    return false;
  }
}

void DynamicTail::run(std::unordered_map<std::string, Tensor>& values, Profile* profile,
                      const std::unordered_set<std::string>* keep) const {
  BlockCache::Use blocks(blocks_.get());
  blocks_->begin_run();
  for (const auto& [name, t] : constants_) values.emplace(name, t);
  Scope scope{values};
  const Reuse reuse{plans_, folded_, constants_, plan_options_, last_read_by_, keep};
  run_nodes(nodes_, scope, opset_, profile, &reuse);
}

}  // namespace aifgen::engine

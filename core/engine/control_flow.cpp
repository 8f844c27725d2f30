// If, Loop and Scan: bodies planned as sessions of their own (see control_flow.h).
#include "core/engine/control_flow.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>

#include "core/base/error.h"

namespace aifgen::engine {
namespace {

// A Loop whose trip count and condition come only at run time stops with an error past this
// many iterations instead of holding a worker for ever (a model-supplied M of 2^63, or a
// condition that never turns false).
constexpr std::int64_t kMaxLoopIterations = std::int64_t(1) << 20;

bool is_standard(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

const onnx::GraphProto* graph_attr(const onnx::NodeProto& n, const char* name) {
  for (const auto& a : n.attribute())
    if (a.name() == name && a.has_g()) return &a.g();
  return nullptr;
}

void collect_reads(const onnx::GraphProto& g, std::vector<std::string>& out, std::set<std::string>& listed) {
  std::set<std::string> defined;
  for (const auto& in : g.input()) defined.insert(in.name());
  for (const auto& t : g.initializer()) defined.insert(t.name());
  for (const auto& t : g.sparse_initializer()) defined.insert(t.values().name());
  auto read = [&](const std::string& name) {
    if (!name.empty() && !defined.count(name) && listed.insert(name).second) out.push_back(name);
  };
  for (const auto& n : g.node()) {
    for (const auto& in : n.input()) read(in);
    for (const auto& a : n.attribute()) {
      if (a.has_g())
        for (const auto& r : outer_scope_reads(a.g())) read(r);
      for (const auto& sub : a.graphs())
        for (const auto& r : outer_scope_reads(sub)) read(r);
    }
    for (const auto& o : n.output()) defined.insert(o);
  }
}

// A body planned as a Session. `feed` maps each of the session's run() inputs to a position in
// the vector the kernel assembles per run (the op's own values first, then outer reads).
struct Body {
  std::unique_ptr<Session> session;
  std::vector<std::size_t> feed;

  std::vector<Tensor> run(const std::vector<Tensor>& values) const {
    std::vector<Tensor> in;
    in.reserve(feed.size());
    for (auto f : feed) in.push_back(values[f]);
    return session->run(in);
  }
  const std::vector<IoInfo>& outputs() const { return session->outputs(); }
};

// A value of the feed vector as the body sees it: a name, a description and, when known while
// planning, its value (then bound into the body's plan instead of fed per run).
struct FeedValue {
  std::string name;
  TensorDesc desc;
  const Tensor* constant = nullptr;
};

Body plan_body(const onnx::ModelProto& parent, const onnx::GraphProto& graph, const std::vector<FeedValue>& values,
               const SessionOptions& parent_options) {
  onnx::ModelProto m;
  m.set_ir_version(parent.ir_version());
  *m.mutable_opset_import() = parent.opset_import();
  *m.mutable_graph() = graph;
  auto* g = m.mutable_graph();
  g->clear_input();
  SessionOptions o;
  o.threads = parent_options.threads;
  o.int8_kernels = parent_options.int8_kernels;
  o.conv_algorithm = parent_options.conv_algorithm;
  o.activation_layout = parent_options.activation_layout;
  std::unordered_map<std::string, std::size_t> position;
  std::set<std::string> wanted;
  for (const auto& in : graph.input()) wanted.insert(in.name());
  for (const auto& r : outer_scope_reads(graph)) wanted.insert(r);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const auto& v = values[i];
    if (!wanted.count(v.name) || position.count(v.name)) continue;
    position[v.name] = i;
    auto* vi = g->add_input();
    vi->set_name(v.name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(dtype_to_onnx(v.desc.dtype));
    auto* shape = tt->mutable_shape();
    for (auto d : v.desc.shape) shape->add_dim()->set_dim_value(d);
    if (v.constant) o.input_values[v.name] = *v.constant;
    else o.input_shapes[v.name] = v.desc.shape;
  }
  Body b;
  b.session = std::make_unique<Session>(m, std::move(o));
  for (const auto& io : b.session->inputs()) b.feed.push_back(position.at(io.name));
  return b;
}

// A feed entry's run-time view of a kernel input (kernels never write their inputs).
Tensor view_of(const Tensor& t) {
  Tensor v;
  v.dtype = t.dtype;
  v.shape = t.shape;
  v.data = t.data;
  v.owner = t.owner;
  return v;
}

Tensor copy_of(const Tensor& t) {
  auto c = Tensor::allocate(t.dtype, t.shape);
  if (t.bytes() > 0) std::memcpy(c.data, t.data, t.bytes());
  return c;
}

void copy_into(Tensor& dst, const Tensor& src) {
  if (src.bytes() > 0) std::memcpy(dst.data, src.data, src.bytes());
}

bool same_desc(const TensorDesc& a, const IoInfo& b) { return a.dtype == b.dtype && a.shape == b.shape; }

std::string desc_str(DType t, const Shape& s) { return std::string(dtype_str(t)) + " " + shape_str(s); }

// The values after the op's own inputs: what the bodies read from the enclosing graph.
std::vector<FeedValue> outer_values(const NodeCtx& ctx, std::size_t own_inputs) {
  std::vector<FeedValue> v;
  for (std::size_t i = own_inputs; i < ctx.num_inputs(); ++i)
    v.push_back({ctx.node().input(static_cast<int>(i)), ctx.in(i), ctx.maybe_constant(i)});
  return v;
}

// ---------------------------------------------------------------------------------------- If

class IfKernel final : public Kernel {
 public:
  IfKernel(std::optional<Body> then_body, std::optional<Body> else_body)
      : then_(std::move(then_body)), else_(std::move(else_body)) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) override {
    const bool cond = in[0]->as<bool>()[0];
    const Body& body = cond ? *then_ : *else_;
    std::vector<Tensor> values;
    for (std::size_t i = 1; i < in.size(); ++i) values.push_back(view_of(*in[i]));
    auto results = body.run(values);
    for (std::size_t k = 0; k < out.size(); ++k) copy_into(*out[k], results[k]);
  }

 private:
  std::optional<Body> then_, else_;
};

std::unique_ptr<Kernel> plan_if(const NodeCtx& ctx, const onnx::ModelProto& parent, const SessionOptions& options,
                                std::vector<TensorDesc>& outputs) {
  const auto* then_graph = graph_attr(ctx.node(), "then_branch");
  const auto* else_graph = graph_attr(ctx.node(), "else_branch");
  if (!then_graph || !else_graph) ctx.invalid("needs then_branch and else_branch graphs");
  if (ctx.in(0).dtype != DType::kBool || numel(ctx.in(0).shape) != 1) ctx.invalid("the condition must be one bool");
  const auto values = outer_values(ctx, 1);
  const Tensor* cond = ctx.maybe_constant(0);
  std::optional<Body> then_body, else_body;
  if (!cond || cond->as<bool>()[0]) then_body = plan_body(parent, *then_graph, values, options);
  if (!cond || !cond->as<bool>()[0]) else_body = plan_body(parent, *else_graph, values, options);
  const Body& first = then_body ? *then_body : *else_body;
  if (static_cast<int>(first.outputs().size()) != ctx.node().output_size())
    ctx.invalid("the branch gives " + std::to_string(first.outputs().size()) + " outputs, the node declares " +
                std::to_string(ctx.node().output_size()));
  if (then_body && else_body) {
    const auto& a = then_body->outputs();
    const auto& b = else_body->outputs();
    if (a.size() != b.size()) ctx.invalid("the branches give different numbers of outputs");
    for (std::size_t k = 0; k < a.size(); ++k)
      if (a[k].dtype != b[k].dtype || a[k].shape != b[k].shape)
        ctx.unsupported("output " + std::to_string(k) + " is " + desc_str(a[k].dtype, a[k].shape) + " in then_branch but " +
                        desc_str(b[k].dtype, b[k].shape) +
                        " in else_branch; the engine plans static shapes, so the branches must agree unless the "
                        "condition must be known when the model is planned");
  }
  for (const auto& o : first.outputs()) outputs.push_back({o.dtype, o.shape});
  return std::make_unique<IfKernel>(std::move(then_body), std::move(else_body));
}

// -------------------------------------------------------------------------------------- Loop

class LoopKernel final : public Kernel {
 public:
  LoopKernel(Body body, std::size_t carried, std::size_t scans, std::optional<std::int64_t> planned_trips)
      : body_(std::move(body)), carried_(carried), scans_(scans), planned_trips_(planned_trips) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) override {
    std::int64_t trips = planned_trips_ ? *planned_trips_ : in[0] ? in[0]->as<std::int64_t>()[0] : INT64_MAX;
    bool cond = in[1] ? in[1]->as<bool>()[0] : true;
    // values: [iteration, condition, carried..., outer reads...]
    std::vector<Tensor> values;
    values.push_back(Tensor::allocate(DType::kI64, {}));
    values.push_back(Tensor::allocate(DType::kBool, {}));
    for (std::size_t j = 0; j < carried_; ++j) values.push_back(copy_of(*in[2 + j]));
    for (std::size_t i = 2 + carried_; i < in.size(); ++i) values.push_back(view_of(*in[i]));
    std::int64_t it = 0;
    for (; it < trips && cond; ++it) {
      if (!planned_trips_ && it >= kMaxLoopIterations)
        throw Error(ErrorCode::kInvalidArgument, "engine-bad-input",
                    "Loop ran " + std::to_string(kMaxLoopIterations) + " iterations without its trip count or condition ending it");
      values[0].as<std::int64_t>()[0] = it;
      values[1].as<bool>()[0] = cond;
      auto results = body_.run(values);
      cond = results[0].as<bool>()[0];
      for (std::size_t j = 0; j < carried_; ++j) values[2 + j] = std::move(results[1 + j]);
      for (std::size_t k = 0; k < scans_; ++k) {
        const auto& s = results[1 + carried_ + k];
        std::memcpy(out[carried_ + k]->data + static_cast<std::size_t>(it) * s.bytes(), s.data, s.bytes());
      }
    }
    for (std::size_t j = 0; j < carried_; ++j) copy_into(*out[j], values[2 + j]);
  }

 private:
  Body body_;
  std::size_t carried_, scans_;
  std::optional<std::int64_t> planned_trips_;
};

// Whether the body's condition output is its condition input, unchanged (directly or through
// Identity nodes), or a constant true: then only the trip count ends the loop.
bool condition_only_passed_through(const onnx::GraphProto& body) {
  if (body.input_size() < 2 || body.output_size() < 1) return false;
  std::string name = body.output(0).name();
  for (int guard = 0; guard <= body.node_size(); ++guard) {
    if (name == body.input(1).name()) return true;
    const onnx::NodeProto* producer = nullptr;
    for (const auto& n : body.node())
      for (const auto& o : n.output())
        if (o == name) producer = &n;
    if (!producer || !is_standard(*producer)) return false;
    if (producer->op_type() == "Identity" && producer->input_size() == 1) {
      name = producer->input(0);
      continue;
    }
    if (producer->op_type() == "Constant")
      for (const auto& a : producer->attribute())
        if (a.name() == "value" && a.t().data_type() == onnx::TensorProto::BOOL && a.t().dims_size() <= 1) {
          auto t = tensor_from_proto(a.t());
          return t.numel() == 1 && t.as<bool>()[0];
        }
    return false;
  }
  return false;
}

std::unique_ptr<Kernel> plan_loop(const NodeCtx& ctx, const onnx::ModelProto& parent, const SessionOptions& options,
                                  std::vector<TensorDesc>& outputs) {
  const auto* body = graph_attr(ctx.node(), "body");
  if (!body) ctx.invalid("needs a body graph");
  if (body->input_size() < 2) ctx.invalid("the body needs at least an iteration number and a condition input");
  const std::size_t carried = static_cast<std::size_t>(body->input_size() - 2);
  if (ctx.num_inputs() < 2 + carried) ctx.invalid("the body takes " + std::to_string(carried) + " loop-carried values, the node gives fewer");
  if (body->output_size() < 1 + static_cast<int>(carried)) ctx.invalid("the body gives fewer outputs than it carries values");
  const std::size_t scans = static_cast<std::size_t>(body->output_size()) - 1 - carried;
  if (ctx.node().output_size() != static_cast<int>(carried + scans))
    ctx.invalid("the node declares " + std::to_string(ctx.node().output_size()) + " outputs, the body gives " +
                std::to_string(carried + scans));
  if (ctx.has_input(0) && (ctx.in(0).dtype != DType::kI64 || numel(ctx.in(0).shape) != 1)) ctx.invalid("M must be one int64");
  if (ctx.has_input(1) && (ctx.in(1).dtype != DType::kBool || numel(ctx.in(1).shape) != 1)) ctx.invalid("cond must be one bool");
  if (!ctx.has_input(0) && !ctx.has_input(1)) ctx.unsupported("neither a trip count nor a condition: the loop never ends");

  std::vector<FeedValue> values;
  values.push_back({body->input(0).name(), {DType::kI64, {}}, nullptr});
  values.push_back({body->input(1).name(), {DType::kBool, {}}, nullptr});
  for (std::size_t j = 0; j < carried; ++j) {
    if (!ctx.has_input(2 + j)) ctx.invalid("loop-carried value " + std::to_string(j) + " has no initial value");
    values.push_back({body->input(static_cast<int>(2 + j)).name(), ctx.in(2 + j), nullptr});
  }
  for (auto& v : outer_values(ctx, 2 + carried)) values.push_back(std::move(v));
  Body b = plan_body(parent, *body, values, options);
  const auto& outs = b.outputs();
  if (outs[0].dtype != DType::kBool || numel(outs[0].shape) != 1) ctx.invalid("the body's condition output must be one bool");
  for (std::size_t j = 0; j < carried; ++j)
    if (!same_desc(ctx.in(2 + j), outs[1 + j]))
      ctx.unsupported("loop-carried value '" + body->input(static_cast<int>(2 + j)).name() + "' enters as " +
                      desc_str(ctx.in(2 + j).dtype, ctx.in(2 + j).shape) + " and leaves the body as " +
                      desc_str(outs[1 + j].dtype, outs[1 + j].shape) + "; the engine plans static shapes");

  std::optional<std::int64_t> trips;
  if (scans > 0) {
    // Scan outputs stack one value per iteration: their length must be known while planning.
    const Tensor* m = ctx.maybe_constant(0);
    if (!m) ctx.unsupported("with scan outputs, the trip count M must be known when the model is planned");
    const Tensor* c = ctx.maybe_constant(1);
    if (ctx.has_input(1) && !c) ctx.unsupported("with scan outputs, the condition must be known when the model is planned");
    if (!condition_only_passed_through(*body))
      ctx.unsupported("with scan outputs, a body condition that may end the loop early gives outputs of unknown length");
    trips = std::max<std::int64_t>(0, m->as<std::int64_t>()[0]);
    if (c && !c->as<bool>()[0]) trips = 0;
  }
  for (std::size_t j = 0; j < carried; ++j) outputs.push_back({outs[1 + j].dtype, outs[1 + j].shape});
  for (std::size_t k = 0; k < scans; ++k) {
    const auto& o = outs[1 + carried + k];
    Shape s = {*trips};
    s.insert(s.end(), o.shape.begin(), o.shape.end());
    outputs.push_back({o.dtype, s});
  }
  return std::make_unique<LoopKernel>(std::move(b), carried, scans, trips);
}

// -------------------------------------------------------------------------------------- Scan

// Element ranges of one index along an axis: `outer` runs of `inner` bytes, `extent` apart.
struct AxisView {
  std::size_t outer = 1, inner = 1, extent = 1;
};

AxisView axis_view(const Shape& s, std::size_t axis, std::size_t elem) {
  AxisView v;
  for (std::size_t d = 0; d < axis; ++d) v.outer *= static_cast<std::size_t>(s[d]);
  v.extent = static_cast<std::size_t>(s[axis]);
  v.inner = elem;
  for (std::size_t d = axis + 1; d < s.size(); ++d) v.inner *= static_cast<std::size_t>(s[d]);
  return v;
}

struct ScanPlan {
  std::size_t states = 0, inputs = 0, outputs = 0;
  std::int64_t length = 0;
  std::vector<std::size_t> in_axis, out_axis;
  std::vector<bool> in_reverse, out_reverse;
  std::vector<AxisView> in_view, out_view;
  std::vector<TensorDesc> slice;  // per scan input: one step's value
};

class ScanKernel final : public Kernel {
 public:
  ScanKernel(Body body, ScanPlan p) : body_(std::move(body)), p_(std::move(p)) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) override {
    // values: [states..., one step of each scan input..., outer reads...]
    std::vector<Tensor> values;
    for (std::size_t j = 0; j < p_.states; ++j) values.push_back(copy_of(*in[j]));
    for (std::size_t j = 0; j < p_.inputs; ++j) values.push_back(Tensor::allocate(p_.slice[j].dtype, p_.slice[j].shape));
    for (std::size_t i = p_.states + p_.inputs; i < in.size(); ++i) values.push_back(view_of(*in[i]));
    const auto t_len = static_cast<std::size_t>(p_.length);
    for (std::size_t t = 0; t < t_len; ++t) {
      for (std::size_t j = 0; j < p_.inputs; ++j) {
        const auto& v = p_.in_view[j];
        const std::size_t at = p_.in_reverse[j] ? t_len - 1 - t : t;
        const std::byte* src = in[p_.states + j]->data;
        std::byte* dst = values[p_.states + j].data;
        for (std::size_t o = 0; o < v.outer; ++o) std::memcpy(dst + o * v.inner, src + (o * v.extent + at) * v.inner, v.inner);
      }
      auto results = body_.run(values);
      for (std::size_t j = 0; j < p_.states; ++j) values[j] = std::move(results[j]);
      for (std::size_t k = 0; k < p_.outputs; ++k) {
        const auto& v = p_.out_view[k];
        const std::size_t at = p_.out_reverse[k] ? t_len - 1 - t : t;
        const std::byte* src = results[p_.states + k].data;
        std::byte* dst = out[p_.states + k]->data;
        for (std::size_t o = 0; o < v.outer; ++o) std::memcpy(dst + (o * v.extent + at) * v.inner, src + o * v.inner, v.inner);
      }
    }
    for (std::size_t j = 0; j < p_.states; ++j) copy_into(*out[j], values[j]);
  }

 private:
  Body body_;
  ScanPlan p_;
};

std::unique_ptr<Kernel> plan_scan(const NodeCtx& ctx, const onnx::ModelProto& parent, const SessionOptions& options,
                                  std::vector<TensorDesc>& outputs) {
  if (ctx.opset() < 9) ctx.unsupported("Scan before opset 9 (batch axis and sequence_lens) is not implemented");
  const auto* body = graph_attr(ctx.node(), "body");
  if (!body) ctx.invalid("needs a body graph");
  ScanPlan p;
  const auto m = ctx.attr_i("num_scan_inputs", -1);
  if (m < 1 || m > body->input_size()) ctx.invalid("num_scan_inputs must be between 1 and the body's inputs");
  p.inputs = static_cast<std::size_t>(m);
  p.states = static_cast<std::size_t>(body->input_size()) - p.inputs;
  if (body->output_size() < static_cast<int>(p.states)) ctx.invalid("the body gives fewer outputs than it has states");
  p.outputs = static_cast<std::size_t>(body->output_size()) - p.states;
  if (ctx.node().output_size() != body->output_size()) ctx.invalid("the node and its body give different numbers of outputs");
  if (ctx.num_inputs() < p.states + p.inputs) ctx.invalid("the node gives fewer inputs than its body takes");
  auto per_input = [&](const char* name, std::size_t count) {
    auto v = ctx.attr_ints(name);
    if (v.empty()) v.assign(count, 0);
    if (v.size() != count) ctx.invalid(std::string(name) + " must have one entry per scan " + (count == p.inputs ? "input" : "output"));
    return v;
  };
  const auto in_axes = per_input("scan_input_axes", p.inputs);
  const auto in_dirs = per_input("scan_input_directions", p.inputs);
  const auto out_axes = per_input("scan_output_axes", p.outputs);
  const auto out_dirs = per_input("scan_output_directions", p.outputs);

  std::vector<FeedValue> values;
  for (std::size_t j = 0; j < p.states; ++j) {
    if (!ctx.has_input(j)) ctx.invalid("state " + std::to_string(j) + " has no initial value");
    values.push_back({body->input(static_cast<int>(j)).name(), ctx.in(j), nullptr});
  }
  for (std::size_t j = 0; j < p.inputs; ++j) {
    const auto& d = ctx.in(p.states + j);
    const auto rank = static_cast<std::int64_t>(d.shape.size());
    if (rank < 1) ctx.invalid("a scan input must have at least one axis");
    const auto axis = static_cast<std::size_t>(normalize_axis(ctx, in_axes[j], rank));
    if (j == 0) p.length = d.shape[axis];
    else if (d.shape[axis] != p.length) ctx.invalid("scan inputs differ in sequence length");
    Shape step = d.shape;
    step.erase(step.begin() + static_cast<std::ptrdiff_t>(axis));
    p.in_axis.push_back(axis);
    p.in_reverse.push_back(in_dirs[j] != 0);
    p.in_view.push_back(axis_view(d.shape, axis, dtype_size(d.dtype)));
    p.slice.push_back({d.dtype, step});
    values.push_back({body->input(static_cast<int>(p.states + j)).name(), p.slice.back(), nullptr});
  }
  for (auto& v : outer_values(ctx, p.states + p.inputs)) values.push_back(std::move(v));
  Body b = plan_body(parent, *body, values, options);
  const auto& outs = b.outputs();
  for (std::size_t j = 0; j < p.states; ++j) {
    if (!same_desc(ctx.in(j), outs[j]))
      ctx.unsupported("state '" + body->input(static_cast<int>(j)).name() + "' enters as " + desc_str(ctx.in(j).dtype, ctx.in(j).shape) +
                      " and leaves the body as " + desc_str(outs[j].dtype, outs[j].shape) + "; the engine plans static shapes");
    outputs.push_back({outs[j].dtype, outs[j].shape});
  }
  for (std::size_t k = 0; k < p.outputs; ++k) {
    const auto& o = outs[p.states + k];
    const auto rank = static_cast<std::int64_t>(o.shape.size()) + 1;
    const auto axis = static_cast<std::size_t>(normalize_axis(ctx, out_axes[k], rank));
    Shape s = o.shape;
    s.insert(s.begin() + static_cast<std::ptrdiff_t>(axis), p.length);
    p.out_axis.push_back(axis);
    p.out_reverse.push_back(out_dirs[k] != 0);
    p.out_view.push_back(axis_view(s, axis, dtype_size(o.dtype)));
    outputs.push_back({o.dtype, s});
  }
  return std::make_unique<ScanKernel>(std::move(b), std::move(p));
}

}  // namespace

bool is_control_flow(const onnx::NodeProto& n) {
  return is_standard(n) && (n.op_type() == "If" || n.op_type() == "Loop" || n.op_type() == "Scan");
}

std::vector<std::string> outer_scope_reads(const onnx::GraphProto& g) {
  std::vector<std::string> out;
  std::set<std::string> listed;
  collect_reads(g, out, listed);
  return out;
}

std::optional<onnx::ModelProto> expose_subgraph_reads(const onnx::ModelProto& model) {
  std::optional<onnx::ModelProto> out;
  for (int i = 0; i < model.graph().node_size(); ++i) {
    const auto& n = model.graph().node(i);
    if (!is_control_flow(n)) continue;
    std::vector<std::string> reads;
    std::set<std::string> listed;
    for (const auto& a : n.attribute())
      if (a.has_g())
        for (const auto& r : outer_scope_reads(a.g()))
          if (listed.insert(r).second) reads.push_back(r);
    if (reads.empty()) continue;
    if (!out) out = model;
    auto* node = out->mutable_graph()->mutable_node(i);
    for (const auto& r : reads) node->add_input(r);
  }
  return out;
}

std::unique_ptr<Kernel> plan_control_flow(const NodeCtx& ctx, const onnx::ModelProto& parent, const SessionOptions& options,
                                          std::vector<TensorDesc>& outputs) {
  const auto& op = ctx.node().op_type();
  if (op == "If") return plan_if(ctx, parent, options, outputs);
  if (op == "Loop") return plan_loop(ctx, parent, options, outputs);
  return plan_scan(ctx, parent, options, outputs);
}

}  // namespace aifgen::engine

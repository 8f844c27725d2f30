// Planning and execution.
#include "core/engine/session.h"
#include "core/engine/concat_batchnorm.h"
#include "core/engine/space_to_depth_stem.h"
#include "core/engine/conv_transpose_upsampling.h"
#include "core/engine/concat_split.h"
#include "core/engine/hardswish_pattern.h"
#include "core/engine/pool_through_concat.h"
#include "core/quantize/saturation_safe.h"
#include "core/quantize/weight_range.h"

#include <omp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <deque>
#include <limits>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/engine/attention.h"
#include "core/engine/control_flow.h"
#include "core/engine/dynamic_tail.h"
#include "core/engine/evaluate.h"
#include "core/engine/kernels/concat_by_reorders.h"
#include "core/engine/kernels/onednn_util.h"
#include "core/engine/kernels/post_ops.h"
#include "core/engine/memory_plan.h"
#include "core/engine/nhwc_passthrough.h"
#include "core/engine/registry.h"
#include "core/engine/pad_fusion.h"
#include "core/engine/random_inputs.h"
#include "core/engine/squeeze_excite.h"
#include "core/engine/thread_policy.h"
#include "core/engine/transformer_patterns.h"
#include "core/fp16_emulation.h"
#include "core/passes/aifgen_ops.h"
#include "core/passes/graph_edit.h"
#include "core/passes/pass_manager.h"
#include "core/base/error.h"
#include "core/onnx_model.h"

namespace aifgen::engine {
namespace {

enum class SlotKind { kConstant, kInput, kArena };

struct Slot {
  SlotKind kind = SlotKind::kArena;
  TensorDesc desc;
  Tensor constant;       // kConstant
  int input_index = -1;  // kInput
  std::size_t offset = 0;
};

struct Step {
  std::string label;  // op type, for profiles
  std::unique_ptr<Kernel> kernel;
  std::vector<int> in;   // slot ids, -1 for omitted inputs
  std::vector<int> out;  // slot ids
  int threads = 1;       // OpenMP threads this step runs with (see thread_policy.h)
  int inplace_input = -1;  // index into `in` whose bytes the output may take over (NodeCtx::inplace_input)
  bool winograd = false;   // a convolution running as Winograd (NodeCtx::winograd)
  bool merged_groups = false;  // a grouped convolution with its groups joined (NodeCtx::merged_groups)
  bool split_outputs = false;  // a convolution with its output channels split over the threads (NodeCtx::split_outputs)
  bool grouped_channels_last = false;  // a grouped convolution reading NHWC (NodeCtx::grouped_channels_last)
  bool pointwise_product = false;  // a MatMul/Gemm by constant weights run as a 1x1 convolution (product_choice.h)
  bool engine_recurrence = false;  // an RNN/LSTM/GRU on the engine's recurrence (rnn_recurrence.h)
};

struct RunState {
  std::unique_ptr<std::byte[], void (*)(void*)> arena{nullptr, [](void*) {}};
  std::unique_ptr<std::byte[], void (*)(void*)> scratchpad{nullptr, [](void*) {}};
  dnnl::stream stream;
  std::vector<Tensor> views;  // one per slot; arena slots point into `arena`
  std::vector<std::unique_ptr<KernelState>> kernel_state;  // one per step (RunContext::state)
};

bool is_op(const onnx::NodeProto& n, const char* op) {
  return n.op_type() == op && (n.domain().empty() || n.domain() == "ai.onnx");
}

// An inference BatchNormalization after a Conv becomes part of the Conv's weights and bias, as
// ONNX Runtime does when it loads a model: Paddle exports keep them apart (35 in the PaddleOCR
// orientation classifier), and a separate BN pass also kept the activation after it out of the
// convolution. The fold_batchnorm pass does the arithmetic and refuses what is not exact.
std::optional<onnx::ModelProto> fold_batchnorms_into_convs(const onnx::ModelProto& model) {
  bool any = false;
  for (const auto& n : model.graph().node()) any = any || is_op(n, "BatchNormalization");
  if (!any) return std::nullopt;
  auto folded = model;
  auto counts = make_pass(PassSpec("fold_batchnorm"))->run(folded);
  if (counts["batchnorms_folded"] == 0) return std::nullopt;
  return folded;
}

// Inference-time Dropout nodes pass their input through, yet each ran as a copy (swin_t: 24
// Dropouts, 0.5 ms a run at 1 thread) and stood between patterns the planner fuses (Softmax ->
// Dropout -> MatMul in torchvision's attention). The eliminate_identity pass wires their readers
// to the input and keeps the names of graph outputs. Identity nodes are already views
// (drop_view_steps), except that an Identity of a constant hides the constant from the fusions
// below: torch's exporter aliases each parameter equal to an earlier one (vit_b_16's
// LayerNorm scales and biases from the second on), and those LayerNorms ran their scale and bias
// as two more passes over the activations. Those Identity nodes go too.
std::optional<onnx::ModelProto> remove_dropouts_and_constant_aliases(const onnx::ModelProto& model) {
  // Copying the model is the cost: only when there is something to remove. Constants are what
  // the pass's find_constant accepts: initializers and Constant nodes' outputs.
  std::unordered_set<std::string> constants;
  for (const auto& t : model.graph().initializer()) constants.insert(t.name());
  for (const auto& n : model.graph().node())
    if (is_op(n, "Constant") && n.output_size() == 1) constants.insert(n.output(0));
  bool any = false;
  for (const auto& n : model.graph().node())
    any = any || is_op(n, "Dropout") || (is_op(n, "Identity") && n.input_size() == 1 && constants.count(n.input(0)));
  if (!any) return std::nullopt;
  auto cleaned = model;
  auto counts = make_pass(PassSpec("eliminate_identity", {{"dropout_only", "true"}, {"constant_identities", "true"}}))->run(cleaned);
  if (counts["nodes_removed"] == 0) return std::nullopt;
  return cleaned;
}

float scalar_f32(const Tensor& t) { return t.dtype == DType::kF32 && t.numel() == 1 ? t.as<float>()[0] : NAN; }

bool is_conv(const onnx::NodeProto& n) { return is_op(n, "Conv") || is_op(n, "ConvInt8"); }

// Whether make_gemm can apply element-wise post-ops to this Gemm's result: alpha 1 and C absent
// or a row vector added with beta 1 (the primitive's bias). Any other C is added after the
// product, where an activation fused into the product would come before it.
bool gemm_takes_post_ops(const onnx::NodeProto& gemm, const std::vector<PlanInput>& pin) {
  float alpha = 1.f, beta = 1.f;
  std::int64_t trans_b = 0;
  for (const auto& a : gemm.attribute()) {
    if (a.name() == "alpha") alpha = a.f();
    if (a.name() == "beta") beta = a.f();
    if (a.name() == "transB") trans_b = a.i();
  }
  if (alpha != 1.f || pin.size() < 2 || pin[1].desc.shape.size() != 2) return false;
  if (pin.size() < 3 || !pin[2].present) return true;
  const Shape& c = pin[2].desc.shape;
  const std::int64_t n = pin[1].desc.shape[trans_b != 0 ? 0 : 1];
  return beta == 1.f && numel(c) == n && (c.size() == 1 || (c.size() == 2 && c[0] == 1));
}

// QuantizeLinear -> DequantizeLinear -> Conv <- DequantizeLinear <- int8 weights: the QDQ form
// of an int8 convolution. Found before planning so the planner can run it as one oneDNN int8
// convolution reading the float activation (ConvInt8) and skip the Q/DQ nodes only it reads.
struct Int8ConvMatch {
  onnx::NodeProto node;  // the ConvInt8 node planned in the Conv's place
  int q = -1, dq = -1, weight_dq = -1;
};

// Whether no pair of `w`'s values that oneDNN adds in 16 bits without VNNI can overflow for this
// reader (quantize::weight_pairing decides how the reader pairs them).
bool saturation_safe_for(const onnx::NodeProto& reader, const Tensor& w) {
  std::int64_t group = 1, trans_b = 0;
  for (const auto& a : reader.attribute()) {
    if (a.name() == "group") group = a.i();
    if (a.name() == "transB") trans_b = a.i();
  }
  const auto pairing = quantize::weight_pairing(reader.op_type(), group, trans_b != 0, std::vector<std::int64_t>(w.shape.begin(), w.shape.end()));
  return pairing && quantize::saturation_safe_for(*pairing, std::vector<std::int8_t>(w.as<std::int8_t>(), w.as<std::int8_t>() + w.numel()));
}

// `safe_weights_only` (no VNNI): match only uint8 activations with saturation-safe weights.
// `decoded`: the initializers the session decoded already (their protos may have given their
// bytes away, tensor_taking_proto), or null.
std::unordered_map<int, Int8ConvMatch> find_int8_convs(const onnx::GraphProto& g, bool safe_weights_only,
                                                       const std::unordered_map<std::string, Tensor>* decoded) {
  std::unordered_map<std::string, const onnx::TensorProto*> init;
  for (const auto& t : g.initializer()) init[t.name()] = &t;
  for (const auto& in : g.input()) init.erase(in.name());  // overridable: not constant
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& o : g.node(i).output()) producer[o] = i;
  std::deque<Tensor> keep;  // stable addresses for the decoded constants below
  auto constant = [&](const onnx::NodeProto& n, int k) -> const Tensor* {
    if (k >= n.input_size() || n.input(k).empty()) return nullptr;
    auto it = init.find(n.input(k));
    if (it == init.end()) return nullptr;
    if (decoded)
      if (auto d = decoded->find(n.input(k)); d != decoded->end()) return &d->second;
    keep.push_back(tensor_from_proto(*it->second));
    return &keep.back();
  };
  auto producer_of = [&](const std::string& v, const char* op) -> int {
    auto it = producer.find(v);
    return it != producer.end() && is_op(g.node(it->second), op) ? it->second : -1;
  };
  std::unordered_map<int, Int8ConvMatch> out;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& conv = g.node(i);
    const bool is_matmul = is_op(conv, "MatMul"), is_gemm = is_op(conv, "Gemm");
    if (!(is_op(conv, "Conv") || is_matmul || is_gemm) || conv.input_size() < 2 || conv.output_size() != 1) continue;
    auto int_attr = [&](const char* name, std::int64_t dflt) {
      for (const auto& a : conv.attribute())
        if (a.name() == name) return a.i();
      return dflt;
    };
    auto float_attr = [&](const char* name, float dflt) {
      for (const auto& a : conv.attribute())
        if (a.name() == name) return a.f();
      return dflt;
    };
    // Gemm: plain A, alpha 1 and a row-vector bias (beta 1) fit one int8 matmul.
    if (is_gemm && (int_attr("transA", 0) != 0 || float_attr("alpha", 1.f) != 1.f || float_attr("beta", 1.f) != 1.f)) continue;
    const int wdq = producer_of(conv.input(1), "DequantizeLinear");
    const int dq = producer_of(conv.input(0), "DequantizeLinear");
    if (wdq < 0 || dq < 0) continue;
    const int q = producer_of(g.node(dq).input(0), "QuantizeLinear");
    if (q < 0) continue;
    const auto& wn = g.node(wdq);
    const auto& dqn = g.node(dq);
    const auto& qn = g.node(q);
    const Tensor* wq = constant(wn, 0);
    const Tensor* ws = constant(wn, 1);
    const Tensor* wz = constant(wn, 2);
    const Tensor* xs = constant(dqn, 1);
    const Tensor* xz = constant(dqn, 2);
    const Tensor* qs = constant(qn, 1);
    const Tensor* qz = constant(qn, 2);
    if (!wq || wq->dtype != DType::kI8 || !ws || ws->dtype != DType::kF32 || !xs || !qs || xs->dtype != DType::kF32 ||
        qs->dtype != DType::kF32 || xs->numel() != 1 || qs->numel() != 1 || xs->as<float>()[0] != qs->as<float>()[0])
      continue;
    // Weights symmetric (zero points 0) and per output channel or per tensor. The output channel
    // axis: 0 for Conv and Gemm with transB, 1 for MatMul and Gemm without (B is [K, N]).
    const std::int64_t out_axis = is_matmul || (is_gemm && int_attr("transB", 0) == 0) ? 1 : 0;
    if ((is_matmul || is_gemm) && wq->shape.size() != 2) continue;
    bool ok = ws->numel() == 1 || (ws->numel() == wq->shape[static_cast<std::size_t>(out_axis)] && [&] {
      for (const auto& a : wn.attribute())
        if (a.name() == "axis") return a.i() == out_axis;
      return out_axis == 1;  // default axis is 1
    }());
    if (wz)
      for (std::int64_t k = 0; k < wz->numel() && ok; ++k) ok = wz->dtype == DType::kI8 && wz->as<std::int8_t>()[k] == 0;
    // Activation zero point: the same uint8 or int8 scalar on both sides (absent means uint8 0).
    const DType xt = xz ? xz->dtype : DType::kU8;
    if ((qz ? qz->dtype : DType::kU8) != xt || (xt != DType::kU8 && xt != DType::kI8)) ok = false;
    auto zp_value = [](const Tensor* z) -> std::int32_t {
      if (!z) return 0;
      return z->dtype == DType::kU8 ? z->as<std::uint8_t>()[0] : z->as<std::int8_t>()[0];
    };
    if (!ok || (xz && xz->numel() != 1) || (qz && qz->numel() != 1) || zp_value(xz) != zp_value(qz)) continue;
    if (safe_weights_only) {
      if (xt != DType::kU8) continue;  // s8 sources go through oneDNN's own 0.5 weight rescaling
      if (!saturation_safe_for(conv, *wq)) continue;
    }
    Int8ConvMatch m;
    m.q = q;
    m.dq = dq;
    m.weight_dq = wdq;
    m.node = conv;
    m.node.set_op_type(is_op(conv, "Conv") ? "ConvInt8" : "MatMulInt8");
    if (is_matmul || is_gemm) {
      auto* tb = m.node.add_attribute();
      tb->set_name("w_transposed");
      tb->set_type(onnx::AttributeProto::INT);
      tb->set_i(out_axis == 0);
    }
    m.node.set_input(0, qn.input(0));
    m.node.set_input(1, wn.input(0));
    auto add = [&](const char* name) {
      auto* a = m.node.add_attribute();
      a->set_name(name);
      return a;
    };
    auto* a = add("x_scale");
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(xs->as<float>()[0]);
    a = add("x_zero_point");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(zp_value(xz));
    a = add("x_signed");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(xt == DType::kI8);
    a = add("w_scales");
    a->set_type(onnx::AttributeProto::FLOATS);
    for (std::int64_t k = 0; k < ws->numel(); ++k) a->add_floats(ws->as<float>()[k]);
    out.emplace(i, std::move(m));
  }
  return out;
}

}  // namespace

struct Session::Impl {
  SessionOptions options;
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  std::vector<Slot> slots;
  std::vector<Step> steps;
  std::vector<IoInfo> inputs, outputs;
  std::vector<int> input_slots, output_slots;
  std::size_t arena_bytes = 0, constant_bytes = 0, scratchpad_bytes = 0;
  double plan_ms = 0;
  std::string thread_choice;  // why the session runs on the threads it does (Session::thread_choice)
  std::string conv_choice;    // why its convolutions run as they do (Session::conv_algorithm_choice)
  std::string layout_choice;  // which activation layout it runs and why (Session::activation_layout_choice)
  std::size_t layout_conversions = 0;  // reorder steps between two non-plain layouts
  std::size_t grouped_channels_last() const {
    return static_cast<std::size_t>(std::count_if(steps.begin(), steps.end(), [](const Step& s) { return s.grouped_channels_last; }));
  }
  double parallel_work = 0;  // estimated work of the steps planned with more than one thread
  // The graph's initializers decoded once for every plan one Session constructor makes of one
  // model (its thread, Winograd and layout races): each plan copied them again, and two plans
  // are alive while they race (vgg11: 507 MB of weights per copy). Read-only: kernels get
  // constants as const inputs and constant folding writes new tensors. Cleared once the
  // constructor has chosen its plan, whose slots keep what they use.
  std::shared_ptr<std::unordered_map<std::string, Tensor>> decoded_initializers;
  mutable std::mutex pool_mu;
  std::vector<std::unique_ptr<RunState>> pool;
  // Guarded by pool_mu; one per step once profiled (Session::profile() sums it per op).
  std::vector<StepProfile> step_profile;

  void plan(const onnx::ModelProto& model);
  // Removes the steps that only reshape an arena value; per slot, the slot whose bytes it views
  // (-1: its own).
  std::vector<int> drop_view_steps();
  void share_accumulator_bytes(std::vector<int>& view_of) const;
  // Plain copy of a slot stored in a blocked layout (adds a reorder step once per slot).
  int plain_slot(int id);
  std::unordered_map<int, int> plain_copies;
  // Copy of a plain slot in a blocked layout (adds a reorder step once per slot and layout).
  int blocked_slot(int id, const std::shared_ptr<const dnnl::memory::desc>& layout);
  std::map<std::pair<int, std::string>, int> blocked_copies;
  std::deque<onnx::NodeProto> requant_nodes;  // planned ConvInt8 nodes with fused requantization
  std::unique_ptr<RunState> make_state();
  // Frees the constants that only kernels holding their own copies read (Kernel::reads_input_at_run).
  void free_constants_kernels_copied();
  // Runs the plan on a run state from the pool (or a new one) and returns that state, its
  // output views filled; give_back() returns it to the pool.
  std::unique_ptr<RunState> execute(const std::vector<Tensor>& in);
  void give_back(std::unique_ptr<RunState> st);
  std::vector<Tensor> run(const std::vector<Tensor>& in);
  void run_reading(const std::vector<Tensor>& in, const std::function<void(const std::vector<Tensor>&)>& read);
};

void Session::Impl::plan(const onnx::ModelProto& model) {
  const auto& g = model.graph();
  const std::int64_t opset = default_opset(model);
  std::unordered_map<std::string, int> slot_of;
  auto add_slot = [&](const std::string& name, Slot s) {
    slots.push_back(std::move(s));
    slot_of[name] = static_cast<int>(slots.size()) - 1;
    return static_cast<int>(slots.size()) - 1;
  };
  for (const auto& init : g.initializer()) {
    Slot s;
    s.kind = SlotKind::kConstant;
    if (decoded_initializers) {
      auto [it, fresh] = decoded_initializers->try_emplace(init.name());
      if (fresh) it->second = tensor_from_proto(init);
      s.constant = it->second;
    } else {
      s.constant = tensor_from_proto(init);
    }
    s.desc = s.constant.desc();
    constant_bytes += s.constant.bytes();
    add_slot(init.name(), std::move(s));
  }
  for (const auto& in : g.input()) {
    if (slot_of.count(in.name())) continue;  // an initializer listed as input (IR < 4): constant here
    if (auto v = options.input_values.find(in.name()); v != options.input_values.end()) {
      Slot s;
      s.kind = SlotKind::kConstant;
      s.constant = v->second;
      s.desc = s.constant.desc();
      add_slot(in.name(), std::move(s));
      continue;
    }
    if (!in.type().has_tensor_type())
      throw Error(ErrorCode::kUnprocessable, "engine-unsupported", "input '" + in.name() + "' is not a tensor");
    IoInfo io{in.name(), dtype_from_onnx(in.type().tensor_type().elem_type()), {}};
    auto bound = options.input_shapes.find(in.name());
    const auto& dims = in.type().tensor_type().shape().dim();
    if (bound != options.input_shapes.end()) {
      if (static_cast<int>(bound->second.size()) != dims.size())
        throw Error(ErrorCode::kInvalidArgument, "engine-bad-shape",
                    "--shape for '" + in.name() + "' has rank " + std::to_string(bound->second.size()) + ", the model says " +
                        std::to_string(dims.size()));
      for (int i = 0; i < dims.size(); ++i)
        if (dims[i].has_dim_value() && dims[i].dim_value() != bound->second[i])
          throw Error(ErrorCode::kInvalidArgument, "engine-bad-shape",
                      "input '" + in.name() + "' dim " + std::to_string(i) + " is fixed at " +
                          std::to_string(dims[i].dim_value()));
      io.shape = bound->second;
    } else {
      for (const auto& d : dims) io.shape.push_back(d.has_dim_value() ? d.dim_value() : 1);
    }
    Slot s;
    s.kind = SlotKind::kInput;
    s.desc = {io.dtype, io.shape};
    s.input_index = static_cast<int>(inputs.size());
    input_slots.push_back(add_slot(in.name(), std::move(s)));
    inputs.push_back(std::move(io));
  }

  const auto& table = kernel_table();
  dnnl::stream fold_stream(eng);
  // Who reads each value, to decide what may be fused into a convolution.
  std::unordered_map<std::string, std::vector<int>> consumers;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& name : g.node(i).input())
      if (!name.empty() && (consumers[name].empty() || consumers[name].back() != i)) consumers[name].push_back(i);
  std::set<std::string> graph_outputs;
  for (const auto& o : g.output()) graph_outputs.insert(o.name());
  std::vector<bool> absorbed(static_cast<std::size_t>(g.node_size()), false);
  const auto int8 = options.int8_kernels ? int8_support() : Int8Support::kNone;
  auto int8_convs = int8 != Int8Support::kNone ? find_int8_convs(g, int8 == Int8Support::kSafeWeightsOnly, decoded_initializers.get())
                                               : std::unordered_map<int, Int8ConvMatch>{};
  {
    // A Q or DQ node is skipped when every reader of its output is a matched convolution (or a
    // DQ skipped for that reason); otherwise it still runs for its other readers.
    std::unordered_map<int, bool> skip;
    auto only_read_by = [&](int producer, const std::function<bool(int)>& ok) {
      const auto& outs = g.node(producer).output();
      if (outs.size() != 1 || graph_outputs.count(outs[0])) return false;
      auto it = consumers.find(outs[0]);
      if (it == consumers.end()) return false;
      for (int c : it->second)
        if (!ok(c)) return false;
      return true;
    };
    std::set<int> dqs, wdqs, qs;
    for (const auto& [i, m] : int8_convs) {
      dqs.insert(m.dq);
      wdqs.insert(m.weight_dq);
      qs.insert(m.q);
    }
    auto matched = [&](int c) { return int8_convs.count(c) > 0; };
    for (int d : dqs) skip[d] = only_read_by(d, matched);
    for (int w : wdqs) skip[w] = only_read_by(w, matched);
    for (int q : qs) skip[q] = only_read_by(q, [&](int c) { return skip.count(c) && skip[c]; });
    for (const auto& [i, s] : skip)
      if (s) absorbed[static_cast<std::size_t>(i)] = true;
  }
  // Constant nodes by output, for patterns whose constants come later in the node order than
  // the node that starts them (PyTorch emits each Reshape's shape just before that Reshape).
  // Each is evaluated once, when a pattern first asks; a malformed one is simply not a constant
  // here and reports its error when it is planned itself.
  std::unordered_map<std::string, int> constant_node;
  for (int i = 0; i < g.node_size(); ++i)
    if (is_op(g.node(i), "Constant") && g.node(i).output_size() == 1) constant_node[g.node(i).output(0)] = i;
  std::unordered_map<std::string, std::optional<Tensor>> early_constants;
  auto constant_of = [&](const std::string& name) -> const Tensor* {
    auto it = slot_of.find(name);
    if (it != slot_of.end()) return slots[it->second].kind == SlotKind::kConstant ? &slots[it->second].constant : nullptr;
    auto c = constant_node.find(name);
    if (c == constant_node.end()) return nullptr;
    auto [memo, fresh] = early_constants.try_emplace(name);
    if (fresh) {
      try {
        memo->second = constant_node_value(g.node(c->second));
      } catch (const Error&) {
      }
    }
    return memo->second ? &*memo->second : nullptr;
  };
  // A scalar known before planning reaches it: a planned constant or a later Constant node.
  auto constant_scalar = [&](const onnx::NodeProto& n, int input, float dflt) -> float {
    if (input >= n.input_size() || n.input(input).empty()) return dflt;
    const Tensor* t = constant_of(n.input(input));
    return t ? scalar_f32(*t) : NAN;
  };
  // Mul, Add, Sub or Div of `x` by a one-element float constant that does not widen x's rank
  // (PaddleOCR's learnable affine blocks, a normalisation's scale and shift) is alpha * x + beta.
  auto scalar_affine = [&](const onnx::NodeProto& n, const std::string& x, std::size_t rank) -> std::optional<std::pair<float, float>> {
    if (n.input_size() != 2 || n.input(0) == n.input(1)) return std::nullopt;
    const bool x_first = n.input(0) == x;
    const Tensor* c = constant_of(n.input(x_first ? 1 : 0));
    if (!c || c->shape.size() > rank) return std::nullopt;
    const float v = scalar_f32(*c);
    if (!std::isfinite(v)) return std::nullopt;
    if (is_op(n, "Mul")) return std::pair{v, 0.f};
    if (is_op(n, "Add")) return std::pair{1.f, v};
    if (is_op(n, "Sub")) return x_first ? std::pair{1.f, -v} : std::pair{-1.f, v};
    if (is_op(n, "Div") && x_first && v != 0.f) return std::pair{1.f / v, 0.f};
    return std::nullopt;
  };
  // Follows the single reader of a convolution's output through activations and one residual
  // Add, as long as oneDNN can apply them as post-ops. Returns the name of the last fused value.
  // x -> {Sigmoid | HardSigmoid(1/6, 0.5)} -> g, Mul(x, g): the gate read only by the Mul.
  struct GatedActivation {
    dnnl::algorithm alg;
    float alpha;
    int gate_node, mul_node;
  };
  auto gated_activation = [&](const std::string& x, const std::vector<int>& readers) -> std::optional<GatedActivation> {
    if (readers.size() != 2) return std::nullopt;
    for (int pick = 0; pick < 2; ++pick) {
      const int gi = readers[static_cast<std::size_t>(pick)], mi = readers[static_cast<std::size_t>(1 - pick)];
      const auto& gate = g.node(gi);
      const auto& mul = g.node(mi);
      if (gate.input_size() < 1 || gate.input(0) != x || gate.output_size() != 1 || !is_op(mul, "Mul") || mul.input_size() != 2) continue;
      const std::string& gv = gate.output(0);
      if (!((mul.input(0) == x && mul.input(1) == gv) || (mul.input(1) == x && mul.input(0) == gv))) continue;
      auto gr = consumers.find(gv);
      if (graph_outputs.count(gv) || gr == consumers.end() || gr->second.size() != 1) continue;
      if (is_op(gate, "Sigmoid")) return GatedActivation{dnnl::algorithm::eltwise_swish, 1.f, gi, mi};
      if (is_op(gate, "HardSigmoid")) {
        float alpha = 0.2f, beta = 0.5f;
        for (const auto& a : gate.attribute()) {
          if (a.name() == "alpha") alpha = a.f();
          if (a.name() == "beta") beta = a.f();
        }
        if (std::abs(alpha - 1.f / 6.f) < 1e-6f && beta == 0.5f && hardswish_post_op_exact(eng))
          return GatedActivation{dnnl::algorithm::eltwise_hardswish, 0.f, gi, mi};
      }
    }
    return std::nullopt;
  };
  auto collect_post_ops = [&](const std::string& conv_out, const Shape& out_shape, std::vector<PostOp>& ops,
                              std::vector<int>& fused, int& sum_slot, bool allow_sum = true) {
    std::string cur = conv_out;
    for (;;) {
      if (graph_outputs.count(cur)) break;
      auto cs = consumers.find(cur);
      if (cs == consumers.end()) break;
      // x * Sigmoid(x) (SiLU/Swish: EfficientNet, YOLO) and x * HardSigmoid(x) with alpha 1/6,
      // beta 0.5 (how PyTorch exports hardswish before opset 14: MobileNetV3) are one oneDNN
      // post-op each instead of two extra passes over the tensor.
      if (auto gate = gated_activation(cur, cs->second)) {
        const PostOp op{PostOp::Kind::kEltwise, gate->alg, gate->alpha, 0, -1};
        if (conflicts_with_chain(ops, op)) break;
        ops.push_back(op);
        fused.push_back(gate->gate_node);
        fused.push_back(gate->mul_node);
        cur = g.node(gate->mul_node).output(0);
        continue;
      }
      if (cs->second.size() != 1) break;
      const int j = cs->second[0];
      const auto& n = g.node(j);
      std::vector<PostOp> add;
      auto elt = [](dnnl::algorithm a, float alpha, float beta) { return PostOp{PostOp::Kind::kEltwise, a, alpha, beta, -1}; };
      auto attr_f = [&](const char* name, float d) {
        for (const auto& a : n.attribute())
          if (a.name() == name) return a.f();
        return d;
      };
      if (is_op(n, "Relu")) add = {elt(dnnl::algorithm::eltwise_relu, 0, 0)};
      else if (is_op(n, "LeakyRelu")) add = {elt(dnnl::algorithm::eltwise_relu, attr_f("alpha", 0.01f), 0)};
      else if (is_op(n, "PRelu") && n.input_size() == 2 && n.input(0) == cur) {
        // One slope for every channel (nn.PReLU's default) is a LeakyRelu.
        const Tensor* slope = constant_of(n.input(1));
        const float alpha = slope && slope->shape.size() <= out_shape.size() ? scalar_f32(*slope) : NAN;
        if (std::isfinite(alpha)) add = {elt(dnnl::algorithm::eltwise_relu, alpha, 0)};
      }
      else if (is_op(n, "Sigmoid")) add = {elt(dnnl::algorithm::eltwise_logistic, 0, 0)};
      else if (is_op(n, "Tanh")) add = {elt(dnnl::algorithm::eltwise_tanh, 0, 0)};
      else if (is_op(n, "HardSwish")) {
        if (hardswish_post_op_exact(eng)) add = {elt(dnnl::algorithm::eltwise_hardswish, 0, 0)};
      }
      else if (auto affine = scalar_affine(n, cur, out_shape.size())) {
        // Two linear steps in a row are one: a2 * (a1 * x + b1) + b2.
        if (!ops.empty() && ops.back().kind == PostOp::Kind::kEltwise && ops.back().alg == dnnl::algorithm::eltwise_linear) {
          auto& prev = ops.back();
          prev.beta = affine->first * prev.beta + affine->second;
          prev.alpha *= affine->first;
        } else {
          add = {elt(dnnl::algorithm::eltwise_linear, affine->first, affine->second)};
        }
        if (add.empty()) {
          fused.push_back(j);
          cur = n.output(0);
          continue;
        }
      }
      else if (is_op(n, "Gelu")) {
        bool exact = true;
        for (const auto& a : n.attribute()) exact = exact && !(a.name() == "approximate" && a.s() != "none");
        if (exact) add = {elt(dnnl::algorithm::eltwise_gelu_erf, 0, 0)};
      }
      else if (is_op(n, "HardSigmoid"))
        add = {elt(dnnl::algorithm::eltwise_linear, attr_f("alpha", 0.2f), attr_f("beta", 0.5f)),
               elt(dnnl::algorithm::eltwise_clip, 0.f, 1.f)};
      else if (is_op(n, "Clip")) {
        float lo, hi;
        if (opset < 11) {
          lo = attr_f("min", -INFINITY);
          hi = attr_f("max", INFINITY);
        } else {
          lo = constant_scalar(n, 1, -INFINITY);
          hi = constant_scalar(n, 2, INFINITY);
        }
        if (!std::isnan(lo) && !std::isnan(hi)) add = {elt(dnnl::algorithm::eltwise_clip, lo, hi)};
      } else if (allow_sum && is_op(n, "Add") && ops.empty() && sum_slot < 0 && n.input_size() == 2 && n.input(0) != n.input(1)) {
        const std::string& other = n.input(0) == cur ? n.input(1) : n.input(0);
        auto it = slot_of.find(other);
        if (it != slot_of.end() && slots[it->second].desc.dtype == DType::kF32 && slots[it->second].desc.shape == out_shape) {
          sum_slot = it->second;
          add = {PostOp{PostOp::Kind::kSum, dnnl::algorithm::eltwise_relu, 0, 0, 3}};
        }
      }
      if (add.empty()) break;
      // oneDNN 2.6 runs a repeated eltwise algorithm with its first parameters (post_ops.h).
      bool conflict = false;
      for (const auto& op : add) conflict = conflict || conflicts_with_chain(ops, op);
      if (conflict) break;
      ops.insert(ops.end(), add.begin(), add.end());
      fused.push_back(j);
      cur = n.output(0);
    }
    return cur;
  };
  // The single reader of `v` (not a graph output), or -1.
  auto only_reader = [&](const std::string& v) {
    auto cs = consumers.find(v);
    return graph_outputs.count(v) || cs == consumers.end() || cs->second.size() != 1 ? -1 : cs->second[0];
  };
  // Reshape -> Transpose(0,2,1,3,4) -> Reshape of a value of shape `x` (its first Reshape is
  // r1): {groups, the Transpose, the last Reshape}; nothing is absorbed yet.
  struct ShuffleNodes {
    std::int64_t groups;
    int transpose, last;
  };
  auto match_shuffle = [&](const onnx::NodeProto& r1, const Shape& x) -> std::optional<ShuffleNodes> {
    if (!is_op(r1, "Reshape") || r1.input_size() != 2) return std::nullopt;
    const Tensor* t1 = constant_of(r1.input(1));
    if (!t1) return std::nullopt;
    // A Reshape target with 0 (copy) and -1 (infer) resolved against `from`, as Reshape does.
    auto resolve = [](std::vector<std::int64_t> t, const Shape& from) {
      std::int64_t known = 1, infer = -1;
      for (std::size_t i = 0; i < t.size(); ++i) {
        if (t[i] == 0 && i < from.size()) t[i] = from[i];
        if (t[i] == -1) infer = static_cast<std::int64_t>(i);
        else known *= t[i];
      }
      if (infer >= 0 && known > 0) t[static_cast<std::size_t>(infer)] = numel(from) / known;
      return t;
    };
    const auto target1 = resolve(to_int64_vector(*t1), x);
    if (target1.size() != 5 || target1[0] != x[0] || target1[1] < 1 || target1[1] * target1[2] != x[1] || target1[3] != x[2] ||
        target1[4] != x[3])
      return std::nullopt;
    const int ti = only_reader(r1.output(0));
    if (ti < 0 || !is_op(g.node(ti), "Transpose")) return std::nullopt;
    std::vector<std::int64_t> perm;
    for (const auto& a : g.node(ti).attribute())
      if (a.name() == "perm") perm.assign(a.ints().begin(), a.ints().end());
    if (perm != std::vector<std::int64_t>{0, 2, 1, 3, 4}) return std::nullopt;
    const int r2 = only_reader(g.node(ti).output(0));
    if (r2 < 0 || !is_op(g.node(r2), "Reshape") || g.node(r2).input_size() != 2 || g.node(r2).input(0) != g.node(ti).output(0))
      return std::nullopt;
    const Tensor* t2 = constant_of(g.node(r2).input(1));
    const Shape transposed = {target1[0], target1[2], target1[1], target1[3], target1[4]};
    if (!t2 || resolve(to_int64_vector(*t2), transposed) != std::vector<std::int64_t>(x.begin(), x.end())) return std::nullopt;
    return ShuffleNodes{target1[1], ti, r2};
  };
  // The channel shuffle of an NHWC value: {groups, last reshape}, its Transpose and last Reshape
  // absorbed.
  auto channel_shuffle = [&](const onnx::NodeProto& r1) -> std::optional<std::pair<std::int64_t, int>> {
    if (!is_op(r1, "Reshape") || r1.input_size() != 2) return std::nullopt;
    auto in = slot_of.find(r1.input(0));
    if (in == slot_of.end() || !is_nhwc(slots[in->second].desc) || slots[in->second].desc.dtype != DType::kF32) return std::nullopt;
    auto m = match_shuffle(r1, slots[in->second].desc.shape);
    if (!m) return std::nullopt;
    absorbed[static_cast<std::size_t>(m->transpose)] = absorbed[static_cast<std::size_t>(m->last)] = true;
    return std::pair{m->groups, m->last};
  };
  // Slice of a 4-D value along the channel axis only, step 1 (ShuffleNet's channel split).
  auto channel_slice = [&](const onnx::NodeProto& n) {
    if (!is_op(n, "Slice") || opset < 10 || n.input_size() < 4) return false;
    const Tensor* axes = constant_of(n.input(3));
    if (!axes) return false;
    for (auto a : to_int64_vector(*axes))
      if (a != 1 && a != -3) return false;
    if (n.input_size() >= 5 && !n.input(4).empty()) {
      const Tensor* steps_in = constant_of(n.input(4));
      if (!steps_in) return false;
      for (auto st : to_int64_vector(*steps_in))
        if (st != 1) return false;
    }
    return true;
  };
  // ShuffleNetV2's block ends in Concat(a, b) -> channel shuffle (2 groups) -> channel Slices
  // (the next block's split): three copies of the block's output. When a and b are NHWC values of
  // one shape, slice [s, e) of the shuffled value (s, e even) is channels s/2..e/2 of a and b
  // interleaved, so each slice is written straight from a and b. The slices' bounds are computed
  // from the shuffled value's Shape (torch's chunk), so they are known only when the slices are
  // planned: until then the shuffled value is pending, a slot with a shape but no bytes, which
  // Shape/Size may read; a reader that cannot take its slice from a and b gets the whole value
  // written first. Where something else reads the shuffle, Concat and shuffle are one copy.
  // The same for two values in one channel-blocked layout (`block` 8 or 16; on AVX2 oneDNN's
  // convolutions write nChw8c, padded where 8 does not divide the channels, as in
  // shufflenet_v2_x1_0's 58/116): at 2 threads on an AVX2 EPYC it spent ~2.3 ms of 5.3 in the
  // plain-layout Transposes, Slices, Concats and reorders.
  struct PendingShuffle {
    int a, b, slot;
    Shape half;
    std::int64_t block = 0;  // 0: NHWC halves
  };
  std::unordered_map<std::string, PendingShuffle> pending_shuffles;
  auto interleave_step = [&](const PendingShuffle& p, std::pair<std::int64_t, std::int64_t> range, int out_slot, const char* label) {
    Step step;
    step.label = label;
    // Reads what the convolutions before it wrote on every core of the team (team_written_work).
    const double work = team_written_work(2.0 * static_cast<double>(numel(p.half)));
    step.threads = threads_for_work(work, options.threads);
    if (step.threads > 1) parallel_work += work;
    step.kernel = p.block ? make_interleave_halves_blocked(p.half, p.block, range)
                          : make_interleave_halves_nhwc(nhwc_physical(p.half), {range});
    step.in = {p.a, p.b};
    step.out = {out_slot};
    return step;
  };
  // Plans Concat(a, b) -> shuffle as above; false when `concat` does not start one.
  auto plan_concat_shuffle = [&](const onnx::NodeProto& concat) {
    if (!is_op(concat, "Concat") || concat.input_size() != 2 || concat.output_size() != 1) return false;
    if (const auto axis = attr_int(concat, "axis", 0); axis != 1 && axis != -3) return false;
    int ids[2];
    for (int k = 0; k < 2; ++k) {
      auto it = slot_of.find(concat.input(k));
      if (it == slot_of.end() || slots[it->second].kind == SlotKind::kConstant || slots[it->second].desc.dtype != DType::kF32)
        return false;
      ids[k] = it->second;
    }
    const TensorDesc &da = slots[ids[0]].desc, &db = slots[ids[1]].desc;
    const Shape half = da.shape;
    if (db.shape != half || half.size() != 4) return false;
    // Both NHWC, or both blocked alike (a padded last block allowed).
    std::int64_t block = 0;
    if (!is_nhwc(da) || !is_nhwc(db)) {
      block = padded_channel_block(da);
      if (block == 0 || padded_channel_block(db) != block) return false;
    }
    const Shape whole = {half[0], 2 * half[1], half[2], half[3]};
    const int r1 = only_reader(concat.output(0));
    if (r1 < 0 || absorbed[static_cast<std::size_t>(r1)]) return false;
    auto shuffle = match_shuffle(g.node(r1), whole);
    if (!shuffle || shuffle->groups != 2) return false;
    for (int k : {r1, shuffle->transpose, shuffle->last}) absorbed[static_cast<std::size_t>(k)] = true;
    const std::string& shuffled = g.node(shuffle->last).output(0);
    auto cs = consumers.find(shuffled);
    bool slices_only = !graph_outputs.count(shuffled) && cs != consumers.end();
    int slices = 0;
    if (slices_only)
      for (int si : cs->second) {
        const auto& sn = g.node(si);
        const bool shape_only = (is_op(sn, "Shape") || is_op(sn, "Size")) && sn.input_size() == 1;
        const bool slice = channel_slice(sn) && sn.input(0) == shuffled && sn.output_size() == 1;
        slices += slice;
        slices_only = slices_only && (shape_only || slice) && !int8_convs.count(si);
      }
    Slot out;
    out.desc = {DType::kF32, whole, block ? channel_blocked_layout(whole, block) : nhwc_layout(whole)};
    const int slot = add_slot(shuffled, std::move(out));
    const PendingShuffle p{ids[0], ids[1], slot, half, block};
    if (slices_only && slices > 0) pending_shuffles.emplace(shuffled, p);
    else steps.push_back(interleave_step(p, {0, whole[1]}, slot, "ConcatShuffle"));
    return true;
  };
  // A Slice of a pending shuffled value: its slice written from the two halves when its bounds
  // allow (true), else the whole value written for it to read (false: plan the Slice as usual).
  auto plan_pending_slice = [&](const onnx::NodeProto& n) {
    if (!is_op(n, "Slice") || n.input_size() < 3) return false;
    auto it = pending_shuffles.find(n.input(0));
    if (it == pending_shuffles.end()) return false;
    const PendingShuffle p = it->second;
    const std::int64_t c = 2 * p.half[1];
    const Tensor* st = constant_of(n.input(1));
    const Tensor* en = constant_of(n.input(2));
    if (st && en && st->numel() == 1 && en->numel() == 1) {
      auto bound = [c](std::int64_t v) { return std::clamp<std::int64_t>(v < 0 ? v + c : v, 0, c); };
      const std::int64_t b = bound(to_int64_vector(*st)[0]), e = bound(to_int64_vector(*en)[0]);
      if (b < e && (p.block || (b % 2 == 0 && e % 2 == 0))) {
        Slot out;
        const Shape logical = {p.half[0], e - b, p.half[2], p.half[3]};
        out.desc = {DType::kF32, logical, p.block ? channel_blocked_layout(logical, p.block) : nhwc_layout(logical)};
        steps.push_back(interleave_step(p, {b, e}, add_slot(n.output(0), std::move(out)), "ConcatShuffleSlice"));
        return true;
      }
    }
    steps.push_back(interleave_step(p, {0, c}, p.slot, "ConcatShuffle"));
    pending_shuffles.erase(it);
    return false;
  };
  std::deque<Tensor> nhwc_axes;  // axis-3 constants handed to channel Slices planned on NHWC views
  const std::function<bool(const std::string&)> is_graph_output = [&](const std::string& v) { return graph_outputs.count(v) > 0; };
  const std::function<const Tensor*(const std::string&)> constant_by_name = [&](const std::string& v) { return constant_of(v); };
  const GraphView view{g, consumers, is_graph_output, constant_by_name};
  // A squeeze-and-excitation block (pool, two 1x1 convolutions, gate, Mul) as one step on x in
  // its own layout; nullopt when the nodes from this GlobalAveragePool on are not one.
  auto squeeze_excite_step = [&](int node_index) -> std::optional<Step> {
    auto se = match_squeeze_excite(view, node_index);
    if (!se) return std::nullopt;
    for (int k : se->nodes)
      if (absorbed[static_cast<std::size_t>(k)] || int8_convs.count(k)) return std::nullopt;
    auto in = slot_of.find(se->input);
    if (in == slot_of.end() || slots[in->second].kind == SlotKind::kConstant) return std::nullopt;
    int id = in->second;
    TensorDesc d = slots[id].desc;
    if (d.dtype != DType::kF32 || d.shape.size() != 4 || d.shape[1] != se->w1->shape[1]) return std::nullopt;
    if (channel_block(d) == 0) {
      id = plain_slot(id);
      d = slots[id].desc;
    }
    Step step;
    step.label = "SqueezeExcite";
    // Two passes over x, which the convolution before it wrote on every core of the team
    // (team_written_work): EfficientNet-B4 at 2 threads 18.4-18.7 -> 17.2-17.4 ms,
    // EfficientNet-B0 5.9-6.0 -> 5.6 ms; mnasnet1_0 (no SE blocks) unchanged.
    // Plus the excitation's two products, which the step's threads share in wide blocks.
    const double work = team_written_work(static_cast<double>(numel(d.shape))) + 2.0 * static_cast<double>(se->w1->numel());
    step.threads = threads_for_work(work, options.threads);
    if (step.threads > 1) parallel_work += work;
    step.kernel = make_squeeze_excite(*se, d.shape, channel_block(d));
    step.in = {id};
    // Each output element is its input element times a gate, so the block may write over x
    // when nothing reads x later (the planner checks): the writes then land in lines the
    // writing core already holds instead of lines another core last wrote. EfficientNet at 2
    // threads, alternating binaries: b0 4.89/4.95 -> 4.70/4.63 ms, b3 11.1/11.0 -> 10.4/10.1,
    // b7 43.8-44.8 -> 43.2-43.4; at 1 thread b7 70.0-70.6 -> 69.7.
    step.inplace_input = 0;
    Slot out;
    out.desc = d;
    step.out = {add_slot(se->output, std::move(out))};
    for (int k : se->nodes) absorbed[static_cast<std::size_t>(k)] = true;
    return step;
  };
  // Scaled dot-product attention (two products around a softmax) as one step; nullopt when the
  // nodes from this MatMul on are not that chain, or an operand is not yet produced here (the
  // step runs at the first MatMul's place in the order).
  auto attention_step = [&](int node_index) -> std::optional<Step> {
    auto a = match_attention(view, node_index);
    if (!a) return std::nullopt;
    for (int k : a->nodes)
      if (absorbed[static_cast<std::size_t>(k)] || int8_convs.count(k)) return std::nullopt;
    // The planned step of an operand producer the kernel can take over (Attention::k_transpose,
    // q_scale_node), or -1: it must be that very op, reading the plain float32 value `in_name`.
    auto planned_producer = [&](int node, const std::string& out_name, const std::string& in_name) -> int {
      if (node < 0) return -1;
      auto o = slot_of.find(out_name), i = slot_of.find(in_name);
      if (o == slot_of.end() || i == slot_of.end()) return -1;
      const auto& d = slots[i->second].desc;
      if (d.dtype != DType::kF32 || d.layout) return -1;
      for (int s = static_cast<int>(steps.size()) - 1; s >= 0; --s) {
        const auto& st = steps[static_cast<std::size_t>(s)];
        if (st.out.size() != 1 || st.out[0] != o->second) continue;
        const bool reads_it = std::find(st.in.begin(), st.in.end(), i->second) != st.in.end();
        return st.label == g.node(node).op_type() && reads_it ? s : -1;
      }
      return -1;
    };
    int k_step = planned_producer(a->k_transpose, a->k, a->k_untransposed);
    const int q_step = planned_producer(a->q_scale_node, a->q, a->q_unscaled);
    std::vector<std::int64_t> k_strides;  // K read through the Transpose's perm
    if (k_step >= 0) {
      auto strides = permuted_k_strides(slots[slot_of.at(a->k_untransposed)].desc.shape, a->k_perm);
      if (strides) k_strides = std::move(*strides);
      else k_step = -1;  // a layout the products cannot read: the Transpose stays
    }
    std::vector<std::string> names = {q_step >= 0 ? a->q_unscaled : a->q, k_step >= 0 ? a->k_untransposed : a->k, a->v};
    const bool window = !a->window_mask.empty();
    if (!a->mask.empty() && !window) names.push_back(a->mask);
    std::vector<int> ids;
    for (const auto& name : names) {
      auto it = slot_of.find(name);
      if (it == slot_of.end() || slots[it->second].desc.dtype != DType::kF32) return std::nullopt;
      ids.push_back(slots[it->second].desc.layout ? plain_slot(it->second) : it->second);
    }
    const Shape q = slots[ids[0]].desc.shape, v = slots[ids[2]].desc.shape;  // copies: add_slot below may move slots
    Shape k = slots[ids[1]].desc.shape;
    if (k_step >= 0) {
      const Shape stored = k;
      for (std::size_t i = 0; i < k.size(); ++i) k[i] = stored[static_cast<std::size_t>(a->k_perm[i])];
    }
    // A shifted-window chain's two constant masks become one of the scores' shape, computed here.
    std::optional<Tensor> window_mask;
    Shape mask_shape;
    if (window) {
      const Tensor *first = constant_of(a->mask), *second = constant_of(a->window_mask);
      const Tensor *view_shape = constant_of(a->window_view_shape), *back_shape = constant_of(a->back_view_shape);
      if (!first || !second || !view_shape || !back_shape || q.size() < 2 || k.size() != q.size()) return std::nullopt;
      Shape scores(q.begin(), q.end() - 1);
      scores.push_back(k.back());
      window_mask = combined_window_mask(*first, *second, scores, *view_shape, *back_shape);
      if (!window_mask) return std::nullopt;
      mask_shape = scores;
    } else if (!a->mask.empty()) {
      mask_shape = slots[ids[3]].desc.shape;
    }
    const Shape* mask = a->mask.empty() ? nullptr : &mask_shape;
    if (!attention_shapes_fit(*a, g.node(a->softmax), opset, q, k, v, mask)) return std::nullopt;
    if (window_mask) {
      Slot s;
      s.kind = SlotKind::kConstant;
      s.constant = std::move(*window_mask);
      s.desc = s.constant.desc();
      ids.push_back(add_slot(a->output + "/aifgen:window_mask", std::move(s)));
    }
    Shape out_shape(q.begin(), q.end() - 1);
    out_shape.push_back(v.back());
    const double work = static_cast<double>(numel(q)) / static_cast<double>(q.back()) * static_cast<double>(k.back()) *
                        static_cast<double>(q.back() + v.back());
    Step step;
    step.label = "Attention";
    step.threads = threads_for_work(work, options.threads);
    if (step.threads > 1) parallel_work += work;
    omp_set_num_threads(step.threads);
    step.kernel = make_attention(eng, a->scale * (q_step >= 0 ? a->q_scale : 1.f), k_strides, q, k, v, mask);
    step.in = ids;
    Slot out;
    out.desc = {DType::kF32, out_shape, nullptr};
    step.out = {add_slot(a->output, std::move(out))};
    for (int k : a->nodes) absorbed[static_cast<std::size_t>(k)] = true;
    // The producers' steps go: nothing else reads what they wrote (match_attention checked).
    for (int s : {std::max(k_step, q_step), std::min(k_step, q_step)})
      if (s >= 0) steps.erase(steps.begin() + s);
    return step;
  };
  // ReduceMean over the two spatial axes of a computed 4-D float value (ShuffleNet's global
  // pooling, x.mean([2, 3])): whether it keeps the reduced dims, or nullopt when `n` is not one.
  auto spatial_mean_keepdims = [&](const onnx::NodeProto& n) -> std::optional<bool> {
    if (!is_op(n, "ReduceMean") || n.input_size() < 1 || n.output_size() != 1) return std::nullopt;
    auto in = slot_of.find(n.input(0));
    if (in == slot_of.end() || slots[in->second].kind == SlotKind::kConstant) return std::nullopt;
    const auto& d = slots[in->second].desc;
    if (d.shape.size() != 4 || d.dtype != DType::kF32) return std::nullopt;
    std::vector<std::int64_t> axes;
    if (opset < 18) {
      for (const auto& a : n.attribute())
        if (a.name() == "axes") axes.assign(a.ints().begin(), a.ints().end());
    } else if (n.input_size() > 1 && !n.input(1).empty()) {
      const Tensor* t = constant_of(n.input(1));
      if (!t) return std::nullopt;
      axes = to_int64_vector(*t);
    }
    for (auto& a : axes) a = a < 0 ? a + 4 : a;
    std::sort(axes.begin(), axes.end());
    if (axes != std::vector<std::int64_t>{2, 3}) return std::nullopt;
    return attr_int(n, "keepdims", 1) != 0;
  };
  // Planned in the order of order_for_attention: the graph's own, except that the producers of
  // a shifted-window attention's masks come before its first MatMul, so the chain can be one step.
  for (const int node_index : order_for_attention(view)) {
    auto int8 = int8_convs.find(node_index);
    const onnx::NodeProto* planned_node = int8 != int8_convs.end() ? &int8->second.node : &g.node(node_index);
    if (absorbed[static_cast<std::size_t>(node_index)]) continue;
    // A spatial mean is a GlobalAveragePool (with the unit dims dropped unless keepdims): it then
    // reads NHWC values where they are, instead of reordering them for the generic reduction.
    onnx::NodeProto mean_as_pool;
    bool drop_unit_dims = false;
    if (auto keep = spatial_mean_keepdims(*planned_node)) {
      mean_as_pool.set_op_type("GlobalAveragePool");
      mean_as_pool.set_name(planned_node->name());
      mean_as_pool.add_input(planned_node->input(0));
      mean_as_pool.add_output(planned_node->output(0));
      planned_node = &mean_as_pool;
      drop_unit_dims = !*keep;
    }
    const auto& node = *planned_node;
    // NCHW <-> NHWC transposes that the layout already did: Transpose(0,2,3,1) of an NHWC value
    // is that value's bytes read as plain [N,H,W,C], and Transpose(0,3,1,2) of a plain 4-D value
    // is its bytes read as NHWC [N,C,H,W] (ConvNeXt permutes around every block's MLP). A view
    // of the bytes where they are in the arena (drop_view_steps), else one copy, instead of a
    // transpose plus a reorder.
    if (is_op(node, "Transpose") && node.input_size() == 1 && node.output_size() == 1) {
      std::vector<std::int64_t> perm;
      for (const auto& a : node.attribute())
        if (a.name() == "perm") perm.assign(a.ints().begin(), a.ints().end());
      auto in = slot_of.find(node.input(0));
      if (in != slot_of.end() && slots[in->second].kind != SlotKind::kConstant && slots[in->second].desc.dtype == DType::kF32 &&
          slots[in->second].desc.shape.size() == 4) {
        const TensorDesc d = slots[in->second].desc;
        const bool to_nhwc_plain = perm == std::vector<std::int64_t>{0, 2, 3, 1} && is_nhwc(d);
        const bool from_nhwc_plain = perm == std::vector<std::int64_t>{0, 3, 1, 2} && !d.layout;
        if (to_nhwc_plain || from_nhwc_plain) {
          Slot out;
          out.desc = to_nhwc_plain ? TensorDesc{DType::kF32, nhwc_physical(d.shape), nullptr}
                                   : TensorDesc{DType::kF32, nchw_logical(d.shape), nhwc_layout(nchw_logical(d.shape))};
          Step step;
          step.label = "Transpose(layout)";
          step.threads = 1;
          step.kernel = make_kernel([](const std::vector<const Tensor*>& i, const std::vector<Tensor*>& o, RunContext&) {
            std::memcpy(o[0]->data, i[0]->data, o[0]->bytes());
          });
          step.in = {in->second};
          step.out = {add_slot(node.output(0), std::move(out))};
          steps.push_back(std::move(step));
          continue;
        }
      }
    }
    if (is_op(node, "GlobalAveragePool") && int8 == int8_convs.end())
      if (auto step = squeeze_excite_step(node_index)) {
        steps.push_back(std::move(*step));
        continue;
      }
    if (is_op(node, "MatMul") && int8 == int8_convs.end())
      if (auto step = attention_step(node_index)) {
        steps.push_back(std::move(*step));
        continue;
      }
    if (plan_concat_shuffle(node) || plan_pending_slice(node)) continue;
    if (auto shuffle = channel_shuffle(node)) {
      const int in_id = slot_of.at(node.input(0));
      const Shape logical = slots[in_id].desc.shape;
      Step step;
      step.label = "ChannelShuffle";
      step.threads = threads_for_work(static_cast<double>(numel(logical)), options.threads);
      step.kernel = make_channel_shuffle_nhwc(nhwc_physical(logical), shuffle->first);
      step.in = {in_id};
      Slot out;
      out.desc = {DType::kF32, logical, nhwc_layout(logical)};
      step.out = {add_slot(g.node(shuffle->second).output(0), std::move(out))};
      steps.push_back(std::move(step));
      continue;
    }
    if (!(node.domain().empty() || node.domain() == "ai.onnx"))
      throw Error(ErrorCode::kUnprocessable, "engine-unsupported",
                  "node '" + node.name() + "': domain '" + node.domain() + "' is not supported");
    if (node.op_type() == "Constant") {
      Slot s;
      s.kind = SlotKind::kConstant;
      s.constant = constant_node_value(node);
      s.desc = s.constant.desc();
      add_slot(node.output(0), std::move(s));
      continue;
    }
    std::vector<PlanInput> pin;
    std::vector<int> in_ids;
    bool all_constant = true;
    // A blocked operand (a Winograd convolution's nChw16c) of an op that takes another operand
    // in NHWC keeps its layout here, so the NHWC paths below reorder it straight to NHWC.
    const bool reads_nhwc = std::any_of(node.input().begin(), node.input().end(), [&](const std::string& name) {
      auto it = slot_of.find(name);
      return it != slot_of.end() && is_nhwc(slots[it->second].desc);
    });
    // A channel Concat of channel-blocked operands runs in their blocks (blocked_concat_block).
    // In plans started blocked every convolution reads what it is given; in oneDNN's layouts a
    // convolution after the Concat picks its own source layout from the plain result, often NHWC
    // for AVX-512's direct kernels (googlenet with all convolutions direct, 1 thread: 16.4 ms that
    // way, 17.1 ms reading the blocked result), so there only when every operand is blocked
    // alike: on AVX2, where oneDNN's convolutions write and read nChw8c, googlenet's Concats
    // reordered each operand to NCHW and the result back to nChw8c.
    std::int64_t concat_block = 0;
    if (is_op(node, "Concat") && !reads_nhwc && int8 == int8_convs.end()) {
      std::vector<const TensorDesc*> operands;
      for (const auto& name : node.input()) {
        auto it = name.empty() ? slot_of.end() : slot_of.find(name);
        operands.push_back(it == slot_of.end() || slots[it->second].kind == SlotKind::kConstant ? nullptr : &slots[it->second].desc);
      }
      concat_block = blocked_concat_block(node, operands);
      if (options.activation_layout != ActivationLayout::kBlocked &&
          !std::all_of(operands.begin(), operands.end(), [&](const TensorDesc* d) { return d && channel_block(*d) == concat_block; }))
        concat_block = 0;
    }
    // A linear Resize that oneDNN computes reads its input in the producer's layout and writes
    // the same one, unless it makes a graph output (then both sides plain: reordering the small
    // input costs less than the large output, and the segmentation heads that end in one
    // upsample 21 classes, which nChw16c pads to 32).
    bool onednn_resize = false;
    if (is_op(node, "Resize") && node.output_size() == 1 && !graph_outputs.count(node.output(0))) {
      std::vector<PlanInput> probe;
      for (const auto& name : node.input()) {
        auto it = name.empty() ? slot_of.end() : slot_of.find(name);
        if (it == slot_of.end()) probe.push_back({});
        else probe.push_back({true, slots[it->second].desc, slots[it->second].kind == SlotKind::kConstant ? &slots[it->second].constant : nullptr});
      }
      onednn_resize = !probe.empty() && probe[0].present && !probe[0].constant && resize_runs_on_onednn(NodeCtx(node, opset, probe, eng));
    }
    // A global average pool of a channel-blocked value reads it as it is (below).
    bool blocked_gap = false;
    if (is_op(node, "GlobalAveragePool") && node.input_size() == 1)
      if (auto it = slot_of.find(node.input(0)); it != slot_of.end() && slots[it->second].kind != SlotKind::kConstant) {
        const auto& d = slots[it->second].desc;
        const auto block = channel_block(d);
        blocked_gap = d.layout && !is_nhwc(d) && (block == 8 || block == 16);
      }
    for (const auto& name : node.input()) {
      if (name.empty()) {
        pin.push_back({});
        in_ids.push_back(-1);
        continue;
      }
      auto it = slot_of.find(name);
      if (it == slot_of.end())
        throw Error(ErrorCode::kInvalidModel, "engine-invalid-graph",
                    "node '" + node.name() + "' reads '" + name + "' before it is produced (graph not topologically sorted?)");
      int id = it->second;
      const bool onednn_pool = (is_op(node, "MaxPool") || is_op(node, "AveragePool")) && pool_runs_on_onednn(node) &&
                               slots[id].desc.shape.size() >= 3 && slots[id].desc.shape.size() <= 5;
      const bool layout_aware = is_conv(node) || is_op(node, "Shape") || is_op(node, "Size") || onednn_pool ||
                                (onednn_resize && node.input(0) == name) ||
                                ((layout_free_elementwise(node) || is_op(node, "GlobalAveragePool") ||
                                  (is_op(node, "BatchNormalization") && node.input(0) == name) ||
                                  is_channel_concat_or_split(node, slots[id].desc.shape.size()) ||
                                  (channel_slice(node) && node.input(0) == name)) &&
                                 (is_nhwc(slots[id].desc) || (reads_nhwc && slots[id].desc.layout))) ||
                                (concat_block > 0 && slots[id].desc.layout) || blocked_gap;
      if (!layout_aware) id = plain_slot(id);
      const Slot& s = slots[id];
      pin.push_back({true, s.desc, s.kind == SlotKind::kConstant ? &s.constant : nullptr});
      all_constant = all_constant && s.kind == SlotKind::kConstant;
      in_ids.push_back(id);
    }
    // Shape and Size depend only on the planned shape, so they are constants.
    if ((node.op_type() == "Shape" || node.op_type() == "Size") && !pin.empty() && pin[0].present) {
      Slot s;
      s.kind = SlotKind::kConstant;
      s.constant = shape_node_value(node, pin[0].desc.shape);
      s.desc = s.constant.desc();
      add_slot(node.output(0), std::move(s));
      continue;
    }
    auto factory = table.find(node.op_type());
    const bool control_flow = is_control_flow(node);  // planned by control_flow.cpp, not a table kernel
    if (factory == table.end() && !control_flow)
      throw Error(ErrorCode::kUnprocessable, "engine-unsupported",
                  "node '" + node.name() + "': op " + node.op_type() + " is not implemented by the CPU engine");
    // NHWC pass-through: element-wise ops on an NHWC value run on its raw buffer as [N,H,W,C]
    // (other operands: the same layout, scalars or per-channel vectors), and a global average
    // pool becomes a mean over H and W of that view. Anything else gets plain inputs.
    std::shared_ptr<const dnnl::memory::desc> passthrough_layout;
    const onnx::NodeProto* effective = &node;
    onnx::NodeProto gap_as_reduce;
    // [N, C/B, H, W, B] is N*C/B NHWC images of B channels each, whose means are the plain
    // [N, C, 1, 1] result in order: no reorder to NCHW first (a blocked squeezenet1_1 plan
    // reordered its 1000x13x13 classifier output for that, 0.06 ms).
    std::optional<Shape> blocked_gap_output;
    if (blocked_gap && !all_constant) {
      const Shape s4 = pin[0].desc.shape;
      const auto block = channel_block(pin[0].desc);
      pin[0].desc = {DType::kF32, {s4[0] * s4[1] / block, s4[2], s4[3], block}, nullptr};
      gap_as_reduce = node;
      gap_as_reduce.set_op_type("GlobalAveragePoolNHWC");  // engine-internal kernel
      effective = &gap_as_reduce;
      factory = table.find("GlobalAveragePoolNHWC");
      blocked_gap_output = Shape{s4[0], s4[1], 1, 1};
    }
    int nhwc_input = -1;
    for (std::size_t k = 0; k < pin.size() && nhwc_input < 0; ++k)
      if (pin[k].present && is_nhwc(pin[k].desc)) nhwc_input = static_cast<int>(k);
    const bool nhwc_batchnorm = is_op(node, "BatchNormalization") && nhwc_input == 0;
    if (!all_constant && nhwc_input >= 0 && (layout_free_elementwise(node) || is_op(node, "GlobalAveragePool") || nhwc_batchnorm)) {
      const Shape logical = pin[static_cast<std::size_t>(nhwc_input)].desc.shape;
      bool ok = true;
      std::vector<PlanInput> phys = pin;
      for (std::size_t k = 0; k < pin.size() && ok; ++k) {
        if (!pin[k].present) continue;
        const auto& d = pin[k].desc;
        if (is_nhwc(d) && d.shape == logical) phys[k].desc = {d.dtype, nhwc_physical(d.shape), nullptr};
        else if (d.shape == logical && d.dtype == DType::kF32 && layout_free_elementwise(node)) {
          // A plain or blocked (a Winograd convolution's nChw16c) operand of the same shape joins
          // the NHWC side with one reorder, not two through the plain layout.
          in_ids[k] = blocked_slot(in_ids[k], pin[static_cast<std::size_t>(nhwc_input)].desc.layout);
          phys[k] = {true, {d.dtype, nhwc_physical(d.shape), nullptr}, nullptr};
        }
        else if (d.layout) ok = false;
        else if (nhwc_batchnorm) ok = pin[k].constant && numel(d.shape) == logical[1];  // per-channel statistics
        else if (numel(d.shape) == 1) continue;
        else if (d.shape == Shape{1, logical[1], 1, 1} || d.shape == Shape{logical[1], 1, 1}) phys[k].desc = {d.dtype, {1, 1, 1, logical[1]}, nullptr};
        else ok = false;
      }
      if (nhwc_batchnorm) {
        gap_as_reduce = node;
        gap_as_reduce.set_op_type("BatchNormalizationNHWC");  // engine-internal kernel
        effective = &gap_as_reduce;
        factory = table.find("BatchNormalizationNHWC");
      }
      if (is_op(node, "GlobalAveragePool")) {
        gap_as_reduce = node;
        gap_as_reduce.set_op_type("GlobalAveragePoolNHWC");  // engine-internal kernel
        effective = &gap_as_reduce;
        factory = table.find("GlobalAveragePoolNHWC");
      }
      if (ok) {
        passthrough_layout = pin[static_cast<std::size_t>(nhwc_input)].desc.layout;
        pin = std::move(phys);
      } else {
        for (std::size_t k = 0; k < in_ids.size(); ++k)
          if (in_ids[k] >= 0) {
            in_ids[k] = plain_slot(in_ids[k]);
            pin[k].desc = slots[in_ids[k]].desc;
          }
        effective = &node;
        factory = table.find(node.op_type());
      }
    }
    // Channel Concat/Split of NHWC values: the same op along the innermost axis of the
    // [N,H,W,C] views; plain operands join the NHWC side with one reorder each.
    onnx::NodeProto channel_node;
    bool nhwc_outputs = false;
    std::optional<std::vector<dnnl::memory::desc>> concat_operands;  // a Concat by reorders: its operands' layouts
    Shape concat_result;                                              // and its logical shape (NHWC)
    // A blocked channel Concat: along axis 1 of the [N,C/B,H,W,B] views; operands in another
    // layout join with one reorder each.
    if (concat_block > 0 && !all_constant) {
      std::vector<PlanInput> phys = pin;
      for (std::size_t k = 0; k < pin.size(); ++k) {
        const auto& d = pin[k].desc;
        if (channel_block(d) != concat_block) in_ids[k] = blocked_slot(in_ids[k], channel_blocked_layout(d.shape, concat_block));
        phys[k].desc = {DType::kF32, blocked_physical(d.shape, concat_block), nullptr};
      }
      channel_node = along_axis(node, 1);
      if (!is_plain_concat(node)) {  // a fused BatchNormalization's parameters stay per channel
        auto* a = channel_node.add_attribute();
        a->set_name(kConcatChannelBlockAttr);
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(concat_block);
      }
      effective = &channel_node;
      pin = std::move(phys);
    }
    const bool nhwc_slice = channel_slice(node) && nhwc_input == 0;
    if (!all_constant && nhwc_input >= 0 &&
        (nhwc_slice || is_channel_concat_or_split(node, pin[static_cast<std::size_t>(nhwc_input)].desc.shape.size()))) {
      const Shape ref = pin[static_cast<std::size_t>(nhwc_input)].desc.shape;
      const std::size_t data_inputs = is_op(node, "Concat") ? pin.size() : 1;
      // A plain Concat (no fused BatchNormalization) with an operand in another layout reorders
      // each operand into its slice (concat_by_reorders.h); the others convert odd operands to
      // NHWC first. When all are NHWC already, the row copy below is faster at 2 threads
      // (squeezenet1_1's [1,128,55,55]: 0.08 ms against 0.13 ms as two reorders).
      // (Every operand with channels: a zero-volume reorder is not worth the edge case.)
      const bool by_reorders = is_plain_concat(node) &&
                               std::all_of(pin.begin(), pin.end(), [](const PlanInput& p) { return p.desc.shape.size() == 4 && p.desc.shape[1] > 0; }) &&
                               !std::all_of(pin.begin(), pin.end(), [](const PlanInput& p) { return is_nhwc(p.desc); });
      bool ok = true;
      std::vector<PlanInput> phys = pin;
      for (std::size_t k = 0; k < data_inputs && ok; ++k) {
        const auto& d = pin[k].desc;
        ok = pin[k].present && !pin[k].constant && d.dtype == DType::kF32 && d.shape.size() == 4 && d.shape[0] == ref[0] &&
             d.shape[2] == ref[2] && d.shape[3] == ref[3];
        if (!ok) break;
        if (!is_nhwc(d) && !by_reorders) in_ids[k] = blocked_slot(in_ids[k], nhwc_layout(d.shape));  // plain or blocked: one reorder
        phys[k].desc = {d.dtype, nhwc_physical(d.shape), nullptr};
      }
      if (ok && by_reorders) {
        concat_operands.emplace();
        Shape whole = ref;
        whole[1] = 0;
        for (std::size_t k = 0; k < data_inputs; ++k) {
          const auto& d = slots[in_ids[k]].desc;
          concat_operands->push_back(d.layout ? *d.layout : plain_f32(to_dims(d.shape)));
          whole[1] += d.shape[1];
        }
        concat_result = whole;
      } else if (ok && nhwc_slice) {
        // The same slice with its axes moved to 3; starts and ends are unchanged.
        auto& axes = nhwc_axes.emplace_back(Tensor::allocate(DType::kI64, pin[3].desc.shape));
        for (std::int64_t k = 0; k < axes.numel(); ++k) axes.as<std::int64_t>()[k] = 3;
        phys[3] = {true, axes.desc(), &axes};
        pin = std::move(phys);
        nhwc_outputs = true;
      } else if (ok) {
        channel_node = along_axis(node, 3);
        effective = &channel_node;
        pin = std::move(phys);
        nhwc_outputs = true;
      } else {
        for (std::size_t k = 0; k < in_ids.size(); ++k)
          if (in_ids[k] >= 0) {
            in_ids[k] = plain_slot(in_ids[k]);
            pin[k].desc = slots[in_ids[k]].desc;
          }
      }
    }
    NodeCtx ctx(*effective, opset, pin, eng);
    ctx.conv_algorithm = options.conv_algorithm;
    ctx.recurrence = options.recurrence;
    ctx.blocked_activations = options.activation_layout == ActivationLayout::kBlocked;
    ctx.blocked_output_ok = !all_constant && (is_conv(node) || is_op(node, "MaxPool") || is_op(node, "AveragePool") || onednn_resize);
    // What follows a convolution may fuse into it, which decides how it is planned: learn its
    // output first, then plan it once (with or without the fused operations).
    // A product by constant weights likewise (the fusion of a bias and activations below).
    const bool matmul_fusion = is_op(node, "MatMul") && pin.size() == 2;
    const bool product_fusion = (matmul_fusion || (is_op(node, "Gemm") && gemm_takes_post_ops(node, pin))) && !all_constant &&
                                node.output_size() == 1 && pin[1].constant && pin[1].desc.shape.size() == 2 &&
                                !graph_outputs.count(node.output(0));
    ctx.describe_only = (ctx.blocked_output_ok && node.output_size() == 1 && is_conv(node)) || product_fusion;
    std::vector<TensorDesc> out_desc;
    // oneDNN sizes a primitive's work split by the threads at creation: plan small steps
    // with the thread count they will run with.
    // A body's own steps choose their threads; the control-flow step itself runs with all.
    const double work = control_flow ? 0 : estimated_work(*effective, pin);
    const int step_threads = control_flow ? options.threads : threads_for_work(work, options.threads);
    if (!all_constant && !control_flow && step_threads > 1) parallel_work += work;
    omp_set_num_threads(step_threads);
    std::unique_ptr<Kernel> kernel;
    if (concat_operands) {
      const auto result = nhwc_layout(concat_result);
      kernel = make_concat_by_reorders(eng, *concat_operands, *result, ctx.scratchpad_bytes);
      out_desc = {{DType::kF32, concat_result, result}};
    } else {
      kernel = control_flow ? plan_control_flow(ctx, model, options, out_desc) : factory->second(ctx, out_desc);
    }
    std::string fused_output;
    std::vector<int> fused_nodes;
    if (ctx.blocked_output_ok && node.output_size() == 1) {
      std::vector<PostOp> ops;
      std::vector<int> fused;
      int sum_slot = -1;
      auto last = collect_post_ops(node.output(0), out_desc[0].shape, ops, fused, sum_slot);
      // Requantization fused into an int8 convolution: when its (post-op'd) result is read only
      // by a skipped QuantizeLinear feeding other int8 convolutions, it writes the quantized
      // tensor itself and those convolutions read it as it is.
      const onnx::NodeProto* requant_q = nullptr;
      int requant_index = -1;
      if (is_op(node, "ConvInt8") && sum_slot < 0 && !graph_outputs.count(last)) {
        auto cs = consumers.find(last);
        if (cs != consumers.end() && cs->second.size() == 1 && is_op(g.node(cs->second[0]), "QuantizeLinear") &&
            absorbed[static_cast<std::size_t>(cs->second[0])]) {
          // Only when every reader is an int8 convolution (which takes any quantized layout).
          bool all_conv = true;
          for (const auto& [_, m] : int8_convs)
            if (m.q == cs->second[0]) all_conv = all_conv && is_op(m.node, "ConvInt8");
          if (all_conv) {
            requant_index = cs->second[0];
            requant_q = &g.node(requant_index);
          }
        }
      }
      const Tensor* y_scale = nullptr;
      const Tensor* y_zp = nullptr;
      if (requant_q) {
        auto find_const = [&](int k) -> const Tensor* {
          if (k >= requant_q->input_size()) return nullptr;
          auto it = slot_of.find(requant_q->input(k));
          return it != slot_of.end() && slots[it->second].kind == SlotKind::kConstant ? &slots[it->second].constant : nullptr;
        };
        y_scale = find_const(1);
        y_zp = find_const(2);
        if (!y_scale || y_scale->dtype != DType::kF32 || y_scale->numel() != 1 || !(y_scale->as<float>()[0] > 0) ||
            (y_zp && (y_zp->numel() != 1 || (y_zp->dtype != DType::kU8 && y_zp->dtype != DType::kI8))))
          requant_q = nullptr;
      }
      if (!ops.empty() || requant_q) {
        while (pin.size() < 3) {
          pin.push_back({});
          in_ids.push_back(-1);
        }
        if (sum_slot >= 0) {
          pin.push_back({true, slots[sum_slot].desc, nullptr});
          in_ids.push_back(sum_slot);
        }
        const onnx::NodeProto* planned = &node;
        if (requant_q) {
          auto& n = requant_nodes.emplace_back(node);
          auto attr = [&](const char* name, onnx::AttributeProto::AttributeType t) {
            auto* a = n.add_attribute();
            a->set_name(name);
            a->set_type(t);
            return a;
          };
          attr("y_scale", onnx::AttributeProto::FLOAT)->set_f(y_scale->as<float>()[0]);
          const bool y_signed = y_zp && y_zp->dtype == DType::kI8;
          attr("y_zero_point", onnx::AttributeProto::INT)
              ->set_i(!y_zp ? 0 : y_signed ? y_zp->as<std::int8_t>()[0] : y_zp->as<std::uint8_t>()[0]);
          attr("y_signed", onnx::AttributeProto::INT)->set_i(y_signed);
          planned = &n;
        }
        NodeCtx fused_ctx(*planned, opset, pin, eng);
        fused_ctx.conv_algorithm = options.conv_algorithm;
        fused_ctx.blocked_activations = options.activation_layout == ActivationLayout::kBlocked;
        fused_ctx.blocked_output_ok = true;
        fused_ctx.post_ops = ops;
        out_desc.clear();
        kernel = factory->second(fused_ctx, out_desc);
        for (int j : fused) absorbed[static_cast<std::size_t>(j)] = true;
        fused_output = last;
        fused_nodes = fused;
        if (requant_q) {
          fused_output = requant_q->output(0);
          fused_nodes.push_back(requant_index);
          // The convolutions that quantized this value themselves now read it quantized.
          for (auto& [_, m] : int8_convs)
            if (m.q == requant_index) m.node.set_input(0, requant_q->output(0));
        }
        ctx.wanted_input_layout = fused_ctx.wanted_input_layout;
        ctx.winograd = fused_ctx.winograd;
        ctx.merged_groups = fused_ctx.merged_groups;
        ctx.split_outputs = fused_ctx.split_outputs;
        ctx.grouped_channels_last = fused_ctx.grouped_channels_last;
        ctx.pointwise_product = fused_ctx.pointwise_product;
        ctx.engine_recurrence = fused_ctx.engine_recurrence;
        ctx.inplace_input = fused_ctx.inplace_input;
        ctx.scratchpad_bytes = std::max(ctx.scratchpad_bytes, fused_ctx.scratchpad_bytes);
      }
    }
    // MatMul by constant weights: a following Add of a constant row vector becomes the
    // primitive's bias, then element-wise activations (GELU, ReLU, ...) its post-ops, so a
    // transformer's or ConvNeXt's MLP layer is one pass instead of three. A Gemm by constant
    // weights (AlexNet's and VGG's classifier layers) takes the activations alike where its C is
    // the primitive's bias or absent (gemm_takes_post_ops).
    if (product_fusion) {
      const std::int64_t n_cols = pin[1].desc.shape[1];
      std::string cur = node.output(0);
      std::vector<int> fused;
      const Tensor* bias = nullptr;
      int bias_slot = -1;
      if (int add = only_reader(cur); matmul_fusion && add >= 0 && is_op(g.node(add), "Add") && g.node(add).input_size() == 2) {
        const auto& a = g.node(add);
        const std::string& other = a.input(0) == cur ? a.input(1) : a.input(0);
        const Tensor* b = constant_of(other);
        auto bs = slot_of.find(other);
        if (b && bs != slot_of.end() && b->dtype == DType::kF32 && b->numel() == n_cols && !b->shape.empty() && b->shape.back() == n_cols &&
            a.input(0) != a.input(1)) {
          bias = b;
          bias_slot = bs->second;
          fused.push_back(add);
          cur = a.output(0);
        }
      }
      std::vector<PostOp> ops;
      int no_sum = -1;
      const std::string last = collect_post_ops(cur, out_desc[0].shape, ops, fused, no_sum, false);
      if (!fused.empty()) {
        onnx::NodeProto planned = node;
        std::vector<PlanInput> fpin = pin;
        if (bias) {
          planned.add_input("");  // the bias travels as input 2, as Gemm's C
          fpin.push_back({true, bias->desc(), bias});
          in_ids.push_back(bias_slot);
        }
        NodeCtx fused_ctx(planned, opset, fpin, eng);
        fused_ctx.post_ops = ops;
        omp_set_num_threads(step_threads);
        out_desc.clear();
        kernel = factory->second(fused_ctx, out_desc);
        ctx.scratchpad_bytes = std::max(ctx.scratchpad_bytes, fused_ctx.scratchpad_bytes);
        ctx.pointwise_product = fused_ctx.pointwise_product;
        for (int j : fused) absorbed[static_cast<std::size_t>(j)] = true;
        fused_output = last;
        fused_nodes = fused;
      }
    }
    if (!kernel) {  // described only, and nothing fused into it
      ctx.describe_only = false;
      omp_set_num_threads(step_threads);
      out_desc.clear();
      kernel = factory->second(ctx, out_desc);
    }
    omp_set_num_threads(options.threads);
    if (ctx.wanted_input_layout && !all_constant) in_ids[0] = blocked_slot(in_ids[0], ctx.wanted_input_layout);
    if (blocked_gap_output) out_desc[0].shape = *blocked_gap_output;
    if (concat_block > 0 && !all_constant) {
      auto& d = out_desc[0];
      d.shape = {d.shape[0], d.shape[1] * concat_block, d.shape[2], d.shape[3]};
      d.layout = channel_blocked_layout(d.shape, concat_block);
    }
    if (nhwc_outputs)
      for (auto& d : out_desc) {
        d.shape = nchw_logical(d.shape);
        d.layout = nhwc_layout(d.shape);
      }
    if (passthrough_layout) {
      auto& d = out_desc[0];
      if (is_op(node, "GlobalAveragePool")) {
        // mean over H, W of [N,H,W,C] is [N,1,1,C]: the same bytes as plain [N,C,1,1]
        d.shape = {d.shape[0], d.shape[3], 1, 1};
      } else {
        d.shape = {d.shape[0], d.shape[3], d.shape[1], d.shape[2]};
        d.layout = passthrough_layout;
      }
    }
    if (out_desc.size() < static_cast<std::size_t>(node.output_size()))
      ctx.unsupported("produces fewer outputs than the node declares");
    if (all_constant) {
      // Fold now: the value is the same for every run.
      std::vector<Tensor> outs;
      for (const auto& d : out_desc) outs.push_back(Tensor::allocate(d.dtype, d.shape));
      std::vector<const Tensor*> in_ptrs;
      for (auto id : in_ids) in_ptrs.push_back(id < 0 ? nullptr : &slots[id].constant);
      std::vector<Tensor*> out_ptrs;
      for (auto& t : outs) out_ptrs.push_back(&t);
      std::vector<std::byte> fold_scratch(std::max<std::size_t>(ctx.scratchpad_bytes, 1) + 64);
      RunContext rc{&fold_stream, reinterpret_cast<std::byte*>((reinterpret_cast<std::uintptr_t>(fold_scratch.data()) + 63) / 64 * 64)};
      kernel->run(in_ptrs, out_ptrs, rc);
      fold_stream.wait();
      for (int i = 0; i < node.output_size(); ++i) {
        if (node.output(i).empty()) continue;
        Slot s;
        s.kind = SlotKind::kConstant;
        s.constant = std::move(outs[i]);
        s.desc = s.constant.desc();
        add_slot(node.output(i), std::move(s));
      }
      continue;
    }
    scratchpad_bytes = std::max(scratchpad_bytes, ctx.scratchpad_bytes);
    if (drop_unit_dims && out_desc.size() == 1 && out_desc[0].shape.size() == 4)
      out_desc[0].shape = {out_desc[0].shape[0], out_desc[0].shape[1]};  // [N, C, 1, 1] and [N, C]: the same bytes
    Step step;
    step.label = node.op_type();
    for (int j : fused_nodes) step.label += "+" + g.node(j).op_type();  // e.g. Conv+Add+Relu
    if (is_op(node, "Concat"))  // with a BatchNormalization (and Relu) fused by concat_batchnorm.h
      for (const auto& a : node.attribute())
        if (a.name() == kConcatReluAttr) step.label += a.i() ? "+BatchNormalization+Relu" : "+BatchNormalization";
    step.winograd = ctx.winograd;
    step.merged_groups = ctx.merged_groups;
    step.split_outputs = ctx.split_outputs;
    step.grouped_channels_last = ctx.grouped_channels_last;
    step.pointwise_product = ctx.pointwise_product;
    step.engine_recurrence = ctx.engine_recurrence;
    step.kernel = std::move(kernel);
    step.threads = step_threads;
    step.inplace_input = ctx.inplace_input;
    step.in = std::move(in_ids);
    for (std::size_t i = 0; i < out_desc.size(); ++i) {
      Slot s;
      s.desc = out_desc[i];
      std::string name = i < static_cast<std::size_t>(node.output_size()) ? node.output(static_cast<int>(i)) : "";
      if (i == 0 && !fused_output.empty()) name = fused_output;
      int id;
      if (name.empty()) {  // omitted optional output: still needs a buffer to write to
        slots.push_back(std::move(s));
        id = static_cast<int>(slots.size()) - 1;
      } else {
        id = add_slot(name, std::move(s));
      }
      step.out.push_back(id);
    }
    steps.push_back(std::move(step));
  }

  for (const auto& out : g.output()) {
    auto it = slot_of.find(out.name());
    if (it == slot_of.end())
      throw Error(ErrorCode::kInvalidModel, "engine-invalid-graph", "graph output '" + out.name() + "' is never produced");
    int id = plain_slot(it->second);
    output_slots.push_back(id);
    outputs.push_back({out.name(), slots[id].desc.dtype, slots[id].desc.shape});
  }

  std::vector<int> view_of = drop_view_steps();
  share_accumulator_bytes(view_of);

  // Liveness: arena slots live from their writer to their last reader (outputs to the end); a
  // view's readers and outputs keep the bytes it shares alive.
  auto owner = [&](int id) { return view_of[static_cast<std::size_t>(id)] >= 0 ? view_of[static_cast<std::size_t>(id)] : id; };
  std::vector<int> first(slots.size(), -1), last(slots.size(), -1);
  for (int s = 0; s < static_cast<int>(steps.size()); ++s) {
    for (int id : steps[s].out) first[id] = last[id] = s;
    for (int id : steps[s].in)
      if (id >= 0) last[owner(id)] = s;
  }
  for (int id : output_slots) last[owner(id)] = static_cast<int>(steps.size());
  std::vector<BufferRequest> requests;
  std::vector<int> request_slot;
  for (std::size_t id = 0; id < slots.size(); ++id) {
    if (slots[id].kind != SlotKind::kArena || first[id] < 0 || view_of[id] >= 0) continue;
    requests.push_back({slots[id].desc.bytes(), first[id], last[id]});
    request_slot.push_back(static_cast<int>(id));
  }
  auto mp = plan_memory(requests);
  for (std::size_t r = 0; r < requests.size(); ++r) slots[request_slot[r]].offset = mp.offsets[r];
  for (std::size_t id = 0; id < slots.size(); ++id)
    if (view_of[id] >= 0) slots[id].offset = slots[static_cast<std::size_t>(view_of[id])].offset;
  arena_bytes = mp.total_bytes;
}

std::vector<int> Session::Impl::drop_view_steps() {
  // Reshape, Flatten, Squeeze, Unsqueeze and Identity of a plain value change only its shape:
  // their output can be a view of the input's bytes instead of a copy. Transformers and
  // window-attention models (Swin, MaxViT) run a reshape between most of their ops (176 per
  // MaxViT-T run, ~1% of its time as copies). Only values in the arena become views: a graph
  // input's bytes belong to the caller and change per run. Safe because no kernel writes a
  // value it reads: each value is written once, by its producer, before any reader runs. A
  // Transpose(layout) (an NCHW <-> NHWC permutation the layout already did, planned above) is the
  // same bytes under another description, so it is a view whatever the layouts.
  static const std::set<std::string> kViewOps = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose(layout)"};
  std::vector<int> view_of(slots.size(), -1);
  std::vector<Step> kept;
  kept.reserve(steps.size());
  for (auto& step : steps) {
    if (kViewOps.count(step.label) && step.out.size() == 1 && !step.in.empty() && step.in[0] >= 0) {
      int root = step.in[0];
      if (view_of[static_cast<std::size_t>(root)] >= 0) root = view_of[static_cast<std::size_t>(root)];
      const auto& from = slots[static_cast<std::size_t>(root)].desc;
      const auto& to = slots[static_cast<std::size_t>(step.out[0])].desc;
      const bool relabelled = step.label == "Transpose(layout)" || (!from.layout && !to.layout);
      if (slots[static_cast<std::size_t>(root)].kind == SlotKind::kArena && relabelled && from.dtype == to.dtype &&
          from.bytes() == to.bytes()) {
        view_of[static_cast<std::size_t>(step.out[0])] = root;
        continue;
      }
    }
    kept.push_back(std::move(step));
  }
  steps = std::move(kept);
  return view_of;
}

void Session::Impl::share_accumulator_bytes(std::vector<int>& view_of) const {
  // A convolution that adds a residual (Conv+Add+Relu) starts by copying the residual into its
  // output, then accumulates onto it: one extra read and write of a tensor per ResNet block.
  // When nothing reads the residual after that step, the output takes over its bytes and the
  // copy disappears (the kernel skips it when both are the same buffer). The residual must be an
  // arena value not also read as another input of the step (the convolution would overwrite
  // what it reads). Its bytes may already be shared (views, earlier accumulators): all of them
  // must be dead after the step.
  const auto n = slots.size();
  std::vector<int> last_read(n, -1);
  for (int s = 0; s < static_cast<int>(steps.size()); ++s)
    for (int id : steps[static_cast<std::size_t>(s)].in)
      if (id >= 0) last_read[static_cast<std::size_t>(id)] = s;
  for (int id : output_slots) last_read[static_cast<std::size_t>(id)] = static_cast<int>(steps.size());
  auto root = [&](int id) { return view_of[static_cast<std::size_t>(id)] >= 0 ? view_of[static_cast<std::size_t>(id)] : id; };
  for (int s = 0; s < static_cast<int>(steps.size()); ++s) {
    const Step& step = steps[static_cast<std::size_t>(s)];
    if (step.inplace_input < 0 || step.out.size() != 1 || static_cast<std::size_t>(step.inplace_input) >= step.in.size()) continue;
    const int acc = step.in[static_cast<std::size_t>(step.inplace_input)];
    const int out = step.out[0];
    if (acc < 0 || view_of[static_cast<std::size_t>(out)] >= 0) continue;
    const int r = root(acc);
    const Slot& rs = slots[static_cast<std::size_t>(r)];
    if (rs.kind != SlotKind::kArena || rs.desc.bytes() != slots[static_cast<std::size_t>(out)].desc.bytes()) continue;
    bool shared_input = false;
    for (std::size_t k = 0; k < step.in.size(); ++k)
      shared_input = shared_input || (static_cast<int>(k) != step.inplace_input && step.in[k] >= 0 && root(step.in[k]) == r);
    bool read_later = false;
    for (std::size_t id = 0; id < n && !read_later; ++id)
      read_later = root(static_cast<int>(id)) == r && last_read[id] > s;
    if (shared_input || read_later) continue;
    view_of[static_cast<std::size_t>(out)] = r;
    for (auto& v : view_of)  // reshapes of the output view the residual's bytes too
      if (v == out) v = r;
  }
}

int Session::Impl::plain_slot(int id) {
  if (!slots[id].desc.layout) return id;
  if (auto it = plain_copies.find(id); it != plain_copies.end()) return it->second;
  Slot s;
  s.desc = {slots[id].desc.dtype, slots[id].desc.shape, nullptr};
  dnnl::memory::dims dims(s.desc.shape.begin(), s.desc.shape.end()), strides(dims.size(), 1);
  for (std::size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  dnnl::memory::desc plain(dims, dnnl::memory::data_type::f32, strides);
  slots.push_back(std::move(s));
  int copy = static_cast<int>(slots.size()) - 1;
  Step step;
  step.label = "Reorder";
  step.threads = threads_for_work(team_written_work(static_cast<double>(numel(slots[id].desc.shape))), options.threads);
  omp_set_num_threads(step.threads);
  auto reorder = std::make_unique<ReorderKernel>(eng, *slots[id].desc.layout, plain);
  omp_set_num_threads(options.threads);
  scratchpad_bytes = std::max(scratchpad_bytes, reorder->scratchpad_bytes());
  step.kernel = std::move(reorder);
  step.in = {id};
  step.out = {copy};
  steps.push_back(std::move(step));
  plain_copies[id] = copy;
  return copy;
}

int Session::Impl::blocked_slot(int id, const std::shared_ptr<const dnnl::memory::desc>& layout) {
  const auto& d = slots[id].desc;
  dnnl::memory::dims dims(d.shape.begin(), d.shape.end()), strides(dims.size(), 1);
  for (std::size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  dnnl::memory::desc plain(dims, dnnl::memory::data_type::f32, strides);
  // The value may already be in a producer's layout (an int8 convolution's nhwc output).
  const dnnl::memory::desc from = d.layout ? *d.layout : plain;
  // Key by the layout's identity: its size and blocking description are enough to tell apart
  // the few layouts oneDNN picks for one tensor.
  std::string key = std::to_string(layout->get_size()) + ":" + std::to_string(static_cast<int>(layout->data.format_desc.blocking.inner_nblks)) +
                    ":" + std::to_string(layout->data.format_desc.blocking.inner_blks[0]);
  if (auto it = blocked_copies.find({id, key}); it != blocked_copies.end()) return it->second;
  if (d.layout) ++layout_conversions;
  Slot s;
  s.desc = {d.dtype, d.shape, layout};
  slots.push_back(std::move(s));
  int copy = static_cast<int>(slots.size()) - 1;
  Step step;
  step.label = "Reorder";
  step.threads = threads_for_work(team_written_work(static_cast<double>(numel(slots[id].desc.shape))), options.threads);
  omp_set_num_threads(step.threads);
  auto reorder = std::make_unique<ReorderKernel>(eng, from, *layout);
  omp_set_num_threads(options.threads);
  scratchpad_bytes = std::max(scratchpad_bytes, reorder->scratchpad_bytes());
  step.kernel = std::move(reorder);
  step.in = {id};
  step.out = {copy};
  steps.push_back(std::move(step));
  blocked_copies[{id, key}] = copy;
  return copy;
}

// 64-byte aligned memory for a run. aligned_alloc needs the size to be a multiple of the
// alignment (C11/C++17) and returns null on failure, which must not become a write through null.
static std::unique_ptr<std::byte[], void (*)(void*)> aligned_buffer(std::size_t bytes, const char* what) {
  constexpr std::size_t kAlign = 64;
  if (bytes > SIZE_MAX - kAlign) throw Error(ErrorCode::kUnprocessable, "engine-out-of-memory", std::string(what) + " size overflows");
  const std::size_t rounded = std::max<std::size_t>((bytes + kAlign - 1) / kAlign * kAlign, kAlign);
  auto* p = static_cast<std::byte*>(std::aligned_alloc(kAlign, rounded));
  if (!p)
    throw Error(ErrorCode::kUnprocessable, "engine-out-of-memory",
                "cannot allocate the " + std::string(what) + " (" + std::to_string(rounded >> 20) + " MiB) for these input shapes");
  return {p, std::free};
}

std::unique_ptr<RunState> Session::Impl::make_state() {
  auto st = std::make_unique<RunState>();
  st->arena = aligned_buffer(arena_bytes, "activation arena");
  st->scratchpad = aligned_buffer(scratchpad_bytes, "oneDNN scratchpad");
  st->stream = dnnl::stream(eng);
  st->views.resize(slots.size());
  st->kernel_state.resize(steps.size());
  for (std::size_t i = 0; i < slots.size(); ++i) {
    auto& v = st->views[i];
    v.dtype = slots[i].desc.dtype;
    v.shape = slots[i].desc.shape;
    if (slots[i].kind == SlotKind::kConstant) v.data = slots[i].constant.data;
    else if (slots[i].kind == SlotKind::kArena) v.data = st->arena.get() + slots[i].offset;
  }
  return st;
}

void Session::Impl::free_constants_kernels_copied() {
  // Only constants some step reads and every reading step copied: a kernel built outside the
  // registry (squeeze-excitation, attention) may keep what it needs without listing it as an input.
  std::vector<char> read(slots.size(), 0), copied(slots.size(), 0);
  for (const auto& step : steps)
    for (std::size_t k = 0; k < step.in.size(); ++k) {
      const int id = step.in[k];
      if (id < 0 || slots[static_cast<std::size_t>(id)].kind != SlotKind::kConstant) continue;
      (step.kernel->reads_input_at_run(k) ? read : copied)[static_cast<std::size_t>(id)] = 1;
    }
  for (int id : output_slots) read[static_cast<std::size_t>(id)] = 1;
  for (std::size_t id = 0; id < slots.size(); ++id)
    if (copied[id] && !read[id]) {
      auto& c = slots[id].constant;
      c = Tensor{c.dtype, c.shape, nullptr, {}};
    }
}

std::unique_ptr<RunState> Session::Impl::execute(const std::vector<Tensor>& in) {
  if (in.size() != inputs.size())
    throw Error(ErrorCode::kInvalidArgument, "engine-bad-input",
                "expected " + std::to_string(inputs.size()) + " inputs, got " + std::to_string(in.size()));
  for (std::size_t i = 0; i < in.size(); ++i)
    if (in[i].dtype != inputs[i].dtype || in[i].shape != inputs[i].shape)
      throw Error(ErrorCode::kInvalidArgument, "engine-bad-input",
                  "input '" + inputs[i].name + "' must be " + dtype_str(inputs[i].dtype) + " " + shape_str(inputs[i].shape) +
                      ", got " + dtype_str(in[i].dtype) + " " + shape_str(in[i].shape));
  std::unique_ptr<RunState> st;
  {
    std::lock_guard lock(pool_mu);
    if (!pool.empty()) {
      st = std::move(pool.back());
      pool.pop_back();
    }
  }
  if (!st) st = make_state();
  omp_set_num_threads(options.threads);
  for (std::size_t i = 0; i < input_slots.size(); ++i) st->views[input_slots[i]].data = in[i].data;
  RunContext rc{&st->stream, st->scratchpad.get()};
  std::vector<const Tensor*> in_ptrs;
  std::vector<Tensor*> out_ptrs;
  std::vector<double> step_ms(options.profile ? steps.size() : 0);
  std::vector<int> ran_threads(step_ms.size(), 0);
  for (std::size_t k = 0; k < steps.size(); ++k) {
    auto& step = steps[k];
    in_ptrs.clear();
    out_ptrs.clear();
    for (int id : step.in) in_ptrs.push_back(id < 0 ? nullptr : &st->views[id]);
    for (int id : step.out) out_ptrs.push_back(&st->views[id]);
    // Asked of OpenMP every step rather than remembered: a step may change it. An If or Loop
    // runs its body as a session of its own, which leaves the count at what that session chose
    // (one thread, when a body has little parallel work), and mvit_v1_b's steps after its If
    // nodes ran on one thread though planned for two (its 1569x384 by 384x1536 product 9.7 ms
    // a call instead of 5.3).
    if (omp_get_max_threads() != step.threads) omp_set_num_threads(step.threads);
    rc.state = &st->kernel_state[k];
    if (!options.profile) {
      step.kernel->run(in_ptrs, out_ptrs, rc);
      continue;
    }
    ran_threads[k] = omp_get_max_threads();
    auto t0 = std::chrono::steady_clock::now();
    step.kernel->run(in_ptrs, out_ptrs, rc);
    st->stream.wait();
    step_ms[k] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  st->stream.wait();
  omp_set_num_threads(options.threads);
  std::lock_guard lock(pool_mu);
  if (step_profile.size() != step_ms.size()) {
    step_profile.assign(step_ms.size(), {});
    for (std::size_t k = 0; k < step_ms.size(); ++k) {
      auto& sp = step_profile[k];
      sp.index = k;
      sp.op = steps[k].label;
      if (!steps[k].out.empty()) sp.output = slots[static_cast<std::size_t>(steps[k].out[0])].desc.shape;
      sp.threads = steps[k].threads;
    }
  }
  for (std::size_t k = 0; k < step_ms.size(); ++k) {
    ++step_profile[k].calls;
    step_profile[k].total_ms += step_ms[k];
    step_profile[k].ran_threads = ran_threads[k];
  }
  return st;
}

void Session::Impl::give_back(std::unique_ptr<RunState> st) {
  std::lock_guard lock(pool_mu);
  pool.push_back(std::move(st));
}

std::vector<Tensor> Session::Impl::run(const std::vector<Tensor>& in) {
  std::vector<Tensor> out;
  run_reading(in, [&](const std::vector<Tensor>& lent) {
    for (const auto& v : lent) {
      auto t = Tensor::allocate_for_overwrite(v.dtype, v.shape);
      std::memcpy(t.data, v.data, t.bytes());
      out.push_back(std::move(t));
    }
  });
  return out;
}

void Session::Impl::run_reading(const std::vector<Tensor>& in, const std::function<void(const std::vector<Tensor>&)>& read) {
  auto st = execute(in);
  std::vector<Tensor> out;
  for (int id : output_slots) {
    const auto& v = st->views[id];
    Tensor t;  // a view: no owner, the bytes stay the run state's
    t.dtype = v.dtype;
    t.shape = v.shape;
    t.data = v.data;
    out.push_back(std::move(t));
  }
  struct GiveBack {
    Impl& impl;
    std::unique_ptr<RunState>& st;
    ~GiveBack() { impl.give_back(std::move(st)); }  // also when `read` throws
  } back{*this, st};
  read(out);
}

namespace {

// A team planned below worth_a_thread_team's bound must beat one thread by this much to be kept
// (near-ties go to one thread, which leaves the other cores to other work).
constexpr double kTeamMustWin = 0.95;
// A plan with Winograd convolutions must beat the all-direct plan by this much to be kept (a near
// tie goes to direct: smaller weights, results closer to the textbook sum).
constexpr double kWinogradPlanMustWin = 0.97;
// The blocked plan must beat oneDNN's layouts by this much (activation_layout.h): its measured
// gains are 2-4%, and a near tie goes to oneDNN's picks.
constexpr double kBlockedPlanMustWin = 0.99;

// Below this ratio of the two plans' fastest runs after one block each, the race is decided.
constexpr double kRaceDecided = 0.75;
// Races of runs this long (ms) run them one at a time (race_plans).
constexpr double kLongRaceRunMs = 100;

// Steady-state run times of two plans of one model in ms: each plan's fastest and median run.
struct RaceTimes {
  double fastest_a, fastest_b, median_a, median_b;
};

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Two plans of one model raced on the same synthetic inputs: two blocks of back-to-back runs per
// plan, alternating, the first run of each block discarded (a team that slept through the other
// plan's runs wakes in it), about 200 ms in all; one block each where that decides it
// (kRaceDecided). Runs of 100 ms and more go one to a block, none discarded (a team's wake-up is
// lost in them), in up to three blocks: Keypoint R-CNN's 600 ms runs at 2 threads made its
// layout race 19 runs, 11 s of its planning, and its Winograd race 11. Most choices compare the
// fastest runs: on a shared machine a run can only be slowed by others. Nullopt when a run fails
// (synthetic inputs a model rejects, e.g. out-of-range ids).
std::optional<RaceTimes> race_plans(Session::Impl& a, Session::Impl& b) {
  try {
    const auto in = random_inputs(a.inputs, 20261203);
    auto timed_run = [&](Session::Impl& s) {
      const auto t0 = std::chrono::steady_clock::now();
      s.run(in);
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    };
    timed_run(a);
    const double first = timed_run(b) + timed_run(a);
    const bool long_runs = first >= 2 * kLongRaceRunMs;
    const int per_block = long_runs ? 1 : std::clamp(static_cast<int>(50.0 / std::max(first, 0.01)), 3, 25);
    std::vector<double> ta, tb;
    for (int block = 0; block < (long_runs ? 3 : 2); ++block) {
      for (auto* s : {&b, &a}) {
        if (!long_runs) timed_run(*s);
        auto& runs = s == &a ? ta : tb;
        for (int r = 0; r < per_block; ++r) runs.push_back(timed_run(*s));
      }
      // One plan a quarter faster after the first blocks (vgg11's Winograd plan: 93 against
      // 187 ms) is not the one the second blocks would overturn, and they cost vgg11 3 s of
      // planning. Closer races, where a slow spell of the machine could decide, run both.
      const double fa = *std::min_element(ta.begin(), ta.end()), fb = *std::min_element(tb.begin(), tb.end());
      if (std::min(fa, fb) < kRaceDecided * std::max(fa, fb)) break;
    }
    a.step_profile.clear();  // the calibration runs are not the caller's
    b.step_profile.clear();
    return RaceTimes{*std::min_element(ta.begin(), ta.end()), *std::min_element(tb.begin(), tb.end()), median_of(ta),
                     median_of(tb)};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

// The tail of a model whose last nodes cannot be planned statically, and what the session
// reports and returns with it.
struct Session::TailPart {
  explicit TailPart(DynamicTail t) : tail(std::move(t)) {}
  DynamicTail tail;
  std::vector<IoInfo> outputs;  // the model's, in its order (tail-made dims unknown: -1)
  std::unordered_set<std::string> output_names;  // what the tail keeps to the end of a run
  std::mutex mu;                // guards the profile below
  DynamicTail::Profile profile;  // per op, summed over profiled runs

  std::vector<Tensor> run(Session::Impl& head, const std::vector<Tensor>& inputs, bool profile);
};

namespace {

// The tail's constants: the initializers and plan-time inputs its nodes read.
std::unordered_map<std::string, Tensor> tail_constants(const onnx::ModelProto& model, const std::vector<onnx::NodeProto>& tail,
                                                       const SessionOptions& options) {
  std::unordered_map<std::string, Tensor> constants;
  const auto reads = tail_reads(tail);
  const std::unordered_set<std::string> wanted(reads.begin(), reads.end());
  for (const auto& init : model.graph().initializer())
    if (wanted.count(init.name())) constants[init.name()] = tensor_from_proto(init);
  for (const auto& [name, value] : options.input_values)
    if (wanted.count(name)) constants[name] = value;
  return constants;
}

// The model's output as a caller sees it before a run: its declared type and each dim the
// model fixes, -1 for the others.
IoInfo declared_output(const onnx::ValueInfoProto& o) {
  const auto& tt = o.type().tensor_type();
  if (tt.elem_type() == 0)
    throw Error(ErrorCode::kUnprocessable, "engine-unsupported",
                "output '" + o.name() + "' is made after an op whose output shape depends on values, and the model does not declare its type");
  IoInfo io{o.name(), dtype_from_onnx(tt.elem_type()), {}};
  for (const auto& d : tt.shape().dim()) io.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return io;
}

}  // namespace

std::vector<Tensor> Session::TailPart::run(Session::Impl& head, const std::vector<Tensor>& inputs, bool profile) {
  std::vector<Tensor> head_out = head.run(inputs);
  std::unordered_map<std::string, Tensor> values;
  for (std::size_t i = 0; i < inputs.size() && i < head.inputs.size(); ++i) values[head.inputs[i].name] = inputs[i];
  for (std::size_t i = 0; i < head_out.size(); ++i) values[head.outputs[i].name] = std::move(head_out[i]);
  DynamicTail::Profile times;
  tail.run(values, profile ? &times : nullptr, &output_names);
  std::vector<Tensor> out;
  for (const auto& o : outputs) {
    auto it = values.find(o.name);
    if (it == values.end())
      throw Error(ErrorCode::kInvalidModel, "engine-invalid-graph", "graph output '" + o.name + "' is never produced");
    out.push_back(std::move(it->second));
  }
  if (profile) {
    std::lock_guard lock(mu);
    for (const auto& [op, t] : times) {
      this->profile[op].calls += t.calls;
      this->profile[op].ms += t.ms;
    }
  }
  return out;
}

namespace {

// Sequences whose elements are all known at planning (torch.tensor_split exported as a Loop
// appending to a sequence: mvit_v1_b) as the tensors they hold: the unroll_static_sequences
// pass, then the sequence nodes nothing reads any more dropped. nullopt when the graph has no
// sequence op or nothing could be resolved.
std::optional<onnx::ModelProto> sequences_as_tensors(const onnx::ModelProto& model) {
  bool any = false;
  for (const auto& n : model.graph().node())
    any = any || n.op_type().rfind("Sequence", 0) == 0 || n.op_type() == "ConcatFromSequence";
  if (!any) return std::nullopt;
  auto rewritten = model;
  auto counts = make_pass(PassSpec("unroll_static_sequences"))->run(rewritten);
  if (counts["sequence_reads_resolved"] == 0) return std::nullopt;
  make_pass(PassSpec("eliminate_dead_nodes"))->run(rewritten);
  return rewritten;
}

// Rewrites that must come before the dynamic tail is split off, so the tail's nodes get them
// too: sequences resolved (sequences_as_tensors), constant aliases removed (a tail convolution
// reading its bias through an Identity of an initializer would see a run-time value: Mask
// R-CNN's mask head lost its Winograd kernel so), then upsampling ConvTransposes as pointwise
// convolutions (Mask R-CNN's mask head). nullopt when none applies.
std::optional<onnx::ModelProto> rewritten_before_split(const onnx::ModelProto& model) {
  std::optional<onnx::ModelProto> current;
  const auto apply = [&](std::optional<onnx::ModelProto> next) {
    if (next) current = std::move(next);
  };
  // aifgen's private ops become standard ones before the split too: the tail runs node by node
  // with the standard kernels (fuse_conv_activation had made Mask R-CNN's mask-head Conv + Relu
  // FusedConv nodes, which its tail refused, so the variant's validation was skipped).
  apply(expand_aifgen_ops(model));
  apply(sequences_as_tensors(current ? *current : model));
  apply(remove_dropouts_and_constant_aliases(current ? *current : model));
  apply(conv_transposes_as_pointwise(current ? *current : model));
  return current;
}
}  // namespace

Session::Session(const onnx::ModelProto& model, SessionOptions options) : impl_(std::make_unique<Impl>()) {
  if (auto rewritten = rewritten_before_split(model)) {
    plan_owned(std::move(*rewritten), std::move(options));
    return;
  }
  if (auto split = split_dynamic_tail(model)) {
    plan_with_tail(model, std::move(*split), std::move(options));
    return;
  }
  plan_model(model, std::nullopt, std::move(options));
}

Session::Session(onnx::ModelProto&& model, SessionOptions options) : impl_(std::make_unique<Impl>()) {
  if (auto rewritten = rewritten_before_split(model)) model = std::move(*rewritten);
  plan_owned(std::move(model), std::move(options));
}

void Session::plan_owned(onnx::ModelProto&& model, SessionOptions options) {
  if (auto split = split_dynamic_tail(model)) {
    plan_with_tail(model, std::move(*split), std::move(options));
    return;
  }
  // `model` is left empty by the move and never read below: `standard` holds the model.
  std::optional<onnx::ModelProto> owned(std::move(model));
  plan_model(model, std::move(owned), std::move(options));
}

void Session::plan_with_tail(const onnx::ModelProto& model, TailSplit split, SessionOptions options) {
  auto constants = tail_constants(model, split.tail, options);
  // The tail's convolutions in oneDNN's layouts, by the session's algorithm; ActivationLayout
  // does not apply to them (each is planned alone, between plain tensors).
  NodePlanOptions tail_plans{true, options.conv_algorithm};
  auto part = std::make_unique<TailPart>(DynamicTail(std::move(split.tail), std::move(constants), default_opset(model), tail_plans));
  std::optional<onnx::ModelProto> head(std::move(split.head));
  plan_model(*head, std::move(head), std::move(options));
  std::unordered_map<std::string, const IoInfo*> planned;
  for (const auto& o : impl_->outputs) planned[o.name] = &o;
  for (const auto& i : impl_->inputs) planned[i.name] = &i;
  for (const auto& o : model.graph().output())
    part->outputs.push_back(planned.count(o.name()) ? *planned[o.name()] : declared_output(o));
  for (const auto& o : part->outputs) part->output_names.insert(o.name);
  tail_ = std::move(part);
}

// `standard`, when set, is the model to plan and the session's to change; `model` is read only
// while it is not.
void Session::plan_model(const onnx::ModelProto& model, std::optional<onnx::ModelProto> standard, SessionOptions options) {
  impl_->options = std::move(options);
  impl_->decoded_initializers = std::make_shared<std::unordered_map<std::string, Tensor>>();
  if (impl_->options.threads < 1) impl_->options.threads = 1;
  omp_set_num_threads(impl_->options.threads);
  auto t0 = std::chrono::steady_clock::now();
  // aifgen's private ops (fused by passes for this engine) were made standard ops again by
  // rewritten_before_split, on every path here; the planner fuses them again.
  // float16 models with float32 inputs and outputs (fp16 variants) run in float32 with fp16
  // rounding wherever they store fp16 (no native fp16 kernels), so fp16 bundles serve with the
  // numerics their validation measured. Models with fp16 inputs or outputs run as written.
  // What If/Loop/Scan bodies read from the graph becomes explicit inputs of those nodes first,
  // so no rewrite below drops or fuses away a value only a body reads.
  if (auto cf = expose_subgraph_reads(standard ? *standard : model)) standard = std::move(cf);
  if (auto dr = remove_dropouts_and_constant_aliases(standard ? *standard : model)) standard = std::move(dr);
  if (auto bn = fold_batchnorms_into_convs(standard ? *standard : model)) standard = std::move(bn);
  if (auto hs = fuse_decomposed_hardswish(standard ? *standard : model)) standard = std::move(hs);
  if (auto tp = fuse_transformer_patterns(standard ? *standard : model)) standard = std::move(tp);
  if (auto pf = fold_pads_into_consumers(standard ? *standard : model)) standard = std::move(pf);
  if (auto sd = stems_as_space_to_depth(standard ? *standard : model, impl_->eng)) standard = std::move(sd);
  if (auto cb = fuse_concat_batchnorm(standard ? *standard : model)) standard = std::move(cb);
  if (auto pc = pool_through_concats(standard ? *standard : model)) standard = std::move(pc);
  // Only with a team: on one thread the Concat's copy is cheap and the split costs more
  // (concat_split.h).
  if (impl_->options.threads > 1)
    if (auto cs = split_concats_into_convs(standard ? *standard : model)) standard = std::move(cs);
  const auto& m = standard ? *standard : model;
  if (uses_fp16(m) && !has_fp16_io(m)) standard = emulate_fp16(m);
  // Without VNNI, full-range int8 weights could overflow oneDNN's 16-bit pair sums: rewrite them
  // so no pair can (quantize::as_run_without_vnni) where the variant's validation allowed it, so
  // its convolutions still run in int8, except the nodes the budget kept float there; where it
  // allowed none, drop the activation Q/DQ pairs and run the float graph (closer to the source
  // than what was validated, and as fast as fp32 rather than slower).
  if (impl_->options.int8_kernels && int8_support() == Int8Support::kSafeWeightsOnly) {
    const auto& cur = standard ? *standard : model;
    std::int64_t changed = 0;
    auto h = quantize::as_run_without_vnni(cur, &changed);
    if (changed > 0) standard = std::move(h);
  }
  // A model that is the session's own (given by value, or copied by a rewrite above) gives its
  // initializers' bytes to the planner's constants instead of being decoded into copies: the
  // weights were held twice while planning (resnext101_32x8d: 338 MB in the proto and 338 MB
  // decoded, then 338 MB per plan packed).
  if (standard)
    for (auto& init : *standard->mutable_graph()->mutable_initializer()) {
      auto [it, fresh] = impl_->decoded_initializers->try_emplace(init.name());
      if (fresh) it->second = tensor_taking_proto(init);
    }
  impl_->plan(standard ? *standard : model);
  if (impl_->options.threads > 1 && !worth_a_thread_team(impl_->parallel_work)) {
    // Less parallel work than a team surely pays for: plan again for one thread, so every
    // step's primitives are made for the thread count they run with. Whether the team still
    // pays depends on the machine (how fast a sleeping OpenMP thread wakes, how caches are
    // shared): on one 2-core VM mobilenet_v3_small ran 1.47x slower at 2 threads, on another
    // 0.77x its 1-thread time. So when some steps would use the team, both plans are timed on
    // the same synthetic inputs and the team is kept only if it is clearly faster.
    auto single = std::make_unique<Impl>();
    single->decoded_initializers = impl_->decoded_initializers;
    single->options = impl_->options;
    single->options.threads = 1;
    omp_set_num_threads(1);
    single->plan(standard ? *standard : model);
    std::optional<RaceTimes> timed;
    if (impl_->parallel_work > 0) timed = race_plans(*impl_, *single);
    char note[160];
    // Medians, not the fastest runs: a team's run times spread wider than one thread's (a
    // sleeping thread wakes late now and then), so its fastest run flatters it. On this choice
    // mobilenet_v3_small's team won by 6% on fastest runs (1.08 against 1.15 ms) and then ran
    // its benchmark 2% slower than one thread; a median is what a caller's p50 sees.
    if (timed && timed->median_a < kTeamMustWin * timed->median_b) {
      std::snprintf(note, sizeof note, "a team measured faster: median %.3f ms at %d threads, %.3f ms at 1", timed->median_a,
                    impl_->options.threads, timed->median_b);
      impl_->thread_choice = note;
      omp_set_num_threads(impl_->options.threads);
    } else {
      if (timed)
        std::snprintf(note, sizeof note, "one thread measured as fast: median %.3f ms at 1, %.3f ms at %d threads",
                      timed->median_b, timed->median_a, impl_->options.threads);
      else
        std::snprintf(note, sizeof note, "too little parallel work for a team");
      single->thread_choice = note;
      impl_ = std::move(single);
    }
  }
  if (impl_->options.conv_algorithm == ConvAlgorithm::kMeasured) choose_winograd_or_direct(standard ? *standard : model);
  // After the Winograd choice: which layout is faster depends on which algorithm the grouped
  // 3x3 convolutions run (both want nChw16c), so the race is between the plans that will run.
  if (impl_->options.activation_layout == ActivationLayout::kMeasured) choose_activation_layout(standard ? *standard : model);
  // What the chosen plan keeps: its kernels' copies of the weights, not the decoded initializers
  // and the rewritten model as well (resnext101_32x8d's process held its 338 MB of weights three
  // times over after planning).
  standard.reset();
  impl_->decoded_initializers.reset();
  impl_->free_constants_kernels_copied();
#ifdef __GLIBC__
  // The plans that lost their races and the decoded initializers were freed above, but glibc
  // keeps most of such memory mapped for reuse (after a large free its mmap threshold rises, so
  // the later plans' weights came from its heap): resnext101_32x8d's process held 1.6 GB for 338
  // MB of weights. Hand the free pages back so a serving process holds what the plan uses.
  malloc_trim(0);
#endif
  impl_->plan_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// oneDNN's layouts converted between NHWC and a blocked layout somewhere (a grouped convolution
// reading a 1x1 convolution's NHWC output), or ran a grouped convolution on NHWC (where oneDNN's
// blocked kernels can be much faster: ResNeXt-101's 32-channel groups, activation_layout.h):
// plan it again started blocked, and keep that plan if it converts less or runs fewer grouped
// convolutions on NHWC (a few reorders more can be worth it: ResNeXt-101 32x8d reorders its three
// nChw8c stage-1 blocks' outputs to nChw16c), and runs faster on the same synthetic inputs. Both
// are planned with the thread count chosen above.
void Session::choose_activation_layout(const onnx::ModelProto& planned) {
  impl_->options.activation_layout = ActivationLayout::kOneDnn;
  const std::size_t conversions = impl_->layout_conversions, grouped_nhwc = impl_->grouped_channels_last();
  if (conversions == 0 && grouped_nhwc == 0) return;
  const int threads = impl_->options.threads;
  auto blocked = std::make_unique<Impl>();
  blocked->decoded_initializers = impl_->decoded_initializers;
  blocked->options = impl_->options;
  blocked->options.activation_layout = ActivationLayout::kBlocked;
  // All direct when oneDNN's plan ended all direct: started blocked, more 3x3 convolutions can
  // time faster as Winograd one by one (ResNeXt's grouped ones, group by group on nChw16c), and
  // they would join the plan without the race against all-direct that the network as a whole
  // decides (choose_winograd_or_direct); that race again would double the plan time.
  if (impl_->options.conv_algorithm == ConvAlgorithm::kMeasured && winograd_convolutions() == 0)
    blocked->options.conv_algorithm = ConvAlgorithm::kDirect;
  omp_set_num_threads(threads);
  blocked->plan(planned);
  blocked->thread_choice = impl_->thread_choice;
  blocked->conv_choice = impl_->conv_choice;
  char note[240];
  const bool fewer_conversions = blocked->layout_conversions < conversions;
  const bool fewer_grouped_nhwc = blocked->grouped_channels_last() < grouped_nhwc;
  if (!fewer_conversions && !fewer_grouped_nhwc) {
    std::snprintf(note, sizeof note, "oneDNN's: %zu layout conversions and %zu grouped convolutions on NHWC, as many started blocked",
                  conversions, grouped_nhwc);
    impl_->layout_choice = note;
    return;
  }
  const auto timed = race_plans(*impl_, *blocked);
  if (timed && timed->fastest_b < kBlockedPlanMustWin * timed->fastest_a) {
    std::snprintf(note, sizeof note,
                  "blocked, measured faster: %.3f ms, oneDNN's %.3f ms with %zu layout conversions and %zu grouped convolutions on NHWC",
                  timed->fastest_b, timed->fastest_a, conversions, grouped_nhwc);
    blocked->layout_choice = note;
    impl_ = std::move(blocked);
  } else {
    if (timed)
      std::snprintf(note, sizeof note, "oneDNN's, measured as fast: %.3f ms, blocked %.3f ms", timed->fastest_a, timed->fastest_b);
    else
      std::snprintf(note, sizeof note, "oneDNN's (the plans could not be timed)");
    impl_->layout_choice = note;
  }
  omp_set_num_threads(threads);
}

// Each 3x3 convolution kept Winograd only where it timed faster alone, reorders into and out of
// its nChw16c included (winograd_choice.h); in a network the layouts around it can still cost
// more than it saves: DenseNet's dense layers sit between a 1x1 convolution's NHWC output and a
// channel Concat, and at 2 threads densenet121 ran 18.5 ms with 18 Winograd convolutions and 55
// reorders, 17.4 ms without. So a plan with any Winograd convolution races the all-direct plan
// of the same thread count on the same synthetic inputs and is kept only if it wins.
void Session::choose_winograd_or_direct(const onnx::ModelProto& planned) {
  const std::size_t winograd_steps = winograd_convolutions();
  if (winograd_steps == 0) return;
  auto direct = std::make_unique<Impl>();
  direct->decoded_initializers = impl_->decoded_initializers;
  direct->options = impl_->options;
  direct->options.conv_algorithm = ConvAlgorithm::kDirect;
  const int threads = impl_->options.threads;
  omp_set_num_threads(threads);
  direct->plan(planned);
  direct->thread_choice = impl_->thread_choice;
  const auto timed = race_plans(*impl_, *direct);
  char note[200];
  if (timed && timed->fastest_a < kWinogradPlanMustWin * timed->fastest_b) {
    std::snprintf(note, sizeof note, "%zu as Winograd, measured faster: %.3f ms, all direct %.3f ms", winograd_steps,
                  timed->fastest_a, timed->fastest_b);
    impl_->conv_choice = note;
  } else {
    if (timed)
      std::snprintf(note, sizeof note, "all direct, measured as fast: %.3f ms, with %zu as Winograd %.3f ms",
                    timed->fastest_b, winograd_steps, timed->fastest_a);
    else
      std::snprintf(note, sizeof note, "all direct (the plans could not be timed)");
    direct->conv_choice = note;
    impl_ = std::move(direct);
  }
  omp_set_num_threads(threads);
}

Session::~Session() = default;
const std::vector<IoInfo>& Session::inputs() const { return impl_->inputs; }
const std::vector<IoInfo>& Session::outputs() const { return tail_ ? tail_->outputs : impl_->outputs; }
std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs) {
  return tail_ ? tail_->run(*impl_, inputs, impl_->options.profile) : impl_->run(inputs);
}

void Session::run_reading(const std::vector<Tensor>& inputs, const std::function<void(const std::vector<Tensor>&)>& read) {
  if (tail_) return read(run(inputs));
  impl_->run_reading(inputs, read);
}
std::size_t Session::arena_bytes() const { return impl_->arena_bytes; }
std::size_t Session::constant_bytes() const { return impl_->constant_bytes; }
std::size_t Session::held_constant_bytes() const {
  std::size_t bytes = 0;
  for (const auto& s : impl_->slots)
    if (s.kind == SlotKind::kConstant && s.constant.data) bytes += s.constant.bytes();
  return bytes;
}
std::size_t Session::kernel_count() const { return impl_->steps.size() + (tail_ ? tail_->tail.node_count() : 0); }
int Session::threads() const { return impl_->options.threads; }
const std::string& Session::thread_choice() const { return impl_->thread_choice; }
const std::string& Session::conv_algorithm_choice() const { return impl_->conv_choice; }
std::size_t Session::layout_conversions() const { return impl_->layout_conversions; }
std::size_t Session::grouped_channels_last_convolutions() const { return impl_->grouped_channels_last(); }
const std::string& Session::activation_layout_choice() const { return impl_->layout_choice; }

std::size_t Session::merged_group_convolutions() const {
  return static_cast<std::size_t>(std::count_if(impl_->steps.begin(), impl_->steps.end(), [](const Step& s) { return s.merged_groups; }));
}

std::size_t Session::split_output_convolutions() const {
  return static_cast<std::size_t>(std::count_if(impl_->steps.begin(), impl_->steps.end(), [](const Step& s) { return s.split_outputs; }));
}

std::size_t Session::engine_recurrences() const {
  return static_cast<std::size_t>(std::count_if(impl_->steps.begin(), impl_->steps.end(), [](const Step& s) { return s.engine_recurrence; }));
}

std::size_t Session::pointwise_products() const {
  return static_cast<std::size_t>(std::count_if(impl_->steps.begin(), impl_->steps.end(), [](const Step& s) { return s.pointwise_product; }));
}

std::size_t Session::winograd_convolutions() const {
  return static_cast<std::size_t>(std::count_if(impl_->steps.begin(), impl_->steps.end(), [](const Step& s) { return s.winograd; }));
}
double Session::plan_ms() const { return impl_->plan_ms; }

std::vector<StepProfile> Session::step_profile() const {
  std::lock_guard lock(impl_->pool_mu);
  return impl_->step_profile;
}

void Session::reset_profile() {
  {
    std::lock_guard lock(impl_->pool_mu);
    impl_->step_profile.clear();
  }
  if (tail_) {
    std::lock_guard tail_lock(tail_->mu);
    tail_->profile.clear();
  }
}

std::vector<OpProfile> Session::profile() const {
  std::lock_guard lock(impl_->pool_mu);
  std::map<std::string, OpProfile> per_op;
  for (const auto& step : impl_->step_profile) {
    auto& p = per_op[step.op];
    p.op = step.op;
    p.calls += step.calls;
    p.total_ms += step.total_ms;
  }
  std::vector<OpProfile> out;
  for (auto& [_, p] : per_op) out.push_back(std::move(p));
  if (tail_) {  // labelled apart: the tail's ops are planned per run (dynamic_tail.h)
    std::lock_guard tail_lock(tail_->mu);
    for (const auto& [op, t] : tail_->profile) out.push_back({op + " (dynamic tail)", t.calls, t.ms});
  }
  std::sort(out.begin(), out.end(), [](const OpProfile& a, const OpProfile& b) { return a.total_ms > b.total_ms; });
  return out;
}

Int8Support int8_support() {
#if defined(__x86_64__)
  static const Int8Support support = [] {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    auto has = [&](dnnl::cpu_isa want) { return (isa & static_cast<unsigned>(want)) == static_cast<unsigned>(want); };
    if (has(dnnl::cpu_isa::avx512_core_vnni) || has(dnnl::cpu_isa::avx2_vnni)) return Int8Support::kFull;
    if (has(dnnl::cpu_isa::avx2)) return Int8Support::kSafeWeightsOnly;
    return Int8Support::kNone;
  }();
  return support;
#else
  return Int8Support::kNone;
#endif
}

bool int8_kernels_supported() { return int8_support() == Int8Support::kFull; }

std::vector<std::string> supported_ops() {
  std::vector<std::string> ops = {"Constant", "Shape", "Size", "If", "Loop", "Scan"};
  for (const auto& [name, _] : kernel_table())
    if (name.find("NHWC") == std::string::npos && name != "ConvInt8" && name != "MatMulInt8") ops.push_back(name);  // internal kernels are not ONNX ops
  std::sort(ops.begin(), ops.end());
  return ops;
}

}  // namespace aifgen::engine

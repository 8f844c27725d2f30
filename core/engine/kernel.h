// Kernel interface of the CPU engine and the plan-time context a kernel factory sees.
//
// A factory is called once per node at plan time with the input descriptions (and values of
// inputs that are constant). It validates attributes, computes output descriptions and builds
// the kernel, creating oneDNN primitives there so run() does no setup. Anything it cannot
// execute exactly is refused with Error(kUnprocessable, "engine-unsupported") naming the node.
#pragma once

#include <onnx/onnx_pb.h>

#include <dnnl.hpp>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/conv_algorithm.h"
#include "core/engine/recurrence_choice.h"
#include "core/engine/tensor.h"

namespace aifgen::engine {

// Per-run execution resources handed to kernels (one per concurrently running request).
// What a kernel may keep between runs (RunContext::state), e.g. its oneDNN argument objects.
struct KernelState {
  virtual ~KernelState() = default;
};

struct RunContext {
  dnnl::stream* stream = nullptr;
  std::byte* scratchpad = nullptr;  // this run's oneDNN scratchpad (the plan's largest need)
  // This step's slot in the session's pooled run state, or null (plan-time folding): one run
  // uses a run state at a time, so what a kernel keeps here is never shared by concurrent runs.
  std::unique_ptr<KernelState>* state = nullptr;
};

// Adds the scratchpad argument when the primitive needs one.
inline void add_scratchpad(std::unordered_map<int, dnnl::memory>& args, const dnnl::memory::desc& md,
                           const dnnl::engine& eng, const RunContext& ctx) {
  if (md.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(md, eng, ctx.scratchpad));
}

class Kernel {
 public:
  virtual ~Kernel() = default;
  // `in[i]` is null for an omitted optional input. Outputs are preallocated to the planned shapes.
  virtual void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) = 0;
  // Whether run() reads input i. False for a constant the kernel copied at plan time into a form
  // of its own (a convolution's weights reordered into oneDNN's layout): once planning is done the
  // session frees such constants when no other step reads them, so the weights are held once.
  virtual bool reads_input_at_run(std::size_t /*i*/) const { return true; }
};

// An operation fused into a oneDNN primitive's output (Conv + activation / residual add).
struct PostOp {
  enum class Kind { kEltwise, kSum } kind = Kind::kEltwise;
  dnnl::algorithm alg = dnnl::algorithm::eltwise_relu;
  float alpha = 0, beta = 0;
  int sum_input = -1;  // kSum: index of the extra kernel input added into the output
};

struct PlanInput {
  bool present = false;
  TensorDesc desc;
  const Tensor* constant = nullptr;  // set when the value is known at plan time
};

class PackedWeights;

class NodeCtx {
 public:
  NodeCtx(const onnx::NodeProto& node, std::int64_t opset, std::vector<PlanInput> inputs, const dnnl::engine& eng)
      : node_(node), opset_(opset), inputs_(std::move(inputs)), eng_(eng) {}

  // Set by the planner for layout-aware kernels (Conv): operations fused into the output, and
  // whether the output may be left in a oneDNN blocked layout (not when constant-folding).
  std::vector<PostOp> post_ops;
  bool blocked_output_ok = false;
  // Set by a layout-aware factory when it wants input 0 in this layout; the planner then adds
  // one reorder from the plain value (shared by every consumer wanting the same layout).
  mutable std::shared_ptr<const dnnl::memory::desc> wanted_input_layout;
  // Set by a kernel that may write its output over input k's bytes (a convolution adding a
  // residual in its own layout starts from a copy of it); the planner lets them share the bytes
  // when nothing reads input k afterwards, and the copy disappears.
  mutable int inplace_input = -1;
  // Set by the planner from SessionOptions: may 3x3 convolutions run as Winograd.
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kDirect;
  // Set by the planner from SessionOptions: which kernel runs a recurrent layer both can run.
  RecurrenceKernel recurrence = RecurrenceKernel::kMeasured;
  // Set by the planner from SessionOptions (ActivationLayout::kBlocked): a convolution reading a
  // plain tensor writes a blocked layout where oneDNN has as good a kernel for it.
  bool blocked_activations = false;
  // Set by a convolution that runs as Winograd (Session::winograd_convolutions counts them).
  mutable bool winograd = false;
  // Set by a grouped convolution that runs with its narrow groups joined (group_merge.h).
  mutable bool merged_groups = false;
  // Set by a convolution whose output channels run split over the threads (split_outputs_instead).
  mutable bool split_outputs = false;
  // Set by a grouped (not depthwise) convolution that reads NHWC: oneDNN's kernels for those can
  // be much slower than its channel-blocked ones (activation_layout.h), so such a plan races the
  // blocked one.
  mutable bool grouped_channels_last = false;
  // Set by a MatMul or Gemm by constant weights that runs as a 1x1 convolution (product_choice.h).
  mutable bool pointwise_product = false;
  // Set by an RNN, LSTM or GRU that runs the engine's own recurrence (kernels/rnn_recurrence.h)
  // rather than oneDNN's primitive.
  mutable bool engine_recurrence = false;
  // Set by the planner when all it needs are the output descs, to decide what to fuse into the
  // node before planning it: a factory may then return null once `outputs` is set, without
  // packing weights or making primitives it would make again with the fused post-ops (every
  // convolution of resnext101_32x8d packed its weights twice, 648 MB for 338 MB of weights). A
  // factory that ignores it returns a real kernel, which the planner keeps when nothing fuses.
  bool describe_only = false;
  // Set by the dynamic tail for the plans it keeps per node: constant weights packed there are
  // shared with the node's other live plans (packed_weights.h). Null: each plan packs its own.
  PackedWeights* packed_weights = nullptr;
  // Largest oneDNN scratchpad the node's primitives need; the planner sizes each run's from it.
  mutable std::size_t scratchpad_bytes = 0;
  void need_scratchpad(const dnnl::memory::desc& md) const { scratchpad_bytes = std::max(scratchpad_bytes, md.get_size()); }

  const onnx::NodeProto& node() const { return node_; }
  std::int64_t opset() const { return opset_; }
  const dnnl::engine& dnnl_engine() const { return eng_; }
  std::size_t num_inputs() const { return inputs_.size(); }
  bool has_input(std::size_t i) const { return i < inputs_.size() && inputs_[i].present; }
  const TensorDesc& in(std::size_t i) const;
  // The plan-time value of input i; throws engine-unsupported when it is not constant.
  const Tensor& constant_input(std::size_t i, const char* what) const;
  const Tensor* maybe_constant(std::size_t i) const { return has_input(i) ? inputs_[i].constant : nullptr; }

  bool has_attr(const std::string& name) const;
  std::int64_t attr_i(const std::string& name, std::int64_t dflt) const;
  float attr_f(const std::string& name, float dflt) const;
  std::string attr_s(const std::string& name, const std::string& dflt) const;
  std::vector<std::int64_t> attr_ints(const std::string& name, std::vector<std::int64_t> dflt = {}) const;
  std::vector<float> attr_floats(const std::string& name) const;
  const onnx::AttributeProto* attr(const std::string& name) const;

  // Error(kUnprocessable, "engine-unsupported") with node name, op and `what`.
  [[noreturn]] void unsupported(const std::string& what) const;
  // Error(kInvalidModel, "engine-invalid-node") for inputs that contradict the spec.
  [[noreturn]] void invalid(const std::string& what) const;
  void require_dtype(std::size_t i, std::initializer_list<DType> allowed) const;

 private:
  const onnx::NodeProto& node_;
  std::int64_t opset_;
  std::vector<PlanInput> inputs_;
  const dnnl::engine& eng_;
};

using KernelFactory = std::function<std::unique_ptr<Kernel>(const NodeCtx&, std::vector<TensorDesc>& outputs)>;

// Normalizes a possibly negative axis into [0, rank); throws via ctx.invalid when out of range.
std::int64_t normalize_axis(const NodeCtx& ctx, std::int64_t axis, std::int64_t rank);

// A kernel from a lambda, for ops whose state is a few captured values.
template <typename Fn>
class LambdaKernel final : public Kernel {
 public:
  explicit LambdaKernel(Fn fn) : fn_(std::move(fn)) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    fn_(in, out, ctx);
  }

 private:
  Fn fn_;
};
template <typename Fn>
std::unique_ptr<Kernel> make_kernel(Fn fn) {
  return std::make_unique<LambdaKernel<Fn>>(std::move(fn));
}

}  // namespace aifgen::engine

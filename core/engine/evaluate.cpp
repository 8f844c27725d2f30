#include "core/engine/evaluate.h"

#include <algorithm>
#include <unordered_set>

#include "core/engine/kernels/onednn_util.h"
#include "core/engine/registry.h"
#include "core/base/error.h"

namespace aifgen::engine {

bool can_evaluate(const onnx::NodeProto& node) {
  return (node.domain().empty() || node.domain() == "ai.onnx") && kernel_table().count(node.op_type()) > 0;
}

Tensor constant_node_value(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute()) {
    if (a.name() == "value") return tensor_from_proto(a.t());
    if (a.name() == "value_float") {
      auto t = Tensor::allocate(DType::kF32, {});
      *t.as<float>() = a.f();
      return t;
    }
    if (a.name() == "value_floats") {
      auto t = Tensor::allocate(DType::kF32, {a.floats_size()});
      std::copy(a.floats().begin(), a.floats().end(), t.as<float>());
      return t;
    }
    if (a.name() == "value_int") {
      auto t = Tensor::allocate(DType::kI64, {});
      *t.as<std::int64_t>() = a.i();
      return t;
    }
    if (a.name() == "value_ints") {
      auto t = Tensor::allocate(DType::kI64, {a.ints_size()});
      std::copy(a.ints().begin(), a.ints().end(), t.as<std::int64_t>());
      return t;
    }
  }
  throw Error(ErrorCode::kUnprocessable, "engine-unsupported",
              "node '" + n.name() + "' (Constant): only tensor, float(s) and int(s) values are supported");
}

Tensor shape_node_value(const onnx::NodeProto& n, const Shape& shape) {
  if (n.op_type() == "Size") {
    auto t = Tensor::allocate(DType::kI64, {});
    *t.as<std::int64_t>() = numel(shape);
    return t;
  }
  const auto rank = static_cast<std::int64_t>(shape.size());
  std::int64_t start = 0, end = rank;
  for (const auto& a : n.attribute()) {
    if (a.name() == "start") start = a.i();
    if (a.name() == "end") end = a.i();
  }
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<std::int64_t>(start, 0, rank);
  end = std::clamp<std::int64_t>(end, start, rank);
  auto t = Tensor::allocate(DType::kI64, {end - start});
  for (auto i = start; i < end; ++i) t.as<std::int64_t>()[i - start] = shape[static_cast<std::size_t>(i)];
  return t;
}

namespace {

const dnnl::engine& cpu_engine() {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

std::size_t rounded_up(std::size_t bytes) { return (bytes + 63) / 64 * 64; }

// A layout-aware kernel run between plain tensors: input 0 is reordered into the layout the
// kernel asked for and output 0 out of the one it writes, through buffers placed after the
// kernel's own scratchpad.
class PlainBoundaryKernel final : public Kernel {
 public:
  PlainBoundaryKernel(std::unique_ptr<Kernel> inner, std::size_t inner_scratch, const TensorDesc& in, std::shared_ptr<const dnnl::memory::desc> in_layout,
                      const TensorDesc& out, std::shared_ptr<const dnnl::memory::desc> out_layout)
      : inner_(std::move(inner)), inner_scratch_(rounded_up(inner_scratch)), in_layout_(std::move(in_layout)), out_layout_(std::move(out_layout)) {
    const auto& eng = cpu_engine();
    if (in_layout_) {
      in_plain_ = plain_f32(to_dims(in.shape));
      to_inner_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, in_plain_, eng, *in_layout_));
    }
    if (out_layout_) {
      out_plain_ = plain_f32(to_dims(out.shape));
      from_inner_ = dnnl::reorder(dnnl::reorder::primitive_desc(eng, *out_layout_, eng, out_plain_));
    }
  }
  std::size_t scratch_bytes() const {
    return inner_scratch_ + (in_layout_ ? rounded_up(in_layout_->get_size()) : 0) + (out_layout_ ? rounded_up(out_layout_->get_size()) : 0);
  }
  bool reads_input_at_run(std::size_t i) const override { return inner_->reads_input_at_run(i); }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    const auto& eng = cpu_engine();
    std::byte* next = ctx.scratchpad + inner_scratch_;
    std::vector<const Tensor*> inner_in = in;
    Tensor src;
    if (in_layout_) {
      src = Tensor{in[0]->dtype, in[0]->shape, next, nullptr};
      next += rounded_up(in_layout_->get_size());
      dnnl::memory from(in_plain_, eng, const_cast<std::byte*>(in[0]->data)), to(*in_layout_, eng, src.data);
      to_inner_.execute(*ctx.stream, from, to);
      inner_in[0] = &src;
    }
    std::vector<Tensor*> inner_out = out;
    Tensor dst;
    if (out_layout_) {
      dst = Tensor{out[0]->dtype, out[0]->shape, next, nullptr};
      inner_out[0] = &dst;
    }
    inner_->run(inner_in, inner_out, ctx);
    if (out_layout_) {
      dnnl::memory from(*out_layout_, eng, dst.data), to(out_plain_, eng, out[0]->data);
      from_inner_.execute(*ctx.stream, from, to);
    }
  }

 private:
  std::unique_ptr<Kernel> inner_;
  std::size_t inner_scratch_;
  std::shared_ptr<const dnnl::memory::desc> in_layout_, out_layout_;
  dnnl::memory::desc in_plain_, out_plain_;
  dnnl::reorder to_inner_, from_inner_;
};

}  // namespace

PlannedNode plan_node(const onnx::NodeProto& node, std::int64_t opset, const std::vector<const Tensor*>& inputs,
                      const std::vector<bool>& known, const NodePlanOptions& options) {
  auto factory = kernel_table().find(node.op_type());
  if (factory == kernel_table().end())
    throw Error(ErrorCode::kUnprocessable, "engine-unsupported", "op " + node.op_type() + " is not implemented");
  std::vector<PlanInput> pin;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor* t = inputs[i];
    pin.push_back(t ? PlanInput{true, t->desc(), i < known.size() && known[i] ? t : nullptr} : PlanInput{});
  }
  NodeCtx ctx(node, opset, pin, cpu_engine());
  ctx.packed_weights = options.packed_weights;
  // (Not for a pointwise Conv: on plain layouts oneDNN runs it as one GEMM, as fast as its
  // blocked kernel, and the reorders cost more; Mask R-CNN's 256 -> 1024 channels on 100 ROIs of
  // 14x14 took 181 ms plain, 266 blocked with its reorders.)
  const bool layouts = options.convolution_layouts && (node.op_type() == "Conv" || node.op_type() == "ConvTranspose") &&
                       !inputs.empty() && inputs[0] && inputs[0]->dtype == DType::kF32 && inputs[0]->shape.size() == 4 &&
                       inputs.size() > 1 && inputs[1] && node.output_size() == 1 &&
                       !(node.op_type() == "Conv" && inputs[1]->shape.size() == 4 && inputs[1]->shape[2] == 1 && inputs[1]->shape[3] == 1);
  if (layouts) {
    ctx.blocked_output_ok = true;
    ctx.conv_algorithm = options.conv_algorithm;
  }
  PlannedNode planned;
  planned.kernel = factory->second(ctx, planned.outputs);
  planned.scratchpad_bytes = ctx.scratchpad_bytes;
  static const std::unordered_set<std::string> kViews = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"};
  planned.view_of_input = node.domain().empty() && kViews.count(node.op_type()) > 0 && planned.outputs.size() == 1 && !inputs.empty() &&
                          inputs[0] && !planned.outputs[0].layout && planned.outputs[0].dtype == inputs[0]->dtype &&
                          planned.outputs[0].bytes() == inputs[0]->bytes();
  if (layouts && (ctx.wanted_input_layout || planned.outputs[0].layout)) {
    auto out_layout = planned.outputs[0].layout;
    planned.outputs[0].layout = nullptr;
    auto boundary = std::make_unique<PlainBoundaryKernel>(std::move(planned.kernel), planned.scratchpad_bytes, inputs[0]->desc(),
                                                          ctx.wanted_input_layout, planned.outputs[0], out_layout);
    planned.scratchpad_bytes = boundary->scratch_bytes();
    planned.kernel = std::move(boundary);
  }
  return planned;
}

std::vector<Tensor> run_planned(const PlannedNode& planned, const std::vector<const Tensor*>& inputs) {
  // Outputs and scratchpad unzeroed, as the session's arena is on every run but its first: every
  // kernel writes all of its outputs. (Zeroed here, the dynamic tail cleared each of its values
  // before computing it: Mask R-CNN's 100 masks, proposals' feature maps.)
  std::vector<Tensor> outs;
  // Values are never written once made, so a view may share its input's bytes for as long as
  // either lives (the shared owner keeps them).
  if (planned.view_of_input && inputs[0]->owner) {
    outs.push_back(Tensor{inputs[0]->dtype, planned.outputs[0].shape, inputs[0]->data, inputs[0]->owner});
    return outs;
  }
  for (const auto& d : planned.outputs) outs.push_back(Tensor::allocate_for_overwrite(d.dtype, d.shape));
  std::vector<Tensor*> out_ptrs;
  for (auto& t : outs) out_ptrs.push_back(&t);
  const auto scratch = Tensor::allocate_for_overwrite(DType::kU8, {static_cast<std::int64_t>(planned.scratchpad_bytes)});
  dnnl::stream stream(cpu_engine());
  RunContext rc{&stream, scratch.data};
  planned.kernel->run(inputs, out_ptrs, rc);
  stream.wait();
  return outs;
}

std::optional<std::vector<const Tensor*>> inputs_among(const onnx::NodeProto& node, const std::unordered_map<std::string, Tensor>& values) {
  std::vector<const Tensor*> in;
  for (const auto& name : node.input()) {
    if (name.empty()) {
      in.push_back(nullptr);
      continue;
    }
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    in.push_back(&it->second);
  }
  return in;
}

std::vector<Tensor> evaluate_node(const onnx::NodeProto& node, std::int64_t opset, const std::vector<const Tensor*>& inputs) {
  return run_planned(plan_node(node, opset, inputs, std::vector<bool>(inputs.size(), true)), inputs);
}

}  // namespace aifgen::engine

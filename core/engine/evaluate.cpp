#include "core/engine/evaluate.h"

#include <algorithm>

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

}  // namespace

PlannedNode plan_node(const onnx::NodeProto& node, std::int64_t opset, const std::vector<const Tensor*>& inputs,
                      const std::vector<bool>& known) {
  auto factory = kernel_table().find(node.op_type());
  if (factory == kernel_table().end())
    throw Error(ErrorCode::kUnprocessable, "engine-unsupported", "op " + node.op_type() + " is not implemented");
  std::vector<PlanInput> pin;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor* t = inputs[i];
    pin.push_back(t ? PlanInput{true, t->desc(), i < known.size() && known[i] ? t : nullptr} : PlanInput{});
  }
  NodeCtx ctx(node, opset, pin, cpu_engine());
  PlannedNode planned;
  planned.kernel = factory->second(ctx, planned.outputs);
  planned.scratchpad_bytes = ctx.scratchpad_bytes;
  return planned;
}

std::vector<Tensor> run_planned(const PlannedNode& planned, const std::vector<const Tensor*>& inputs) {
  std::vector<Tensor> outs;
  for (const auto& d : planned.outputs) outs.push_back(Tensor::allocate(d.dtype, d.shape));
  std::vector<Tensor*> out_ptrs;
  for (auto& t : outs) out_ptrs.push_back(&t);
  std::vector<std::byte> scratch(planned.scratchpad_bytes + 64);
  dnnl::stream stream(cpu_engine());
  RunContext rc{&stream, reinterpret_cast<std::byte*>((reinterpret_cast<std::uintptr_t>(scratch.data()) + 63) / 64 * 64)};
  planned.kernel->run(inputs, out_ptrs, rc);
  stream.wait();
  return outs;
}

std::vector<Tensor> evaluate_node(const onnx::NodeProto& node, std::int64_t opset, const std::vector<const Tensor*>& inputs) {
  return run_planned(plan_node(node, opset, inputs, std::vector<bool>(inputs.size(), true)), inputs);
}

}  // namespace aifgen::engine

#include "core/engine/evaluate.h"

#include "core/engine/kernels/onednn_util.h"
#include "core/engine/registry.h"
#include "core/base/error.h"

namespace aifgen::engine {

bool can_evaluate(const onnx::NodeProto& node) {
  return (node.domain().empty() || node.domain() == "ai.onnx") && kernel_table().count(node.op_type()) > 0;
}

std::vector<Tensor> evaluate_node(const onnx::NodeProto& node, std::int64_t opset, const std::vector<const Tensor*>& inputs) {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  auto factory = kernel_table().find(node.op_type());
  if (factory == kernel_table().end())
    throw Error(ErrorCode::kUnprocessable, "engine-unsupported", "op " + node.op_type() + " is not implemented");
  std::vector<PlanInput> pin;
  for (const auto* t : inputs) pin.push_back(t ? PlanInput{true, t->desc(), t} : PlanInput{});
  NodeCtx ctx(node, opset, pin, eng);
  std::vector<TensorDesc> out_desc;
  auto kernel = factory->second(ctx, out_desc);
  std::vector<Tensor> outs;
  for (const auto& d : out_desc) outs.push_back(Tensor::allocate(d.dtype, d.shape));
  std::vector<Tensor*> out_ptrs;
  for (auto& t : outs) out_ptrs.push_back(&t);
  std::vector<std::byte> scratch(ctx.scratchpad_bytes + 64);
  dnnl::stream stream(eng);
  RunContext rc{&stream, reinterpret_cast<std::byte*>((reinterpret_cast<std::uintptr_t>(scratch.data()) + 63) / 64 * 64)};
  kernel->run(inputs, out_ptrs, rc);
  stream.wait();
  return outs;
}

}  // namespace aifgen::engine

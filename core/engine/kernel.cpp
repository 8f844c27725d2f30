// NodeCtx helpers: attributes with defaults, constant inputs, uniform errors.
#include "core/engine/kernel.h"

#include "core/base/error.h"

namespace aifgen::engine {

const TensorDesc& NodeCtx::in(std::size_t i) const {
  if (!has_input(i)) invalid("input " + std::to_string(i) + " is required");
  return inputs_[i].desc;
}

const Tensor& NodeCtx::constant_input(std::size_t i, const char* what) const {
  if (!has_input(i) || !inputs_[i].constant)
    unsupported(std::string(what) + " (input " + std::to_string(i) + ") must be known when the model is planned");
  return *inputs_[i].constant;
}

const onnx::AttributeProto* NodeCtx::attr(const std::string& name) const {
  for (const auto& a : node_.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

bool NodeCtx::has_attr(const std::string& name) const { return attr(name) != nullptr; }

std::int64_t NodeCtx::attr_i(const std::string& name, std::int64_t dflt) const {
  auto* a = attr(name);
  return a ? a->i() : dflt;
}

float NodeCtx::attr_f(const std::string& name, float dflt) const {
  auto* a = attr(name);
  return a ? a->f() : dflt;
}

std::string NodeCtx::attr_s(const std::string& name, const std::string& dflt) const {
  auto* a = attr(name);
  return a ? a->s() : dflt;
}

std::vector<std::int64_t> NodeCtx::attr_ints(const std::string& name, std::vector<std::int64_t> dflt) const {
  auto* a = attr(name);
  return a ? std::vector<std::int64_t>(a->ints().begin(), a->ints().end()) : dflt;
}

std::vector<float> NodeCtx::attr_floats(const std::string& name) const {
  auto* a = attr(name);
  return a ? std::vector<float>(a->floats().begin(), a->floats().end()) : std::vector<float>{};
}

void NodeCtx::unsupported(const std::string& what) const {
  throw Error(ErrorCode::kUnprocessable, "engine-unsupported",
              "node '" + node_.name() + "' (" + node_.op_type() + ", opset " + std::to_string(opset_) + "): " + what);
}

void NodeCtx::invalid(const std::string& what) const {
  throw Error(ErrorCode::kInvalidModel, "engine-invalid-node",
              "node '" + node_.name() + "' (" + node_.op_type() + "): " + what);
}

void NodeCtx::require_dtype(std::size_t i, std::initializer_list<DType> allowed) const {
  auto t = in(i).dtype;
  for (auto a : allowed)
    if (a == t) return;
  unsupported(std::string("input ") + std::to_string(i) + " of type " + dtype_str(t) + " is not supported");
}

std::int64_t normalize_axis(const NodeCtx& ctx, std::int64_t axis, std::int64_t rank) {
  if (axis < -rank || axis >= std::max<std::int64_t>(rank, 1)) ctx.invalid("axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

}  // namespace aifgen::engine

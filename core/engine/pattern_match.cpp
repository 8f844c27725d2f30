#include "core/engine/pattern_match.h"

#include <algorithm>
#include <cmath>

#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"

namespace aifgen::engine {

std::optional<float> scalar_constant(const onnx::GraphProto& g, const std::string& name) {
  const auto* t = find_constant(g, name);
  if (!t || t->data_type() != onnx::TensorProto::FLOAT) return std::nullopt;
  auto v = tensor_from_proto(*t);
  if (v.numel() != 1) return std::nullopt;
  return v.as<float>()[0];
}

bool near_value(std::optional<float> v, float want, float rel) { return v && std::abs(*v - want) <= rel * std::max(1.f, std::abs(want)); }

}  // namespace aifgen::engine

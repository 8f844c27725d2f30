#include "core/engine/random_inputs.h"

#include <random>
#include <set>

namespace aifgen::engine {

std::vector<Tensor> random_inputs(const std::vector<IoInfo>& inputs, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> f(-1.f, 1.f);
  std::uniform_int_distribution<int> i(0, 99);
  std::vector<Tensor> out;
  for (const auto& io : inputs) {
    Tensor t = Tensor::allocate(io.dtype, io.shape);
    for (std::int64_t k = 0; k < t.numel(); ++k) {
      switch (io.dtype) {
        case DType::kF32: t.as<float>()[k] = f(gen); break;
        case DType::kF64: t.as<double>()[k] = f(gen); break;
        case DType::kI64: t.as<std::int64_t>()[k] = i(gen); break;
        case DType::kI32: t.as<std::int32_t>()[k] = i(gen); break;
        default: break;  // zero-filled
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::map<std::string, Shape> default_input_shapes(const onnx::ModelProto& model, std::int64_t other_dims) {
  std::map<std::string, Shape> out;
  std::set<std::string> inits;
  for (const auto& t : model.graph().initializer()) inits.insert(t.name());
  for (const auto& in : model.graph().input()) {
    if (inits.count(in.name()) || !in.type().has_tensor_type()) continue;
    Shape s;
    const auto& dims = in.type().tensor_type().shape().dim();
    for (int i = 0; i < dims.size(); ++i) s.push_back(dims[i].has_dim_value() ? dims[i].dim_value() : (i == 0 ? 1 : other_dims));
    out[in.name()] = s;
  }
  return out;
}

}  // namespace aifgen::engine

// Deterministic synthetic inputs for a planned session, the same recipe as ONNX Runtime's
// ort-bench: floats uniform in [-1, 1], integers uniform in [0, 100) (token-id-like).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/engine/session.h"

namespace aifgen::engine {

std::vector<Tensor> random_inputs(const std::vector<IoInfo>& inputs, std::uint32_t seed);

// Shapes for a model's inputs when nobody said: a symbolic first dim (batch) is 1, any other
// symbolic dim is `other_dims` (224 fits image models whose sizes must divide by 32 and gives
// sequence models a realistic length), fixed dims stay.
std::map<std::string, Shape> default_input_shapes(const onnx::ModelProto& model, std::int64_t other_dims = 224);

}  // namespace aifgen::engine

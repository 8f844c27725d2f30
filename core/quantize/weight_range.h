// Int8 weights on x86 CPUs without VNNI. There oneDNN multiplies uint8 activations by int8
// weights with VPMADDUBSW, which adds two products in a saturating 16-bit sum: 255 * 127 * 2
// overflows, 255 * 64 * 2 does not (oneDNN developer guide, "Nuances of int8 computations").
// oneDNN's own answer for int8 activations is to halve the weights when it reorders them; aifgen
// does the same for uint8 ones, in the model, where the variant's validation allows it: each
// int8 weight q becomes round(q / 2) in [-64, 63] with its scale doubled (7 bits, as ONNX
// Runtime's reduce_range).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>

namespace aifgen::quantize {

// Model metadata key a variant carries to say what the engine may do on CPUs without VNNI:
// "halve" (run int8 with halved weights; the budget held with them) or "float" (keep Q/DQ in
// float: halved weights missed the budget). Absent: "halve", as oneDNN does for int8 sources.
inline constexpr const char* kNoVnniWeightsKey = "aifgen.int8_weights_without_vnni";

// The model with every int8 weight (an INT8 initializer behind DequantizeLinear with zero point
// 0) halved into [-64, 63] and its scale doubled; `changed` counts the tensors.
onnx::ModelProto halve_int8_weights(const onnx::ModelProto& model, std::int64_t* changed = nullptr);

// Whether the model's metadata allows halving (see kNoVnniWeightsKey).
bool halving_allowed(const onnx::ModelProto& model);

// The model with every QuantizeLinear -> DequantizeLinear pair on an activation removed (readers
// of the DQ read the float value itself): what the engine runs where it may not halve, so the
// variant costs no more than fp32 there (int8-rounded weights stay, folded at plan time).
// `removed` counts the pairs.
onnx::ModelProto strip_activation_qdq(const onnx::ModelProto& model, std::int64_t* removed = nullptr);

}  // namespace aifgen::quantize

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
#include <set>
#include <string>

namespace aifgen::quantize {

// Model metadata key a variant carries to say what the engine may do on CPUs without VNNI:
// "halve" (run int8 with halved weights; the budget held with them) or "float" (keep Q/DQ in
// float: halved weights missed the budget). Absent: "halve", as oneDNN does for int8 sources.
inline constexpr const char* kNoVnniWeightsKey = "aifgen.int8_weights_without_vnni";

// With "halve": the nodes, named by their first output and comma-separated, that run in float
// instead (their activation Q/DQ dropped, their 8-bit weights dequantized at plan time) because
// halving their weights cost the budget most. Absent or empty: every int8 node halves.
inline constexpr const char* kNoVnniFloatNodesKey = "aifgen.int8_float_nodes_without_vnni";

// The model with every int8 weight (an INT8 initializer behind DequantizeLinear with zero point
// 0) halved into [-64, 63] and its scale doubled; `changed` counts the tensors. Weights read by
// a node in `keep_for` (first outputs) stay 8-bit.
onnx::ModelProto halve_int8_weights(const onnx::ModelProto& model, std::int64_t* changed = nullptr,
                                    const std::set<std::string>& keep_for = {});

// Whether the model's metadata allows halving (see kNoVnniWeightsKey).
bool halving_allowed(const onnx::ModelProto& model);
// The nodes the metadata keeps float where the rest halves (see kNoVnniFloatNodesKey).
std::set<std::string> float_nodes_without_vnni(const onnx::ModelProto& model);
// Writes (or replaces) one metadata entry.
void set_metadata(onnx::ModelProto& model, const std::string& key, const std::string& value);

// The model with every QuantizeLinear -> DequantizeLinear pair on an activation removed (readers
// of the DQ read the float value itself): what the engine runs where it may not halve, so the
// variant costs no more than fp32 there (int8-rounded weights stay, folded at plan time).
// With `only_for`, just the nodes it names (first outputs) read the float value; the pair stays
// for its other readers. `removed` counts the rewired inputs.
onnx::ModelProto strip_activation_qdq(const onnx::ModelProto& model, std::int64_t* removed = nullptr,
                                      const std::set<std::string>* only_for = nullptr);

// What aifgen's engine runs on a CPU without VNNI, as the metadata says: halved weights with the
// listed nodes in float, or the float graph. `changed` counts the tensors and inputs touched.
onnx::ModelProto as_run_without_vnni(const onnx::ModelProto& model, std::int64_t* changed = nullptr);

}  // namespace aifgen::quantize

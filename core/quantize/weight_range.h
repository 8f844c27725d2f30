// Int8 weights on x86 CPUs without VNNI. There oneDNN multiplies uint8 activations by int8
// weights with VPMADDUBSW, which adds two products in a saturating 16-bit sum: 255 * 127 * 2
// overflows (oneDNN developer guide, "Nuances of int8 computations"). aifgen rewrites the
// weights, in the model, so no pair can overflow: by default the nearest such 8-bit weights per
// output channel (core/quantize/saturation_safe.h), or, for variants built before that, every
// weight halved to 7 bits (round(q / 2) in [-64, 63], scale doubled: ONNX Runtime's
// reduce_range). Depthwise convolutions are the exception: oneDNN's AVX2 and AVX-512 int8 kernels
// (jit_uni_x8s8s32x / jit_avx512_core_x8s8s32x, v2.6.3) multiply them with VPMADDWD on
// zero-extended activations, one product per 32-bit lane, so they cannot saturate and keep
// their weights.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <set>
#include <string>

namespace aifgen::quantize {

// Model metadata key a variant carries to say what the engine does on CPUs without VNNI, as its
// accuracy budget decided: "fit" (int8 with saturation-safe weights), "halve" (int8 with 7-bit
// weights; variants built before "fit"), or "float" (keep Q/DQ in float). Absent: "fit".
inline constexpr const char* kNoVnniWeightsKey = "aifgen.int8_weights_without_vnni";
enum class NoVnniWeights { kFit, kHalve, kFloat };

// With "fit" or "halve": the nodes, named by their first output and comma-separated, that run in
// float instead (their activation Q/DQ dropped, their 8-bit weights dequantized at plan time)
// because rewriting their weights cost the budget most. Absent or empty: none.
inline constexpr const char* kNoVnniFloatNodesKey = "aifgen.int8_float_nodes_without_vnni";

// Whether `reader` (a node reading the int8 `weight` through its DequantizeLinear) is a
// depthwise convolution, which oneDNN computes without 16-bit pair sums (see above).
bool exact_without_vnni(const onnx::NodeProto& reader, const onnx::TensorProto& weight);

// The model with every int8 weight (an INT8 initializer behind DequantizeLinear with zero point
// 0) halved into [-64, 63] and its scale doubled; `changed` counts the tensors. Weights read by
// a node in `keep_for` (first outputs), or only by depthwise convolutions, stay 8-bit.
onnx::ModelProto halve_int8_weights(const onnx::ModelProto& model, std::int64_t* changed = nullptr,
                                    const std::set<std::string>& keep_for = {});

// The same weights made saturation-safe instead (saturation_safe.h) where every reader is a
// Conv, MatMul or Gemm with a per-channel or per-tensor scale; others are halved. `changed`
// counts the tensors that changed.
onnx::ModelProto fit_int8_weights(const onnx::ModelProto& model, std::int64_t* changed = nullptr,
                                  const std::set<std::string>& keep_for = {});

// What the model's metadata says (see kNoVnniWeightsKey).
NoVnniWeights no_vnni_weights(const onnx::ModelProto& model);
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

// What aifgen's engine runs on a CPU without VNNI, as the metadata says: rewritten weights with
// the listed nodes in float, or the float graph. `changed` counts the tensors and inputs touched.
onnx::ModelProto as_run_without_vnni(const onnx::ModelProto& model, std::int64_t* changed = nullptr);

}  // namespace aifgen::quantize

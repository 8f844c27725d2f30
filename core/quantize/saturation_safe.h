// Int8 weights that cannot saturate oneDNN's int8 kernels on x86 CPUs without VNNI.
//
// There (AVX2, AVX-512 without VNNI) oneDNN multiplies uint8 activations by int8 weights with
// VPMADDUBSW, which adds two neighbouring products along the reduction axis in a saturating
// 16-bit sum (oneDNN developer guide, "Nuances of int8 computations"; kernels
// jit_uni_x8s8s32x_* and jit_avx512_core_x8s8s32x_* of v2.6.3). With activations up to 255 a pair
// of weights (a, b) is safe when its positive parts add to at most 128 and its negative parts to
// at least -128: 255 * 128 = 32640 fits, 255 * 129 does not.
//
// Halving every weight (ONNX Runtime's reduce_range) makes every pair safe but costs one bit on
// all of them. Here each output channel instead gets the scale shrink k in [1/2, 1] (its int8
// values requantized as round(q * k), its scale divided by k) and the smallest trim of the pairs
// still unsafe after it (both weights moved toward zero by half the excess each) whose squared
// error against the original values, in the original units, is least. k = 1/2 needs no trim,
// so the result is never further from the 8-bit weights than halving. Measured on the PP-OCRv4
// recognizer's 33 non-depthwise int8 weights: 9.6 dB less squared weight error than halving.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace aifgen::quantize {

// Where the pairs are: a weight holds `channels` output channels; channel c's elements lie at
// c * channel_stride + elements[e]; each sequence lists element indices (into `elements`) in one
// order in which a kernel may walk the reduction axis, and VPMADDUBSW pairs its positions (0, 1),
// (2, 3), ... Several sequences guard against kernels that walk the axis differently (per tap,
// flattened).
struct PairLayout {
  std::int64_t channels = 0;
  std::int64_t channel_stride = 0;
  std::vector<std::int64_t> elements;
  std::vector<std::vector<std::int32_t>> sequences;
};

// Convolution weight [OC, IC/group, spatial...] (non-depthwise): pairs along input channels at
// each tap, along (tap, channel) flattened, and along the weight's own flattened order.
PairLayout conv_pair_layout(const std::vector<std::int64_t>& dims);
// Matrix-product weight: [K, N] (MatMul, Gemm without transB) or [N, K] (`k_last`, Gemm with
// transB); output channels are the N columns or rows, pairs run along K.
PairLayout matmul_pair_layout(const std::vector<std::int64_t>& dims, bool k_last);

// How oneDNN's int8 kernels without VNNI add the products of one weight, decided by the node
// that reads it. Depthwise convolutions widen each product to 32 bits (VPMADDWD on zero-extended
// activations) and never pair them: any 8-bit value is exact there. The one place this decision
// is made, for the quantizer that rewrites weights and for the engine that accepts them.
struct WeightPairing {
  enum class Kind { kDepthwise, kConv, kKN, kNK };
  Kind kind = Kind::kConv;
  PairLayout layout;     // empty for kDepthwise
  int channel_axis = 0;  // the weight's output-channel axis (1 for a [K, N] matrix)
};

// `op` reads the weight as its second input: "Conv" (with `group`), "MatMul", or "Gemm" (with
// `trans_b`). nullopt for any other reader or dims that do not fit it.
std::optional<WeightPairing> weight_pairing(std::string_view op, std::int64_t group, bool trans_b,
                                            const std::vector<std::int64_t>& dims);

// Whether no pair of `weights` can saturate when read as `pairing` says.
bool saturation_safe_for(const WeightPairing& pairing, const std::vector<std::int8_t>& weights);

struct SafeWeights {
  std::vector<std::int8_t> values;
  std::vector<float> shrink;        // k per channel (one entry when the scale is per tensor)
  std::int64_t changed_values = 0;  // elements whose int8 value changed
  double squared_error = 0;         // sum over elements of (value / k - original)^2
};

// round(q * k) for an int8 value q under shrink k (halves away from -inf, clamped to
// [-127, 127]), before any trim: computed in integers, equal to std::floor(q * k + 0.5f).
int shrunk_value(float q, float k);

// The nearest saturation-safe weights (see above). With `per_channel_scale` false one k serves
// every channel (the scale is one number). `weights` holds layout.channels * channel_stride values.
SafeWeights saturation_safe(const std::vector<std::int8_t>& weights, const PairLayout& layout, bool per_channel_scale);

// Whether some pair of the layout can saturate a 16-bit sum with activations up to 255.
bool can_saturate(const std::vector<std::int8_t>& weights, const PairLayout& layout);

}  // namespace aifgen::quantize

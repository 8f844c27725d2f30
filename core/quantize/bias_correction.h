// Bias correction for rounded weights (Nagel et al., "Data-Free Quantization Through Weight
// Equalization and Bias Correction", ICCV 2019, section 4.2, in its empirical form: the input
// means come from the calibration samples). Rounding a layer's weights moves the mean of each
// output channel by sum over inputs of (Wq - W) * E[x]; subtracting that from the layer's bias
// removes the systematic part of the weight error (the part that accumulates through layers)
// and leaves the noise. Zero padding is ignored: border outputs see fewer inputs, so there the
// correction slightly over-shoots.
#pragma once

#include <cstdint>
#include <vector>

namespace aifgen::quantize {

// Conv: `w` and `wq` (float and dequantized) of dims [M, C/group, k...], `input_means` per input
// channel (C). Returns the shift per output channel (M), or empty when the sizes disagree.
std::vector<float> conv_bias_shift(const std::vector<float>& w, const std::vector<float>& wq, const std::vector<std::int64_t>& dims,
                                   std::int64_t group, const std::vector<float>& input_means);

// Gemm/MatMul by a 2-D weight: B is [K, N] ([N, K] with `trans_b`), `input_means` per K.
// Returns the shift per output column (N), or empty when the sizes disagree.
std::vector<float> matmul_bias_shift(const std::vector<float>& w, const std::vector<float>& wq, const std::vector<std::int64_t>& dims,
                                     bool trans_b, const std::vector<float>& input_means);

}  // namespace aifgen::quantize

// A direct 2-D convolution for tests to check the engine's fused kernels against: N = 1, group 1,
// stride 1, square kernel, the same zero padding on every side. Slow and obviously right.
#pragma once

#include <vector>

#include "core/engine/tensor.h"

namespace aifgen::testing {

// x [1, C, H, W], w [M, C, K, K], bias [M] or null -> [M * H' * W'] row-major.
std::vector<float> reference_conv2d(const engine::Tensor& x, const engine::Tensor& w, const engine::Tensor* bias, int pad);

}  // namespace aifgen::testing

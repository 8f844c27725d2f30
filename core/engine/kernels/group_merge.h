// Grouped convolutions with narrow groups, run as fewer, wider groups.
//
// oneDNN 2.6 has a direct AVX2/AVX-512 kernel for a grouped convolution only when each group's
// input and output channels fill whole vector blocks (8 floats on AVX2). ResNeXt's first stage
// (32 groups of 4 channels) therefore ran on its generic im2col + GEMM path in NCHW, between two
// reorders: on a 2-core AVX2 EPYC, resnext50_32x4d's [1,128,56,56] grouped 3x3 convolution took
// 4.4-5.3 ms in the model (2.7 ms alone) where ONNX Runtime 1.30 takes 1.5 ms. Pairs of groups
// joined into one group of 8 channels, whose weights are zero between the two halves
// (block-diagonal), compute exactly the same sums with twice the multiplications but get the
// blocked direct kernel: 1.47 ms alone on one thread, 0.72 on two (gemm 1.45). Four groups of 2
// joined into one of 8 still win (2.65 -> 1.47 ms). oneDNN microbenchmarks, 2026-12-04.
#pragma once

#include <cstdint>

#include "core/engine/tensor.h"

namespace aifgen::engine {

// Vector block the merged groups are sized to: 8 float channels, the AVX2 blocked layout that
// oneDNN's direct grouped kernels use on AVX2 and AVX-512 CPUs.
inline constexpr std::int64_t kMergedGroupChannels = 8;
// At most this many groups are joined (each join multiplies the work by the factor).
inline constexpr std::int64_t kMaxGroupMerge = 4;

// The number of adjacent groups to join so that every merged group has a multiple of
// kMergedGroupChannels input and output channels: the smallest such factor that divides
// `groups`, 0 when there is none up to kMaxGroupMerge, or when nothing needs joining (groups
// already whole blocks, one group, or a depthwise convolution with one input channel per group,
// which oneDNN has its own kernels for). `in_per_group` and `out_per_group` are the channels per
// group on each side.
std::int64_t group_merge_factor(std::int64_t groups, std::int64_t in_per_group, std::int64_t out_per_group);

// Weights [M, C/G, k...] of a convolution with `groups` groups rewritten for groups/`factor`
// groups: [M, factor*C/G, k...], where output channel o of old group j (j = factor*J + s) reads
// its old weights at input positions s*C/G .. (s+1)*C/G of merged group J and zeros elsewhere.
Tensor block_diagonal_weights(const Tensor& weights, std::int64_t groups, std::int64_t factor);

}  // namespace aifgen::engine

#include "core/engine/kernels/group_merge.h"

#include <algorithm>
#include <cstring>

namespace aifgen::engine {

std::int64_t group_merge_factor(std::int64_t groups, std::int64_t in_per_group, std::int64_t out_per_group) {
  if (groups < 2 || in_per_group < 2 || out_per_group < 1) return 0;
  if (in_per_group % kMergedGroupChannels == 0 && out_per_group % kMergedGroupChannels == 0) return 0;
  for (std::int64_t f = 2; f <= kMaxGroupMerge; ++f)
    if (groups % f == 0 && (f * in_per_group) % kMergedGroupChannels == 0 && (f * out_per_group) % kMergedGroupChannels == 0)
      return f;
  return 0;
}

Tensor block_diagonal_weights(const Tensor& weights, std::int64_t groups, std::int64_t factor) {
  const Shape& w = weights.shape;
  const std::int64_t m = w[0], cg = w[1], mg = m / groups;
  std::int64_t taps = 1;
  for (std::size_t i = 2; i < w.size(); ++i) taps *= w[i];
  Shape merged = w;
  merged[1] = cg * factor;
  Tensor out = Tensor::allocate(DType::kF32, merged);
  float* dst = out.as<float>();
  std::fill(dst, dst + out.numel(), 0.f);
  const float* src = weights.as<float>();
  for (std::int64_t o = 0; o < m; ++o) {
    const std::int64_t slot = (o / mg) % factor;  // which of the joined groups o belongs to
    std::memcpy(dst + (o * merged[1] + slot * cg) * taps, src + o * cg * taps, static_cast<std::size_t>(cg * taps) * sizeof(float));
  }
  return out;
}

}  // namespace aifgen::engine

#include "tests/support/reference_conv.h"

namespace aifgen::testing {

std::vector<float> reference_conv2d(const engine::Tensor& x, const engine::Tensor& w, const engine::Tensor* bias, int pad) {
  const auto c = x.shape[1], h = x.shape[2], wd = x.shape[3], m = w.shape[0], k = w.shape[2];
  const auto oh = h + 2 * pad - k + 1, ow = wd + 2 * pad - k + 1;
  std::vector<float> y(static_cast<std::size_t>(m * oh * ow));
  for (std::int64_t o = 0; o < m; ++o)
    for (std::int64_t r = 0; r < oh; ++r)
      for (std::int64_t col = 0; col < ow; ++col) {
        float v = bias ? bias->as<float>()[o] : 0.f;
        for (std::int64_t i = 0; i < c; ++i)
          for (std::int64_t kr = 0; kr < k; ++kr)
            for (std::int64_t kc = 0; kc < k; ++kc) {
              const auto rr = r + kr - pad, cc = col + kc - pad;
              if (rr < 0 || rr >= h || cc < 0 || cc >= wd) continue;
              v += w.as<float>()[((o * c + i) * k + kr) * k + kc] * x.as<float>()[(i * h + rr) * wd + cc];
            }
        y[static_cast<std::size_t>((o * oh + r) * ow + col)] = v;
      }
  return y;
}

}  // namespace aifgen::testing

#include "core/quantize/bias_correction.h"

namespace aifgen::quantize {

std::vector<float> conv_bias_shift(const std::vector<float>& w, const std::vector<float>& wq, const std::vector<std::int64_t>& dims,
                                   std::int64_t group, const std::vector<float>& input_means) {
  if (dims.size() < 3 || group < 1 || w.size() != wq.size()) return {};
  const std::int64_t m = dims[0], cg = dims[1];
  std::int64_t k = 1;
  for (std::size_t d = 2; d < dims.size(); ++d) k *= dims[d];
  if (m % group != 0 || static_cast<std::int64_t>(w.size()) != m * cg * k || static_cast<std::int64_t>(input_means.size()) != cg * group)
    return {};
  std::vector<float> shift(static_cast<std::size_t>(m));
  const std::int64_t per_group = m / group;
  for (std::int64_t o = 0; o < m; ++o) {
    const std::int64_t first_input = (o / per_group) * cg;
    double s = 0;
    for (std::int64_t i = 0; i < cg; ++i) {
      double dw = 0;
      for (std::int64_t j = 0; j < k; ++j) {
        const auto at = static_cast<std::size_t>((o * cg + i) * k + j);
        dw += static_cast<double>(wq[at]) - w[at];
      }
      s += dw * input_means[static_cast<std::size_t>(first_input + i)];
    }
    shift[static_cast<std::size_t>(o)] = static_cast<float>(s);
  }
  return shift;
}

std::vector<float> matmul_bias_shift(const std::vector<float>& w, const std::vector<float>& wq, const std::vector<std::int64_t>& dims,
                                     bool trans_b, const std::vector<float>& input_means) {
  if (dims.size() != 2 || w.size() != wq.size()) return {};
  const std::int64_t k = trans_b ? dims[1] : dims[0], n = trans_b ? dims[0] : dims[1];
  if (static_cast<std::int64_t>(w.size()) != k * n || static_cast<std::int64_t>(input_means.size()) != k) return {};
  std::vector<double> shift(static_cast<std::size_t>(n), 0.0);
  for (std::int64_t r = 0; r < k; ++r)
    for (std::int64_t c = 0; c < n; ++c) {
      const auto at = static_cast<std::size_t>(trans_b ? c * k + r : r * n + c);
      shift[static_cast<std::size_t>(c)] += (static_cast<double>(wq[at]) - w[at]) * input_means[static_cast<std::size_t>(r)];
    }
  return std::vector<float>(shift.begin(), shift.end());
}

}  // namespace aifgen::quantize

#include "core/engine/kernels/rows_product.h"

#include <omp.h>

#include <algorithm>
#include <array>

namespace aifgen::engine {

AlignedFloats weight_rows(const float* data, std::int64_t k, std::int64_t n, std::int64_t stride_k, std::int64_t stride_n) {
  AlignedFloats rows(static_cast<std::size_t>(k * n));
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t i = 0; i < k; ++i) rows[static_cast<std::size_t>(j * k + i)] = data[i * stride_k + j * stride_n];
  return rows;
}

RowsProductKernel::RowsProductKernel(std::int64_t m, std::int64_t k, std::int64_t n, AlignedFloats weights, AlignedFloats bias,
                                     RecurrentActivation act)
    : m_(m), k_(k), n_(n), weights_(std::move(weights)), bias_(bias.size() ? std::move(bias) : AlignedFloats(static_cast<std::size_t>(n))),
      act_(act) {}

void RowsProductKernel::multiply(const float* a, float* y) const {
  // The team shares whole blocks of rows; a product too small to split runs on one thread.
  const std::int64_t blocks = (n_ + kRecurrentRowBlock - 1) / kRecurrentRowBlock;
  const int team = static_cast<int>(std::min<std::int64_t>(omp_get_max_threads(), blocks));
#pragma omp parallel num_threads(team) if (team > 1)
  {
    const std::int64_t t = omp_get_thread_num(), threads = omp_get_num_threads();
    const std::int64_t first = std::min(n_, blocks * t / threads * kRecurrentRowBlock);
    const std::int64_t last = std::min(n_, blocks * (t + 1) / threads * kRecurrentRowBlock);
    if (first < last) {
      std::array<const float*, kMaxRowsProductRows> add{};
      std::array<float*, kMaxRowsProductRows> rows{};
      for (std::int64_t r = 0; r < m_; ++r) {
        add[static_cast<std::size_t>(r)] = bias_.data() + first;
        rows[static_cast<std::size_t>(r)] = y + r * n_ + first;
      }
      recurrent_rows(weights_.data() + first * k_, k_, last - first, a, m_, add.data(), rows.data(), act_);
    }
  }
}

void RowsProductKernel::run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
  multiply(in[0]->as<float>(), out[0]->as<float>());
  if (epilogue) epilogue(in, *out[0]);
}

}  // namespace aifgen::engine

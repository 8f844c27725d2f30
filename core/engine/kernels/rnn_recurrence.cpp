#include "core/engine/kernels/rnn_recurrence.h"

#include <omp.h>

#include <algorithm>
#include <cstring>


namespace aifgen::engine {

const float* run_rnn_recurrence(const RnnRecurrence& rnn, float* h, float* spare, bool team) {
  const std::int64_t H = rnn.hidden, N = rnn.batch;
  const std::size_t row_bytes = static_cast<std::size_t>(H) * sizeof(float);
  float* prev = h;
  float* next = spare;
#pragma omp parallel if (team)
  {
    const std::int64_t threads = omp_get_num_threads(), me = omp_get_thread_num();
    // Whole groups of four rows per thread (recurrent_rows' blocking).
    const std::int64_t chunk = ((H + threads - 1) / threads + 3) / 4 * 4;
    const std::int64_t b = std::min(H, me * chunk), e = std::min(H, b + chunk);
    for (std::int64_t s = 0; s < rnn.steps; ++s) {
      for (std::int64_t n = 0; n < N && b < e; ++n)
        recurrent_rows(rnn.r + b * H, H, prev + n * H, e - b, rnn.products[s * N + n] + b, next + n * H + b, rnn.activation);
#pragma omp barrier
#pragma omp single
      {
        for (std::int64_t n = 0; n < N; ++n) std::memcpy(rnn.outputs[s * N + n], next + n * H, row_bytes);
        std::swap(prev, next);
      }  // the single's barrier: every thread sees the swap before the next step
    }
  }
  return prev;
}

}  // namespace aifgen::engine

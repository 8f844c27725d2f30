#include "core/engine/kernels/rnn_recurrence.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "core/engine/kernels/fast_math.h"

namespace aifgen::engine {
namespace {

// Hidden units [b, e) of batch row n for one step: prev is h_{t-1}'s row, next h_t's.
void step_units(const RnnRecurrence& rnn, const float* p, const float* prev, float* next, float* gates, float* c, std::int64_t b,
                std::int64_t e) {
  const std::int64_t H = rnn.hidden, units = e - b;
  auto gate_rows = [&](int g, const float* add, float* out) {
    recurrent_rows(rnn.r + (g * H + b) * H, H, prev, units, add + b, out + b, RecurrentActivation::kNone);
  };
  switch (rnn.cell) {
    case RecurrenceCell::kRnn: recurrent_rows(rnn.r + b * H, H, prev, units, p + b, next + b, rnn.activation); return;
    case RecurrenceCell::kLstm:
      for (int g = 0; g < 4; ++g) gate_rows(g, p + g * H, gates + g * H);
      lstm_cell_loop(gates + b, gates + H + b, gates + 2 * H + b, gates + 3 * H + b, rnn.peepholes + b, rnn.peepholes + H + b,
                     rnn.peepholes + 2 * H + b, c + b, next + b, units);
      return;
    case RecurrenceCell::kGru:
      gate_rows(0, p, gates);
      gate_rows(1, p + H, gates + H);
      gate_rows(2, rnn.candidate_bias, gates + 2 * H);
      gru_cell_loop(gates + b, gates + H + b, p + 2 * H + b, gates + 2 * H + b, prev + b, next + b, units);
      return;
  }
}

}  // namespace

int gates_of(RecurrenceCell cell) { return cell == RecurrenceCell::kLstm ? 4 : cell == RecurrenceCell::kGru ? 3 : 1; }

const float* run_rnn_recurrence(const RnnRecurrence& rnn, float* h, float* spare, bool team) {
  const std::int64_t H = rnn.hidden, N = rnn.batch, G = gates_of(rnn.cell);
  const std::size_t row_bytes = static_cast<std::size_t>(H) * sizeof(float);
  float* prev = h;
  float* next = spare;
#pragma omp parallel if (team)
  {
    const std::int64_t threads = omp_get_num_threads(), me = omp_get_thread_num();
    // Whole blocks of units per thread (recurrent_rows' blocking).
    const std::int64_t chunk = ((H + threads - 1) / threads + kRecurrentRowBlock - 1) / kRecurrentRowBlock * kRecurrentRowBlock;
    const std::int64_t b = std::min(H, me * chunk), e = std::min(H, b + chunk);
    for (std::int64_t s = 0; s < rnn.steps; ++s) {
      for (std::int64_t n = 0; n < N && b < e; ++n)
        step_units(rnn, rnn.products[s * N + n], prev + n * H, next + n * H, rnn.gates ? rnn.gates + n * G * H : nullptr,
                   rnn.cell_state ? rnn.cell_state + n * H : nullptr, b, e);
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

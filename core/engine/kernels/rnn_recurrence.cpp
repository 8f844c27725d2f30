#include "core/engine/kernels/rnn_recurrence.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

#include "core/engine/kernels/fast_math.h"

namespace aifgen::engine {
namespace {

// Hidden units [b, e) of every batch row for step s: prev is h_{t-1} ([batch, hidden]), next h_t.
void step_units(const RnnRecurrence& rnn, std::int64_t s, const float* prev, float* next, std::int64_t b, std::int64_t e) {
  const std::int64_t H = rnn.hidden, N = rnn.batch, G = gates_of(rnn.cell), units = e - b;
  const float* const* p = rnn.products + s * N;
  std::array<const float*, kMaxRecurrenceBatch> add{};
  std::array<float*, kMaxRecurrenceBatch> out{};
  // Gate g's rows for every batch row: add[n] from `add_of(n)`, the sums into the gates' block.
  auto gate_rows = [&](int g, auto add_of) {
    for (std::int64_t n = 0; n < N; ++n) {
      add[static_cast<std::size_t>(n)] = add_of(n) + b;
      out[static_cast<std::size_t>(n)] = rnn.gates + n * G * H + g * H + b;
    }
    recurrent_rows(rnn.r + (g * H + b) * H, H, units, prev, N, add.data(), out.data(), RecurrentActivation::kNone);
  };
  switch (rnn.cell) {
    case RecurrenceCell::kRnn:
      for (std::int64_t n = 0; n < N; ++n) {
        add[static_cast<std::size_t>(n)] = p[n] + b;
        out[static_cast<std::size_t>(n)] = next + n * H + b;
      }
      recurrent_rows(rnn.r + b * H, H, units, prev, N, add.data(), out.data(), rnn.activation);
      return;
    case RecurrenceCell::kLstm:
      for (int g = 0; g < 4; ++g) gate_rows(g, [&](std::int64_t n) { return p[n] + g * H; });
      for (std::int64_t n = 0; n < N; ++n) {
        float* gates = rnn.gates + n * G * H;
        lstm_cell_loop(gates + b, gates + H + b, gates + 2 * H + b, gates + 3 * H + b, rnn.peepholes + b, rnn.peepholes + H + b,
                       rnn.peepholes + 2 * H + b, rnn.cell_state + n * H + b, next + n * H + b, units);
      }
      return;
    case RecurrenceCell::kGru:
      gate_rows(0, [&](std::int64_t n) { return p[n]; });
      gate_rows(1, [&](std::int64_t n) { return p[n] + H; });
      gate_rows(2, [&](std::int64_t) { return rnn.candidate_bias; });
      for (std::int64_t n = 0; n < N; ++n) {
        const float* gates = rnn.gates + n * G * H;
        gru_cell_loop(gates + b, gates + H + b, p[n] + 2 * H + b, gates + 2 * H + b, prev + n * H + b, next + n * H + b, units);
      }
      return;
  }
}

}  // namespace

int gates_of(RecurrenceCell cell) { return cell == RecurrenceCell::kLstm ? 4 : cell == RecurrenceCell::kGru ? 3 : 1; }

const float* run_rnn_recurrence(const RnnRecurrence& rnn, float* h, float* spare, bool team) {
  if (rnn.batch < 1 || rnn.batch > kMaxRecurrenceBatch) throw std::invalid_argument("run_rnn_recurrence: batch must be 1 to 4");
  const std::int64_t H = rnn.hidden, N = rnn.batch;
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
      if (b < e) step_units(rnn, s, prev, next, b, e);
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

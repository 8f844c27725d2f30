// The time loop of a recurrent layer (one direction, a small batch) whose input products
// p_t = X_t W^T + biases were computed for every step beforehand (one matrix product):
//   RNN:  h_t = act(p_t + R h_{t-1});
//   LSTM: gates = p_t + R h_{t-1} (i, o, f, c), then the cell update (fast_math.h's lstm_cell_loop);
//   GRU (linear before reset): z, r = p_t + R h_{t-1}, the candidate's R_h h_{t-1} + R's candidate
//         bias kept apart for the reset gate to scale (gru_cell_loop).
// Each thread of the OpenMP team takes a share of the hidden units and computes every gate's rows
// for them, so a unit's update needs nothing from another thread within a step; the team meets
// at a barrier between steps, where h_t becomes whole.
#pragma once

#include <cstdint>

#include "core/engine/kernels/recurrent_rows.h"

namespace aifgen::engine {

enum class RecurrenceCell { kRnn, kLstm, kGru };

// The largest batch the recurrence takes: each step multiplies R with every batch row's state in
// one pass over R (recurrent_rows), which pays while the rows' sums fit in registers.
constexpr std::int64_t kMaxRecurrenceBatch = 4;

struct RnnRecurrence {
  RecurrenceCell cell = RecurrenceCell::kRnn;
  const float* r = nullptr;  // R [gates * hidden, hidden] in ONNX's gate order, each row's weights contiguous
  std::int64_t hidden = 0, batch = 0, steps = 0;
  // Row k = s * batch + n, in the order the steps run (a reverse direction's last step first):
  // p_t for batch row n (gates * hidden values: W's and R's biases added, but for a GRU
  // candidate's, which holds W's bias only), and where h_t goes (Y's row).
  const float* const* products = nullptr;
  float* const* outputs = nullptr;
  RecurrentActivation activation = RecurrentActivation::kTanh;  // RNN only
  const float* peepholes = nullptr;       // LSTM: [3, hidden] (i, o, f), zeros without them
  const float* candidate_bias = nullptr;  // GRU: R's candidate bias [hidden], zeros without one
  float* cell_state = nullptr;            // LSTM: [batch, hidden], the initial c in, the last out
  float* gates = nullptr;                 // LSTM and GRU: [batch, gates * hidden] to work in
};

int gates_of(RecurrenceCell cell);

// Runs the steps from `h` ([batch, hidden]: the initial state, overwritten), with `spare` of the
// same size to work in, on the current OpenMP team when `team`. Returns the buffer (h or spare)
// that holds the last state.
const float* run_rnn_recurrence(const RnnRecurrence& rnn, float* h, float* spare, bool team);

}  // namespace aifgen::engine

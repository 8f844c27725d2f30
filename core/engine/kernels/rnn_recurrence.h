// The time loop of a vanilla RNN (one direction, a small batch): h_t = act(p_t + R h_{t-1}),
// where p_t = X_t W^T + b was computed for every step beforehand (one matrix product). Each
// step's rows of R are split over the OpenMP team, which meets at a barrier between steps.
#pragma once

#include <cstdint>

#include "core/engine/kernels/recurrent_rows.h"

namespace aifgen::engine {

struct RnnRecurrence {
  const float* r = nullptr;  // R [hidden, hidden], each output's weights contiguous
  std::int64_t hidden = 0, batch = 0, steps = 0;
  // Row k = s * batch + n, in the order the steps run (a reverse direction's last step first):
  // p_t for batch row n, and where h_t goes (Y's row).
  const float* const* products = nullptr;
  float* const* outputs = nullptr;
  RecurrentActivation activation = RecurrentActivation::kTanh;
};

// Runs the steps from `h` ([batch, hidden]: the initial state, overwritten), with `spare` of the
// same size to work in, on the current OpenMP team when `team`. Returns the buffer (h or spare)
// that holds the last state.
const float* run_rnn_recurrence(const RnnRecurrence& rnn, float* h, float* spare, bool team);

}  // namespace aifgen::engine

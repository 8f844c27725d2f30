// One step of a recurrence over a block of R's rows, for each row n of a small batch:
//   y[n][r] = act(add[n][r] + sum_i w[r * k + i] * x[n * k + i])   for r in [0, rows),
// where add[n] holds X_t W^T + b for that step (computed for all steps at once beforehand) and
// x's row n is h_{t-1} of batch row n.
//
// Why by hand: at a small batch the step is a matrix-vector product that streams all of R from
// cache, and its speed is how fast R's bytes arrive. Written as a portable loop, GCC's generic
// x86-64-v4 clone used 256-bit vectors and reached 52 GB/s on a Zen 5 core (a 2048x2048 R); eight
// rows with one 512-bit sum each (eight FMA chains in flight) 65-69 GB/s on the same rows, and
// 85 GB/s on an LSTM's 2048x512 R (four rows with two sums each: 59 and 77-79 GB/s; the AVX2
// version, eight rows of 8-lane sums, 55 and 75-80 GB/s on the same core). The batch rows share
// each pass over R: a block of rows is multiplied with every batch row's x before the next block
// is read, so a batch of 4 streams R once per step, not four times.
#pragma once

#include <cstdint>

namespace aifgen::engine {

// Rows are taken up to this many at a time (the rest one by one): a team's shares of the rows
// are best whole blocks.
constexpr std::int64_t kRecurrentRowBlock = 8;

// kNone leaves the sums as they are (an LSTM's or GRU's gates, activated by their cell's update).
enum class RecurrentActivation { kTanh, kRelu, kSigmoid, kNone };

// add and y hold `batch` pointers, one per batch row, each to `rows` values.
void recurrent_rows(const float* w, std::int64_t k, std::int64_t rows, const float* x, std::int64_t batch, const float* const* add,
                    float* const* y, RecurrentActivation act);

// "avx512", "avx2" or "scalar": the version recurrent_rows runs (oneDNN's ISA cap applies).
const char* recurrent_rows_isa();

}  // namespace aifgen::engine

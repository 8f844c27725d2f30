// Which kernel runs an RNN, LSTM or GRU layer that both can run (constant weights, a batch of at
// most 4, a GRU linear before reset): oneDNN's recurrent primitive or the engine's own recurrence
// (kernels/rnn_recurrence.h). SessionOptions, `aifgen run|bench --recurrence`; see
// kernels/recurrent.cpp for why and how it is chosen.
#pragma once

#include <optional>
#include <string>

namespace aifgen::engine {

enum class RecurrenceKernel {
  kMeasured,  // time both per layer shape and thread count at planning, keep the faster
  kEngine,    // the engine's recurrence wherever it can run the layer
  kOneDnn,    // oneDNN's primitive always
};

// "measured", "engine" or "onednn"; nullopt for anything else.
inline std::optional<RecurrenceKernel> parse_recurrence_kernel(const std::string& name) {
  if (name == "measured") return RecurrenceKernel::kMeasured;
  if (name == "engine") return RecurrenceKernel::kEngine;
  if (name == "onednn") return RecurrenceKernel::kOneDnn;
  return std::nullopt;
}

}  // namespace aifgen::engine

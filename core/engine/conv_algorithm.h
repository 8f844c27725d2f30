// Which oneDNN algorithm runs the engine's 3x3 stride-1 float convolutions (SessionOptions,
// `aifgen bench --conv-algorithm`); see kernels/winograd_choice.h for why and how it is chosen.
#pragma once

#include <optional>
#include <string>

namespace aifgen::engine {

enum class ConvAlgorithm {
  kMeasured,  // time direct and Winograd per shape on this machine, keep Winograd when >= 10% faster
  kDirect,    // never Winograd: results as close as oneDNN gets to the textbook sum
  kWinograd,  // Winograd wherever oneDNN has a kernel for the shape (tests, experiments)
};

// "measured", "direct" or "winograd"; nullopt for anything else.
inline std::optional<ConvAlgorithm> parse_conv_algorithm(const std::string& name) {
  if (name == "measured") return ConvAlgorithm::kMeasured;
  if (name == "direct") return ConvAlgorithm::kDirect;
  if (name == "winograd") return ConvAlgorithm::kWinograd;
  return std::nullopt;
}

inline const char* conv_algorithm_name(ConvAlgorithm a) {
  switch (a) {
    case ConvAlgorithm::kMeasured: return "measured";
    case ConvAlgorithm::kDirect: return "direct";
    case ConvAlgorithm::kWinograd: return "winograd";
  }
  return "?";
}

}  // namespace aifgen::engine

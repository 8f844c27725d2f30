// IEEE 754 binary16 conversions (round to nearest even, like every fp16 hardware path), used by
// the engine's Cast and by the fp16 conversion pass. GCC 12 lowers _Float16 to F16C/AVX-512
// FP16 instructions where the target has them and to a soft routine otherwise.
#pragma once

#include <cstdint>
#include <cstring>

namespace aifgen {

inline std::uint16_t float_to_half_bits(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  std::uint16_t bits;
  std::memcpy(&bits, &h, sizeof bits);
  return bits;
}

inline float half_bits_to_float(std::uint16_t bits) {
  _Float16 h;
  std::memcpy(&h, &bits, sizeof h);
  return static_cast<float>(h);
}

// The float nearest to `f` that binary16 can hold (what storing `f` as fp16 keeps).
inline float round_to_half(float f) { return half_bits_to_float(float_to_half_bits(f)); }

}  // namespace aifgen

// IEEE 754 binary16 conversions with round-to-nearest-even (what fp16 hardware does), used by
// the engine's Cast and the fp16 conversion pass. Written with integer bit operations rather
// than _Float16, which clang 14 (the fuzzing build) does not offer on x86 without AVX-512 FP16.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace aifgen {

inline std::uint16_t float_to_half_bits(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const std::uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<std::uint16_t>(sign | (abs > 0x7f800000u ? 0x7e00u : 0x7c00u));  // NaN, inf
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (abs < 0x38800000u) {
    // Below 2^-14: a subnormal half, i.e. a multiple of 2^-24; scaling by 2^24 is exact and
    // nearbyint rounds half to even in the default rounding mode.
    float v;
    std::memcpy(&v, &abs, sizeof v);
    return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(std::nearbyint(v * 16777216.0f)));
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits to even; a
  // carry out of the mantissa correctly bumps the exponent.
  const std::uint32_t m = abs - 0x38000000u;
  std::uint32_t h = m >> 13;
  const std::uint32_t rest = m & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return static_cast<std::uint16_t>(sign | h);
}

inline float half_bits_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exp = (bits >> 10) & 0x1fu, man = bits & 0x3ffu;
  std::uint32_t x;
  if (exp == 0) {
    const float v = static_cast<float>(man) * 5.9604644775390625e-08f;  // man * 2^-24
    return sign ? -v : v;
  }
  x = exp == 31 ? (sign | 0x7f800000u | (man << 13)) : (sign | ((exp + 112u) << 23) | (man << 13));
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

// The float nearest to `f` that binary16 can hold (what storing `f` as fp16 keeps).
inline float round_to_half(float f) { return half_bits_to_float(float_to_half_bits(f)); }

}  // namespace aifgen

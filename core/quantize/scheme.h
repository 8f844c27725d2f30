// INT8 schemes: how a target wants real ranges mapped to integers.
//   u8s8            x86/ARM CPUs: activations uint8 asymmetric per tensor, weights int8 symmetric
//                   per output channel.
//   s8s8-symmetric  TensorRT: activations int8 symmetric (zero point 0) per tensor, weights int8
//                   symmetric per output channel.
//   pow2            Vitis AI DPU: int8 symmetric, per tensor, every scale a power of two.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/quantize/range_observer.h"

namespace aifgen::quantize {

enum class Scheme { kU8S8, kS8S8Symmetric, kPow2 };

Scheme parse_scheme(const std::string& s);  // throws Error(kInvalidArgument, "bad-pass-option")
const char* scheme_name(Scheme s);

struct QuantParams {
  float scale = 1;
  std::int32_t zero_point = 0;
  bool is_unsigned = false;  // uint8 (else int8)
};

// Parameters for an activation whose calibrated range is `r`.
QuantParams activation_params(Scheme s, Range r);
// Symmetric int8 weight scale for a channel (or tensor) whose largest magnitude is `abs_max`,
// with `levels` integer steps a side: 127, or 63 for 7-bit weights (x86 without VNNI sums pairs
// of u8 x s8 products in 16 bits, which full-range int8 weights can overflow; see
// oneDNN's "Nuances of int8 computations").
float weight_scale(Scheme s, float abs_max, int levels = 127);
// Whether weights get one scale per output channel.
bool per_channel_weights(Scheme s);

}  // namespace aifgen::quantize

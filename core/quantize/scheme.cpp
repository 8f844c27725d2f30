#include "core/quantize/scheme.h"

#include <algorithm>
#include <cmath>

#include "core/base/error.h"

namespace aifgen::quantize {
namespace {

// The smallest power of two >= x, so the calibrated range still fits.
float pow2_at_least(float x) { return std::ldexp(1.0f, static_cast<int>(std::ceil(std::log2(x)))); }

// Scales must be positive and normal; an all-zero tensor gets 1 (every value quantizes to 0).
float usable(float scale) { return scale > 1e-30f && std::isfinite(scale) ? scale : 1.0f; }

}  // namespace

Scheme parse_scheme(const std::string& s) {
  if (s == "u8s8") return Scheme::kU8S8;
  if (s == "s8s8-symmetric") return Scheme::kS8S8Symmetric;
  if (s == "pow2") return Scheme::kPow2;
  throw Error(ErrorCode::kInvalidArgument, "bad-pass-option", "unknown int8 scheme '" + s + "'", {"u8s8", "s8s8-symmetric", "pow2"});
}

const char* scheme_name(Scheme s) {
  switch (s) {
    case Scheme::kU8S8: return "u8s8";
    case Scheme::kS8S8Symmetric: return "s8s8-symmetric";
    case Scheme::kPow2: return "pow2";
  }
  return "?";
}

QuantParams activation_params(Scheme s, Range r) {
  QuantParams q;
  if (s == Scheme::kU8S8) {
    // The range must contain 0 so that 0.0 (padding, ReLU) is exact.
    const float lo = std::min(r.lo, 0.f), hi = std::max(r.hi, 0.f);
    q.is_unsigned = true;
    q.scale = usable((hi - lo) / 255.f);
    q.zero_point = static_cast<std::int32_t>(std::clamp(std::nearbyint(-lo / q.scale), 0.f, 255.f));
    return q;
  }
  const float abs_max = std::max(std::abs(r.lo), std::abs(r.hi));
  q.scale = usable(abs_max / 127.f);
  if (s == Scheme::kPow2) q.scale = pow2_at_least(q.scale);
  return q;
}

float weight_scale(Scheme s, float abs_max, int levels) {
  float scale = usable(abs_max / static_cast<float>(levels));
  return s == Scheme::kPow2 ? pow2_at_least(scale) : scale;
}

bool per_channel_weights(Scheme s) { return s != Scheme::kPow2; }

}  // namespace aifgen::quantize

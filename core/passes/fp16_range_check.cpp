#include "core/passes/fp16_range_check.h"

#include <cmath>
#include <sstream>

#include "core/passes/exposed_session.h"

namespace aifgen {
namespace {

constexpr float kHalfMax = 65504.f;
// Below or at 2^-25 (half the smallest fp16 subnormal) a value rounds to zero (ties to even).
const float kHalfFlush = std::ldexp(1.0f, -25);
// Flushing tiny elements of a tensor whose largest element is a normal fp16 number costs less
// than rounding that element already does (2^-25 against its 2^-11 relative step); only a
// tensor that lives entirely below the smallest normal (2^-14) loses its content.
const float kHalfMinNormal = std::ldexp(1.0f, -14);

std::string short_float(double v) {
  std::ostringstream s;
  s.precision(3);
  s << v;
  return s.str();
}

}  // namespace

std::map<std::string, ObservedRange> observe_ranges(const onnx::ModelProto& model, const std::vector<std::string>& values,
                                                    const std::vector<Sample>& samples, int threads) {
  std::map<std::string, ObservedRange> out;
  if (samples.empty() || values.empty()) return out;
  ExposedSession probe(model, values, samples[0], threads);
  // Every entry made before the runs: observe_each gives each value to one thread at a time.
  std::vector<ObservedRange*> range;
  for (const auto& v : values) range.push_back(probe.position(v) >= 0 ? &out[v] : nullptr);
  probe.observe_each(samples, values, [&](std::size_t k, const engine::Tensor& t) {
    if (t.dtype != engine::DType::kF32) return;
    auto& r = *range[k];
    const float* x = t.as<float>();
    for (std::int64_t i = 0; i < t.numel(); ++i) {
      const float a = std::abs(x[i]);
      if (!std::isfinite(a) || a == 0) continue;
      ++r.nonzero;
      r.flushed += a <= kHalfFlush;
      r.max_abs = std::max(r.max_abs, a);
    }
  });
  return out;
}

std::string fp16_range_problem(const ObservedRange& r, bool feeds_zero_sensitive) {
  if (r.max_abs > kHalfMax)
    return "overflow: |x| reaches " + short_float(r.max_abs) + " on the samples, beyond fp16's 65504 (it would become inf)";
  if (r.flushed > 0 && (feeds_zero_sensitive || (r.flushed * 100 > r.nonzero && r.max_abs < kHalfMinNormal)))
    return "underflow: " + std::to_string(r.flushed) + " of " + std::to_string(r.nonzero) +
           " nonzero values round to 0 in fp16" + (feeds_zero_sensitive ? ", and the value feeds a log or a divisor" : "");
  return "";
}

}  // namespace aifgen

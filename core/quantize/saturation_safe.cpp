#include "core/quantize/saturation_safe.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace aifgen::quantize {
namespace {

constexpr int kPairLimit = 128;  // 255 * 128 = 32640 <= 32767; 255 * 129 overflows int16

// Shrink candidates: k = 32/32, 31/32, ..., 16/32 (halving).
constexpr int kShrinkSteps = 17;
float shrink_of(int step) { return static_cast<float>(32 - step) / 32.f; }

bool unsafe(int a, int b) {
  return std::max(a, 0) + std::max(b, 0) > kPairLimit || std::min(a, 0) + std::min(b, 0) < -kPairLimit;
}

// Moves a same-signed pair toward zero until its sum is within the limit: the excess split in
// half, the larger weight taking the odd unit. Never changes a sign (the excess is below the
// smaller magnitude since both are at most 127), so pairs made safe before stay safe.
void trim(int& a, int& b) {
  for (int sign : {1, -1}) {
    const int pa = std::max(sign * a, 0), pb = std::max(sign * b, 0);
    const int excess = pa + pb - kPairLimit;
    if (excess <= 0) continue;
    const int from_a = pa >= pb ? (excess + 1) / 2 : excess / 2;
    a -= sign * from_a;
    b -= sign * (excess - from_a);
  }
}

struct ChannelError {
  double squared = 0;  // sum of squared differences
  double sum = 0;      // their sum: a shift of every output when the inputs share a mean
  // What the choice minimizes: the expected output error for inputs of mean about their spread
  // (post-ReLU/HardSwish activations), variance * squared + mean^2 * sum^2. Trims all move
  // toward zero, so without the second term many small trims could beat a shrink that is
  // unbiased and lose on the outputs (measured on a two-convolution model: 0.5 dB worse than
  // halving with squared error alone).
  double cost() const { return squared + sum * sum; }
};

// A weight tensor's values gathered channel by channel in element order, as floats, once: the
// shrink search below visits every channel up to kShrinkSteps times.
std::vector<float> channel_major(const std::vector<std::int8_t>& w, const PairLayout& layout) {
  const std::size_t count = layout.elements.size();
  std::vector<float> out(static_cast<std::size_t>(layout.channels) * count);
  for (std::int64_t c = 0; c < layout.channels; ++c)
    for (std::size_t e = 0; e < count; ++e)
      out[static_cast<std::size_t>(c) * count + e] = w[static_cast<std::size_t>(c * layout.channel_stride + layout.elements[e])];
  return out;
}

// v / k for every value v in [-127, 127] under shrink step `step`: the same quotients as
// dividing per element, computed once per step instead of once per channel and step.
using DequantizedTable = std::array<double, 255>;
std::array<DequantizedTable, kShrinkSteps> dequantized_tables() {
  std::array<DequantizedTable, kShrinkSteps> out;
  for (int step = 0; step < kShrinkSteps; ++step)
    for (int q = -127; q <= 127; ++q)
      out[static_cast<std::size_t>(step)][static_cast<std::size_t>(q + 127)] = q / static_cast<double>(shrink_of(step));
  return out;
}

// Channel c (its values `wc`, from channel_major) requantized with shrink step `step` and
// trimmed, written into out. The error sums run in element order, as they always have, so a
// choice between two shrinks never depends on how they are computed.
ChannelError fit_channel(const float* wc, const PairLayout& layout, std::int64_t c, int step, const DequantizedTable& dequantized,
                         std::vector<int>& v, std::vector<std::int8_t>* out) {
  const std::size_t count = layout.elements.size();
  const float k = shrink_of(step);
  v.resize(count);
  for (std::size_t e = 0; e < count; ++e) v[e] = shrunk_value(wc[e], k);
  for (const auto& seq : layout.sequences)
    for (std::size_t j = 0; j + 1 < seq.size(); j += 2) {
      int& a = v[static_cast<std::size_t>(seq[j])];
      int& b = v[static_cast<std::size_t>(seq[j + 1])];
      if (unsafe(a, b)) trim(a, b);
    }
  ChannelError err;
  for (std::size_t e = 0; e < count; ++e) {
    const double d = dequantized[static_cast<std::size_t>(v[e] + 127)] - wc[e];
    err.squared += d * d;
    err.sum += d;
  }
  if (out) {
    const std::int64_t base = c * layout.channel_stride;
    for (std::size_t e = 0; e < count; ++e) (*out)[static_cast<std::size_t>(base + layout.elements[e])] = static_cast<std::int8_t>(v[e]);
  }
  return err;
}

}  // namespace

int shrunk_value(float q, float k) {
  // floor(y) in integers: the build targets baseline x86-64, where std::floor is a call per value
  // (SSE4.1's roundss is not assumed), and the shrink search makes up to 17 per weight. Exact for
  // |y| < 2^31; here |y| <= 128.
  const float y = q * k + 0.5f;
  int r = static_cast<int>(y);  // toward zero
  r -= static_cast<float>(r) > y;
  return std::clamp(r, -127, 127);
}

PairLayout conv_pair_layout(const std::vector<std::int64_t>& dims) {
  PairLayout l;
  if (dims.size() < 3) return l;
  const std::int64_t oc = dims[0], ic = dims[1];
  std::int64_t taps = 1;
  for (std::size_t d = 2; d < dims.size(); ++d) taps *= dims[d];
  l.channels = oc;
  l.channel_stride = ic * taps;
  for (std::int64_t e = 0; e < ic * taps; ++e) l.elements.push_back(e);  // element e is offset e: [ic][tap]
  const auto at = [&](std::int64_t i, std::int64_t t) { return static_cast<std::int32_t>(i * taps + t); };
  for (std::int64_t t = 0; t < taps; ++t) {  // input channels at one tap (the direct JIT kernels)
    std::vector<std::int32_t> s;
    for (std::int64_t i = 0; i < ic; ++i) s.push_back(at(i, t));
    l.sequences.push_back(std::move(s));
  }
  if (taps > 1) {  // im2col orders: (tap, channel) and the weight's own (channel, tap)
    std::vector<std::int32_t> tap_major, native;
    for (std::int64_t t = 0; t < taps; ++t)
      for (std::int64_t i = 0; i < ic; ++i) tap_major.push_back(at(i, t));
    for (std::int64_t e = 0; e < ic * taps; ++e) native.push_back(static_cast<std::int32_t>(e));
    l.sequences.push_back(std::move(tap_major));
    l.sequences.push_back(std::move(native));
  }
  return l;
}

PairLayout matmul_pair_layout(const std::vector<std::int64_t>& dims, bool k_last) {
  PairLayout l;
  if (dims.size() != 2) return l;
  const std::int64_t k = k_last ? dims[1] : dims[0], n = k_last ? dims[0] : dims[1];
  l.channels = n;
  l.channel_stride = k_last ? k : 1;  // [N, K]: K consecutive values; [K, N]: column n, every N-th
  std::vector<std::int32_t> s;
  for (std::int64_t i = 0; i < k; ++i) {
    l.elements.push_back(k_last ? i : i * n);
    s.push_back(static_cast<std::int32_t>(i));
  }
  l.sequences.push_back(std::move(s));
  return l;
}

std::optional<WeightPairing> weight_pairing(std::string_view op, std::int64_t group, bool trans_b,
                                            const std::vector<std::int64_t>& dims) {
  WeightPairing p;
  if (op == "Conv" && dims.size() >= 3) {
    if (group > 1 && dims[0] == group && dims[1] == 1) {
      p.kind = WeightPairing::Kind::kDepthwise;
      return p;
    }
    p.kind = WeightPairing::Kind::kConv;
    p.layout = conv_pair_layout(dims);
    return p;
  }
  if ((op == "MatMul" || op == "Gemm") && dims.size() == 2) {
    const bool k_last = op == "Gemm" && trans_b;
    p.kind = k_last ? WeightPairing::Kind::kNK : WeightPairing::Kind::kKN;
    p.layout = matmul_pair_layout(dims, k_last);
    p.channel_axis = k_last ? 0 : 1;
    return p;
  }
  return std::nullopt;
}

bool saturation_safe_for(const WeightPairing& pairing, const std::vector<std::int8_t>& weights) {
  return pairing.kind == WeightPairing::Kind::kDepthwise || !can_saturate(weights, pairing.layout);
}

bool can_saturate(const std::vector<std::int8_t>& w, const PairLayout& layout) {
  for (std::int64_t c = 0; c < layout.channels; ++c)
    for (const auto& seq : layout.sequences)
      for (std::size_t j = 0; j + 1 < seq.size(); j += 2)
        if (unsafe(w[static_cast<std::size_t>(c * layout.channel_stride + layout.elements[static_cast<std::size_t>(seq[j])])],
                   w[static_cast<std::size_t>(c * layout.channel_stride + layout.elements[static_cast<std::size_t>(seq[j + 1])])]))
          return true;
  return false;
}

SafeWeights saturation_safe(const std::vector<std::int8_t>& w, const PairLayout& layout, bool per_channel_scale) {
  SafeWeights out;
  out.values = w;
  std::vector<int> scratch;
  std::vector<int> best(static_cast<std::size_t>(layout.channels), 0);
  const std::vector<float> values = channel_major(w, layout);
  const auto tables = dequantized_tables();
  const auto fit = [&](std::int64_t c, int step, std::vector<std::int8_t>* into) {
    return fit_channel(values.data() + static_cast<std::size_t>(c) * layout.elements.size(), layout, c, step,
                       tables[static_cast<std::size_t>(step)], scratch, into);
  };
  if (per_channel_scale) {
    for (std::int64_t c = 0; c < layout.channels; ++c) {
      double least = std::numeric_limits<double>::infinity();
      for (int step = 0; step < kShrinkSteps; ++step) {
        const double e = fit(c, step, nullptr).cost();
        if (e < least) {  // ties keep the larger k: fewer values change
          least = e;
          best[static_cast<std::size_t>(c)] = step;
        }
        if (e == 0) break;
      }
    }
  } else {
    double least = std::numeric_limits<double>::infinity();
    for (int step = 0; step < kShrinkSteps; ++step) {
      double e = 0;
      for (std::int64_t c = 0; c < layout.channels; ++c) e += fit(c, step, nullptr).cost();
      if (e < least) {
        least = e;
        std::fill(best.begin(), best.end(), step);
      }
      if (e == 0) break;
    }
  }
  for (std::int64_t c = 0; c < layout.channels; ++c) {
    const int step = best[static_cast<std::size_t>(c)];
    const float k = shrink_of(step);
    out.squared_error += fit(c, step, &out.values).squared;
    if (per_channel_scale || c == 0) out.shrink.push_back(k);
  }
  for (std::size_t i = 0; i < w.size(); ++i) out.changed_values += out.values[i] != w[i];
  return out;
}

}  // namespace aifgen::quantize

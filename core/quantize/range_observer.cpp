// Calibration methods. Entropy follows the KL-divergence threshold search that TensorRT's
// entropy calibrator popularized: for each candidate threshold, the clipped reference
// distribution is compared with its quantized-then-expanded copy, and the threshold with the
// smallest divergence wins.
#include "core/quantize/range_observer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/base/error.h"

namespace aifgen::quantize {

CalibrationMethod parse_method(const std::string& s) {
  if (s == "minmax") return CalibrationMethod::kMinMax;
  if (s == "percentile") return CalibrationMethod::kPercentile;
  if (s == "entropy") return CalibrationMethod::kEntropy;
  if (s == "mse") return CalibrationMethod::kMse;
  throw Error(ErrorCode::kInvalidArgument, "bad-pass-option", "unknown calibration method '" + s + "'",
              {"minmax", "percentile", "entropy", "mse"});
}

const char* method_name(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::kMinMax: return "minmax";
    case CalibrationMethod::kPercentile: return "percentile";
    case CalibrationMethod::kEntropy: return "entropy";
    case CalibrationMethod::kMse: return "mse";
  }
  return "?";
}

void RangeObserver::observe_minmax(const float* x, std::int64_t n) {
  float lo = seen_ ? min_ : std::numeric_limits<float>::infinity();
  float hi = seen_ ? max_ : -std::numeric_limits<float>::infinity();
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;  // an inf/NaN activation must not stretch the range
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (n > 0 && lo <= hi) {
    min_ = lo;
    max_ = hi;
    seen_ = true;
  }
}

void RangeObserver::observe_channel_sums(const float* x, std::int64_t n, std::int64_t channels, std::int64_t inner) {
  if (channels <= 0 || inner <= 0 || n % (channels * inner) != 0) {
    channels_consistent_ = false;
    return;
  }
  if (channel_sum_.empty() && channel_count_ == 0) channel_sum_.assign(static_cast<std::size_t>(channels), 0.0);
  if (static_cast<std::int64_t>(channel_sum_.size()) != channels) {
    channels_consistent_ = false;
    return;
  }
  // Row by row of `inner` values, each row one channel's: no division per value.
  for (std::int64_t row = 0, rows = n / inner; row < rows; ++row) {
    double sum = 0;
    for (const float* v = x + row * inner; v != x + (row + 1) * inner; ++v)
      if (std::isfinite(*v)) sum += *v;
    channel_sum_[static_cast<std::size_t>(row % channels)] += sum;
  }
  channel_count_ += n / channels;
}

std::vector<float> RangeObserver::channel_means() const {
  if (!channels_consistent_ || channel_count_ == 0) return {};
  std::vector<float> out(channel_sum_.size());
  for (std::size_t c = 0; c < out.size(); ++c) out[c] = static_cast<float>(channel_sum_[c] / static_cast<double>(channel_count_));
  return out;
}

float RangeObserver::abs_max() const { return std::max(std::abs(min_), std::abs(max_)); }

void RangeObserver::observe_histogram(const float* x, std::int64_t n) {
  if (hist_.empty()) hist_.assign(kBins, 0.0);
  const float am = abs_max();
  if (am <= 0) {
    hist_[0] += static_cast<double>(n);
    return;
  }
  const float per_bin = kBins / am;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    int b = static_cast<int>(std::abs(x[i]) * per_bin);
    hist_[static_cast<std::size_t>(std::min(b, kBins - 1))] += 1;
  }
}

double RangeObserver::percentile_threshold(double percentile) const {
  double total = 0;
  for (double h : hist_) total += h;
  if (total <= 0) return abs_max();
  const double want = total * percentile / 100.0;
  double cum = 0;
  for (int i = 0; i < kBins; ++i) {
    cum += hist_[static_cast<std::size_t>(i)];
    if (cum >= want) return (i + 1) * static_cast<double>(abs_max()) / kBins;
  }
  return abs_max();
}

double RangeObserver::entropy_threshold(int levels) const {
  const int target = levels + 1;  // quantized bins: 0..levels
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = kBins;
  std::vector<double> p, q;
  for (int i = target; i <= kBins; ++i) {
    // Reference: the first i bins, everything beyond folded into the last (clipping).
    p.assign(hist_.begin(), hist_.begin() + i);
    double outliers = 0;
    for (int k = i; k < kBins; ++k) outliers += hist_[static_cast<std::size_t>(k)];
    p.back() += outliers;
    // Candidate: the first i bins merged into `target` bins, each spread back evenly over the
    // source bins that were non-empty.
    q.assign(static_cast<std::size_t>(i), 0.0);
    const double width = static_cast<double>(i) / target;
    for (int j = 0; j < target; ++j) {
      const int b = static_cast<int>(std::floor(j * width)), e = j == target - 1 ? i : static_cast<int>(std::floor((j + 1) * width));
      double sum = 0;
      int nonzero = 0;
      for (int k = b; k < e; ++k) {
        sum += hist_[static_cast<std::size_t>(k)];
        nonzero += hist_[static_cast<std::size_t>(k)] > 0;
      }
      for (int k = b; k < e; ++k)
        if (hist_[static_cast<std::size_t>(k)] > 0) q[static_cast<std::size_t>(k)] = sum / nonzero;
    }
    double psum = 0, qsum = 0;
    for (int k = 0; k < i; ++k) {
      psum += p[static_cast<std::size_t>(k)];
      qsum += q[static_cast<std::size_t>(k)];
    }
    if (psum <= 0 || qsum <= 0) continue;
    double kl = 0;
    for (int k = 0; k < i; ++k) {
      const double pk = p[static_cast<std::size_t>(k)] / psum, qk = q[static_cast<std::size_t>(k)] / qsum;
      if (pk <= 0) continue;
      // An empty candidate bin where the reference has mass (only the folded last bin): a
      // large but finite penalty rather than infinity, so some threshold always wins.
      kl += pk * std::log(pk / std::max(qk, 1e-12));
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return (best_i + 0.5) * static_cast<double>(abs_max()) / kBins;
}

double RangeObserver::mse_threshold(int levels) const {
  // Each bin's values sit at its centre. For threshold T (a bin edge), a value inside the range
  // costs the uniform rounding noise step^2 / 12 with step = T / levels; one beyond it costs its
  // squared distance to T. Suffix sums make every candidate O(1).
  const double width = static_cast<double>(abs_max()) / kBins;
  std::vector<double> count_above(kBins + 1, 0.0), sum_above(kBins + 1, 0.0), sq_above(kBins + 1, 0.0);
  for (int k = kBins - 1; k >= 0; --k) {
    const double c = hist_[static_cast<std::size_t>(k)], x = (k + 0.5) * width;
    count_above[static_cast<std::size_t>(k)] = count_above[static_cast<std::size_t>(k) + 1] + c;
    sum_above[static_cast<std::size_t>(k)] = sum_above[static_cast<std::size_t>(k) + 1] + c * x;
    sq_above[static_cast<std::size_t>(k)] = sq_above[static_cast<std::size_t>(k) + 1] + c * x * x;
  }
  double best = std::numeric_limits<double>::infinity();
  int best_i = kBins;
  for (int i = std::min(kBins, 16); i <= kBins; ++i) {
    const double t = i * width, step = t / std::max(1, levels);
    const auto ui = static_cast<std::size_t>(i);
    const double inside = count_above[0] - count_above[ui];
    // sum over clipped values of (x - t)^2 = sum x^2 - 2 t sum x + t^2 n
    const double clipped = i < kBins ? sq_above[ui] - 2 * t * sum_above[ui] + t * t * count_above[ui] : 0.0;
    const double err = inside * step * step / 12.0 + clipped;
    if (err < best) {
      best = err;
      best_i = i;
    }
  }
  return best_i * width;
}

Range RangeObserver::range(CalibrationMethod method, double percentile, int levels) const {
  if (!seen_) return {0, 0};
  if (method == CalibrationMethod::kMinMax || hist_.empty()) return {min_, max_};
  const double t = method == CalibrationMethod::kPercentile ? percentile_threshold(percentile)
                   : method == CalibrationMethod::kEntropy  ? entropy_threshold(levels)
                                                             : mse_threshold(levels);
  const float tf = static_cast<float>(std::min<double>(t, abs_max()));
  return {std::max(min_, -tf), std::min(max_, tf)};
}

}  // namespace aifgen::quantize

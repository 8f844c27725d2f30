// Activation statistics for post-training quantization: a running min/max per tensor (first
// calibration sweep), then a histogram of |x| over [0, max|x|] (second sweep), from which a
// calibration method picks the range to represent:
//   minmax      the whole observed range
//   percentile  clip |x| at a percentile of its histogram
//   entropy     the threshold whose clipped-and-quantized histogram is closest in KL divergence
//   mse         the threshold with the smallest expected squared error: rounding noise
//               (step^2 / 12 per value inside the range) plus clipping error (outside it)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace aifgen::quantize {

enum class CalibrationMethod { kMinMax, kPercentile, kEntropy, kMse };

// "minmax" | "percentile" | "entropy" | "mse"; throws Error(kInvalidArgument, "bad-pass-option").
CalibrationMethod parse_method(const std::string& s);
const char* method_name(CalibrationMethod m);

struct Range {
  float lo = 0, hi = 0;
};

class RangeObserver {
 public:
  static constexpr int kBins = 2048;

  void observe_minmax(const float* x, std::int64_t n);
  // Only after every observe_minmax call: the histogram's extent is fixed by them.
  void observe_histogram(const float* x, std::int64_t n);

  // Per-channel sums for the mean of each channel (axis of `channels` with `inner` elements
  // after it), gathered with the first sweep; bias correction reads them.
  void observe_channel_sums(const float* x, std::int64_t n, std::int64_t channels, std::int64_t inner);
  // The mean of each channel over everything observed; empty when none was, or the channel
  // count changed between samples.
  std::vector<float> channel_means() const;

  float min() const { return min_; }
  float max() const { return max_; }
  // The range to quantize: minmax keeps [min, max]; percentile and entropy pick a threshold T on
  // |x| and clip to [max(min, -T), min(max, T)]. `levels` is the number of positive integer
  // levels the target type offers (127 for int8; 255 for uint8 of a non-negative tensor), used
  // by the entropy and mse searches.
  Range range(CalibrationMethod method, double percentile, int levels) const;

 private:
  float abs_max() const;
  double percentile_threshold(double percentile) const;
  double entropy_threshold(int levels) const;
  double mse_threshold(int levels) const;

  float min_ = 0, max_ = 0;
  bool seen_ = false;
  std::vector<double> hist_;
  std::vector<double> channel_sum_;
  std::int64_t channel_count_ = 0;  // values summed into each channel
  bool channels_consistent_ = true;
};

}  // namespace aifgen::quantize

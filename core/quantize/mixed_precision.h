// Accuracy-aware INT8: measure what each quantized node costs on held-out samples, then keep the
// fewest, most costly nodes in float until the accuracy budget holds.
//
// The sensitivity of a node is the budget metric with only that node quantized (everything
// else float), so each figure is the node's own cost, not the cost of what it feeds. The mix
// search then floats the k most costly nodes of the fully quantized model for growing k
// (1, 2, 4, ... then a binary search), assuming costs roughly add, which needs about
// 2 log2(nodes) evaluations instead of one per subset.
#pragma once

#include <onnx/onnx_pb.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "core/accuracy_budget.h"
#include "core/calibration/calibration_set.h"
#include "core/engine/session.h"

namespace aifgen::quantize {

// Runs candidate models on held-out samples against a reference's outputs. measure() is
// thread-safe: each call plans its own session.
class HeldOutProbe {
 public:
  HeldOutProbe(const onnx::ModelProto& reference, std::vector<Sample> samples, AccuracyBudget budget);
  BudgetVerdict judge(const onnx::ModelProto& candidate) const;
  std::vector<OutputMetrics> measure(const onnx::ModelProto& candidate) const;
  const AccuracyBudget& budget() const { return budget_; }
  int evaluations() const { return evaluations_.load(); }
  std::size_t samples() const { return samples_.size(); }

 private:
  engine::SessionOptions options_;
  std::vector<Sample> samples_;
  std::vector<std::vector<engine::Tensor>> reference_;
  std::vector<engine::IoInfo> outputs_;  // the reference's
  AccuracyBudget budget_;
  mutable std::atomic<int> evaluations_{0};
};

// The model with exactly the sites whose flag is set quantized.
using BuildFn = std::function<onnx::ModelProto(const std::vector<char>& quantized)>;
using ProgressFn = std::function<void(const std::string&)>;

struct SiteCost {
  int site = -1;
  BudgetVerdict verdict;  // with only this site quantized
};

// Every site's own cost, most costly first. Runs on up to `threads` workers.
std::vector<SiteCost> site_sensitivity(int sites, const BuildFn& build, const HeldOutProbe& probe, int threads,
                                       const ProgressFn& progress);

struct MixResult {
  bool met = false;
  std::vector<int> float_sites;  // most costly first
  BudgetVerdict verdict;         // of the chosen mix (or of the best tried when not met)
  std::vector<std::pair<int, double>> tried;  // (float nodes, budget used) per evaluation
};

// The fewest float sites (at most `max_float`) that meet the budget, given the all-int8 verdict.
MixResult search_mix(const std::vector<SiteCost>& ranked, int sites, int max_float, const BuildFn& build,
                     const HeldOutProbe& probe, const BudgetVerdict& all_int8, const ProgressFn& progress);

}  // namespace aifgen::quantize

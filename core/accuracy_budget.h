// What an INT8 (or any reduced-precision) variant must keep against its fp32 source, judged on
// held-out samples with the validation metrics (core/validation.h):
//   class-score outputs ([N, C], [N, T, C]): the accuracy drop, 1 - top-1 agreement, at most
//     `max_accuracy_drop` (the same drop the recommendation endpoint filters on);
//   every other output: SQNR at least `min_sqnr_db`;
//   and no NaN or infinity where the source has a finite value.
#pragma once

#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/validation.h"

namespace aifgen {

struct AccuracyBudget {
  double max_accuracy_drop = 0.01;  // one point of top-1 agreement
  double min_sqnr_db = 20;          // a cosine of about 0.995
};

// The default drop for the pow2 scheme (Vitis AI DPUs) where a job does not set one: three
// points. Power-of-two scales, one per tensor, cannot come as close to fp32 as per-channel
// float scales, and the DPU runs nothing in between: at 0.01 (and 0.02) no mix of DPU and CPU
// ops of the PP-OCRv4 recognizer met the budget on its 8 held-out lines even with 118 of 158
// ops on the CPU; at 0.03, 56 ops on the CPU read 96 new lines 0.45 points better than fp32.
inline constexpr double kPow2DefaultMaxAccuracyDrop = 0.03;

struct BudgetVerdict {
  bool met = false;
  // How much of the budget the worst output uses: <= 1 when met. Class scores: drop / allowed
  // drop; other outputs: error power / allowed error power (10^((min_sqnr - sqnr) / 10)).
  double used = 0;
  // A smooth tie-breaker where `used` is coarse (top-1 agreement over few rows): the summed
  // relative error power of all outputs, 10^(-sqnr / 10).
  double noise = 0;
  double worst_drop = 0;  // over class-score outputs (0 when there are none)
  double worst_sqnr_db = std::numeric_limits<double>::infinity();
  std::string explanation;  // which output misses or uses most of the budget, for people
};

BudgetVerdict check_budget(const std::vector<OutputMetrics>& outputs, const AccuracyBudget& budget);

// Orders candidates: the less budget used, the better; ties by noise.
bool better_than(const BudgetVerdict& a, const BudgetVerdict& b);

nlohmann::json budget_to_json(const AccuracyBudget& b);

}  // namespace aifgen

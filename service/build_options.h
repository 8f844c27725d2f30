// Per-job build options (the job request's "options" object and `aifgen convert` flags):
// calibration set and method for INT8, and validation thresholds per precision.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/accuracy_budget.h"
#include "core/passes/pass.h"
#include "core/validation.h"
#include "targets/target.h"

namespace aifgen {

struct BuildOptions {
  std::optional<std::string> calibration_id;  // a set uploaded for the model; none: the latest one, if any
  bool synthetic_calibration = false;         // true: ignore uploaded sets, calibrate on synthetic inputs
  std::string calibration_method = "percentile";  // minmax | percentile | entropy | mse | auto
  double percentile = 99.99;
  int calibration_samples = 32;
  std::map<std::string, ValidationThresholds> thresholds;  // precision -> override
  ShapeProfiles shape_profiles;  // input -> min/opt/max for ahead-of-time engines (TensorRT)
  // The INT8 accuracy budget (core/accuracy_budget.h) and mixed precision to meet it. kAuto
  // applies it when a calibration set was uploaded: on synthetic inputs it would judge noise.
  enum class BudgetMode { kAuto, kOff, kOn } budget_mode = BudgetMode::kAuto;
  AccuracyBudget accuracy_budget;
  bool max_accuracy_drop_given = false;  // false: the scheme's default (kPow2DefaultMaxAccuracyDrop for pow2)
  double max_float_fraction = 0.75;
  // INT8 bias correction (core/quantize/bias_correction.h): "auto" (judged on the held-out
  // samples, kept where it helps), "true" or "false".
  std::string bias_correction = "auto";
};

// Strict: unknown keys and out-of-range values throw Error(kInvalidArgument, "invalid-field").
BuildOptions parse_build_options(const nlohmann::json& options);

// "int8=15:8" -> thresholds["int8"] = {15, 8}; throws Error(kInvalidArgument, "invalid-field").
void parse_threshold_flag(const std::string& flag, BuildOptions& into);

// --accuracy-budget: "off", or DROP[:SQNR_DB[:MAX_FLOAT_FRACTION]] (e.g. 0.005:25); throws Error(kInvalidArgument,
// "invalid-field").
void parse_budget_flag(const std::string& flag, BuildOptions& into);

// Whether a build with or without an uploaded calibration set applies the budget.
bool budget_applies(const BuildOptions& o, bool has_calibration_set);

// Writes the options into a target pipeline's quantize_int8 pass: calibration method, samples,
// bias correction and, with `budget`, the accuracy budget (the pow2 scheme's own default drop
// where the job set none, see kPow2DefaultMaxAccuracyDrop).
void set_quantize_options(std::vector<PassSpec>& pipeline, const BuildOptions& o, bool budget);

ValidationThresholds thresholds_for(const BuildOptions& o, const std::string& precision);

}  // namespace aifgen

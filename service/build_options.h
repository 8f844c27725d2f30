// Per-job build options (the job request's "options" object and `aifgen convert` flags):
// calibration set and method for INT8, and validation thresholds per precision.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/validation.h"
#include "targets/target.h"

namespace aifgen {

struct BuildOptions {
  std::optional<std::string> calibration_id;  // a set uploaded for the model; none: the latest one, if any
  bool synthetic_calibration = false;         // true: ignore uploaded sets, calibrate on synthetic inputs
  std::string calibration_method = "percentile";
  double percentile = 99.99;
  int calibration_samples = 32;
  std::map<std::string, ValidationThresholds> thresholds;  // precision -> override
  ShapeProfiles shape_profiles;  // input -> min/opt/max for ahead-of-time engines (TensorRT)
};

// Strict: unknown keys and out-of-range values throw Error(kInvalidArgument, "invalid-field").
BuildOptions parse_build_options(const nlohmann::json& options);

// "int8=15:8" -> thresholds["int8"] = {15, 8}; throws Error(kInvalidArgument, "invalid-field").
void parse_threshold_flag(const std::string& flag, BuildOptions& into);

ValidationThresholds thresholds_for(const BuildOptions& o, const std::string& precision);

}  // namespace aifgen

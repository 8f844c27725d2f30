// Numerical validation of a variant against its source: both run on the CPU engine with the
// same inputs, and every output is compared (max/mean absolute error, cosine similarity, SQNR,
// and top-1/top-5 agreement for outputs shaped like class scores [N, C]).
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace aifgen {

struct OutputMetrics {
  std::string name;
  double max_abs_err = 0, mean_abs_err = 0, cosine = 1, sqnr_db = 0;
  std::optional<double> top1_agreement, top5_agreement;
};

// A variant passes ("validated") when every output's SQNR is at least `validated_sqnr_db`; it is
// kept but flagged ("degraded") down to `degraded_sqnr_db`; below that it "failed".
struct ValidationThresholds {
  double validated_sqnr_db = 60;  // fp32 rewrites differ only by rounding (typically > 100 dB)
  double degraded_sqnr_db = 30;
  int samples = 2;
};

struct ValidationResult {
  std::string status;  // validated | degraded | failed | skipped
  std::string reason;  // why skipped or failed, for people
  std::string inputs = "synthetic";  // what the inputs were
  int samples = 0;
  std::map<std::string, std::vector<std::int64_t>> input_shapes;  // as bound for the runs
  std::vector<OutputMetrics> outputs;
};

// Never throws for models the engine cannot run: the result is "skipped" with the reason.
ValidationResult validate_variant(const onnx::ModelProto& source, const onnx::ModelProto& variant,
                                  const ValidationThresholds& thresholds);

nlohmann::json validation_to_json(const ValidationResult& r);

}  // namespace aifgen

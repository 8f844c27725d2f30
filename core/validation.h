// Numerical validation of a variant against its source: both run on the CPU engine with the
// same inputs, and every output is compared (max/mean absolute error, cosine similarity, SQNR,
// and for outputs shaped like class scores, [N, C] or [N, T, C]: top-1 and top-5 agreement; for
// a detector's outputs, the detections are paired first: see OutputMetrics).
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/session.h"
#include "core/engine/tensor.h"

namespace aifgen {

struct OutputMetrics {
  std::string name;
  double max_abs_err = 0, mean_abs_err = 0, cosine = 1, sqnr_db = 0;  // over the finite values
  // Class scores ([N, C] or sequences [N, T, C]). `agreement` says how top1_agreement was
  // counted: "per-row", the share of `top1_rows` rows whose best class agrees (top-5: the
  // source's best class among the variant's five best); "decoded-sequence", for sequences with a
  // background class (CTC's blank), 1 - edit distance between the decoded sequences / the
  // length of the source's (`top1_rows` decoded symbols; no top-5).
  std::optional<double> top1_agreement, top5_agreement;
  // A detector's outputs (rows whose number depends on values, with a boxes output [N, 4]):
  // "matched-detections", the variant's detections paired with the source's by label and box
  // overlap (detection_matching.h), the error figures over paired rows only, and
  // top1_agreement = paired / the larger of the two counts, summed over samples (`detections`).
  std::int64_t top1_rows = 0;
  std::string agreement;
  struct DetectionCounts {
    std::int64_t source = 0, variant = 0, matched = 0;
  };
  std::optional<DetectionCounts> detections;
  std::int64_t nonfinite_values = 0;  // NaN/Inf in the variant where the source's value differs: fails the variant
};

// Compares a variant's outputs with the source's, sample by sample, output by output: the one
// place these metrics are computed (validation, the quantizer's accuracy budget and its
// sensitivity analysis all use it).
class OutputComparison {
 public:
  // `rows_depend_on_values[k]`: output k's first dim is set by values (Session::outputs() gives
  // it as -1), as a detector's are; such outputs with a float [N, 4] boxes output among them are
  // compared as detections. Empty: none is.
  explicit OutputComparison(std::vector<std::string> output_names, std::vector<bool> rows_depend_on_values = {});
  // For a session's outputs, in its order: an output whose first dim is -1 has rows set by values.
  static OutputComparison of(const std::vector<engine::IoInfo>& outputs);
  ~OutputComparison();
  OutputComparison(OutputComparison&&) noexcept;
  OutputComparison& operator=(OutputComparison&&) noexcept;
  // One sample's outputs, in the order of the names. Throws Error(kUnprocessable,
  // "validation-unsupported") for an output, other than a detector's, that is not float32 or
  // that differs in shape between the two: outputs are compared element by element.
  // Error(kInternal, "validation-mismatch") when the variant's outputs differ in number or type
  // from the source's.
  void add(const std::vector<engine::Tensor>& source, const std::vector<engine::Tensor>& variant);
  std::vector<OutputMetrics> metrics() const;

 private:
  struct State;
  std::vector<std::string> names_;
  std::unique_ptr<State> state_;
};

// The accuracy drop of one output, in [0, 1]: 1 - top-1 agreement for class scores, 1 - cosine
// similarity otherwise. This is what the recommendation endpoint's `max_accuracy_drop` and the
// accuracy budget's `max_accuracy_drop` mean.
double accuracy_drop(const OutputMetrics& m);
// The worst output's drop, from metrics as stored in a report ("outputs" of validation_to_json);
// nullopt when there are none.
std::optional<double> accuracy_drop_of_report(const nlohmann::json& outputs);

// A variant passes ("validated") when every output's SQNR is at least `validated_sqnr_db`; it is
// kept but flagged ("degraded") down to `degraded_sqnr_db`; below that it "failed". A detector
// also needs that share of its detections paired with the source's (top1_agreement of its
// "matched-detections" outputs).
struct ValidationThresholds {
  double validated_sqnr_db = 60;  // fp32 rewrites differ only by rounding (typically > 100 dB)
  double degraded_sqnr_db = 30;
  // One detection in 100 may flip at a near tie (at the NMS or the count cut) from rounding alone.
  double validated_detection_agreement = 0.98;
  double degraded_detection_agreement = 0.90;
  int samples = 2;  // synthetic samples when no inputs are given
};

// Defaults per precision, chosen so a correct variant passes and a broken one fails:
//   fp32  60 / 30 dB, detections 0.98 / 0.90  (graph rewrites: measured 94-200 dB on the shared models)
//   fp16  30 / 20 dB, detections 0.95 / 0.85  (30 dB is a cosine of about 0.9995)
//   int8  15 / 8 dB, detections 0.90 / 0.75   (15 dB is a cosine of about 0.985; scales off by 10x land near 0 dB)
// The detection shares are not yet measured on trained detectors (README, "Validation").
ValidationThresholds default_thresholds(const std::string& precision);

// Inputs to validate on (held-out calibration samples); empty means synthetic.
struct ValidationInputs {
  std::vector<std::vector<engine::Tensor>> samples;  // per sample, one tensor per model input
  std::string description;                           // e.g. "held-out calibration samples (rec_x.npy)"
};

// How a variant's outputs compared with the source's; validation_status_name is its one text
// form (what reports, the database's variants.validation and the API show).
enum class ValidationStatus { kValidated, kDegraded, kFailed, kSkipped };

constexpr const char* validation_status_name(ValidationStatus s) {
  switch (s) {
    case ValidationStatus::kValidated: return "validated";
    case ValidationStatus::kDegraded: return "degraded";
    case ValidationStatus::kFailed: return "failed";
    case ValidationStatus::kSkipped: return "skipped";
  }
  return "unknown";
}

struct ValidationResult {
  ValidationStatus status = ValidationStatus::kSkipped;
  std::string reason;  // why skipped or failed, for people
  std::string inputs = "synthetic";  // what the inputs were
  std::string method = "aifgen CPU engine";  // how the variant ran ("... fp16 emulated by rounding")
  int samples = 0;
  std::map<std::string, std::vector<std::int64_t>> input_shapes;  // as bound for the runs
  std::vector<OutputMetrics> outputs;
};

class ModelRuns;

// Plans and outputs a caller keeps beyond one validation (model_runs.h): the source's, which a
// job's variants all compare against, and the variant's, which the caller benchmarks next. Each
// must have been made for the model passed beside it. Null: planned here, for outputs only (no
// races, RunsPlan::outputs_only) on `threads` cores, and dropped.
struct ValidationRuns {
  ModelRuns* source = nullptr;
  ModelRuns* variant = nullptr;  // not used for a float16 variant, which runs emulated
  int threads = 1;               // for the runs planned here
};

// Never throws for models the engine cannot run: the result is "skipped" with the reason.
// A float16 variant runs through emulate_fp16 ("validated by emulation" in the result).
// The source runs first, on every sample, and its plan is released before the variant's is
// made, so the two models' packed weights are not held at once.
ValidationResult validate_variant(const onnx::ModelProto& source, const onnx::ModelProto& variant,
                                  const ValidationThresholds& thresholds, const ValidationInputs& inputs = {},
                                  const ValidationRuns& runs = {});

nlohmann::json validation_to_json(const ValidationResult& r);

}  // namespace aifgen

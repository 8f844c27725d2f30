#include "service/build_options.h"

#include <cmath>
#include <cstdio>

#include "core/base/error.h"

namespace aifgen {
namespace {

[[noreturn]] void invalid(const std::string& msg) { throw Error(ErrorCode::kInvalidArgument, "invalid-field", msg); }

const char* kKnown[] = {"calibration_id", "synthetic_calibration", "calibration_method", "percentile", "calibration_samples",
                        "validation_thresholds", "shape_profiles", "accuracy_budget", "bias_correction"};

void parse_budget_object(const nlohmann::json& b, BuildOptions& o) {
  if (b.is_string() && b == "off") {
    o.budget_mode = BuildOptions::BudgetMode::kOff;
    return;
  }
  if (!b.is_object()) invalid("'accuracy_budget' must be \"off\" or {max_accuracy_drop, min_sqnr_db, max_float_fraction}");
  for (const auto& [key, v] : b.items()) {
    if (key != "max_accuracy_drop" && key != "min_sqnr_db" && key != "max_float_fraction")
      throw Error(ErrorCode::kInvalidArgument, "unknown-field", "unknown accuracy_budget field '" + key + "'",
                  {"max_accuracy_drop", "min_sqnr_db", "max_float_fraction"});
    if (!v.is_number()) invalid("'accuracy_budget." + key + "' must be a number");
  }
  auto number = [&](const char* key, double lo, double hi, double fallback) {
    if (!b.contains(key)) return fallback;
    const double v = b[key].get<double>();
    if (!(v >= lo && v <= hi)) invalid(std::string("'accuracy_budget.") + key + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return v;
  };
  o.accuracy_budget.max_accuracy_drop = number("max_accuracy_drop", 0, 1, o.accuracy_budget.max_accuracy_drop);
  o.max_accuracy_drop_given = o.max_accuracy_drop_given || b.contains("max_accuracy_drop");
  o.accuracy_budget.min_sqnr_db = number("min_sqnr_db", 0, 200, o.accuracy_budget.min_sqnr_db);
  o.max_float_fraction = number("max_float_fraction", 0, 1, o.max_float_fraction);
  o.budget_mode = BuildOptions::BudgetMode::kOn;
}

// One of min/opt/max: 1..8 positive integers (TensorRT's dims hold at most 8).
std::vector<std::int64_t> shape_of(const nlohmann::json& v, const std::string& where) {
  if (!v.is_array() || v.empty() || v.size() > 8) invalid("'" + where + "' must be an array of 1 to 8 positive integers");
  std::vector<std::int64_t> out;
  for (const auto& d : v) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 1 || d.get<std::int64_t>() > (std::int64_t{1} << 31) - 1)
      invalid("'" + where + "' must be an array of 1 to 8 positive integers");
    out.push_back(d.get<std::int64_t>());
  }
  return out;
}

ValidationThresholds checked(double validated, double degraded, const std::string& precision) {
  if (!std::isfinite(validated) || !std::isfinite(degraded) || degraded > validated || validated > 300 || degraded < -100)
    invalid("thresholds for " + precision + " must be finite dB values with degraded <= validated");
  // The detection shares a job does not set stay the precision's defaults.
  ValidationThresholds t = default_thresholds(precision);
  t.validated_sqnr_db = validated;
  t.degraded_sqnr_db = degraded;
  return t;
}

}  // namespace

BuildOptions parse_build_options(const nlohmann::json& j) {
  if (!j.is_object()) invalid("'options' must be an object");
  for (const auto& [key, _] : j.items()) {
    bool known = false;
    for (const char* k : kKnown) known = known || key == k;
    if (!known)
      throw Error(ErrorCode::kInvalidArgument, "unknown-field", "unknown option '" + key + "'",
                  std::vector<std::string>(std::begin(kKnown), std::end(kKnown)));
  }
  BuildOptions o;
  if (j.contains("calibration_id")) {
    if (!j["calibration_id"].is_string() || j["calibration_id"].get<std::string>().empty()) invalid("'calibration_id' must be a string");
    o.calibration_id = j["calibration_id"].get<std::string>();
  }
  if (j.contains("synthetic_calibration")) {
    if (!j["synthetic_calibration"].is_boolean()) invalid("'synthetic_calibration' must be true or false");
    o.synthetic_calibration = j["synthetic_calibration"].get<bool>();
  }
  if (o.synthetic_calibration && o.calibration_id) invalid("'synthetic_calibration' and 'calibration_id' exclude each other");
  if (j.contains("calibration_method")) {
    const auto& m = j["calibration_method"];
    if (!m.is_string() || (m != "minmax" && m != "percentile" && m != "entropy" && m != "mse" && m != "auto"))
      throw Error(ErrorCode::kInvalidArgument, "invalid-field", "'calibration_method' must be minmax, percentile, entropy, mse or auto",
                  {"minmax", "percentile", "entropy", "mse", "auto"});
    o.calibration_method = m.get<std::string>();
  }
  if (j.contains("percentile")) {
    if (!j["percentile"].is_number() || !(j["percentile"].get<double>() > 50 && j["percentile"].get<double>() <= 100))
      invalid("'percentile' must be a number in (50, 100]");
    o.percentile = j["percentile"].get<double>();
  }
  if (j.contains("calibration_samples")) {
    if (!j["calibration_samples"].is_number_integer() || j["calibration_samples"].get<std::int64_t>() < 1 ||
        j["calibration_samples"].get<std::int64_t>() > 4096)
      invalid("'calibration_samples' must be an integer in [1, 4096]");
    o.calibration_samples = j["calibration_samples"].get<int>();
  }
  if (j.contains("validation_thresholds")) {
    const auto& t = j["validation_thresholds"];
    if (!t.is_object()) invalid("'validation_thresholds' must be an object keyed by precision");
    for (const auto& [precision, v] : t.items()) {
      if (precision != "fp32" && precision != "fp16" && precision != "int8") invalid("'validation_thresholds' keys are fp32, fp16 and int8");
      const std::string shape = "'validation_thresholds." + precision +
                                "' must be {validated_sqnr_db, degraded_sqnr_db} and, optionally, {validated_detection_agreement, "
                                "degraded_detection_agreement}";
      const bool detections = v.is_object() && (v.contains("validated_detection_agreement") || v.contains("degraded_detection_agreement"));
      if (!v.is_object() || !v.contains("validated_sqnr_db") || !v.contains("degraded_sqnr_db") || v.size() != (detections ? 4u : 2u) ||
          !v["validated_sqnr_db"].is_number() || !v["degraded_sqnr_db"].is_number())
        invalid(shape);
      auto& thresholds = o.thresholds[precision] = checked(v["validated_sqnr_db"].get<double>(), v["degraded_sqnr_db"].get<double>(), precision);
      if (detections) {
        if (!v.contains("validated_detection_agreement") || !v.contains("degraded_detection_agreement") ||
            !v["validated_detection_agreement"].is_number() || !v["degraded_detection_agreement"].is_number())
          invalid(shape);
        const double validated = v["validated_detection_agreement"].get<double>(), degraded = v["degraded_detection_agreement"].get<double>();
        if (!(degraded >= 0 && degraded <= validated && validated <= 1))
          invalid("detection agreement thresholds for " + precision + " must be shares in [0, 1] with degraded <= validated");
        thresholds.validated_detection_agreement = validated;
        thresholds.degraded_detection_agreement = degraded;
      }
    }
  }
  if (j.contains("accuracy_budget")) parse_budget_object(j["accuracy_budget"], o);
  if (j.contains("bias_correction")) {
    const auto& b = j["bias_correction"];
    if (b.is_boolean()) o.bias_correction = b.get<bool>() ? "true" : "false";
    else if (b.is_string() && b == "auto") o.bias_correction = "auto";
    else throw Error(ErrorCode::kInvalidArgument, "invalid-field", "'bias_correction' must be \"auto\", true or false", {"auto", "true", "false"});
  }
  if (j.contains("shape_profiles")) {
    const auto& sp = j["shape_profiles"];
    if (!sp.is_object()) invalid("'shape_profiles' must be an object keyed by input name");
    for (const auto& [input, r] : sp.items()) {
      const std::string where = "shape_profiles." + input;
      if (!r.is_object() || r.size() != 3 || !r.contains("min") || !r.contains("opt") || !r.contains("max"))
        invalid("'" + where + "' must be {min, opt, max}");
      ShapeRange range{shape_of(r["min"], where + ".min"), shape_of(r["opt"], where + ".opt"), shape_of(r["max"], where + ".max")};
      if (range.min.size() != range.opt.size() || range.opt.size() != range.max.size())
        invalid("'" + where + "': min, opt and max must have the same rank");
      for (std::size_t i = 0; i < range.min.size(); ++i)
        if (range.min[i] > range.opt[i] || range.opt[i] > range.max[i]) invalid("'" + where + "': dim " + std::to_string(i) + " needs min <= opt <= max");
      o.shape_profiles[input] = std::move(range);
    }
  }
  return o;
}

void parse_threshold_flag(const std::string& flag, BuildOptions& into) {
  auto eq = flag.find('='), colon = flag.find(':');
  if (eq == std::string::npos || colon == std::string::npos || colon < eq) invalid("--thresholds wants PRECISION=VALIDATED:DEGRADED, got '" + flag + "'");
  const std::string precision = flag.substr(0, eq);
  if (precision != "fp32" && precision != "fp16" && precision != "int8") invalid("--thresholds: precision must be fp32, fp16 or int8");
  try {
    std::size_t used1 = 0, used2 = 0;
    const std::string a = flag.substr(eq + 1, colon - eq - 1), b = flag.substr(colon + 1);
    double v = std::stod(a, &used1), d = std::stod(b, &used2);
    if (used1 != a.size() || used2 != b.size()) throw std::invalid_argument("trailing");
    into.thresholds[precision] = checked(v, d, precision);
  } catch (const std::logic_error&) {
    invalid("--thresholds: '" + flag + "' has a value that is not a number");
  }
}

void parse_budget_flag(const std::string& flag, BuildOptions& into) {
  if (flag == "off") {
    into.budget_mode = BuildOptions::BudgetMode::kOff;
    return;
  }
  // DROP[:SQNR_DB[:MAX_FLOAT_FRACTION]]
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto colon = flag.find(':', start);
    parts.push_back(flag.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  const char* keys[] = {"max_accuracy_drop", "min_sqnr_db", "max_float_fraction"};
  nlohmann::json b = nlohmann::json::object();
  try {
    if (parts.size() > 3) throw std::invalid_argument("too many fields");
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (i > 0 && parts[i].empty()) continue;  // "0.01::0.8" keeps the default SQNR
      std::size_t used = 0;
      b[keys[i]] = std::stod(parts[i], &used);
      if (used != parts[i].size()) throw std::invalid_argument("trailing");
    }
  } catch (const std::logic_error&) {
    invalid("--accuracy-budget wants off or DROP[:SQNR_DB[:MAX_FLOAT_FRACTION]] (e.g. 0.01:20), got '" + flag + "'");
  }
  parse_budget_object(b, into);
}

namespace {

std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

}  // namespace

void set_quantize_options(std::vector<PassSpec>& pipeline, const BuildOptions& o, bool budget) {
  for (auto& spec : pipeline) {
    if (spec.name != "quantize_int8") continue;
    spec.options["method"] = o.calibration_method;
    spec.options["samples"] = std::to_string(o.calibration_samples);
    spec.options["bias_correction"] = o.bias_correction;
    if (o.calibration_method == "percentile") spec.options["percentile"] = format_number(o.percentile);
    if (!budget) continue;
    const bool pow2 = spec.options.count("scheme") && spec.options.at("scheme") == "pow2";
    const double drop = !o.max_accuracy_drop_given && pow2 ? kPow2DefaultMaxAccuracyDrop : o.accuracy_budget.max_accuracy_drop;
    spec.options["max_accuracy_drop"] = format_number(drop);
    spec.options["min_sqnr_db"] = format_number(o.accuracy_budget.min_sqnr_db);
    spec.options["max_float_fraction"] = format_number(o.max_float_fraction);
  }
}

bool budget_applies(const BuildOptions& o, bool has_calibration_set) {
  return o.budget_mode == BuildOptions::BudgetMode::kOn || (o.budget_mode == BuildOptions::BudgetMode::kAuto && has_calibration_set);
}

ValidationThresholds thresholds_for(const BuildOptions& o, const std::string& precision) {
  auto it = o.thresholds.find(precision);
  return it != o.thresholds.end() ? it->second : default_thresholds(precision);
}

}  // namespace aifgen

// Variant validation on the CPU engine, on held-out calibration samples or synthetic inputs.
#include "core/validation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/calibration/calibration_set.h"
#include "core/engine/random_inputs.h"
#include "core/engine/session.h"
#include "core/error.h"
#include "core/fp16_emulation.h"

namespace aifgen {
namespace {

struct Accumulator {
  double max_abs = 0, sum_abs = 0, dot = 0, ref_sq = 0, var_sq = 0, err_sq = 0;
  std::int64_t count = 0, rows = 0, top1 = 0, top5 = 0;
  // Values where the variant is NaN or infinite and the source is not (or the other way round,
  // or a different infinity): the way an fp16 variant breaks. They stay out of the error sums
  // (which they would turn into NaN, and NaN compares as "no worse") and fail the variant.
  std::int64_t nonfinite = 0;
  bool class_scores = false;
};

// NaN ranks below everything, so the comparison stays a strict weak order.
float rank_key(float x) { return std::isnan(x) ? -INFINITY : x; }

std::vector<std::int64_t> top_k(const float* row, std::int64_t c, std::int64_t k) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(c));
  std::iota(idx.begin(), idx.end(), 0);
  k = std::min(k, c);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](auto a, auto b) { return rank_key(row[a]) > rank_key(row[b]); });
  idx.resize(static_cast<std::size_t>(k));
  return idx;
}

void accumulate(Accumulator& a, const engine::Tensor& ref, const engine::Tensor& var) {
  const float* r = ref.as<float>();
  const float* v = var.as<float>();
  for (std::int64_t i = 0; i < ref.numel(); ++i) {
    if (!std::isfinite(r[i]) || !std::isfinite(v[i])) {
      const bool same = (std::isnan(r[i]) && std::isnan(v[i])) || r[i] == v[i];  // both NaN, or the same infinity
      a.nonfinite += !same;
      continue;
    }
    const double e = static_cast<double>(v[i]) - r[i];
    a.max_abs = std::max(a.max_abs, std::abs(e));
    a.sum_abs += std::abs(e);
    a.err_sq += e * e;
    a.dot += static_cast<double>(r[i]) * v[i];
    a.ref_sq += static_cast<double>(r[i]) * r[i];
    a.var_sq += static_cast<double>(v[i]) * v[i];
  }
  a.count += ref.numel();
  // Class scores: [N, C] or a sequence of them [N, T, C], with more than one class.
  if ((ref.shape.size() == 2 || ref.shape.size() == 3) && ref.shape.back() > 1) {
    a.class_scores = true;
    const auto c = ref.shape.back();
    for (std::int64_t n = 0; n < ref.numel() / c; ++n) {
      auto tr = top_k(r + n * c, c, 1), tv = top_k(v + n * c, c, 5);
      a.top1 += tr[0] == tv[0];
      // Top-5 agreement: the source's top class is among the variant's five best.
      a.top5 += std::find(tv.begin(), tv.end(), tr[0]) != tv.end();
      ++a.rows;
    }
  }
}


OutputMetrics finish(const std::string& name, const Accumulator& a) {
  OutputMetrics m;
  m.name = name;
  m.max_abs_err = a.max_abs;
  m.mean_abs_err = a.count ? a.sum_abs / static_cast<double>(a.count) : 0;
  m.cosine = a.ref_sq > 0 && a.var_sq > 0 ? a.dot / std::sqrt(a.ref_sq * a.var_sq) : (a.err_sq == 0 ? 1.0 : 0.0);
  // SQNR = 10 log10(signal power / error power); an exact match reports 200 dB.
  m.sqnr_db = a.err_sq == 0 ? 200.0 : 10.0 * std::log10(std::max(a.ref_sq, 1e-300) / a.err_sq);
  if (a.class_scores && a.rows > 0) {
    m.top1_agreement = static_cast<double>(a.top1) / static_cast<double>(a.rows);
    m.top5_agreement = static_cast<double>(a.top5) / static_cast<double>(a.rows);
  }
  m.nonfinite_values = a.nonfinite;
  return m;
}

}  // namespace

struct OutputComparison::State {
  std::vector<Accumulator> acc;
};

OutputComparison::OutputComparison(std::vector<std::string> output_names)
    : names_(std::move(output_names)), state_(std::make_unique<State>()) {
  state_->acc.resize(names_.size());
}
OutputComparison::~OutputComparison() = default;
OutputComparison::OutputComparison(OutputComparison&&) noexcept = default;
OutputComparison& OutputComparison::operator=(OutputComparison&&) noexcept = default;

void OutputComparison::add(const std::vector<engine::Tensor>& ro, const std::vector<engine::Tensor>& vo) {
  if (ro.size() != names_.size() || vo.size() != names_.size())
    throw Error(ErrorCode::kInternal, "validation-mismatch", "the variant's outputs differ in number from the source's");
  for (std::size_t k = 0; k < ro.size(); ++k) {
    if (ro[k].dtype != engine::DType::kF32 || vo[k].dtype != engine::DType::kF32 || ro[k].shape != vo[k].shape)
      throw Error(ErrorCode::kInternal, "validation-mismatch", "output '" + names_[k] + "' differs in type or shape, or is not float32");
    accumulate(state_->acc[k], ro[k], vo[k]);
  }
}

std::vector<OutputMetrics> OutputComparison::metrics() const {
  std::vector<OutputMetrics> out;
  for (std::size_t k = 0; k < names_.size(); ++k) out.push_back(finish(names_[k], state_->acc[k]));
  return out;
}

double accuracy_drop(const OutputMetrics& m) {
  const double agreement = m.top1_agreement ? *m.top1_agreement : m.cosine;
  return std::clamp(1.0 - agreement, 0.0, 1.0);
}

std::optional<double> accuracy_drop_of_report(const nlohmann::json& outputs) {
  if (!outputs.is_array() || outputs.empty()) return std::nullopt;
  double worst = 0;
  for (const auto& o : outputs) {
    if (!o.is_object()) return std::nullopt;
    OutputMetrics m;
    m.cosine = o.value("cosine", 0.0);
    if (o.contains("top1_agreement") && o["top1_agreement"].is_number()) m.top1_agreement = o["top1_agreement"].get<double>();
    worst = std::max(worst, accuracy_drop(m));
  }
  return worst;
}

ValidationThresholds default_thresholds(const std::string& precision) {
  if (precision == "fp16") return {30, 20, 2};
  if (precision == "int8") return {15, 8, 2};
  return {};
}

ValidationResult validate_variant(const onnx::ModelProto& source, const onnx::ModelProto& variant,
                                  const ValidationThresholds& t, const ValidationInputs& given) {
  ValidationResult result;
  try {
    engine::SessionOptions opts;
    opts.input_shapes = engine::default_input_shapes(source);
    if (!given.samples.empty()) {
      auto names = model_inputs(source);
      for (std::size_t k = 0; k < names.size() && k < given.samples[0].size(); ++k)
        opts.input_shapes[names[k].name] = given.samples[0][k].shape;
      result.inputs = given.description;
    }
    for (const auto& [name, shape] : opts.input_shapes) result.input_shapes[name] = shape;
    engine::Session ref(source, opts);
    const bool fp16 = uses_fp16(variant);
    if (fp16) result.method = "aifgen CPU engine, float16 emulated by rounding every fp16 value (validated by emulation)";
    engine::Session var(fp16 ? emulate_fp16(variant) : variant, opts);
    if (ref.inputs().size() != var.inputs().size() || ref.outputs().size() != var.outputs().size())
      throw Error(ErrorCode::kInternal, "validation-mismatch", "the variant's inputs or outputs differ from the source's");
    std::vector<std::string> names;
    for (const auto& o : ref.outputs()) names.push_back(o.name);
    OutputComparison comparison(names);
    const int count = given.samples.empty() ? t.samples : static_cast<int>(given.samples.size());
    for (int s = 0; s < count; ++s) {
      auto inputs = given.samples.empty() ? engine::random_inputs(ref.inputs(), 1000u + static_cast<std::uint32_t>(s))
                                          : given.samples[static_cast<std::size_t>(s)];
      comparison.add(ref.run(inputs), var.run(inputs));
    }
    result.samples = count;
    result.outputs = comparison.metrics();
    double worst_sqnr = INFINITY;
    for (const auto& m : result.outputs) worst_sqnr = std::min(worst_sqnr, m.sqnr_db);
    std::string nonfinite;
    for (const auto& m : result.outputs)
      if (m.nonfinite_values > 0)
        nonfinite += (nonfinite.empty() ? "" : "; ") + std::string("output '") + m.name + "' has " + std::to_string(m.nonfinite_values) +
                     " NaN or infinite value(s) where the source's differ";
    if (!nonfinite.empty()) {
      result.status = "failed";
      result.reason = nonfinite;
    } else if (worst_sqnr >= t.validated_sqnr_db) result.status = "validated";
    else if (worst_sqnr >= t.degraded_sqnr_db) result.status = "degraded";
    else {
      result.status = "failed";
      result.reason = "an output's SQNR (" + std::to_string(worst_sqnr) + " dB) is below " +
                      std::to_string(t.degraded_sqnr_db) + " dB";
    }
  } catch (const Error& e) {
    // Only "this engine cannot run the model" skips validation; a bug or a mismatch must not
    // ship a variant as if nothing had been checked.
    if (e.code() == ErrorCode::kInternal || e.type() == "validation-mismatch") {
      result.status = "failed";
      result.reason = e.type() == "validation-mismatch" ? e.what() : std::string("internal error while validating: ") + e.what();
    } else {
      result.status = "skipped";
      result.reason = std::string("the CPU engine cannot execute this model: ") + e.what();
    }
  } catch (const std::exception& e) {
    result.status = "failed";
    result.reason = std::string("internal error while validating: ") + e.what();
  }
  return result;
}

nlohmann::json validation_to_json(const ValidationResult& r) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& m : r.outputs) {
    nlohmann::json o = {{"name", m.name}, {"max_abs_err", m.max_abs_err}, {"mean_abs_err", m.mean_abs_err},
                        {"cosine", m.cosine}, {"sqnr_db", m.sqnr_db}, {"nonfinite_values", m.nonfinite_values}};
    if (m.top1_agreement) o["top1_agreement"] = *m.top1_agreement;
    if (m.top5_agreement) o["top5_agreement"] = *m.top5_agreement;
    outputs.push_back(o);
  }
  return {{"status", r.status}, {"reason", r.reason}, {"inputs", r.inputs}, {"samples", r.samples},
          {"input_shapes", r.input_shapes}, {"engine", r.method}, {"outputs", outputs}};
}

}  // namespace aifgen

// Variant validation on the CPU engine, on held-out calibration samples or synthetic inputs.
#include "core/validation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <optional>

#include "core/calibration/calibration_set.h"
#include "core/detection_matching.h"
#include "core/engine/random_inputs.h"
#include "core/engine/session.h"
#include "core/base/error.h"
#include "core/fp16_emulation.h"
#include "core/model_runs.h"

namespace aifgen {
namespace {

struct Accumulator {
  double max_abs = 0, sum_abs = 0, dot = 0, ref_sq = 0, var_sq = 0, err_sq = 0;
  std::int64_t count = 0, rows = 0, top1 = 0, top5 = 0;
  // Sequences of class scores ([N, T, C]): rows per (source top-1, variant top-1) class when
  // both agree, to find the background class (CTC's blank, a tagger's "outside").
  std::map<std::int64_t, std::int64_t> agreed_rows_by_class;
  bool sequence = false;
  // Per sequence (one per sample and batch row): the source's and the variant's best class at
  // each step, for the decoded-sequence agreement.
  std::vector<std::pair<std::vector<std::int64_t>, std::vector<std::int64_t>>> paths;
  // Values where the variant is NaN or infinite and the source is not (or the other way round,
  // or a different infinity): the way an fp16 variant breaks. They stay out of the error sums
  // (which they would turn into NaN, and NaN compares as "no worse") and fail the variant.
  std::int64_t nonfinite = 0;
  bool class_scores = false;
  std::optional<OutputMetrics::DetectionCounts> detections;  // set for a detector's outputs
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

// `rows_only`: a detector's paired rows, where [N, 4] boxes or [N, K] keypoint scores are not
// class scores.
void accumulate(Accumulator& a, const engine::Tensor& ref, const engine::Tensor& var, bool rows_only = false) {
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
  if (!rows_only && (ref.shape.size() == 2 || ref.shape.size() == 3) && ref.shape.back() > 1) {
    a.class_scores = true;
    a.sequence = ref.shape.size() == 3;
    const auto c = ref.shape.back();
    const std::int64_t steps = a.sequence ? ref.shape[1] : 1;
    for (std::int64_t n = 0; n < ref.numel() / c; ++n) {
      auto tr = top_k(r + n * c, c, 1), tv = top_k(v + n * c, c, 5);
      if (a.sequence) {
        if (n % steps == 0) a.paths.emplace_back();
        a.paths.back().first.push_back(tr[0]);
        a.paths.back().second.push_back(tv[0]);
      }
      a.top1 += tr[0] == tv[0];
      if (tr[0] == tv[0] && ref.shape.size() == 3) ++a.agreed_rows_by_class[tr[0]];
      // Top-5 agreement: the source's top class is among the variant's five best.
      a.top5 += std::find(tv.begin(), tv.end(), tr[0]) != tv.end();
      ++a.rows;
    }
  }
}


// A path of best classes as a decoder reads it: runs collapsed, the background class dropped.
std::vector<std::int64_t> decode_path(const std::vector<std::int64_t>& path, std::int64_t background) {
  std::vector<std::int64_t> out;
  std::int64_t last = -1;
  for (auto c : path) {
    if (c != last && c != background) out.push_back(c);
    last = c;
  }
  return out;
}

std::int64_t edit_distance(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b) {
  std::vector<std::int64_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::int64_t diag = row[0];
    row[0] = static_cast<std::int64_t>(i);
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::int64_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
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
    // A sequence with a background class (CTC's blank, a tagger's "outside": the class most
    // steps agree on, when that is more than half of them) is judged as what it decodes to:
    // each path with repeats collapsed and the background dropped, and the agreement is
    // 1 - edit distance / length of the source's decoded sequence. Step-by-step agreement
    // counted blank steps (a 1-point drop cost about 4 points of character accuracy) and
    // boundary steps that decode the same. Other outputs: the share of rows whose best class
    // agrees.
    std::int64_t background = -1, most = 0;
    for (const auto& [cls, rows] : a.agreed_rows_by_class)
      if (rows > most) {
        most = rows;
        background = cls;
      }
    if (a.sequence && most * 2 > a.rows) {
      std::int64_t edits = 0, length = 0;
      for (const auto& [src, var] : a.paths) {
        const auto s1 = decode_path(src, background), s2 = decode_path(var, background);
        edits += edit_distance(s1, s2);
        length += static_cast<std::int64_t>(s1.size());
      }
      m.top1_agreement = length > 0 ? std::max(0.0, 1.0 - static_cast<double>(edits) / static_cast<double>(length)) : (edits ? 0.0 : 1.0);
      m.top5_agreement = std::nullopt;
      m.top1_rows = length;
      m.agreement = "decoded-sequence";
    } else {
      m.top1_agreement = static_cast<double>(a.top1) / static_cast<double>(a.rows);
      m.top5_agreement = static_cast<double>(a.top5) / static_cast<double>(a.rows);
      m.top1_rows = a.rows;
      m.agreement = "per-row";
    }
  }
  if (a.detections) {
    const auto& d = *a.detections;
    const auto larger = std::max(d.source, d.variant);
    m.top1_agreement = larger > 0 ? static_cast<double>(d.matched) / static_cast<double>(larger) : 1.0;
    m.top5_agreement = std::nullopt;
    m.top1_rows = d.source;
    m.agreement = "matched-detections";
    m.detections = d;
  }
  m.nonfinite_values = a.nonfinite;
  return m;
}

bool is_integer(engine::DType t) {
  using engine::DType;
  return t == DType::kI64 || t == DType::kI32 || t == DType::kI16 || t == DType::kI8 || t == DType::kU8 || t == DType::kU16 ||
         t == DType::kU32 || t == DType::kU64 || t == DType::kBool;
}

double element_as_double(const engine::Tensor& t, std::int64_t i) {
  using engine::DType;
  switch (t.dtype) {
    case DType::kF32: return t.as<float>()[i];
    case DType::kF64: return t.as<double>()[i];
    case DType::kI64: return static_cast<double>(t.as<std::int64_t>()[i]);
    case DType::kI32: return t.as<std::int32_t>()[i];
    case DType::kI16: return t.as<std::int16_t>()[i];
    case DType::kI8: return t.as<std::int8_t>()[i];
    case DType::kU8: case DType::kBool: return t.as<std::uint8_t>()[i];
    case DType::kU16: return t.as<std::uint16_t>()[i];
    case DType::kU32: return t.as<std::uint32_t>()[i];
    case DType::kU64: return static_cast<double>(t.as<std::uint64_t>()[i]);
    case DType::kF16: break;
  }
  throw Error(ErrorCode::kUnprocessable, "validation-unsupported", std::string("a detector's output of type ") + engine::dtype_str(t.dtype) + " is not compared");
}

// The rows `rows` of `t` ([N, ...]) as a float32 tensor [rows.size(), ...], in that order.
engine::Tensor rows_as_float(const engine::Tensor& t, const std::vector<std::int64_t>& rows) {
  engine::Shape shape = t.shape;
  shape[0] = static_cast<std::int64_t>(rows.size());
  auto out = engine::Tensor::allocate_for_overwrite(engine::DType::kF32, shape);
  const std::int64_t per_row = shape[0] > 0 ? out.numel() / shape[0] : 0;
  float* o = out.as<float>();
  for (std::size_t r = 0; r < rows.size(); ++r) {
    float* row = o + static_cast<std::int64_t>(r) * per_row;
    if (t.dtype == engine::DType::kF32)  // boxes, scores, masks: a row is one copy (Mask R-CNN's is 800x800)
      std::memcpy(row, t.as<float>() + rows[r] * per_row, static_cast<std::size_t>(per_row) * sizeof(float));
    else
      for (std::int64_t e = 0; e < per_row; ++e) row[e] = static_cast<float>(element_as_double(t, rows[r] * per_row + e));
  }
  return out;
}

// A detector's outputs in one sample: the outputs whose rows depend on values, when one of
// them is float boxes [N, 4]; each must have N rows in the source and the variant's count in
// the variant.
struct DetectionGroup {
  std::vector<std::size_t> members;
  std::size_t boxes = 0;
  std::optional<std::size_t> scores, labels;
};

std::optional<DetectionGroup> find_detections(const std::vector<std::string>& names, const std::vector<bool>& value_rows,
                                              const std::vector<engine::Tensor>& ro, const std::vector<engine::Tensor>& vo) {
  DetectionGroup g;
  std::optional<std::size_t> boxes;
  for (std::size_t k = 0; k < value_rows.size() && k < ro.size(); ++k) {
    if (!value_rows[k] || ro[k].shape.empty()) continue;
    g.members.push_back(k);
    if (!boxes && ro[k].dtype == engine::DType::kF32 && ro[k].shape.size() == 2 && ro[k].shape[1] == 4) boxes = k;
  }
  if (!boxes) return std::nullopt;
  g.boxes = *boxes;
  const auto n_source = ro[g.boxes].shape[0], n_variant = vo[g.boxes].shape.empty() ? -1 : vo[g.boxes].shape[0];
  for (const auto k : g.members) {
    auto tail_of = [](const engine::Shape& s) { return engine::Shape(s.begin() + (s.empty() ? 0 : 1), s.end()); };
    if (ro[k].shape[0] != n_source || vo[k].shape.empty() || vo[k].shape[0] != n_variant || tail_of(ro[k].shape) != tail_of(vo[k].shape))
      throw Error(ErrorCode::kUnprocessable, "validation-unsupported",
                  "output '" + names[k] + "' is " + engine::shape_str(ro[k].shape) + " in the source and " + engine::shape_str(vo[k].shape) +
                      " in the variant: a detector's outputs must all have one row per detection (boxes '" + names[g.boxes] + "' has " +
                      std::to_string(n_source) + " and " + std::to_string(n_variant) + ")");
    if (k == g.boxes || ro[k].shape.size() != 1) continue;
    if (ro[k].dtype == engine::DType::kF32) {
      const bool named = names[k].find("score") != std::string::npos;
      if (!g.scores || (named && names[*g.scores].find("score") == std::string::npos)) g.scores = k;
    } else if (is_integer(ro[k].dtype) && !g.labels) {
      g.labels = k;
    }
  }
  return g;
}

std::vector<std::int64_t> labels_of(const engine::Tensor& t) {
  // Labels are int64 in every exporter we have seen; the engine's own copy handles that (and int32) exactly.
  if (t.dtype == engine::DType::kI64 || t.dtype == engine::DType::kI32) return engine::to_int64_vector(t);
  std::vector<std::int64_t> out(static_cast<std::size_t>(t.numel()));
  for (std::int64_t i = 0; i < t.numel(); ++i) out[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(element_as_double(t, i));
  return out;
}

}  // namespace

struct OutputComparison::State {
  std::vector<Accumulator> acc;
  std::vector<bool> value_rows;
};

OutputComparison::OutputComparison(std::vector<std::string> output_names, std::vector<bool> rows_depend_on_values)
    : names_(std::move(output_names)), state_(std::make_unique<State>()) {
  state_->acc.resize(names_.size());
  state_->value_rows = std::move(rows_depend_on_values);
}
OutputComparison OutputComparison::of(const std::vector<engine::IoInfo>& outputs) {
  std::vector<std::string> names;
  std::vector<bool> value_rows;
  for (const auto& o : outputs) {
    names.push_back(o.name);
    value_rows.push_back(!o.shape.empty() && o.shape[0] < 0);
  }
  return OutputComparison(std::move(names), std::move(value_rows));
}
OutputComparison::~OutputComparison() = default;
OutputComparison::OutputComparison(OutputComparison&&) noexcept = default;
OutputComparison& OutputComparison::operator=(OutputComparison&&) noexcept = default;

void OutputComparison::add(const std::vector<engine::Tensor>& ro, const std::vector<engine::Tensor>& vo) {
  if (ro.size() != names_.size() || vo.size() != names_.size())
    throw Error(ErrorCode::kInternal, "validation-mismatch", "the variant's outputs differ in number from the source's");
  const auto describe = [](const engine::Tensor& t) { return std::string(engine::dtype_str(t.dtype)) + " " + engine::shape_str(t.shape); };
  for (std::size_t k = 0; k < ro.size(); ++k)
    if (ro[k].dtype != vo[k].dtype)
      throw Error(ErrorCode::kInternal, "validation-mismatch",
                  "output '" + names_[k] + "' is " + describe(ro[k]) + " in the source but " + describe(vo[k]) + " in the variant");
  const auto detections = find_detections(names_, state_->value_rows, ro, vo);
  if (detections) {
    DetectionRows source{ro[detections->boxes].as<float>(), ro[detections->boxes].shape[0]};
    DetectionRows variant{vo[detections->boxes].as<float>(), vo[detections->boxes].shape[0]};
    std::vector<std::int64_t> source_labels, variant_labels;
    if (detections->scores) {
      source.scores = ro[*detections->scores].as<float>();
      variant.scores = vo[*detections->scores].as<float>();
    }
    if (detections->labels) {
      source_labels = labels_of(ro[*detections->labels]);
      variant_labels = labels_of(vo[*detections->labels]);
      source.labels = source_labels.data();
      variant.labels = variant_labels.data();
    }
    const auto pairs = match_detections(source, variant);
    std::vector<std::int64_t> source_rows, variant_rows;
    for (const auto& [s, v] : pairs) {
      source_rows.push_back(s);
      variant_rows.push_back(v);
    }
    for (const auto k : detections->members) {
      auto& a = state_->acc[k];
      accumulate(a, rows_as_float(ro[k], source_rows), rows_as_float(vo[k], variant_rows), /*rows_only=*/true);
      auto& d = a.detections.emplace(a.detections.value_or(OutputMetrics::DetectionCounts{}));
      d.source += source.count;
      d.variant += variant.count;
      d.matched += static_cast<std::int64_t>(pairs.size());
    }
  }
  for (std::size_t k = 0; k < ro.size(); ++k) {
    if (detections && std::find(detections->members.begin(), detections->members.end(), k) != detections->members.end()) continue;
    if (ro[k].dtype != engine::DType::kF32)
      throw Error(ErrorCode::kUnprocessable, "validation-unsupported",
                  "output '" + names_[k] + "' is " + describe(ro[k]) +
                      ": validation compares float32 outputs only (a detector's labels or indices are not compared yet)");
    if (ro[k].shape != vo[k].shape)
      throw Error(ErrorCode::kUnprocessable, "validation-unsupported",
                  "output '" + names_[k] + "' is " + describe(ro[k]) + " in the source but " + describe(vo[k]) +
                      " in the variant: its length depends on values (after NonZero or NonMaxSuppression), and validation "
                      "compares outputs element by element, which needs the detections matched first (not done yet)");
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
  ValidationThresholds t;
  if (precision == "fp16") {
    t.validated_sqnr_db = 30;
    t.degraded_sqnr_db = 20;
    t.validated_detection_agreement = 0.95;
    t.degraded_detection_agreement = 0.85;
  } else if (precision == "int8") {
    t.validated_sqnr_db = 15;
    t.degraded_sqnr_db = 8;
    t.validated_detection_agreement = 0.90;
    t.degraded_detection_agreement = 0.75;
  }
  return t;
}

// The source's outputs held at once while the variant's are compared with them.
constexpr std::size_t kReferenceBatchBytes = std::size_t{256} << 20;

ValidationResult validate_variant(const onnx::ModelProto& source, const onnx::ModelProto& variant,
                                  const ValidationThresholds& t, const ValidationInputs& given, const ValidationRuns& runs) {
  ValidationResult result;
  try {
    ModelRuns::Shapes shapes = engine::default_input_shapes(source);
    if (!given.samples.empty()) {
      auto names = model_inputs(source);
      for (std::size_t k = 0; k < names.size() && k < given.samples[0].size(); ++k) shapes[names[k].name] = given.samples[0][k].shape;
      result.inputs = given.description;
    }
    for (const auto& [name, shape] : shapes) result.input_shapes[name] = shape;
    std::optional<ModelRuns> own_source, own_variant;
    const auto own_plan = RunsPlan::outputs_only(runs.threads);
    ModelRuns& ref = runs.source ? *runs.source : own_source.emplace(source, own_plan);
    const bool fp16 = uses_fp16(variant);
    if (fp16) result.method = "aifgen CPU engine, float16 emulated by rounding every fp16 value (validated by emulation)";
    onnx::ModelProto emulated;
    if (fp16) emulated = emulate_fp16(variant);
    ModelRuns& var = runs.variant && !fp16 ? *runs.variant : own_variant.emplace(fp16 ? emulated : variant, own_plan);
    std::vector<std::vector<engine::Tensor>> synthetic;
    if (given.samples.empty())
      for (int s = 0; s < t.samples; ++s) synthetic.push_back(engine::random_inputs(ref.inputs(shapes), 1000u + static_cast<std::uint32_t>(s)));
    const auto& samples = given.samples.empty() ? synthetic : given.samples;
    const int count = static_cast<int>(samples.size());
    const auto outputs = ref.outputs(shapes);
    OutputComparison comparison = OutputComparison::of(outputs);
    // The source's outputs for a batch of samples, then the variant's for the same batch, so
    // that only one of the two plans exists at a time; one batch unless the source's outputs
    // outgrow kReferenceBatchBytes.
    for (int begin = 0, end = 0; begin < count; begin = end) {
      std::vector<std::vector<engine::Tensor>> reference;
      for (std::size_t bytes = 0; end < count && (end == begin || bytes < kReferenceBatchBytes); ++end) {
        reference.push_back(ref.run(shapes, samples[static_cast<std::size_t>(end)]));
        for (const auto& o : reference.back()) bytes += o.bytes();
      }
      ref.release();
      if (begin == 0 && (ref.inputs(shapes).size() != var.inputs(shapes).size() || outputs.size() != var.outputs(shapes).size()))
        throw Error(ErrorCode::kInternal, "validation-mismatch", "the variant's inputs or outputs differ from the source's");
      for (int s = begin; s < end; ++s) comparison.add(reference[static_cast<std::size_t>(s - begin)], var.run(shapes, samples[static_cast<std::size_t>(s)]));
      if (end < count) var.release();
    }
    result.samples = count;
    result.outputs = comparison.metrics();
    double worst_sqnr = INFINITY, worst_detections = 1;
    for (const auto& m : result.outputs) {
      worst_sqnr = std::min(worst_sqnr, m.sqnr_db);
      if (m.detections) worst_detections = std::min(worst_detections, *m.top1_agreement);
    }
    const auto share = [](double x) {
      char text[32];
      std::snprintf(text, sizeof text, "%.1f%%", x * 100);
      return std::string(text);
    };
    const auto db = [](double x) {
      char text[32];
      std::snprintf(text, sizeof text, "%.1f dB", x);
      return std::string(text);
    };
    std::string nonfinite;
    for (const auto& m : result.outputs)
      if (m.nonfinite_values > 0)
        nonfinite += (nonfinite.empty() ? "" : "; ") + std::string("output '") + m.name + "' has " + std::to_string(m.nonfinite_values) +
                     " NaN or infinite value(s) where the source's differ";
    if (!nonfinite.empty()) {
      result.status = ValidationStatus::kFailed;
      result.reason = nonfinite;
    } else if (worst_sqnr < t.degraded_sqnr_db) {
      result.status = ValidationStatus::kFailed;
      result.reason = "an output's SQNR (" + db(worst_sqnr) + ") is below " + db(t.degraded_sqnr_db);
    } else if (worst_detections < t.degraded_detection_agreement) {
      result.status = ValidationStatus::kFailed;
      result.reason = "only " + share(worst_detections) + " of the detections pair with the source's (at least " +
                      share(t.degraded_detection_agreement) + " needed)";
    } else if (worst_sqnr >= t.validated_sqnr_db && worst_detections >= t.validated_detection_agreement) {
      result.status = ValidationStatus::kValidated;
    } else {
      result.status = ValidationStatus::kDegraded;
      if (worst_sqnr < t.validated_sqnr_db)
        result.reason = "an output's SQNR (" + db(worst_sqnr) + ") is below " + db(t.validated_sqnr_db) + ", the bar to be validated";
      if (worst_detections < t.validated_detection_agreement)
        result.reason += (result.reason.empty() ? "" : "; ") + share(worst_detections) + " of the detections pair with the source's (" +
                         share(t.validated_detection_agreement) + " to be validated)";
    }
  } catch (const Error& e) {
    // Only "this engine cannot run the model" skips validation; a bug or a mismatch must not
    // ship a variant as if nothing had been checked.
    if (e.code() == ErrorCode::kInternal || e.type() == "validation-mismatch") {
      result.status = ValidationStatus::kFailed;
      result.reason = e.type() == "validation-mismatch" ? e.what() : std::string("internal error while validating: ") + e.what();
    } else {
      result.status = ValidationStatus::kSkipped;
      result.reason = e.type() == "validation-unsupported" ? std::string("outputs not compared: ") + e.what()
                                                           : std::string("the CPU engine cannot execute this model: ") + e.what();
    }
  } catch (const std::exception& e) {
    result.status = ValidationStatus::kFailed;
    result.reason = std::string("internal error while validating: ") + e.what();
  }
  return result;
}

nlohmann::json validation_to_json(const ValidationResult& r) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& m : r.outputs) {
    nlohmann::json o = {{"name", m.name}, {"max_abs_err", m.max_abs_err}, {"mean_abs_err", m.mean_abs_err},
                        {"cosine", m.cosine}, {"sqnr_db", m.sqnr_db}, {"nonfinite_values", m.nonfinite_values}};
    if (m.top1_agreement) {
      o["top1_agreement"] = *m.top1_agreement;
      o["top1_rows"] = m.top1_rows;
      o["agreement"] = m.agreement;
    }
    if (m.top5_agreement) o["top5_agreement"] = *m.top5_agreement;
    if (m.detections) o["detections"] = {{"source", m.detections->source}, {"variant", m.detections->variant}, {"matched", m.detections->matched}};
    outputs.push_back(o);
  }
  return {{"status", validation_status_name(r.status)}, {"reason", r.reason}, {"inputs", r.inputs}, {"samples", r.samples},
          {"input_shapes", r.input_shapes}, {"engine", r.method}, {"outputs", outputs}};
}

}  // namespace aifgen

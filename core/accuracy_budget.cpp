#include "core/accuracy_budget.h"

#include <cmath>
#include <cstdio>

namespace aifgen {

BudgetVerdict check_budget(const std::vector<OutputMetrics>& outputs, const AccuracyBudget& budget) {
  BudgetVerdict v;
  v.met = true;
  std::string worst_name;
  for (const auto& m : outputs) {
    double used = 0;
    if (m.nonfinite_values > 0) {
      used = std::numeric_limits<double>::infinity();
    } else if (m.top1_agreement) {
      const double drop = accuracy_drop(m);
      v.worst_drop = std::max(v.worst_drop, drop);
      used = drop <= 0 ? 0 : budget.max_accuracy_drop > 0 ? drop / budget.max_accuracy_drop : std::numeric_limits<double>::infinity();
    } else {
      used = std::pow(10.0, (budget.min_sqnr_db - m.sqnr_db) / 10.0);
    }
    v.worst_sqnr_db = std::min(v.worst_sqnr_db, m.sqnr_db);
    v.noise += std::pow(10.0, -m.sqnr_db / 10.0);
    if (used >= v.used) {
      v.used = used;
      worst_name = m.name;
    }
    if (used > 1) v.met = false;
  }
  char text[256];
  if (worst_name.empty()) {
    v.explanation = "no outputs to compare";
  } else {
    const auto& w = *std::find_if(outputs.begin(), outputs.end(), [&](const OutputMetrics& m) { return m.name == worst_name; });
    if (w.nonfinite_values > 0)
      std::snprintf(text, sizeof text, "output '%s' has %lld NaN or infinite value(s)", w.name.c_str(), static_cast<long long>(w.nonfinite_values));
    else if (w.top1_agreement)
      std::snprintf(text, sizeof text, "output '%s': %s agreement %.4f over %lld, a drop of %.4f against at most %.4f", w.name.c_str(),
                    w.agreement == "decoded-sequence" ? "decoded-sequence" : "top-1", *w.top1_agreement,
                    static_cast<long long>(w.top1_rows), accuracy_drop(w), budget.max_accuracy_drop);
    else
      std::snprintf(text, sizeof text, "output '%s': SQNR %.2f dB against at least %.2f dB", w.name.c_str(), w.sqnr_db, budget.min_sqnr_db);
    v.explanation = text;
  }
  return v;
}

bool better_than(const BudgetVerdict& a, const BudgetVerdict& b) {
  if (a.used != b.used) return a.used < b.used;
  return a.noise < b.noise;
}

nlohmann::json budget_to_json(const AccuracyBudget& b) {
  return {{"max_accuracy_drop", b.max_accuracy_drop}, {"min_sqnr_db", b.min_sqnr_db}};
}

}  // namespace aifgen

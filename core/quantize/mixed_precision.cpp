#include "core/quantize/mixed_precision.h"

#include <algorithm>
#include <mutex>
#include <thread>

#include "core/base/error.h"

namespace aifgen::quantize {

HeldOutProbe::HeldOutProbe(const onnx::ModelProto& reference, std::vector<Sample> samples, AccuracyBudget budget)
    : samples_(std::move(samples)), budget_(budget) {
  if (samples_.empty()) throw Error(ErrorCode::kInternal, "no-held-out-samples", "the accuracy budget needs held-out samples");
  auto inputs = model_inputs(reference);
  for (std::size_t k = 0; k < inputs.size() && k < samples_[0].size(); ++k) options_.input_shapes[inputs[k].name] = samples_[0][k].shape;
  engine::Session session(reference, options_);
  outputs_ = session.outputs();
  for (const auto& s : samples_) reference_.push_back(session.run(s));
}

std::vector<OutputMetrics> HeldOutProbe::measure(const onnx::ModelProto& candidate) const {
  engine::Session session(candidate, options_);
  auto comparison = OutputComparison::of(outputs_);
  for (std::size_t i = 0; i < samples_.size(); ++i) comparison.add(reference_[i], session.run(samples_[i]));
  ++evaluations_;
  return comparison.metrics();
}

BudgetVerdict HeldOutProbe::judge(const onnx::ModelProto& candidate) const { return check_budget(measure(candidate), budget_); }

std::vector<SiteCost> site_sensitivity(int sites, const BuildFn& build, const HeldOutProbe& probe, int threads,
                                       const ProgressFn& progress) {
  std::vector<SiteCost> costs(static_cast<std::size_t>(sites));
  std::atomic<int> next{0};
  std::mutex mu;
  int done = 0;
  std::exception_ptr failure;
  auto work = [&] {
    for (int i = next++; i < sites; i = next++) {
      try {
        std::vector<char> only(static_cast<std::size_t>(sites), 0);
        only[static_cast<std::size_t>(i)] = 1;
        costs[static_cast<std::size_t>(i)] = {i, probe.judge(build(only))};
      } catch (...) {
        std::lock_guard lock(mu);
        if (!failure) failure = std::current_exception();
        next = sites;  // stop the other workers early
      }
      std::lock_guard lock(mu);
      ++done;
      if (progress && !failure) progress("sensitivity " + std::to_string(done) + "/" + std::to_string(sites));
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, std::min(threads, sites)); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
  std::stable_sort(costs.begin(), costs.end(), [](const SiteCost& a, const SiteCost& b) { return better_than(b.verdict, a.verdict); });
  return costs;
}

MixResult search_mix(const std::vector<SiteCost>& ranked, int sites, int max_float, const BuildFn& build,
                     const HeldOutProbe& probe, const BudgetVerdict& all_int8, const ProgressFn& progress) {
  MixResult r;
  r.verdict = all_int8;
  r.tried.emplace_back(0, all_int8.used);
  if (all_int8.met) {
    r.met = true;
    return r;
  }
  max_float = std::min<int>(max_float, static_cast<int>(ranked.size()));
  BudgetVerdict best = all_int8;
  int best_k = 0;
  auto evaluate = [&](int k) {
    std::vector<char> mask(static_cast<std::size_t>(sites), 1);
    for (int j = 0; j < k; ++j) mask[static_cast<std::size_t>(ranked[static_cast<std::size_t>(j)].site)] = 0;
    auto v = probe.judge(build(mask));
    r.tried.emplace_back(k, v.used);
    if (progress) progress("mixed precision: " + std::to_string(k) + " float node(s), budget used " + std::to_string(v.used));
    if ((v.met && (!best.met || k < best_k)) || (!best.met && !v.met && better_than(v, best))) {
      best = v;
      best_k = k;
    }
    return v.met;
  };
  // Grow k geometrically until the budget holds, then narrow down to the fewest float nodes.
  int lo = 0, hi = -1;
  for (int k = 1; k <= max_float; k = k * 2) {
    if (evaluate(k)) {
      hi = k;
      break;
    }
    lo = k;
    if (k < max_float && k * 2 > max_float) {
      if (evaluate(max_float)) hi = max_float;
      else lo = max_float;
      break;
    }
  }
  if (hi > 0) {
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      if (evaluate(mid)) hi = mid;
      else lo = mid;
    }
  }
  r.met = best.met;
  r.verdict = best;
  for (int j = 0; j < best_k; ++j) r.float_sites.push_back(ranked[static_cast<std::size_t>(j)].site);
  return r;
}

}  // namespace aifgen::quantize

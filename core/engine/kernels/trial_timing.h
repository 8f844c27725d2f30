// Plan-time races between two ways to run the same step (oneDNN's kernel against the engine's
// own, one layout against another): the fastest of alternating runs, so that a slow spell of
// the machine hits both sides alike.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>

namespace aifgen::engine {

// How long one call of `run` took, in ms.
template <typename Run>
double milliseconds_of(Run&& run) {
  const auto t0 = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Rounds of a race: at least `min`, and more up to `max` while the runs so far (warm-ups
// included) took under `budget_ms`.
struct TrialRounds {
  int min = 3, max = 3;
  double budget_ms = 0;
};

// One warm-up run of each, then alternating rounds: true when `second`'s fastest run is below
// `must_win` times `first`'s. Each function runs its side once and returns the ms it took.
inline bool second_is_faster(const std::function<double()>& first, const std::function<double()>& second, double must_win,
                             TrialRounds rounds = {}) {
  double spent = first() + second();
  double best_first = 1e300, best_second = 1e300;
  for (int round = 0; round < rounds.max && (round < rounds.min || spent < rounds.budget_ms); ++round) {
    const double a = first(), b = second();
    best_first = std::min(best_first, a);
    best_second = std::min(best_second, b);
    spent += a + b;
  }
  return best_second < must_win * best_first;
}

}  // namespace aifgen::engine

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
// included) took under `budget_ms`. With `stop_when_clear`, a race whose runs so far took at
// least `budget_ms` stops after its first round when there the second side's fastest run is
// below kClearOfTheBound times the bound: a timing of long kernels then costs two runs a side,
// not four. Keypoint R-CNN's 14 Winograd timings at 2 threads (its 800x800 FPN maps, its
// keypoint head on 100 detections) took 11.4 s of its 31 s planning, every one of them
// Winograd at 0.41-0.71 of the direct kernel's time against a bound of 0.9. Only a clear win
// settles early: stopping on a clear loss too, ResNeXt-101 32x8d's grouped 3x3 convolutions
// lost all 22 Winograd timings that three rounds gave them (a side's first runs can be slow).
struct TrialRounds {
  int min = 3, max = 3;
  double budget_ms = 0;
  bool stop_when_clear = false;
};

// How far below the bound a first round's faster side must be to settle a race early.
constexpr double kClearOfTheBound = 0.8;

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
    if (rounds.stop_when_clear && spent >= rounds.budget_ms && best_second < kClearOfTheBound * must_win * best_first) break;
  }
  return best_second < must_win * best_first;
}

}  // namespace aifgen::engine

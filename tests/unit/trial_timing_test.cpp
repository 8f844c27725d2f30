// second_is_faster (trial_timing.h), the plan-time race between two ways to run a step, on
// sides that report made-up times: how many runs it makes and what it decides.
#include <gtest/gtest.h>

#include "core/engine/kernels/trial_timing.h"

namespace aifgen::engine {
namespace {

struct Side {
  double ms;
  int runs = 0;
  double operator()() {
    ++runs;
    return ms;
  }
};

TEST(TrialTiming, AClearWinOfLongRunsSettlesAfterOneRound) {
  const TrialRounds rounds{3, 10, 20, true};
  Side direct{30}, winograd{15};  // 0.5 of direct against a bound of 0.9
  EXPECT_TRUE(second_is_faster(std::ref(direct), std::ref(winograd), 0.9, rounds));
  EXPECT_EQ(direct.runs, 2);  // the warm-up and one round
  EXPECT_EQ(winograd.runs, 2);
}

TEST(TrialTiming, ACloseOrLosingRaceRunsItsRounds) {
  const TrialRounds rounds{3, 10, 20, true};
  Side direct{30}, close{25};  // 0.83 of direct: a win, but not clear of 0.8 x 0.9
  EXPECT_TRUE(second_is_faster(std::ref(direct), std::ref(close), 0.9, rounds));
  EXPECT_EQ(close.runs, 4);  // the warm-up and three rounds
  Side direct2{30}, slower{60};  // a clear loss still runs its rounds (a side's first runs can be slow)
  EXPECT_FALSE(second_is_faster(std::ref(direct2), std::ref(slower), 0.9, rounds));
  EXPECT_EQ(slower.runs, 4);
}

TEST(TrialTiming, ShortRunsAndRacesWithoutTheFlagRunEveryRound) {
  Side direct{0.5}, winograd{0.1};  // clear, but the runs took under the 20 ms budget: up to 10 rounds
  EXPECT_TRUE(second_is_faster(std::ref(direct), std::ref(winograd), 0.9, TrialRounds{3, 10, 20, true}));
  EXPECT_EQ(winograd.runs, 11);
  Side direct2{30}, winograd2{15};
  EXPECT_TRUE(second_is_faster(std::ref(direct2), std::ref(winograd2), 0.9, TrialRounds{3, 10, 20, false}));
  EXPECT_EQ(winograd2.runs, 4);
}

}  // namespace
}  // namespace aifgen::engine

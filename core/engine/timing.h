// Latency measurement of a planned session: warm-up runs, then timed runs, percentiles.
#pragma once

#include <vector>

#include "core/engine/session.h"

namespace aifgen::engine {

struct LatencyStats {
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, mean_ms = 0;
  double throughput_per_s = 0;  // batch items per second at the mean latency
  int iterations = 0;
};

LatencyStats time_runs(Session& session, const std::vector<Tensor>& inputs, int warmup, int iterations);
// The same over several sets of inputs run in turn (run i takes set i mod N, warm-up included):
// a model with a dynamic tail sees as many shapes there, and plans again where its kept plans
// (DynamicTail::kPlansPerNode) do not cover them.
LatencyStats time_runs(Session& session, const std::vector<std::vector<Tensor>>& input_sets, int warmup, int iterations);

}  // namespace aifgen::engine

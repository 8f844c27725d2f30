// How many OpenMP threads one planned step gets. Every oneDNN primitive and parallel loop forks
// and joins the run's thread team; for a step that does a few microseconds of work, the fork,
// the join and the cache lines moving between cores cost more than the second core saves
// (MobileNetV3-small, ~80 steps of ~20 us each, ran 1.2x slower at 2 threads than at 1). Steps
// below a work threshold run on the calling thread alone; the others get the session's threads.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <vector>

#include "core/engine/kernel.h"

namespace aifgen::engine {

// Estimated work of a node in multiply-accumulates (convolutions, matrix products) or elements
// touched (everything else), from its planned inputs.
double estimated_work(const onnx::NodeProto& node, const std::vector<PlanInput>& inputs);

// Threads for a step of `work` (as estimated above): 1 below the threshold, else `max_threads`.
int threads_for_work(double work, int max_threads);

}  // namespace aifgen::engine

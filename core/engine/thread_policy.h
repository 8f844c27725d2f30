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

// Estimated work of a node in multiply-accumulates (convolutions, matrix products), window reads
// plus team-written input (pooling, see team_written_work) or elements touched (everything
// else), from its planned inputs.
double estimated_work(const onnx::NodeProto& node, const std::vector<PlanInput>& inputs);

// The work of a step that reads `elements` values the steps before it wrote on every core of
// the team, and little else: 8x an element-wise op's. Run on one thread, such a step pulls the
// other cores' cache lines piece by piece (a Concat ran 3.5x slower at 2 threads than at 1;
// squeeze-excitation blocks and layout reorders likewise), so from 64K elements up it shares the
// team, whose threads mostly read what their own core wrote.
double team_written_work(double elements);

// Threads for a step of `work` (as estimated above): 1 below the threshold, else `max_threads`.
int threads_for_work(double work, int max_threads);

// Whether a session whose multi-threaded steps add up to `parallel_work` should keep its thread
// team at all. A few short parallel steps among many single-threaded ones save less than waking
// the team for each costs (on a VM a sleeping OpenMP thread takes tens of microseconds to wake):
// the PP-OCR orientation classifier, 10 such steps of ~1M MACs among 76, ran 0.62-0.76 ms at 2
// threads and 0.51-0.63 ms at 1. Below the bound (thread_policy.cpp says how it was measured)
// the session plans and runs on one thread.
bool worth_a_thread_team(double parallel_work);

}  // namespace aifgen::engine

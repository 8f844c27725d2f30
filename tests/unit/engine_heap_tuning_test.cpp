// keep_freed_heap_for_repeated_runs (heap_tuning.h): once it is set, running a model whose
// dynamic tail allocates its values afresh every run stops faulting pages in after the first
// runs. The model is a NonMaxSuppression over 30,000 boxes, whose scratch vectors (120-240 KB)
// sit below the tail's block cache and come from malloc's heap.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <random>

#include "core/engine/heap_tuning.h"
#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::tensor_value;

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

TEST(EngineHeapTuning, RepeatedRunsOfADynamicTailStopFaultingPagesIn) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "the settings are glibc's";
#endif
  ASSERT_TRUE(keep_freed_heap_for_repeated_runs());
  const std::int64_t n = 30000;
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("boxes", onnx::TensorProto::FLOAT, {"1", std::to_string(n), "4"});
  *g->add_input() = tensor_value("scores", onnx::TensorProto::FLOAT, {"1", "1", std::to_string(n)});
  *g->add_initializer() = testing::int64_tensor("limit", {n});
  *g->add_initializer() = testing::float_tensor("iou", {1}, {0.5f});
  *g->add_node() = node("NonMaxSuppression", {"boxes", "scores", "limit", "iou"}, {"selected"});
  *g->add_output() = tensor_value("selected", onnx::TensorProto::INT64, {"k", "3"});
  Session s(m, {});

  std::mt19937 rng(2);
  std::uniform_real_distribution<float> pos(0.f, 3000.f), size(1.f, 30.f), sc(0.f, 1.f);
  std::vector<float> boxes, scores;
  for (std::int64_t i = 0; i < n; ++i) {
    const float y = pos(rng), x = pos(rng);
    boxes.insert(boxes.end(), {y, x, y + size(rng), x + size(rng)});
    scores.push_back(sc(rng));
  }
  const std::vector<Tensor> in = {testing::float_tensor_of({1, n, 4}, boxes), testing::float_tensor_of({1, 1, n}, scores)};
  for (int i = 0; i < 3; ++i) s.run(in);
  const long before = minor_faults();
  constexpr int kRuns = 30;
  std::int64_t kept = 0;
  for (int i = 0; i < kRuns; ++i) kept += s.run(in)[0].shape[0];
  const long faults = minor_faults() - before;
  EXPECT_GT(kept, kRuns * 1000);  // the tail did real work each run
  // One run's values and scratch span about 700 pages, and without the settings 30 runs fault
  // in about 10,600. A few stray pages a run are allowed: run alone the test counts about 63,
  // after the dynamic-tail tests in the same process exactly 100 (malloc's state differs).
  EXPECT_LT(faults, 10 * kRuns) << "pages faulted in over " << kRuns << " runs";
}

}  // namespace
}  // namespace aifgen::engine

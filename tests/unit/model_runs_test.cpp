// ModelRuns: one plan per set of shapes, outputs and benchmarks kept past the plan, failures
// remembered; validation and the variant builder sharing the source's runs across a job.
#include "core/model_runs.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "core/base/error.h"
#include "core/engine/random_inputs.h"
#include "core/passes/pass_manager.h"
#include "core/validation.h"
#include "service/variant_builder.h"
#include "targets/registry.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

bool same_values(const std::vector<engine::Tensor>& a, const std::vector<engine::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].shape != b[i].shape || a[i].bytes() != b[i].bytes() || std::memcmp(a[i].data, b[i].data, a[i].bytes()) != 0) return false;
  return true;
}

const ModelRuns::Shapes kBatch1 = {{"x", {1, 3, 8, 8}}};

TEST(ModelRuns, RunsAndBenchmarksAtOneShapePlanOnceAndMatchAFreshSession) {
  const auto model = testing::conv_bn_relu_model();
  ModelRuns runs(model);
  const auto a = engine::random_inputs(runs.inputs(kBatch1), 1), b = engine::random_inputs(runs.inputs(kBatch1), 2);
  const auto out_a = runs.run(kBatch1, a), out_b = runs.run(kBatch1, b);
  const auto stats = runs.benchmark(kBatch1, 7, 1, 3);
  EXPECT_EQ(runs.plans(), 1);
  EXPECT_EQ(stats.iterations, 3);
  EXPECT_GT(stats.p50_ms, 0.0);

  engine::SessionOptions options;
  options.input_shapes = kBatch1;
  engine::Session fresh(model, options);
  EXPECT_TRUE(same_values(out_a, fresh.run(a)));
  EXPECT_TRUE(same_values(out_b, fresh.run(b)));
  EXPECT_FALSE(same_values(out_a, out_b));
}

TEST(ModelRuns, RunsForOutputsOnlyPlanDirectOnTheirThreadsAndRefuseToBenchmark) {
  const auto model = testing::conv_bn_relu_model();
  ModelRuns runs(model, RunsPlan::outputs_only(2));
  const auto a = engine::random_inputs(runs.inputs(kBatch1), 1);
  const auto out = runs.run(kBatch1, a);
  engine::SessionOptions options;
  options.input_shapes = kBatch1;
  options.conv_algorithm = engine::ConvAlgorithm::kDirect;
  options.activation_layout = engine::ActivationLayout::kOneDnn;
  options.threads = 2;
  engine::Session direct(model, options);
  EXPECT_TRUE(same_values(out, direct.run(a)));
  EXPECT_THROW(runs.benchmark(kBatch1, 7, 1, 3), std::logic_error);
  EXPECT_EQ(runs.plans(), 1);
}

TEST(ModelRuns, KeptOutputsAndBenchmarksOutliveTheReleasedPlan) {
  const auto model = testing::conv_bn_relu_model();
  ModelRuns runs(model);
  const auto a = engine::random_inputs(runs.inputs(kBatch1), 1);
  const auto first = runs.run(kBatch1, a);
  const auto stats = runs.benchmark(kBatch1, 7, 1, 3);
  runs.release();
  EXPECT_FALSE(runs.planned());
  EXPECT_TRUE(same_values(first, runs.run(kBatch1, a)));
  EXPECT_EQ(runs.benchmark(kBatch1, 7, 1, 3).p50_ms, stats.p50_ms);  // the figures kept, not a second timing
  EXPECT_EQ(runs.inputs(kBatch1).size(), 1u);
  EXPECT_EQ(runs.plans(), 1);
  EXPECT_FALSE(runs.planned());

  // Other values, or the same values at other benchmark settings, need the plan again.
  const auto b = engine::random_inputs(runs.inputs(kBatch1), 2);
  runs.run(kBatch1, b);
  EXPECT_EQ(runs.plans(), 2);
  runs.release();
  runs.benchmark(kBatch1, 7, 1, 4);
  EXPECT_EQ(runs.plans(), 3);
}

TEST(ModelRuns, OutputsBeyondTheByteBudgetAreRunAgain) {
  const auto model = testing::conv_bn_relu_model();
  ModelRuns runs(model, RunsPlan::for_benchmarks(), /*kept_output_bytes=*/0);
  const auto a = engine::random_inputs(runs.inputs(kBatch1), 1);
  const auto first = runs.run(kBatch1, a);
  runs.release();
  EXPECT_TRUE(same_values(first, runs.run(kBatch1, a)));
  EXPECT_EQ(runs.plans(), 2);
}

TEST(ModelRuns, OtherShapesGetTheirOwnPlanAndKeepTheirDescription) {
  const auto model = testing::conv_bn_relu_model();
  ModelRuns runs(model);
  const ModelRuns::Shapes batch2 = {{"x", {2, 3, 8, 8}}};
  EXPECT_EQ(runs.outputs(kBatch1)[0].shape, (engine::Shape{1, 4, 8, 8}));
  EXPECT_EQ(runs.outputs(batch2)[0].shape, (engine::Shape{2, 4, 8, 8}));
  EXPECT_EQ(runs.plans(), 2);
  EXPECT_EQ(runs.inputs(kBatch1)[0].shape, (engine::Shape{1, 3, 8, 8}));  // described without planning again
  EXPECT_EQ(runs.plans(), 2);
}

TEST(ModelRuns, AModelThatCannotBePlannedFailsAgainWithTheSameErrorWithoutPlanning) {
  auto model = testing::conv_bn_relu_model();
  model.mutable_graph()->mutable_node(1)->set_op_type("NoSuchOperator");
  ModelRuns runs(model);
  std::string first;
  try {
    runs.inputs(kBatch1);
    FAIL() << "planned a model with an unknown operator";
  } catch (const Error& e) {
    first = e.what();
  }
  EXPECT_NE(first.find("NoSuchOperator"), std::string::npos) << first;
  try {
    runs.benchmark(kBatch1, 7, 1, 3);
    FAIL() << "benchmarked a model that cannot be planned";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), first);
  }
  EXPECT_EQ(runs.plans(), 1);
}

// A source whose variants each rewrite it exactly: every validation agrees with the one that
// planned everything itself, and the source is planned once for all of them.
TEST(ModelRuns, ValidationsSharingTheSourcesRunsPlanItOnceAndAgreeWithUnsharedOnes) {
  const auto source = testing::conv_bn_relu_model(true);
  auto variant = source;
  run_pipeline(variant, {"eliminate_identity", "fold_batchnorm", "eliminate_dead_nodes"});
  ModelRuns source_runs(source);
  for (int k = 0; k < 3; ++k) {
    ModelRuns variant_runs(variant);
    const auto shared = validate_variant(source, variant, {}, {}, {&source_runs, &variant_runs});
    const auto alone = validate_variant(source, variant, {});
    ASSERT_EQ(shared.status, ValidationStatus::kValidated) << shared.reason;
    ASSERT_EQ(shared.outputs.size(), alone.outputs.size());
    EXPECT_EQ(shared.outputs[0].sqnr_db, alone.outputs[0].sqnr_db);
    EXPECT_EQ(shared.outputs[0].max_abs_err, alone.outputs[0].max_abs_err);
    EXPECT_EQ(shared.samples, alone.samples);
    // The source's plan went before the variant's was made; the variant's is left for its benchmark.
    EXPECT_FALSE(source_runs.planned());
    EXPECT_TRUE(variant_runs.planned());
    EXPECT_EQ(variant_runs.plans(), 1);
  }
  EXPECT_EQ(source_runs.plans(), 1);
}

// Two x86 variants of one job: the source is planned once for both validations and both
// benchmarks, and both bundles report the same source figures.
TEST(ModelRuns, AJobsVariantsBuiltOnTheSameSourceRunsPlanTheSourceOnce) {
  const auto source = testing::conv_bn_relu_model(true);
  const auto dir = std::filesystem::temp_directory_path() / ("aifgen-model-runs-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ModelRuns source_runs(source);
  std::vector<BuiltVariant> built;
  for (int k = 0; k < 2; ++k) {
    VariantRequest req;
    req.variant_id = "var_" + std::to_string(k);
    req.source_id = std::string(64, 'a');
    req.source_name = "conv_bn_relu";
    req.target = find_target("x86_64-cpu");
    ASSERT_NE(req.target, nullptr);
    req.precision = "fp32";
    req.bundle_path = (dir / (req.variant_id + ".tar.gz")).string();
    req.source_runs = &source_runs;
    built.push_back(build_variant(source, req, [](const std::string&, double) {}));
  }
  std::filesystem::remove_all(dir);
  EXPECT_EQ(source_runs.plans(), 1);
  for (const auto& b : built) {
    EXPECT_EQ(b.validation.status, ValidationStatus::kValidated) << b.validation.reason;
    ASSERT_EQ(b.benchmarks.size(), 2u);
    EXPECT_EQ(b.benchmarks[0].subject, "source");
    EXPECT_EQ(b.benchmarks[1].subject, "variant");
    EXPECT_GT(b.benchmarks[1].p50_ms, 0.0);
  }
  EXPECT_EQ(built[0].benchmarks[0].p50_ms, built[1].benchmarks[0].p50_ms);
}

VariantRequest fp32_request(const std::string& target, const std::filesystem::path& dir, ModelRuns* source_runs) {
  VariantRequest req;
  req.variant_id = "var_" + target;
  req.source_id = std::string(64, 'a');
  req.source_name = "conv_bn_relu";
  req.target = find_target(target);
  req.precision = "fp32";
  req.bundle_path = (dir / (req.variant_id + ".tar.gz")).string();
  req.source_runs = source_runs;
  req.threads = 2;
  return req;
}

TEST(ModelRuns, TheJobsSourceIsPlannedForBenchmarksOnlyWhenOneOfItsTargetsRunsHere) {
  EXPECT_TRUE(source_runs_plan({"arm64-cpu", "x86_64-cpu"}, 2).benchmarks);
  const auto elsewhere = source_runs_plan({"arm64-cpu", "nvidia-gpu", "nvidia-jetson", "xilinx-zynq"}, 3);
  EXPECT_FALSE(elsewhere.benchmarks);
  EXPECT_EQ(elsewhere.threads, 3);

  const auto source = testing::conv_bn_relu_model(true);
  const auto dir = std::filesystem::temp_directory_path() / ("aifgen-runs-plan-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  // A variant for hardware elsewhere validates on the shared, benchmark-planned source (one plan)
  // and benchmarks nothing.
  ModelRuns benchmarked(source, RunsPlan::for_benchmarks());
  auto arm = build_variant(source, fp32_request("arm64-cpu", dir, &benchmarked), [](const std::string&, double) {});
  EXPECT_EQ(arm.validation.status, ValidationStatus::kValidated) << arm.validation.reason;
  EXPECT_TRUE(arm.benchmarks.empty());
  EXPECT_EQ(benchmarked.plans(), 1);
  // A host variant given outputs-only source runs cannot benchmark the source on them: it plans
  // its own for benchmarks, and still reports both figures.
  ModelRuns outputs_only(source, RunsPlan::outputs_only(2));
  auto x86 = build_variant(source, fp32_request("x86_64-cpu", dir, &outputs_only), [](const std::string&, double) {});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(x86.validation.status, ValidationStatus::kValidated) << x86.validation.reason;
  ASSERT_EQ(x86.benchmarks.size(), 2u);
  EXPECT_EQ(x86.benchmarks[0].subject, "source");
  EXPECT_GT(x86.benchmarks[0].p50_ms, 0.0);
  EXPECT_EQ(outputs_only.plans(), 0);
}

}  // namespace
}  // namespace aifgen

// 1x1 convolutions on small maps with their output channels split over the threads
// (split_outputs_instead, winograd_choice.h): forced on, each thread's part writes its share of
// the channels and the results equal a one-thread session's, also with a residual added in the
// convolution; forced off, and where the channels do not split into whole blocks, nothing splits.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/engine/kernels/winograd_choice.h"
#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

// x[1,C,14,14] -> Conv 1x1 (C->wide) + bias, Relu -> Conv 1x1 (wide->C) + bias, + x, Relu -> y.
// Enough work (~0.8 GMAC) that a 2-thread session keeps its team (thread_policy.h).
onnx::ModelProto bottleneck(std::int64_t c, std::int64_t wide) {
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", std::to_string(c), "14", "14"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("WA", {wide, c, 1, 1}, 1, -0.05f, 0.05f);
  *g->add_initializer() = testing::random_tensor("BA", {wide}, 2);
  *g->add_initializer() = testing::random_tensor("WB", {c, wide, 1, 1}, 3, -0.05f, 0.05f);
  *g->add_initializer() = testing::random_tensor("BB", {c}, 4);
  *g->add_node() = testing::node("Conv", {"x", "WA", "BA"}, {"a"});
  *g->add_node() = testing::node("Relu", {"a"}, {"ar"});
  *g->add_node() = testing::node("Conv", {"ar", "WB", "BB"}, {"b"});
  *g->add_node() = testing::node("Add", {"b", "x"}, {"s"});
  *g->add_node() = testing::node("Relu", {"s"}, {"y"});
  return model;
}

Tensor random_input(const Shape& shape) {
  Tensor x = Tensor::allocate(DType::kF32, shape);
  std::mt19937 gen(9);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = d(gen);
  return x;
}

struct ForceSplit {
  explicit ForceSplit(bool split) { force_split_outputs_for_testing(split); }
  ~ForceSplit() { force_split_outputs_for_testing(std::nullopt); }
};

// Blocked from the first convolution: a share of an nChw16c/nChw8c value's channels is dense,
// while on AVX-512 oneDNN's own pick for a plain input is NHWC, whose shares are not (nothing
// splits there).
SessionOptions threads(int n) {
  SessionOptions o;
  o.threads = n;
  o.activation_layout = ActivationLayout::kBlocked;
  return o;
}

TEST(EngineSplitOutputs, EachThreadWritesItsShareOfTheChannels) {
  const auto model = bottleneck(512, 1024);
  const Tensor x = random_input({1, 512, 14, 14});
  Session one(model, threads(1));
  const Tensor want = one.run({x})[0];
  EXPECT_EQ(one.split_output_convolutions(), 0u) << "one thread has nothing to split over";
  ForceSplit on(true);
  Session split(model, threads(2));
  ASSERT_EQ(split.threads(), 2) << split.thread_choice();
  EXPECT_EQ(split.split_output_convolutions(), 2u);
  for (int run = 0; run < 2; ++run) {  // the second run reuses the parts' bound arguments
    const Tensor got = split.run({x})[0];
    ASSERT_EQ(got.shape, want.shape);
    EXPECT_LT(testing::relative_difference(got, want), 1e-5) << "run " << run;
  }
}

TEST(EngineSplitOutputs, NothingSplitsWhenForcedOffOrWhenChannelsAreNotWholeBlocks) {
  ForceSplit off(false);
  Session whole(bottleneck(512, 1024), threads(2));
  EXPECT_EQ(whole.split_output_convolutions(), 0u);
  ForceSplit on(true);
  // 1024 less one block wide (1016 on AVX2's 8-channel blocks, 1008 on AVX-512's 16): whole
  // blocks, but half of them per thread is not; the second convolution (-> 512) still splits.
  const std::int64_t block = testing::onednn_channel_block();
  const auto model = bottleneck(512, 1024 - block);
  Session odd(model, threads(2));
  EXPECT_EQ(odd.split_output_convolutions(), 1u);
  const Tensor x = random_input({1, 512, 14, 14});
  Session one(model, threads(1));
  EXPECT_LT(testing::relative_difference(odd.run({x})[0], one.run({x})[0]), 1e-5);
}

}  // namespace
}  // namespace aifgen::engine

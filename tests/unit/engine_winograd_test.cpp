// Winograd for 3x3 stride-1 convolutions (core/engine/kernels/winograd_choice.h): forced on, a
// block of the shapes real networks chain (1x1 -> 3x3 -> 1x1 with a residual, pooling, odd
// sizes) gives the direct algorithm's results. oneDNN has Winograd kernels on AVX-512 only; where
// it has none (AVX2, ctest engine_avx2) or declines a shape, the engine's own F(4x4, 3x3)
// (winograd_f4x3.h) takes the convolution.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/engine/kernels/winograd_choice.h"
#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;

onnx::NodeProto conv(const std::string& x, const std::string& w, const std::string& y, std::vector<std::int64_t> pads) {
  auto n = node("Conv", {x, w}, {y});
  testing::add_ints_attr(n, "pads", pads);
  return n;
}

// x[1,24,H,W] -> 1x1 (32) -> Relu = a; a -> 3x3 (32) -> Relu -> 3x3 (32) + a -> Relu = r;
// r -> MaxPool 2x2 -> 3x3 (48, asymmetric pads) = y. Three 3x3 stride-1 convolutions: one
// reading a 1x1 convolution's layout, one adding a residual, and one with padding oneDNN's
// Winograd kernels do not take (they want the same padding on both sides), which stays direct.
onnx::ModelProto block_model(std::int64_t h, std::int64_t w, std::int64_t batch = 1) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() =
      testing::tensor_value("x", onnx::TensorProto::FLOAT, {std::to_string(batch), "24", std::to_string(h), std::to_string(w)});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("w0", {32, 24, 1, 1}, 11, -0.3f, 0.3f);
  *g->add_initializer() = testing::random_tensor("w1", {32, 32, 3, 3}, 12, -0.1f, 0.1f);
  *g->add_initializer() = testing::random_tensor("w2", {32, 32, 3, 3}, 13, -0.1f, 0.1f);
  *g->add_initializer() = testing::random_tensor("w3", {48, 32, 3, 3}, 14, -0.1f, 0.1f);
  *g->add_node() = conv("x", "w0", "c0", {0, 0, 0, 0});
  *g->add_node() = node("Relu", {"c0"}, {"a"});
  *g->add_node() = conv("a", "w1", "c1", {1, 1, 1, 1});
  *g->add_node() = node("Relu", {"c1"}, {"b"});
  *g->add_node() = conv("b", "w2", "c2", {1, 1, 1, 1});
  *g->add_node() = node("Add", {"c2", "a"}, {"s"});
  *g->add_node() = node("Relu", {"s"}, {"r"});
  auto pool = node("MaxPool", {"r"}, {"p"});
  testing::add_ints_attr(pool, "kernel_shape", {2, 2});
  testing::add_ints_attr(pool, "strides", {2, 2});
  *g->add_node() = pool;
  *g->add_node() = conv("p", "w3", "y", {0, 1, 2, 1});
  return m;
}

// A smooth, sign-changing input: sin(step * i) + offset over the flat index.
Tensor wavy_input(const Shape& shape, float step = 0.13f, float offset = 0.2f) {
  Tensor x = Tensor::allocate(DType::kF32, shape);
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(step * static_cast<float>(i)) + offset;
  return x;
}

SessionOptions options(ConvAlgorithm algorithm, int threads = 0) {
  SessionOptions o;
  o.conv_algorithm = algorithm;
  if (threads > 0) o.threads = threads;
  return o;
}

// Winograd's transforms round differently (measured ~2e-6 of the largest output per layer), so
// the results are close to the direct ones but, where Winograd ran, not identical.
void expect_close_but_winograd(const Tensor& got, const Tensor& want, const std::string& what) {
  EXPECT_LT(testing::relative_difference(got, want), 2e-5) << what;
  EXPECT_GT(testing::relative_difference(got, want), 0.0) << what << ": identical results, Winograd did not run";
}

TEST(EngineWinograd, ABlockOfThreeByThreeConvolutionsGivesTheDirectResults) {
  for (int threads : {1, 2})
    for (auto [h, w] : {std::pair<std::int64_t, std::int64_t>{16, 16}, {13, 21}}) {
      Session direct(block_model(h, w), options(ConvAlgorithm::kDirect, threads));
      Session wino(block_model(h, w), options(ConvAlgorithm::kWinograd, threads));
      EXPECT_EQ(direct.winograd_convolutions(), 0u);
      // All three: on AVX-512 oneDNN's kernels take the two symmetric-padded ones and the
      // engine's own the third (where its direct kernel reads and writes one blocked layout);
      // below AVX-512 the engine's own takes them all.
      if (testing::onednn_uses_avx512()) {
        EXPECT_GE(wino.winograd_convolutions(), 2u) << "threads " << threads;
      } else {
        EXPECT_EQ(wino.winograd_convolutions(), 3u) << "threads " << threads;
      }
      const Tensor x = wavy_input({1, 24, h, w});
      auto want = direct.run({x}), got = wino.run({x});
      ASSERT_EQ(got[0].shape, want[0].shape);
      ASSERT_EQ(got[0].shape, (Shape{1, 48, h / 2, w / 2}));  // pads 0,1 / 2,1: H +2-2, W +2-2
      expect_close_but_winograd(got[0], want[0], std::to_string(h) + "x" + std::to_string(w) + " threads " + std::to_string(threads));
    }
}

TEST(EngineWinograd, MeasuredChoiceKeepsTheResultsAndNeverExceedsTheEligibleConvolutions) {
  Session a(block_model(16, 16), options(ConvAlgorithm::kMeasured)), b(block_model(16, 16), options(ConvAlgorithm::kDirect));
  EXPECT_LE(a.winograd_convolutions(), 3u);
  // Any Winograd convolution means the whole plan raced the all-direct one, and the note says
  // which was kept with the count it ran.
  const std::string& note = a.conv_algorithm_choice();
  if (a.winograd_convolutions() > 0) {
    EXPECT_EQ(note.rfind(std::to_string(a.winograd_convolutions()) + " as Winograd, measured faster", 0), 0u) << note;
  } else if (!note.empty()) {
    EXPECT_EQ(note.rfind("all direct", 0), 0u) << note;
  }
  EXPECT_TRUE(b.conv_algorithm_choice().empty());
  const Tensor x = wavy_input({1, 24, 16, 16});
  EXPECT_LT(testing::relative_difference(a.run({x})[0], b.run({x})[0]), 2e-5);
}

// x -> 1x1 conv = a (NHWC); a -> 3x3 conv = b (Winograd: nChw16c); Concat(a, b) -> 1x1 conv = y.
onnx::ModelProto concat_model() {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "24", "12", "12"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("wa", {32, 24, 1, 1}, 21, -0.3f, 0.3f);
  *g->add_initializer() = testing::random_tensor("wb", {32, 32, 3, 3}, 22, -0.1f, 0.1f);
  *g->add_initializer() = testing::random_tensor("wy", {16, 64, 1, 1}, 23, -0.2f, 0.2f);
  *g->add_node() = conv("x", "wa", "a", {0, 0, 0, 0});
  *g->add_node() = conv("a", "wb", "b", {1, 1, 1, 1});
  auto cat = node("Concat", {"a", "b"}, {"ab"});
  testing::add_int_attr(cat, "axis", 1);
  *g->add_node() = cat;
  *g->add_node() = conv("ab", "wy", "y", {0, 0, 0, 0});
  return m;
}

// A detector's head convolutions see another batch (detections) from image to image: a timing
// is remembered for the batch rounded up to a power of two, so 5 and then 7 detections time
// each shape once and 9 times it again. (The block's 11x19 maps are its own: no other test
// times these shapes first.)
TEST(EngineWinograd, ATimingServesEveryBatchUpToTheNextPowerOfTwo) {
  const auto before_five = winograd_timings_run();
  Session five(block_model(11, 19, 5), options(ConvAlgorithm::kMeasured, 1));
  const auto after_five = winograd_timings_run();
  ASSERT_GT(after_five, before_five) << "nothing was timed: no convolution of the block was eligible for Winograd";
  Session seven(block_model(11, 19, 7), options(ConvAlgorithm::kMeasured, 1));
  EXPECT_EQ(winograd_timings_run(), after_five) << "a batch of 7 timed again what a batch of 5 had timed";
  Session nine(block_model(11, 19, 9), options(ConvAlgorithm::kMeasured, 1));
  EXPECT_GT(winograd_timings_run(), after_five) << "a batch of 9 was served by the timing for up to 8";
  const Tensor x = wavy_input({7, 24, 11, 19});
  Session direct(block_model(11, 19, 7), options(ConvAlgorithm::kDirect, 1));
  EXPECT_LT(testing::relative_difference(seven.run({x})[0], direct.run({x})[0]), 2e-5);
}

TEST(EngineWinograd, ABlockedOutputJoinsAnNhwcConcatWithOneReorder) {
  SessionOptions wino_opts = options(ConvAlgorithm::kWinograd);
  wino_opts.profile = true;
  Session direct(concat_model(), options(ConvAlgorithm::kDirect)), wino(concat_model(), wino_opts);
  const Tensor x = wavy_input({1, 24, 12, 12}, 0.21f, 0.0f);
  EXPECT_LT(testing::relative_difference(wino.run({x})[0], direct.run({x})[0]), 2e-5);
  if (!testing::onednn_uses_avx512()) return;
  ASSERT_EQ(wino.winograd_convolutions(), 1u);
  // The model's input and output, a into the Winograd layout, and b straight to NHWC for the
  // Concat (through the plain layout, and with a and the Concat going plain too, it was six).
  EXPECT_LE(testing::reorder_calls(wino), 4);
}

// x[1,32,H,W] -> 1x1 (64) -> Relu = a; a -> 3x3 in 2 groups of 32 with bias + a -> Relu = r;
// r -> 3x3 in 4 groups of 16 = s; s -> 3x3 in 8 groups of 8 = y. RegNet's grouped layers: the
// first two have whole 16-channel blocks per group and may run group by group on oneDNN's
// Winograd (one with a residual sum and bias), the last only on the engine's own (nChw8c).
onnx::ModelProto grouped_model(std::int64_t h, std::int64_t w) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "32", std::to_string(h), std::to_string(w)});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("w0", {64, 32, 1, 1}, 31, -0.3f, 0.3f);
  *g->add_initializer() = testing::random_tensor("w1", {64, 32, 3, 3}, 32, -0.1f, 0.1f);
  *g->add_initializer() = testing::random_tensor("b1", {64}, 33, -0.5f, 0.5f);
  *g->add_initializer() = testing::random_tensor("w2", {64, 16, 3, 3}, 34, -0.15f, 0.15f);
  *g->add_initializer() = testing::random_tensor("w3", {64, 8, 3, 3}, 35, -0.2f, 0.2f);
  *g->add_node() = conv("x", "w0", "c0", {0, 0, 0, 0});
  *g->add_node() = node("Relu", {"c0"}, {"a"});
  auto c1 = node("Conv", {"a", "w1", "b1"}, {"c1"});
  testing::add_ints_attr(c1, "pads", {1, 1, 1, 1});
  testing::add_int_attr(c1, "group", 2);
  *g->add_node() = c1;
  *g->add_node() = node("Add", {"c1", "a"}, {"t"});
  *g->add_node() = node("Relu", {"t"}, {"r"});
  auto c2 = conv("r", "w2", "s", {1, 1, 1, 1});
  testing::add_int_attr(c2, "group", 4);
  *g->add_node() = c2;
  auto c3 = conv("s", "w3", "y", {1, 1, 1, 1});
  testing::add_int_attr(c3, "group", 8);
  *g->add_node() = c3;
  return m;
}

TEST(EngineWinograd, GroupedConvolutionsWithWholeBlocksPerGroupRunGroupByGroup) {
  for (int threads : {1, 2})
    for (auto [h, w] : {std::pair<std::int64_t, std::int64_t>{14, 14}, {9, 23}}) {
      Session direct(grouped_model(h, w), options(ConvAlgorithm::kDirect, threads));
      Session wino(grouped_model(h, w), options(ConvAlgorithm::kWinograd, threads));
      // All three run as Winograd: on AVX-512 oneDNN's kernels take the two with 16-channel
      // groups group by group and the engine's own the one with 8-channel groups (oneDNN's need
      // whole nChw16c blocks per group); below AVX-512 the engine's own takes all three
      // (8-channel groups are whole nChw8c blocks).
      EXPECT_EQ(wino.winograd_convolutions(), 3u) << "threads " << threads;
      const Tensor x = wavy_input({1, 32, h, w}, 0.07f, -0.1f);
      auto want = direct.run({x}), got = wino.run({x});
      ASSERT_EQ(got[0].shape, (Shape{1, 64, h, w}));
      expect_close_but_winograd(got[0], want[0], std::to_string(h) + "x" + std::to_string(w) + " threads " + std::to_string(threads));
      // Run again: the per-group arguments kept between runs still point at the right slices.
      EXPECT_LT(testing::relative_difference(wino.run({x})[0], want[0]), 2e-5);
    }
}

TEST(EngineWinograd, GroupsSpreadOverTheThreadsGiveTheOneThreadResults) {
  // At 2 threads both grouped convolutions deal their groups out to the threads (2 groups: one
  // each; 4: two each), each group's primitive made for one thread as in a 1-thread session, so
  // the results are those of the 1-thread session to the bit; a group left out or run twice on
  // the wrong slice would not be. At 3 threads the 4 groups split 1/1/2 and the 2-group one keeps
  // the whole team per group.
  if (!testing::onednn_uses_avx512()) GTEST_SKIP() << "oneDNN has Winograd kernels on AVX-512 only";
  // 72x72: enough work (~180M multiply-adds) that the session keeps its team (thread_policy.h).
  const std::int64_t h = 72, w = 72;
  const Tensor x = wavy_input({1, 32, h, w}, 0.07f, -0.1f);
  Session one(grouped_model(h, w), options(ConvAlgorithm::kWinograd, 1));
  Session direct(grouped_model(h, w), options(ConvAlgorithm::kDirect, 1));
  const Tensor want = one.run({x})[0];
  for (int threads : {2, 3}) {
    Session spread(grouped_model(h, w), options(ConvAlgorithm::kWinograd, threads));
    ASSERT_EQ(spread.winograd_convolutions(), 3u);  // the 8-channel groups on the engine's own, as above
    ASSERT_EQ(spread.threads(), threads) << spread.thread_choice();
    for (int run = 0; run < 2; ++run) {
      const Tensor got = spread.run({x})[0];
      ASSERT_EQ(got.shape, want.shape);
      if (threads == 2) {
        EXPECT_EQ(testing::relative_difference(got, want), 0.0) << "run " << run;
      }
      expect_close_but_winograd(got, direct.run({x})[0], "threads " + std::to_string(threads) + " run " + std::to_string(run));
    }
  }
}

TEST(EngineWinograd, EveryGroupGoesToExactlyOneThread) {
  for (int groups : {1, 2, 4, 11, 27})
    for (int threads : {1, 2, 3, 8}) {
      if (!spread_groups_over(groups, threads)) continue;
      std::vector<int> seen(static_cast<std::size_t>(groups), 0);
      int fewest = groups, most = 0;
      for (int t = 0; t < threads; ++t) {
        const auto [first, last] = groups_of_thread(groups, threads, t);
        fewest = std::min(fewest, last - first);
        most = std::max(most, last - first);
        for (int g = first; g < last; ++g) ++seen[static_cast<std::size_t>(g)];
      }
      EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), groups) << groups << " groups, " << threads << " threads";
      EXPECT_GE(fewest, 1);
      EXPECT_LE(most - fewest, 1);
    }
  EXPECT_FALSE(spread_groups_over(2, 3));  // fewer groups than threads: each group keeps the team
  EXPECT_FALSE(spread_groups_over(11, 1));
}

TEST(EngineWinograd, PolicyNamesRoundTrip) {
  for (auto a : {ConvAlgorithm::kMeasured, ConvAlgorithm::kDirect, ConvAlgorithm::kWinograd})
    EXPECT_EQ(parse_conv_algorithm(conv_algorithm_name(a)), a);
  EXPECT_FALSE(parse_conv_algorithm("Winograd"));
  EXPECT_FALSE(parse_conv_algorithm(""));
}

}  // namespace
}  // namespace aifgen::engine

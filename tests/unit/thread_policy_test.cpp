// Steps too small to pay for a thread team run on one thread; the rest get the session's
// threads; a session with too little parallel work runs on one thread altogether, and one
// between the bounds on whichever plan measured faster; and a session that mixes both computes
// what a one-thread session computes.
#include <gtest/gtest.h>

#include <cmath>

#include "core/engine/session.h"
#include "core/engine/thread_policy.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

PlanInput input(const Shape& s) { return {true, {DType::kF32, s, nullptr}, nullptr}; }

onnx::NodeProto conv_node(std::int64_t stride) {
  auto n = testing::node("Conv", {"x", "w"}, {"y"});
  testing::add_ints_attr(n, "strides", {stride, stride});
  return n;
}

TEST(ThreadPolicy, SmallStepsRunOnOneThreadLargeOnesOnAll) {
  // 1x1 conv, 16 -> 16 channels on 7x7: 12.5k MACs.
  const double tiny = estimated_work(conv_node(1), {input({1, 16, 7, 7}), input({16, 16, 1, 1})});
  EXPECT_DOUBLE_EQ(tiny, 16.0 * 16 * 49);
  EXPECT_EQ(threads_for_work(tiny, 4), 1);
  // 3x3 conv, 64 -> 64 channels on 56x56: 115M MACs; stride 2 quarters it.
  const double big = estimated_work(conv_node(1), {input({1, 64, 56, 56}), input({64, 64, 3, 3})});
  EXPECT_DOUBLE_EQ(estimated_work(conv_node(2), {input({1, 64, 56, 56}), input({64, 64, 3, 3})}), big / 4);
  EXPECT_EQ(threads_for_work(big, 4), 4);
  EXPECT_EQ(threads_for_work(big, 1), 1);
  // A matrix product counts M*K*N; element-wise work counts the elements read.
  auto mm = testing::node("MatMul", {"a", "b"}, {"c"});
  EXPECT_DOUBLE_EQ(estimated_work(mm, {input({128, 256}), input({256, 512})}), 128.0 * 256 * 512);
  auto add = testing::node("Add", {"a", "b"}, {"c"});
  EXPECT_DOUBLE_EQ(estimated_work(add, {input({4, 100}), input({100})}), 500.0);
  // A recurrent step counts one time step's recurrent product, not the sequence: a 256-unit GRU
  // over 100 steps at batch 1 stays on one thread, at batch 8 it gets them all.
  auto gru = testing::node("GRU", {"x", "w", "r"}, {"y"});
  const double one = estimated_work(gru, {input({100, 1, 80}), input({1, 768, 80}), input({1, 768, 256})});
  EXPECT_DOUBLE_EQ(one, 768.0 * 256);
  EXPECT_EQ(threads_for_work(one, 2), 1);
  EXPECT_EQ(threads_for_work(estimated_work(gru, {input({100, 8, 80}), input({1, 768, 80}), input({1, 768, 256})}), 2), 2);
  testing::add_int_attr(gru, "layout", 1);  // batch-major: the batch is X's first dimension
  EXPECT_DOUBLE_EQ(estimated_work(gru, {input({8, 100, 80}), input({1, 768, 80}), input({1, 768, 256})}), 8 * 768.0 * 256);
}

TEST(ThreadPolicy, StepsReadingWhatTheTeamWroteShareItFromSixtyFourThousandElements) {
  // A Concat (and, in the planner, a layout reorder or a squeeze-excitation block) reads values
  // the convolutions before it wrote on every core: weighted like team_written_work, so a
  // 1x32x56x56 reorder (100K elements: 0.011 ms on one thread at 1, 0.068 ms on one thread of
  // two in regnet_x_400mf) gets the team while a 1x16x32x32 one stays on one thread.
  EXPECT_DOUBLE_EQ(team_written_work(1000), 8000);
  EXPECT_EQ(threads_for_work(team_written_work(32.0 * 56 * 56), 2), 2);
  EXPECT_EQ(threads_for_work(32.0 * 56 * 56, 2), 1) << "unweighted it would stay on one thread, and this test checks nothing";
  EXPECT_EQ(threads_for_work(team_written_work(16.0 * 32 * 32), 2), 1);
  auto concat = testing::node("Concat", {"a", "b"}, {"c"});
  EXPECT_DOUBLE_EQ(estimated_work(concat, {input({1, 16, 56, 56}), input({1, 16, 56, 56})}), team_written_work(2 * 16.0 * 56 * 56));
}

TEST(ThreadPolicy, SoftmaxLayerNormAndGatheringTransposesCountSeveralPassesPerElement) {
  // 150K elements: one pass of element-wise work stays on one thread; a softmax (exponentials
  // and three passes), a layer norm and a transpose that gathers its innermost axis get the team.
  const Shape x = {4, 5, 150, 50};
  auto relu = testing::node("Relu", {"x"}, {"y"});
  EXPECT_EQ(threads_for_work(estimated_work(relu, {input(x)}), 2), 1);
  auto softmax = testing::node("Softmax", {"x"}, {"y"});
  EXPECT_EQ(threads_for_work(estimated_work(softmax, {input(x)}), 2), 2);
  auto norm = testing::node("LayerNormalization", {"x", "g"}, {"y"});
  EXPECT_EQ(threads_for_work(estimated_work(norm, {input(x), input({50})}), 2), 2);
  auto gather = testing::node("Transpose", {"x"}, {"y"});
  testing::add_ints_attr(gather, "perm", {0, 1, 3, 2});
  EXPECT_EQ(threads_for_work(estimated_work(gather, {input(x)}), 2), 2);
  // Moving whole rows (the innermost axis stays) is a row copy: one pass.
  auto rows = testing::node("Transpose", {"x"}, {"y"});
  testing::add_ints_attr(rows, "perm", {1, 0, 2, 3});
  EXPECT_EQ(threads_for_work(estimated_work(rows, {input(x)}), 2), 1);
}

TEST(ThreadPolicy, APoolingStepCountsItsWindowAndWhatTheTeamWrote) {
  // googlenet's 3x3 stride-1 MaxPool over 512x14x14 (100K elements): as elements alone it would
  // run on one thread; weighted by its window and as team-written input it gets the team.
  auto pool = testing::node("MaxPool", {"x"}, {"y"});
  testing::add_ints_attr(pool, "kernel_shape", {3, 3});
  testing::add_ints_attr(pool, "strides", {1, 1});
  const double n = 512.0 * 14 * 14;
  EXPECT_DOUBLE_EQ(estimated_work(pool, {input({1, 512, 14, 14})}), team_written_work(n) + 9 * n);
  EXPECT_EQ(threads_for_work(n, 2), 1) << "unweighted it would stay on one thread, and this test checks nothing";
  EXPECT_EQ(threads_for_work(estimated_work(pool, {input({1, 512, 14, 14})}), 2), 2);
  // A stride reads each input fewer times; a small pool stays on one thread.
  auto strided = testing::node("AveragePool", {"x"}, {"y"});
  testing::add_ints_attr(strided, "kernel_shape", {2, 2});
  testing::add_ints_attr(strided, "strides", {2, 2});
  EXPECT_DOUBLE_EQ(estimated_work(strided, {input({1, 64, 8, 8})}), team_written_work(4096) + 4096);
  EXPECT_EQ(threads_for_work(estimated_work(strided, {input({1, 64, 8, 8})}), 2), 1);
}

// x[1,16,112,112] -> conv 3x3 to 128 channels (large step, 231M MACs: enough for the session to
// keep its team)
// -> Relu -> conv 1x1 stride 4 to 8 channels (small) -> Sigmoid -> y
onnx::ModelProto mixed_model() {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "16", "112", "112"});
  *g->add_initializer() = testing::random_tensor("w1", {128, 16, 3, 3}, 11, -0.2f, 0.2f);
  *g->add_initializer() = testing::random_tensor("w2", {8, 128, 1, 1}, 12, -0.2f, 0.2f);
  auto c1 = testing::node("Conv", {"x", "w1"}, {"a"});
  testing::add_ints_attr(c1, "pads", {1, 1, 1, 1});
  *g->add_node() = c1;
  *g->add_node() = testing::node("Relu", {"a"}, {"b"});
  auto c2 = testing::node("Conv", {"b", "w2"}, {"c"});
  testing::add_ints_attr(c2, "strides", {4, 4});
  *g->add_node() = c2;
  *g->add_node() = testing::node("Sigmoid", {"c"}, {"y"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

TEST(ThreadPolicy, MixedThreadCountsComputeWhatOneThreadComputes) {
  SessionOptions one, two;
  one.threads = 1;
  two.threads = 2;
  Session s1(mixed_model(), one), s2(mixed_model(), two);
  ASSERT_EQ(s2.threads(), 2) << "the large step should keep the team, or this test mixes nothing";
  Tensor x = Tensor::allocate(DType::kF32, {1, 16, 112, 112});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::cos(0.11f * static_cast<float>(i));
  for (int round = 0; round < 3; ++round) {
    auto a = s1.run({x})[0], b = s2.run({x})[0];
    ASSERT_EQ(a.shape, b.shape);
    for (std::int64_t i = 0; i < a.numel(); ++i) ASSERT_NEAR(a.as<float>()[i], b.as<float>()[i], 1e-5f) << i;
  }
}

TEST(ThreadPolicy, AConcatOfPixelRowsIsCopiedWholeOnEveryThread) {
  // Two inputs with uneven pieces per row ([1, 3025, 64] and [1, 3025, 40] on the last axis, as
  // a channel Concat of NHWC values is): every row of the output holds both pieces, in order,
  // however many threads copy it.
  const double weighted = estimated_work(testing::node("Concat", {"a", "b"}, {"y"}), {input({1, 3025, 64}), input({1, 3025, 40})});
  EXPECT_GT(weighted, estimated_work(testing::node("Add", {"a", "b"}, {"y"}), {input({1, 3025, 64}), input({1, 3025, 40})}));
  EXPECT_GT(threads_for_work(weighted, 2), 1) << "this Concat should get the team, or this test copies on one thread";
  auto m = testing::empty_model("concat");
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("a", onnx::TensorProto::FLOAT, {"1", "3025", "64"});
  *g->add_input() = testing::tensor_value("b", onnx::TensorProto::FLOAT, {"1", "3025", "40"});
  auto concat = testing::node("Concat", {"a", "b"}, {"y"});
  testing::add_int_attr(concat, "axis", 2);
  *g->add_node() = concat;
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  // A large product beside it, so that the session keeps its team at all (268M MACs).
  *g->add_input() = testing::tensor_value("p", onnx::TensorProto::FLOAT, {"512", "512"});
  *g->add_initializer() = testing::random_tensor("w", {512, 1024}, 5, -1.f, 1.f);
  *g->add_node() = testing::node("MatMul", {"p", "w"}, {"q"});
  *g->add_output() = testing::tensor_value("q", onnx::TensorProto::FLOAT, {});
  Tensor p = Tensor::allocate(DType::kF32, {512, 512});
  for (std::int64_t i = 0; i < p.numel(); ++i) p.as<float>()[i] = 0.5f;
  Tensor a = Tensor::allocate(DType::kF32, {1, 3025, 64}), b = Tensor::allocate(DType::kF32, {1, 3025, 40});
  for (std::int64_t i = 0; i < a.numel(); ++i) a.as<float>()[i] = static_cast<float>(i);
  for (std::int64_t i = 0; i < b.numel(); ++i) b.as<float>()[i] = -static_cast<float>(i) - 1;
  for (int threads : {1, 2, 3}) {
    SessionOptions o;
    o.threads = threads;
    Session s(m, o);
    ASSERT_EQ(s.threads(), threads);
    auto y = s.run({a, b, p})[0];
    ASSERT_EQ(y.shape, (Shape{1, 3025, 104}));
    for (std::int64_t r = 0; r < 3025; ++r)
      for (std::int64_t c = 0; c < 104; ++c) {
        const float want = c < 64 ? a.as<float>()[r * 64 + c] : b.as<float>()[r * 40 + (c - 64)];
        ASSERT_EQ(y.as<float>()[r * 104 + c], want) << "threads " << threads << " row " << r << " col " << c;
      }
  }
}

TEST(ThreadPolicy, BetweenTheBoundsTheFasterPlanIsMeasuredAndSaid) {
  // x[1,16,56,56] -> 3x3 conv to 32 channels (14.5M MACs: a step for the team, a session below
  // the bound where a team surely pays): both plans are timed when the session is made; which
  // wins depends on the machine, but the session says which and why, runs what it says, and
  // computes what a one-thread session computes.
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "16", "56", "56"});
  *g->add_initializer() = testing::random_tensor("w", {32, 16, 3, 3}, 13, -0.2f, 0.2f);
  auto c = testing::node("Conv", {"x", "w"}, {"a"});
  testing::add_ints_attr(c, "pads", {1, 1, 1, 1});
  *g->add_node() = c;
  *g->add_node() = testing::node("Relu", {"a"}, {"y"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  SessionOptions one, two;
  two.threads = 2;
  Session s1(m, one), s2(m, two);
  EXPECT_TRUE(s1.thread_choice().empty());  // one thread asked: nothing to choose
  const std::string& why = s2.thread_choice();
  const bool team = why.rfind("a team measured faster", 0) == 0, single = why.rfind("one thread measured as fast", 0) == 0;
  EXPECT_TRUE(team || single) << why;
  EXPECT_EQ(s2.threads(), team ? 2 : 1) << why;
  Tensor x = Tensor::allocate(DType::kF32, {1, 16, 56, 56});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.07f * static_cast<float>(i));
  auto a = s1.run({x})[0], b = s2.run({x})[0];
  ASSERT_EQ(a.shape, b.shape);
  for (std::int64_t i = 0; i < a.numel(); ++i) ASSERT_NEAR(a.as<float>()[i], b.as<float>()[i], 1e-5f) << i;
  // No parallel step at all: nothing to measure.
  Session small(testing::conv_bn_relu_model(), two);
  EXPECT_EQ(small.threads(), 1);
  EXPECT_EQ(small.thread_choice(), "too little parallel work for a team");
}

TEST(ThreadPolicy, ASessionWithTooLittleParallelWorkRunsOnOneThread) {
  EXPECT_FALSE(worth_a_thread_team(0));
  EXPECT_FALSE(worth_a_thread_team(10e6));   // the PP-OCR classifier's 10 parallel steps
  EXPECT_FALSE(worth_a_thread_team(141e6));  // shufflenet_v2_x1_0
  EXPECT_TRUE(worth_a_thread_team(299e6));   // mobilenet_v2
  // conv_bn_relu_model: 3 -> 4 channels on 8x8, no step worth a second thread.
  SessionOptions two;
  two.threads = 2;
  Session small(testing::conv_bn_relu_model(), two);
  EXPECT_EQ(small.threads(), 1);
  Session large(mixed_model(), two);
  EXPECT_EQ(large.threads(), 2);
  SessionOptions one;
  Session asked_one(mixed_model(), one);
  EXPECT_EQ(asked_one.threads(), 1);
}

}  // namespace
}  // namespace aifgen::engine

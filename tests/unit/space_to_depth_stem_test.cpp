// A strided stem convolution (AlexNet's 11x11 at stride 4) rewritten as space to depth and a
// stride-1 convolution (space_to_depth_stem.h) computes what the original computes, for several
// kernels, strides, paddings and input sizes, at 1 and 2 threads; convolutions that do not
// qualify stay as written; and where oneDNN runs the original as a GEMM the planner rewrites it.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/engine/session.h"
#include "core/engine/space_to_depth_stem.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

struct StemCase {
  std::int64_t c = 3, size = 35, o = 16, k = 11, s = 4;
  std::vector<std::int64_t> pads = {2, 2, 2, 2};
  std::int64_t group = 1;
};

// x[1,c,size,size] -> Conv (k, s, pads) + bias -> Relu -> y. With `through_identity` the Conv
// reads an Identity of x, not the graph input, so the rewrite does not apply: the reference.
onnx::ModelProto stem_model(const StemCase& t, bool through_identity) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  const std::string side = std::to_string(t.size);
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", std::to_string(t.c), side, side});
  *g->add_initializer() = testing::random_tensor("w", {t.o, t.c / t.group, t.k, t.k}, 81, -0.2f, 0.2f);
  *g->add_initializer() = testing::random_tensor("b", {t.o}, 82, -0.5f, 0.5f);
  std::string in = "x";
  if (through_identity) {
    *g->add_node() = testing::node("Identity", {"x"}, {"xi"});
    in = "xi";
  }
  auto conv = testing::node("Conv", {in, "w", "b"}, {"c"});
  testing::add_ints_attr(conv, "strides", {t.s, t.s});
  testing::add_ints_attr(conv, "pads", t.pads);
  testing::add_ints_attr(conv, "kernel_shape", {t.k, t.k});
  testing::add_int_attr(conv, "group", t.group);
  *g->add_node() = conv;
  *g->add_node() = testing::node("Relu", {"c"}, {"y"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

std::int64_t rewrites(const onnx::ModelProto& m, bool only_where_gemm) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  std::int64_t n = -1;
  auto out = stems_as_space_to_depth(m, eng, &n, only_where_gemm);
  EXPECT_EQ(out.has_value(), n > 0);
  return n;
}

Tensor input(const StemCase& t) {
  Tensor x = Tensor::allocate(DType::kF32, {1, t.c, t.size, t.size});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.11f * static_cast<float>(i) + 0.4f);
  return x;
}

// The rewritten graph planned as it is (the planner's own pass keeps it: nothing left to rewrite)
// against the original convolution, value by value.
void expect_rewrite_matches(const StemCase& t) {
  const auto model = stem_model(t, false);
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  std::int64_t n = 0;
  auto rewritten = stems_as_space_to_depth(model, eng, &n, false);
  ASSERT_TRUE(rewritten.has_value()) << "k" << t.k << " s" << t.s;
  EXPECT_EQ(n, 1);
  bool has_stride = false;
  for (const auto& node : rewritten->graph().node())
    for (const auto& a : node.attribute()) has_stride = has_stride || (node.op_type() == "Conv" && a.name() == "strides");
  EXPECT_FALSE(has_stride) << "the new convolution runs at stride 1";
  const Tensor x = input(t);
  Session reference(stem_model(t, true), {});
  const Tensor want = reference.run({x})[0];
  for (int threads : {1, 2}) {
    SessionOptions o;
    o.threads = threads;
    Session s(*rewritten, o);
    const Tensor y = s.run({x})[0];
    ASSERT_EQ(y.shape, want.shape);
    for (std::int64_t i = 0; i < y.numel(); ++i)
      ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-4f * std::max(1.f, std::abs(want.as<float>()[i])))
          << "k" << t.k << " s" << t.s << " at " << i << ", " << threads << " threads";
  }
}

TEST(SpaceToDepthStem, TheRewrittenStemComputesWhatTheOriginalDoes) {
  expect_rewrite_matches({});  // AlexNet's geometry on a small image
  StemCase uneven;             // size and padding that leave rows no output reads
  uneven.size = 38, uneven.pads = {1, 0, 3, 2};
  expect_rewrite_matches(uneven);
  StemCase stride2;  // a 7x7 stride-2 stem of 4 channels, 16 channels regrouped
  stride2.c = 4, stride2.k = 7, stride2.s = 2, stride2.pads = {3, 3, 3, 3}, stride2.size = 20;
  expect_rewrite_matches(stride2);
  StemCase unpadded;  // kernel 5, stride 3, no padding
  unpadded.k = 5, unpadded.s = 3, unpadded.pads = {0, 0, 0, 0};
  expect_rewrite_matches(unpadded);
}

TEST(SpaceToDepthStem, ConvolutionsThatDoNotQualifyStayAsWritten) {
  EXPECT_EQ(rewrites(stem_model({}, true), false), 0) << "does not read a graph input";
  StemCase stride1;
  stride1.s = 1;
  EXPECT_EQ(rewrites(stem_model(stride1, false), false), 0) << "stride 1";
  StemCase patches;  // ViT/Swin patch embedding: kernel = stride, already one pass
  patches.k = 4, patches.s = 4, patches.pads = {0, 0, 0, 0};
  EXPECT_EQ(rewrites(stem_model(patches, false), false), 0) << "kernel not above stride";
  StemCase wide;  // 5 channels at stride 4 would be 80 regrouped channels
  wide.c = 5;
  EXPECT_EQ(rewrites(stem_model(wide, false), false), 0) << "too many regrouped channels";
  StemCase grouped;
  grouped.c = 4, grouped.group = 2, grouped.o = 16;
  EXPECT_EQ(rewrites(stem_model(grouped, false), false), 0) << "grouped";
}

// Where oneDNN runs AlexNet's stem as im2col + GEMM (on AVX2 and AVX-512 machines, oneDNN 2.6),
// the planner rewrites it, and the session's results equal the original's.
TEST(SpaceToDepthStem, ThePlannerRewritesAStemOneDnnWouldRunAsAGemm) {
  StemCase alexnet;
  alexnet.size = 67, alexnet.o = 64;
  const auto model = stem_model(alexnet, false);
  if (rewrites(model, true) == 0) GTEST_SKIP() << "oneDNN has a direct kernel for this stem on this machine";
  SessionOptions o;
  o.profile = true;
  Session s(model, o), reference(stem_model(alexnet, true), {});
  const Tensor x = input(alexnet);
  const Tensor y = s.run({x})[0], want = reference.run({x})[0];
  ASSERT_EQ(y.shape, want.shape);
  for (std::int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-4f * std::max(1.f, std::abs(want.as<float>()[i])));
  bool transposed = false;
  for (const auto& p : s.profile()) transposed = transposed || p.op == "Transpose";
  EXPECT_TRUE(transposed) << "the input regrouped by stride blocks";
}

}  // namespace
}  // namespace aifgen::engine

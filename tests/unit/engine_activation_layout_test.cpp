// The activation layout of float convolution chains (core/engine/activation_layout.h): started
// blocked, a RegNet-style chain (stem -> 1x1 -> grouped 3x3 with 16-channel groups) runs without
// reordering between NHWC and nChw16c and gives oneDNN's-layout results; measured, the session
// keeps one of the two plans and says which. On AVX2 (ctest engine_avx2) oneDNN writes nChw8c
// throughout, nothing converts, and there is nothing to choose; on some AVX-512 CPUs oneDNN's
// grouped kernel reads NHWC and nothing converts either.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;

onnx::NodeProto conv(const std::string& x, const std::string& w, const std::string& y, std::int64_t pad, std::int64_t stride,
                     std::int64_t group = 1) {
  auto n = node("Conv", {x, w}, {y});
  testing::add_ints_attr(n, "pads", {pad, pad, pad, pad});
  testing::add_ints_attr(n, "strides", {stride, stride});
  if (group > 1) testing::add_int_attr(n, "group", group);
  return n;
}

// x[1,3,32,32] -> 3x3/2 stem (32) -> Relu -> 1x1 (64) -> Relu = a -> 3x3 grouped (4 groups of
// 16) -> Relu -> 1x1 (64) + a -> Relu = y: the grouped convolution reads the 1x1's output.
onnx::ModelProto regnet_like() {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "3", "32", "32"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("w0", {32, 3, 3, 3}, 21, -0.3f, 0.3f);
  *g->add_initializer() = testing::random_tensor("w1", {64, 32, 1, 1}, 22, -0.2f, 0.2f);
  *g->add_initializer() = testing::random_tensor("w2", {64, 16, 3, 3}, 23, -0.1f, 0.1f);
  *g->add_initializer() = testing::random_tensor("w3", {64, 64, 1, 1}, 24, -0.1f, 0.1f);
  *g->add_node() = conv("x", "w0", "c0", 1, 2);
  *g->add_node() = node("Relu", {"c0"}, {"r0"});
  *g->add_node() = conv("r0", "w1", "c1", 0, 1);
  *g->add_node() = node("Relu", {"c1"}, {"a"});
  *g->add_node() = conv("a", "w2", "c2", 1, 1, 4);
  *g->add_node() = node("Relu", {"c2"}, {"r2"});
  *g->add_node() = conv("r2", "w3", "c3", 0, 1);
  *g->add_node() = node("Add", {"c3", "a"}, {"s"});
  *g->add_node() = node("Relu", {"s"}, {"y"});
  return m;
}

SessionOptions options(ActivationLayout layout, int threads) {
  SessionOptions o;
  o.activation_layout = layout;
  o.conv_algorithm = ConvAlgorithm::kDirect;  // no Winograd race in the way
  o.threads = threads;
  return o;
}

Tensor wavy_input() {
  Tensor x = Tensor::allocate(DType::kF32, {1, 3, 32, 32});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.07f * static_cast<float>(i)) + 0.1f;
  return x;
}

float largest_value(const Tensor& t) {
  return *std::max_element(t.as<float>(), t.as<float>() + t.numel());
}

TEST(EngineActivationLayout, StartedBlockedTheChainConvertsNothingAndGivesTheSameResults) {
  for (int threads : {1, 2}) {
    Session onednn(regnet_like(), options(ActivationLayout::kOneDnn, threads));
    Session blocked(regnet_like(), options(ActivationLayout::kBlocked, threads));
    EXPECT_EQ(blocked.layout_conversions(), 0u) << "threads " << threads;
    if (onednn.layout_conversions() > 0) {
      // oneDNN's NHWC from the stem on, reordered to nChw16c for the grouped convolution (an
      // earlier AVX-512 VM); the conversion steps are what starting blocked saves. On the AVX-512
      // EPYC of 2026-12-05 oneDNN's grouped kernel reads NHWC as it is and nothing converts.
      EXPECT_TRUE(testing::onednn_uses_avx512()) << "nChw8c throughout below AVX-512";
      EXPECT_LT(blocked.kernel_count(), onednn.kernel_count()) << "threads " << threads;
    }
    EXPECT_TRUE(onednn.activation_layout_choice().empty());
    EXPECT_TRUE(blocked.activation_layout_choice().empty());
    const Tensor x = wavy_input();
    auto want = onednn.run({x}), got = blocked.run({x});
    ASSERT_EQ(got[0].shape, (Shape{1, 64, 16, 16}));
    ASSERT_EQ(got[0].shape, want[0].shape);
    EXPECT_LT(testing::relative_difference(got[0], want[0]), 1e-5) << "threads " << threads;
    EXPECT_GT(largest_value(got[0]), 0.0f);  // not a chain of zeros
  }
}

TEST(EngineActivationLayout, MeasuredKeepsOneOfTheTwoPlansAndSaysWhich) {
  Session measured(regnet_like(), options(ActivationLayout::kMeasured, 1));
  Session onednn(regnet_like(), options(ActivationLayout::kOneDnn, 1));
  const std::string& note = measured.activation_layout_choice();
  if (onednn.layout_conversions() == 0 && onednn.grouped_channels_last_convolutions() == 0) {
    EXPECT_TRUE(note.empty()) << note;  // nothing converts or runs grouped on NHWC: no second plan, nothing to say
    EXPECT_EQ(measured.kernel_count(), onednn.kernel_count());
  } else if (note.rfind("blocked, measured faster", 0) == 0) {
    EXPECT_EQ(measured.layout_conversions(), 0u) << note;
    EXPECT_EQ(measured.grouped_channels_last_convolutions(), 0u) << note;
  } else {
    EXPECT_EQ(note.rfind("oneDNN's", 0), 0u) << note;
    EXPECT_EQ(measured.layout_conversions(), onednn.layout_conversions()) << note;
    EXPECT_EQ(measured.grouped_channels_last_convolutions(), onednn.grouped_channels_last_convolutions()) << note;
  }
  const Tensor x = wavy_input();
  EXPECT_LT(testing::relative_difference(measured.run({x})[0], onednn.run({x})[0]), 1e-5);
}

// x[1,3,32,32] -> 3x3/2 stem (64) -> 1x1 (64) -> 3x3 in 8 groups of 8 -> 1x1 (64) -> 3x3 in 2
// groups of 32 -> 1x1 (64) = y: ResNeXt-101 32x8d's stage 1 (8-channel groups, whose kernel
// writes nChw8c) before its later stages (wider groups).
onnx::ModelProto resnext_like() {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "3", "32", "32"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("w0", {64, 3, 3, 3}, 31, -0.3f, 0.3f);
  *g->add_initializer() = testing::random_tensor("w1", {64, 64, 1, 1}, 32, -0.2f, 0.2f);
  *g->add_initializer() = testing::random_tensor("w2", {64, 8, 3, 3}, 33, -0.2f, 0.2f);
  *g->add_initializer() = testing::random_tensor("w3", {64, 64, 1, 1}, 34, -0.2f, 0.2f);
  *g->add_initializer() = testing::random_tensor("w4", {64, 32, 3, 3}, 35, -0.1f, 0.1f);
  *g->add_initializer() = testing::random_tensor("w5", {64, 64, 1, 1}, 36, -0.2f, 0.2f);
  const char* ws[] = {"w0", "w1", "w2", "w3", "w4", "w5"};
  const std::int64_t pads[] = {1, 0, 1, 0, 1, 0}, strides[] = {2, 1, 1, 1, 1, 1}, groups[] = {1, 1, 8, 1, 2, 1};
  std::string in = "x";
  for (int k = 0; k < 6; ++k) {
    const std::string c = "c" + std::to_string(k), r = k == 5 ? "y" : "r" + std::to_string(k);
    *g->add_node() = conv(in, ws[k], c, pads[k], strides[k], groups[k]);
    *g->add_node() = node("Relu", {c}, {r});
    in = r;
  }
  return m;
}

TEST(EngineActivationLayout, StartedBlockedNoGroupedConvolutionReadsNhwcAfterANarrowGroupedOne) {
  // Left to oneDNN on AVX-512, the 1x1 convolution after the 8-channel groups reorders their
  // nChw8c output to NHWC and the 32-channel groups run oneDNN's NHWC kernel (ResNeXt-101 32x8d:
  // 30% slower than its nChw16c one). Started blocked, that reorder goes to nChw16c instead and
  // the chain stays blocked. Below AVX-512 it is nChw8c throughout either way.
  for (int threads : {1, 2}) {
    Session onednn(resnext_like(), options(ActivationLayout::kOneDnn, threads));
    Session blocked(resnext_like(), options(ActivationLayout::kBlocked, threads));
    EXPECT_EQ(blocked.grouped_channels_last_convolutions(), 0u) << "threads " << threads;
    if (!testing::onednn_uses_avx512()) EXPECT_EQ(onednn.grouped_channels_last_convolutions(), 0u);
    const Tensor x = wavy_input();
    auto want = onednn.run({x}), got = blocked.run({x});
    ASSERT_EQ(got[0].shape, (Shape{1, 64, 16, 16}));
    EXPECT_LT(testing::relative_difference(got[0], want[0]), 1e-5) << "threads " << threads;
    EXPECT_GT(largest_value(got[0]), 0.0f);
    // Measured: where oneDNN's plan runs grouped convolutions on NHWC, the blocked plan is raced
    // and the note says which was kept.
    Session measured(resnext_like(), options(ActivationLayout::kMeasured, threads));
    const std::string& note = measured.activation_layout_choice();
    if (onednn.grouped_channels_last_convolutions() > 0)
      EXPECT_TRUE(note.rfind("blocked, measured faster", 0) == 0 || note.rfind("oneDNN's, measured as fast", 0) == 0) << note;
    EXPECT_LT(testing::relative_difference(measured.run({x})[0], want[0]), 1e-5) << "threads " << threads;
  }
}

}  // namespace
}  // namespace aifgen::engine

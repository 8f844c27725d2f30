// Narrow groups of a grouped convolution joined into wider ones (group_merge.h): which factor is
// chosen, the block-diagonal weights, and sessions whose merged convolutions compute what a plain
// loop over the original groups computes.
#include <dnnl.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/engine/kernels/group_merge.h"
#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

TEST(EngineGroupMerge, JoinsTheFewestGroupsThatFillWholeBlocks) {
  EXPECT_EQ(group_merge_factor(32, 4, 4), 2) << "ResNeXt's 32x4d";
  EXPECT_EQ(group_merge_factor(64, 2, 2), 4);
  EXPECT_EQ(group_merge_factor(16, 4, 8), 2) << "input side decides";
  EXPECT_EQ(group_merge_factor(2, 12, 12), 2);
  EXPECT_EQ(group_merge_factor(32, 8, 8), 0) << "already whole blocks";
  EXPECT_EQ(group_merge_factor(32, 1, 1), 0) << "depthwise has its own kernels";
  EXPECT_EQ(group_merge_factor(3, 4, 4), 0) << "no factor divides the groups";
  EXPECT_EQ(group_merge_factor(32, 3, 3), 0) << "no factor up to kMaxGroupMerge fills a block";
  EXPECT_EQ(group_merge_factor(1, 4, 4), 0);
}

TEST(EngineGroupMerge, BlockDiagonalWeightsKeepEachGroupsWeightsInItsOwnSlot) {
  // 4 groups of 2 input channels, 3 outputs each, 1x2 kernels; joined in pairs.
  const std::int64_t groups = 4, cg = 2, mg = 3, taps = 2;
  Tensor w = Tensor::allocate(DType::kF32, {groups * mg, cg, 1, taps});
  for (std::int64_t i = 0; i < w.numel(); ++i) w.as<float>()[i] = static_cast<float>(i + 1);
  Tensor merged = block_diagonal_weights(w, groups, 2);
  ASSERT_EQ(merged.shape, (Shape{groups * mg, 2 * cg, 1, taps}));
  for (std::int64_t o = 0; o < groups * mg; ++o)
    for (std::int64_t i = 0; i < 2 * cg; ++i)
      for (std::int64_t t = 0; t < taps; ++t) {
        const std::int64_t slot = (o / mg) % 2;
        const float want = i / cg == slot ? w.as<float>()[(o * cg + i % cg) * taps + t] : 0.f;
        EXPECT_EQ(merged.as<float>()[(o * 2 * cg + i) * taps + t], want) << o << ' ' << i << ' ' << t;
      }
}

// y = Relu(Conv(x, W, B)) with `groups` groups of `cg` channels in and out, 3x3, pads 1.
onnx::ModelProto grouped_conv(std::int64_t groups, std::int64_t cg, std::int64_t stride, std::int64_t size) {
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  const auto c = std::to_string(groups * cg), s = std::to_string(size);
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", c, s, s});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("W", {groups * cg, cg, 3, 3}, 5);
  *g->add_initializer() = testing::random_tensor("B", {groups * cg}, 6);
  auto conv = testing::node("Conv", {"x", "W", "B"}, {"z"});
  testing::add_int_attr(conv, "group", groups);
  testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
  testing::add_ints_attr(conv, "strides", {stride, stride});
  *g->add_node() = conv;
  *g->add_node() = testing::node("Relu", {"z"}, {"y"});
  return model;
}

// The same convolution as plain loops over the original groups.
std::vector<float> reference(const onnx::ModelProto& m, const std::vector<float>& x, std::int64_t groups, std::int64_t cg,
                             std::int64_t stride, std::int64_t size) {
  const Tensor w = tensor_from_proto(m.graph().initializer(0)), b = tensor_from_proto(m.graph().initializer(1));
  const std::int64_t out = (size + 2 - 3) / stride + 1, c = groups * cg;
  std::vector<float> y(static_cast<std::size_t>(c * out * out));
  for (std::int64_t o = 0; o < c; ++o)
    for (std::int64_t oh = 0; oh < out; ++oh)
      for (std::int64_t ow = 0; ow < out; ++ow) {
        double acc = b.as<float>()[o];
        for (std::int64_t i = 0; i < cg; ++i)
          for (std::int64_t kh = 0; kh < 3; ++kh)
            for (std::int64_t kw = 0; kw < 3; ++kw) {
              const std::int64_t ih = oh * stride + kh - 1, iw = ow * stride + kw - 1;
              if (ih < 0 || iw < 0 || ih >= size || iw >= size) continue;
              const std::int64_t ic = (o / cg) * cg + i;
              acc += static_cast<double>(w.as<float>()[((o * cg + i) * 3 + kh) * 3 + kw]) * x[static_cast<std::size_t>((ic * size + ih) * size + iw)];
            }
        y[static_cast<std::size_t>((o * out + oh) * out + ow)] = static_cast<float>(std::max(0.0, acc));
      }
  return y;
}

bool onednn_has_avx2() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto avx2 = static_cast<unsigned>(dnnl::cpu_isa::avx2);
  return (isa & avx2) == avx2;
}

// The implementation oneDNN picks for the convolution in its original groups, layouts its own.
std::string onednn_kernel_for_original_groups(std::int64_t groups, std::int64_t cg, std::int64_t stride, std::int64_t size) {
  using memory = dnnl::memory;
  const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  const std::int64_t out = (size + 2 - 3) / stride + 1, c = groups * cg;
  auto any = [](memory::dims d) { return memory::desc(d, memory::data_type::f32, memory::format_tag::any); };
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                    any({1, c, size, size}), any({groups, cg, cg, 3, 3}),
                                    memory::desc({c}, memory::data_type::f32, memory::format_tag::x), any({1, c, out, out}),
                                    {stride, stride}, {1, 1}, {1, 1});
  return dnnl::convolution_forward::primitive_desc(d, eng).impl_info_str();
}

TEST(EngineGroupMerge, MergedSessionsMatchTheOriginalGroups) {
  struct Case {
    std::int64_t groups, cg, stride, size;
  };
  for (const Case k : {Case{8, 4, 1, 10}, Case{8, 4, 2, 11}, Case{16, 2, 1, 9}})
    for (int threads : {1, 2}) {
      const auto model = grouped_conv(k.groups, k.cg, k.stride, k.size);
      SessionOptions o;
      o.threads = threads;
      Session s(model, o);
      // oneDNN's blocked grouped kernels start at AVX2; below it nothing is better to merge into.
      // On AVX-512 oneDNN has a vector kernel for 4-channel groups as they are (aBcd4b), so only
      // groups it leaves to a slower kernel are joined.
      const std::string original = onednn_kernel_for_original_groups(k.groups, k.cg, k.stride, k.size);
      const bool worth_merging = onednn_has_avx2() && original.find("avx512") == std::string::npos;
      EXPECT_EQ(s.merged_group_convolutions(), worth_merging ? 1u : 0u) << k.groups << "x" << k.cg << " original: " << original;
      const Shape shape = {1, k.groups * k.cg, k.size, k.size};
      Tensor x = Tensor::allocate(DType::kF32, shape);
      std::mt19937 gen(3);
      std::uniform_real_distribution<float> d(-1.f, 1.f);
      for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = d(gen);
      const auto got = s.run({x});
      const auto want = reference(model, std::vector<float>(x.as<float>(), x.as<float>() + x.numel()), k.groups, k.cg, k.stride, k.size);
      ASSERT_EQ(static_cast<std::size_t>(got[0].numel()), want.size());
      double diff = 0;
      for (std::size_t i = 0; i < want.size(); ++i) diff = std::max(diff, static_cast<double>(std::abs(got[0].as<float>()[i] - want[i])));
      EXPECT_LT(diff, 1e-4) << k.groups << "x" << k.cg << " stride " << k.stride << " threads " << threads;
    }
}

TEST(EngineGroupMerge, GroupsThatFillBlocksAndDepthwiseAreLeftAlone) {
  Session whole(grouped_conv(4, 8, 1, 10), SessionOptions{});
  EXPECT_EQ(whole.merged_group_convolutions(), 0u);
  Session depthwise(grouped_conv(16, 1, 1, 10), SessionOptions{});
  EXPECT_EQ(depthwise.merged_group_convolutions(), 0u);
}

}  // namespace
}  // namespace aifgen::engine

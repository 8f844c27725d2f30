// Linear Resize on the CPU engine against ONNX's formulas written out in double precision: the
// cases oneDNN's resampling runs (half_pixel and pytorch_half_pixel whose scale is out/in, in a
// convolution's layout and plain, 2-D and 3-D) and the cases the engine's own loops keep (floored
// scales, pytorch_half_pixel to length 1, align_corners, asymmetric, a resized channel axis), at
// 1 and 2 threads. (The ONNX node conformance cases test_resize_* run too.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/base/error.h"
#include "core/engine/session.h"
#include "core/engine/thread_policy.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::tensor_value;

struct ResizeCase {
  std::string coord;
  std::vector<float> scales;          // empty: sizes given
  std::vector<std::int64_t> sizes;    // empty: scales given
  bool conv_after = false;            // a convolution reads the resize (its layout may stay)
};

std::string dims_text(std::int64_t d) { return std::to_string(d); }

// x -> Conv 1x1 (C -> C, so the resize reads a convolution's layout) -> Resize(linear) [-> Conv 1x1] -> y.
// `features_only` ends the graph at the first convolution (its output is the resize's input).
onnx::ModelProto resize_model(const Shape& x, const ResizeCase& c, bool features_only) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  std::vector<std::string> xd;
  for (auto d : x) xd.push_back(dims_text(d));
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, xd);
  const std::int64_t ch = x[1];
  std::vector<std::int64_t> w_dims = {ch, ch};
  for (std::size_t i = 2; i < x.size(); ++i) w_dims.push_back(1);
  *g->add_initializer() = testing::random_tensor("w1", w_dims, 11);
  *g->add_initializer() = testing::random_tensor("w2", w_dims, 12);
  *g->add_node() = node("Conv", {"x", "w1"}, {features_only ? "y" : "t"});
  if (!features_only) {
    std::vector<std::string> ins = {"t", "", ""};
    if (c.sizes.empty()) {
      *g->add_initializer() = testing::float_tensor("scales", {static_cast<std::int64_t>(c.scales.size())}, c.scales);
      ins[2] = "scales";
    } else {
      *g->add_initializer() = testing::int64_tensor("sizes", c.sizes);
      ins.push_back("sizes");
    }
    auto r = node("Resize", ins, {c.conv_after ? "u" : "y"});
    for (auto [name, value] : {std::pair<const char*, std::string>{"mode", "linear"}, {"coordinate_transformation_mode", c.coord}}) {
      auto* a = r.add_attribute();
      a->set_name(name);
      a->set_type(onnx::AttributeProto::STRING);
      a->set_s(value);
    }
    *g->add_node() = r;
    if (c.conv_after) *g->add_node() = node("Conv", {"u", "w2"}, {"y"});
  }
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

// ONNX Resize (linear) by its definition: per axis the source coordinate of each output
// position, clamped to the input, and the product of the two-neighbour weights over all axes.
Tensor reference_resize(const Tensor& t, const ResizeCase& c) {
  const Shape& x = t.shape;
  const std::size_t rank = x.size();
  Shape y(rank);
  std::vector<double> scale(rank);
  for (std::size_t d = 0; d < rank; ++d) {
    if (c.sizes.empty()) {
      scale[d] = c.scales[d];
      y[d] = static_cast<std::int64_t>(std::floor(static_cast<double>(x[d]) * c.scales[d]));
    } else {
      y[d] = c.sizes[d];
      scale[d] = static_cast<double>(y[d]) / static_cast<double>(x[d]);
    }
  }
  auto source = [&](std::size_t d, std::int64_t o) {
    const double out = static_cast<double>(o), in_len = static_cast<double>(x[d]);
    double s;
    if (c.coord == "half_pixel") s = (out + 0.5) / scale[d] - 0.5;
    else if (c.coord == "pytorch_half_pixel") s = y[d] > 1 ? (out + 0.5) / scale[d] - 0.5 : 0.0;
    else if (c.coord == "align_corners") {
      const double len = c.sizes.empty() ? in_len * scale[d] : static_cast<double>(y[d]);
      s = len <= 1 ? 0.0 : out * (in_len - 1) / (len - 1);
    } else s = out / scale[d];  // asymmetric
    return std::clamp(s, 0.0, in_len - 1);
  };
  Tensor out = Tensor::allocate(DType::kF32, y);
  Shape in_strides(rank, 1);
  for (std::size_t i = rank; i-- > 1;) in_strides[i - 1] = in_strides[i] * x[i];
  for (std::int64_t o = 0; o < numel(y); ++o) {
    std::vector<std::int64_t> idx(rank);
    std::int64_t rem = o;
    for (std::size_t d = rank; d-- > 0;) {
      idx[d] = rem % y[d];
      rem /= y[d];
    }
    double acc = 0;
    for (std::int64_t corner = 0; corner < (std::int64_t{1} << rank); ++corner) {
      double w = 1;
      std::int64_t off = 0;
      for (std::size_t d = 0; d < rank; ++d) {
        const double s = source(d, idx[d]);
        const auto lo = static_cast<std::int64_t>(std::floor(s));
        const std::int64_t hi = std::min(lo + 1, x[d] - 1);
        const double frac = s - static_cast<double>(lo);
        const bool upper = (corner >> d) & 1;
        w *= upper ? frac : 1 - frac;
        off += (upper ? hi : lo) * in_strides[d];
      }
      acc += w * t.as<float>()[off];
    }
    out.as<float>()[o] = static_cast<float>(acc);
  }
  return out;
}

Tensor random_input(const Shape& s) {
  Tensor x = Tensor::allocate(DType::kF32, s);
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.37f * static_cast<float>(i)) + 0.01f * static_cast<float>(i % 17);
  return x;
}

// The resize's output as the engine computes it, against the reference applied to the engine's
// own first convolution (run as a model of its own), followed by the same 1x1 convolution.
void expect_matches_reference(const Shape& x, const ResizeCase& c) {
  const Tensor input = random_input(x);
  for (int threads : {1, 2}) {
    SessionOptions o;
    o.threads = threads;
    const Tensor features = Session(resize_model(x, c, true), o).run({input})[0];
    Tensor want = reference_resize(features, c);
    if (c.conv_after) {
      // The second convolution is linear in its input: run it on the reference resize.
      auto m = testing::empty_model();
      auto* g = m.mutable_graph();
      std::vector<std::string> dims;
      for (auto d : want.shape) dims.push_back(dims_text(d));
      *g->add_input() = tensor_value("u", onnx::TensorProto::FLOAT, dims);
      std::vector<std::int64_t> w_dims = {x[1], x[1]};
      for (std::size_t i = 2; i < x.size(); ++i) w_dims.push_back(1);
      *g->add_initializer() = testing::random_tensor("w2", w_dims, 12);
      *g->add_node() = node("Conv", {"u", "w2"}, {"y"});
      *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
      want = Session(m, o).run({want})[0];
    }
    const Tensor got = Session(resize_model(x, c, false), o).run({input})[0];
    ASSERT_EQ(got.shape, want.shape) << c.coord << " at " << threads << " threads";
    float scale = 0;
    for (std::int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::abs(want.as<float>()[i]));
    for (std::int64_t i = 0; i < want.numel(); ++i)
      ASSERT_NEAR(got.as<float>()[i], want.as<float>()[i], 2e-6f * scale) << c.coord << " element " << i << " at " << threads << " threads";
  }
}

TEST(EngineResize, HalfPixelResizesThatOnednnComputesMatchTheDefinitionInAnyLayout) {
  // Up 2x by sizes, read from a 16-channel convolution: graph output (plain) and read by a
  // convolution (the convolution's layout kept through the resize).
  expect_matches_reference({1, 16, 5, 7}, {"half_pixel", {}, {1, 16, 10, 14}, false});
  expect_matches_reference({1, 16, 5, 7}, {"half_pixel", {}, {1, 16, 10, 14}, true});
  // 8x by exact scales, as a segmentation head upsamples; 21 channels do not fill a block.
  expect_matches_reference({1, 21, 4, 4}, {"half_pixel", {1, 1, 8, 8}, {}, false});
  expect_matches_reference({1, 21, 4, 4}, {"half_pixel", {1, 1, 8, 8}, {}, true});
  // Down, and uneven factors by sizes.
  expect_matches_reference({1, 16, 9, 11}, {"half_pixel", {}, {1, 16, 4, 6}, true});
  // pytorch_half_pixel with every output longer than 1; trilinear over a 5-D input.
  expect_matches_reference({1, 16, 5, 7}, {"pytorch_half_pixel", {}, {1, 16, 13, 3}, true});
  expect_matches_reference({1, 8, 3, 4, 5}, {"half_pixel", {}, {1, 8, 6, 8, 7}, false});
  expect_matches_reference({1, 8, 3, 4, 5}, {"half_pixel", {}, {1, 8, 6, 8, 7}, true});
}

TEST(EngineResize, AResizeBetweenConvolutionsReadsTheFirstOnesLayout) {
  // Both convolutions in blocked layouts (nChw16c or nChw8c): the resize between them runs in it,
  // so nothing converts the first one's output (before, a Reorder to plain came first, and the
  // second convolution reordered the plain result back).
  SessionOptions o;
  o.activation_layout = ActivationLayout::kBlocked;
  o.profile = true;
  Session s(resize_model({1, 16, 5, 7}, {"half_pixel", {}, {1, 16, 10, 14}, true}, false), o);
  s.run({random_input({1, 16, 5, 7})});
  const auto steps = s.step_profile();
  std::vector<std::string> ops;
  for (const auto& step : steps) ops.push_back(step.op);
  const auto resize = std::find(ops.begin(), ops.end(), "Resize");
  ASSERT_NE(resize, ops.end());
  ASSERT_NE(resize, ops.begin());
  EXPECT_NE(*(resize - 1), "Reorder");
  EXPECT_NE(*(resize + 1), "Reorder");
}

TEST(EngineResize, ResizesOnednnWouldComputeDifferentlyMatchTheDefinition) {
  // A scale of 2.5 on 5 floors to 12 outputs: ONNX maps with 2.5, oneDNN would map with 12/5.
  expect_matches_reference({1, 16, 5, 7}, {"half_pixel", {1, 1, 2.5f, 3}, {}, true});
  // pytorch_half_pixel to length 1 reads position 0, half_pixel would read the middle.
  expect_matches_reference({1, 16, 5, 7}, {"pytorch_half_pixel", {}, {1, 16, 1, 14}, true});
  expect_matches_reference({1, 16, 5, 7}, {"align_corners", {}, {1, 16, 11, 20}, true});
  expect_matches_reference({1, 16, 5, 7}, {"align_corners", {1, 1, 2, 3}, {}, false});
  expect_matches_reference({1, 16, 5, 7}, {"asymmetric", {1, 1, 2, 2}, {}, true});
  // The channel axis resized too (oneDNN keeps N and C): the any-axis loop.
  expect_matches_reference({1, 16, 5, 7}, {"half_pixel", {}, {1, 24, 10, 7}, false});
}

TEST(EngineResize, ResizeEighteensAttributesThatChangeTheResultAreRefusedByName) {
  // antialias, axes and keep_aspect_ratio_policy each change what a Resize computes; a plan that
  // ignored them would answer wrongly without a word.
  for (const auto& [name, set] : std::vector<std::pair<std::string, std::function<void(onnx::AttributeProto&)>>>{
           {"antialias", [](onnx::AttributeProto& a) { a.set_type(onnx::AttributeProto::INT); a.set_i(1); }},
           {"axes", [](onnx::AttributeProto& a) { a.set_type(onnx::AttributeProto::INTS); a.add_ints(2); a.add_ints(3); }},
           {"keep_aspect_ratio_policy", [](onnx::AttributeProto& a) { a.set_type(onnx::AttributeProto::STRING); a.set_s("not_larger"); }}}) {
    auto m = resize_model({1, 16, 5, 7}, {"half_pixel", {}, {1, 16, 10, 14}, false}, false);
    m.mutable_opset_import(0)->set_version(18);
    auto* a = m.mutable_graph()->mutable_node(1)->add_attribute();
    a->set_name(name);
    set(*a);
    try {
      Session s(m, {});
      ADD_FAILURE() << name << " was planned";
    } catch (const Error& e) {
      EXPECT_EQ(e.type(), "engine-unsupported") << name;
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

TEST(EngineResize, AnUpsamplesWorkCountsItsOutput) {
  // A 21x28x28 -> 21x224x224 upsample writes 1M values reading 4 inputs each: a team's worth of
  // work although its 16K inputs alone are not.
  auto n = node("Resize", {"x", "", "", "sizes"}, {"y"});
  const Tensor sizes = [] {
    Tensor t = Tensor::allocate(DType::kI64, {4});
    const std::int64_t v[] = {1, 21, 224, 224};
    std::copy(v, v + 4, t.as<std::int64_t>());
    return t;
  }();
  const std::vector<PlanInput> in = {{true, {DType::kF32, {1, 21, 28, 28}, nullptr}, nullptr}, {}, {}, {true, sizes.desc(), &sizes}};
  const double work = estimated_work(n, in);
  EXPECT_DOUBLE_EQ(work, 21.0 * 28 * 28 + 4 * 21.0 * 224 * 224);
  EXPECT_EQ(threads_for_work(work, 2), 2);
  // By scales, the same count.
  const Tensor scales = [] {
    Tensor t = Tensor::allocate(DType::kF32, {4});
    const float v[] = {1, 1, 8, 8};
    std::copy(v, v + 4, t.as<float>());
    return t;
  }();
  auto by_scales = node("Resize", {"x", "", "scales"}, {"y"});
  const std::vector<PlanInput> in2 = {in[0], {}, {true, scales.desc(), &scales}};
  EXPECT_DOUBLE_EQ(estimated_work(by_scales, in2), work);
  // Resize-10 takes its scales as input 1; a downsample counts its smaller output.
  auto resize10 = node("Resize", {"x", "scales"}, {"y"});
  EXPECT_DOUBLE_EQ(estimated_work(resize10, {in[0], {true, scales.desc(), &scales}}), work);
  const Tensor halves = [] {
    Tensor t = Tensor::allocate(DType::kF32, {4});
    const float v[] = {1, 1, 0.5f, 0.5f};
    std::copy(v, v + 4, t.as<float>());
    return t;
  }();
  EXPECT_DOUBLE_EQ(estimated_work(by_scales, {in[0], {}, {true, halves.desc(), &halves}}), 21.0 * 28 * 28 + 4 * 21.0 * 14 * 14);
}

}  // namespace
}  // namespace aifgen::engine

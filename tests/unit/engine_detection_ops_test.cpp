// The ops detection heads add beyond the ONNX conformance cases (which run for RoiAlign,
// InstanceNormalization and ScatterElements too): what those cases do not reach.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/base/error.h"
#include "core/engine/dynamic_tail.h"
#include "core/engine/session.h"
#include "core/passes/pass_manager.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::tensor_value;

// FCOS's GroupNorm arrives as InstanceNormalization over [1, groups, rest]. A plane whose values
// sit far from zero (mean 1000, spread 0.01) keeps its spread: summing squares in float, or
// folding the mean into one float shift (two terms near 1e5 cancelling), loses it to rounding.
// Conv-TasNet's global layer norm is one plane of a million values, whose sums the threads
// share: the same bound there, with the plane's first value (the first sums' shift) an outlier.
void expect_instance_norm_keeps_spread(std::int64_t planes, std::int64_t n, int threads) {
  SCOPED_TRACE(std::to_string(planes) + " planes of " + std::to_string(n) + " values, " + std::to_string(threads) + " threads");
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  const std::vector<std::string> dims = {"1", std::to_string(planes), std::to_string(n)};
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, dims);
  std::vector<float> scales, biases;
  for (std::int64_t c = 0; c < planes; ++c) {
    scales.push_back(1.f + static_cast<float>(c));
    biases.push_back(0.5f * static_cast<float>(c));
  }
  *g->add_initializer() = testing::float_tensor("scale", {planes}, scales);
  *g->add_initializer() = testing::float_tensor("bias", {planes}, biases);
  *g->add_node() = node("InstanceNormalization", {"x", "scale", "bias"}, {"y"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, dims);
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 0.01);
  std::vector<float> x(static_cast<std::size_t>(planes * n));
  for (std::int64_t c = 0; c < planes; ++c)
    for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(c * n + i)] = static_cast<float>((c == 0 ? 1000 : 0) + noise(rng));
  x[0] = 1000.5f;
  SessionOptions o;
  o.threads = threads;
  Session s(m, o);
  auto y = s.run({testing::float_tensor_of({1, planes, n}, x)})[0];
  for (std::int64_t c = 0; c < planes; ++c) {
    const float* xc = x.data() + c * n;
    double mean = 0, var = 0;
    for (std::int64_t i = 0; i < n; ++i) mean += xc[i];
    mean /= static_cast<double>(n);
    for (std::int64_t i = 0; i < n; ++i) var += std::pow(xc[i] - mean, 2);
    var /= static_cast<double>(n);
    double worst = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double want = scales[static_cast<std::size_t>(c)] * (xc[i] - mean) / std::sqrt(var + 1e-5) + biases[static_cast<std::size_t>(c)];
      worst = std::max(worst, std::abs(y.as<float>()[c * n + i] - want));
    }
    // Outputs within a few units of 1 (the outlier's 50): float32 rounding.
    EXPECT_LT(worst, 2e-5) << "plane " << c;
  }
}

TEST(EngineDetectionOps, InstanceNormalizationKeepsASmallSpreadAroundALargeMean) {
  expect_instance_norm_keeps_spread(2, 4096, 1);
  expect_instance_norm_keeps_spread(3, 40000, 2);    // planes split over the threads
  expect_instance_norm_keeps_spread(1, 1 << 20, 2);  // one plane's sums split over the threads
  expect_instance_norm_keeps_spread(1, 1 << 20, 1);
}

TEST(EngineDetectionOps, RoiAlignRefusesABoxOfAnImageTheBatchDoesNotHold) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "1", "4", "4"});
  *g->add_initializer() = testing::float_tensor("rois", {2, 4}, {0, 0, 2, 2, 1, 1, 3, 3});
  *g->add_initializer() = testing::int64_tensor("batch", {0, 1});
  auto roi = node("RoiAlign", {"x", "rois", "batch"}, {"y"});
  testing::add_int_attr(roi, "output_height", 2);
  testing::add_int_attr(roi, "output_width", 2);
  *g->add_node() = roi;
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"2", "1", "2", "2"});
  Session s(m, {});
  try {
    s.run({testing::float_tensor_of({1, 1, 4, 4}, std::vector<float>(16, 1.f))});
    ADD_FAILURE() << "ran";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "engine-bad-input");
    EXPECT_NE(std::string(e.what()).find("batch index 1"), std::string::npos) << e.what();
  }
  // A constant map pools to that constant wherever the samples fall inside it.
  g->mutable_initializer(1)->clear_int64_data();
  for (int i = 0; i < 2; ++i) g->mutable_initializer(1)->add_int64_data(0);
  Session ok(m, {});
  auto y = ok.run({testing::float_tensor_of({1, 1, 4, 4}, std::vector<float>(16, 2.5f))})[0];
  for (std::int64_t i = 0; i < y.numel(); ++i) EXPECT_FLOAT_EQ(y.as<float>()[i], 2.5f);
}

// Keypoint R-CNN upsamples its heatmaps after RoiAlign, so the Resize runs in the dynamic tail on
// tensors the tail allocates. oneDNN's AVX-512 resampling stores its output with aligned
// non-temporal moves: on a tensor aligned to 16 bytes it faulted. The tail's result must equal
// the same Resize planned statically (x -> Resize), bit for bit.
TEST(EngineDetectionOps, AResizeInTheDynamicTailMatchesThePlannedOne) {
  const std::vector<std::string> dims = {"100", "17", "28", "28"};
  auto resize_of = [&](bool in_tail) {
    auto m = testing::empty_model();
    auto* g = m.mutable_graph();
    *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, dims);
    *g->add_input() = tensor_value("f", onnx::TensorProto::FLOAT, {"4"});
    *g->add_initializer() = testing::float_tensor("scales", {4}, {1, 1, 2, 2});
    *g->add_initializer() = testing::float_tensor("zero", {}, {0.f});
    std::string src = "x";
    if (in_tail) {  // x + 0 * (count of f > 0): the same values, known only after a NonZero
      *g->add_node() = node("Greater", {"f", "zero"}, {"g"});
      *g->add_node() = node("NonZero", {"g"}, {"nz"});
      auto sum = node("ReduceSum", {"nz"}, {"s"});
      testing::add_int_attr(sum, "keepdims", 0);
      *g->add_node() = sum;
      auto cast = node("Cast", {"s"}, {"sf"});
      testing::add_int_attr(cast, "to", onnx::TensorProto::FLOAT);
      *g->add_node() = cast;
      *g->add_node() = node("Mul", {"sf", "zero"}, {"nothing"});
      *g->add_node() = node("Add", {"x", "nothing"}, {"x2"});
      src = "x2";
    }
    auto r = node("Resize", {src, "", "scales"}, {"y"});
    for (auto [name, value] : {std::pair<const char*, std::string>{"mode", "linear"}, {"coordinate_transformation_mode", "half_pixel"}}) {
      auto* a = r.add_attribute();
      a->set_name(name);
      a->set_type(onnx::AttributeProto::STRING);
      a->set_s(value);
    }
    *g->add_node() = r;
    *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"100", "17", "56", "56"});
    return m;
  };
  std::vector<float> x(100 * 17 * 28 * 28);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : x) v = u(rng);
  const auto input = testing::float_tensor_of({100, 17, 28, 28}, x);
  const auto flags = testing::float_tensor_of({4}, {1, -1, 2, 0});
  Session planned(resize_of(false), {});
  Session tail(resize_of(true), {});
  const auto want = planned.run({input, flags})[0];
  const auto got = tail.run({input, flags})[0];
  ASSERT_EQ(got.shape, want.shape);
  EXPECT_EQ(std::memcmp(got.data, want.data, want.bytes()), 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(got.data) % 64, 0u);
}

// Mask R-CNN's mask head in small: Conv 3x3 (its bias an Identity of an initializer, as
// PyTorch's exporter shares equal biases) then a 2x2 stride-2 ConvTranspose, on rows a NonZero
// picked, so both run in the dynamic tail. There they are planned in oneDNN's blocked layouts
// with reorders at their edges, and the Conv may run as Winograd; the results must match the
// same ops planned in a static session, for every convolution algorithm.
onnx::ModelProto mask_head_model(bool in_tail, bool relu = false) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"6", "16", "14", "14"});
  *g->add_input() = tensor_value("keep", onnx::TensorProto::FLOAT, {"6"});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.2f, 0.2f);
  auto random = [&](std::size_t n) {
    std::vector<float> v(n);
    for (auto& e : v) e = u(rng);
    return v;
  };
  *g->add_initializer() = testing::float_tensor("w", {16, 16, 3, 3}, random(16 * 16 * 9));
  *g->add_initializer() = testing::float_tensor("shared_bias", {16}, random(16));
  *g->add_initializer() = testing::float_tensor("wt", {16, 8, 2, 2}, random(16 * 8 * 4));
  *g->add_initializer() = testing::float_tensor("zero", {}, {0.f});
  *g->add_initializer() = testing::int64_tensor("axis0", {0});
  *g->add_node() = node("Identity", {"shared_bias"}, {"bias"});
  std::string rows = "x";
  if (in_tail) {
    *g->add_node() = node("Greater", {"keep", "zero"}, {"kept"});
    *g->add_node() = node("NonZero", {"kept"}, {"where"});
    *g->add_node() = node("Squeeze", {"where", "axis0"}, {"index"});
    auto gather = node("Gather", {"x", "index"}, {"rows"});
    testing::add_int_attr(gather, "axis", 0);
    *g->add_node() = gather;
    rows = "rows";
  }
  auto conv = node("Conv", {rows, "w", "bias"}, {relu ? "c_linear" : "c"});
  testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
  *g->add_node() = conv;
  if (relu) *g->add_node() = node("Relu", {"c_linear"}, {"c"});
  auto up = node("ConvTranspose", {"c", "wt"}, {"y"});
  testing::add_ints_attr(up, "strides", {2, 2});
  *g->add_node() = up;
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"n", "8", "28", "28"});
  return m;
}

TEST(EngineDetectionOps, TailConvolutionsInBlockedLayoutsMatchThePlannedOnes) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(6 * 16 * 14 * 14);
  for (auto& v : x) v = u(rng);
  const auto input = testing::float_tensor_of({6, 16, 14, 14}, x);
  const auto all = testing::float_tensor_of({6}, {1, 1, 1, 1, 1, 1});
  for (auto algorithm : {ConvAlgorithm::kDirect, ConvAlgorithm::kWinograd, ConvAlgorithm::kMeasured}) {
    SessionOptions so;
    so.conv_algorithm = algorithm;
    const auto want = Session(mask_head_model(false), so).run({input, all})[0];
    Session tail(mask_head_model(true), so);
    // Every row kept: the same values as the planned session, then again from the kept plans.
    for (int run = 0; run < 2; ++run) {
      const auto got = tail.run({input, all})[0];
      ASSERT_EQ(got.shape, want.shape);
      float worst = 0, largest = 0;
      for (std::int64_t i = 0; i < want.numel(); ++i) {
        worst = std::max(worst, std::abs(got.as<float>()[i] - want.as<float>()[i]));
        largest = std::max(largest, std::abs(want.as<float>()[i]));
      }
      EXPECT_LE(worst, 1e-5f * largest) << static_cast<int>(algorithm) << " run " << run;
    }
    // Rows 1 and 4 only: a new batch size, planned anew, giving those rows' results.
    const auto some = tail.run({input, testing::float_tensor_of({6}, {-1, 1, -1, -1, 1, -1})})[0];
    ASSERT_EQ(some.shape, (Shape{2, 8, 28, 28}));
    const std::int64_t per_row = 8 * 28 * 28;
    for (int r = 0; r < 2; ++r)
      for (std::int64_t i = 0; i < per_row; i += 97)
        EXPECT_NEAR(some.as<float>()[r * per_row + i], want.as<float>()[(r == 0 ? 1 : 4) * per_row + i], 1e-4f) << r << " " << i;
  }
}

// The Identity of the shared bias goes to the tail with its initializer, so the tail plans its
// Conv with the bias known; passed from the head it would be a run-time value.
TEST(EngineDetectionOps, ConstantsTheTailReadsAreComputedInTheTailNotPassedFromTheHead) {
  auto split = split_dynamic_tail(mask_head_model(true));
  ASSERT_TRUE(split.has_value());
  bool identity_in_tail = false;
  for (const auto& n : split->tail) identity_in_tail = identity_in_tail || n.op_type() == "Identity";
  EXPECT_TRUE(identity_in_tail);
  for (const auto& o : split->head.graph().output()) EXPECT_NE(o.name(), "bias");
  for (const auto& n : split->head.graph().node()) EXPECT_NE(n.op_type(), "Identity");
  for (const auto& i : split->head.graph().initializer()) EXPECT_NE(i.name(), "shared_bias");
}

// fuse_conv_activation (a pass for targets this engine runs) makes the mask head's Conv + Relu
// one com.aifgen.FusedConv node; in the tail it must run as the Conv and Relu it stands for.
TEST(EngineDetectionOps, AFusedConvInTheTailRunsAsItsConvAndActivation) {
  auto fused = mask_head_model(true, /*relu=*/true);
  run_pipeline(fused, {"infer_shapes", "fuse_conv_activation"});
  bool has_fused = false;
  for (const auto& n : fused.graph().node()) has_fused = has_fused || n.op_type() == "FusedConv";
  ASSERT_TRUE(has_fused);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> x(6 * 16 * 14 * 14);
  for (auto& v : x) v = u(rng);
  const std::vector<Tensor> inputs{testing::float_tensor_of({6, 16, 14, 14}, x), testing::float_tensor_of({6}, {1, -1, 1, 1, -1, 1})};
  const auto want = Session(mask_head_model(true, true), {}).run(inputs)[0];
  const auto got = Session(fused, {}).run(inputs)[0];
  ASSERT_EQ(got.shape, (Shape{4, 8, 28, 28}));
  ASSERT_EQ(got.shape, want.shape);
  for (std::int64_t i = 0; i < want.numel(); ++i) ASSERT_EQ(got.as<float>()[i], want.as<float>()[i]) << i;
}

}  // namespace
}  // namespace aifgen::engine

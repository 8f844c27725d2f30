// The ops detection heads add beyond the ONNX conformance cases (which run for RoiAlign,
// InstanceNormalization and ScatterElements too): what those cases do not reach.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/base/error.h"
#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::tensor_value;

// FCOS's GroupNorm arrives as InstanceNormalization over [1, groups, rest]. A plane whose values
// sit far from zero (mean 1000, spread 0.01) keeps its spread: summing squares in float, or
// folding the mean into one float shift (two terms near 1e5 cancelling), loses it to rounding.
TEST(EngineDetectionOps, InstanceNormalizationKeepsASmallSpreadAroundALargeMean) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  const std::int64_t n = 4096;
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "2", std::to_string(n)});
  *g->add_initializer() = testing::float_tensor("scale", {2}, {1.f, 2.f});
  *g->add_initializer() = testing::float_tensor("bias", {2}, {0.f, 0.5f});
  *g->add_node() = node("InstanceNormalization", {"x", "scale", "bias"}, {"y"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "2", std::to_string(n)});
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0, 0.01);
  std::vector<float> x(2 * n);
  for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(i)] = static_cast<float>(1000 + noise(rng));
  for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(n + i)] = static_cast<float>(noise(rng));
  Session s(m, {});
  auto y = s.run({testing::float_tensor_of({1, 2, n}, x)})[0];
  for (int c = 0; c < 2; ++c) {
    double mean = 0, var = 0;
    for (std::int64_t i = 0; i < n; ++i) mean += x[static_cast<std::size_t>(c * n + i)];
    mean /= static_cast<double>(n);
    for (std::int64_t i = 0; i < n; ++i) var += std::pow(x[static_cast<std::size_t>(c * n + i)] - mean, 2);
    var /= static_cast<double>(n);
    double worst = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double want = (c == 0 ? 1.0 : 2.0) * (x[static_cast<std::size_t>(c * n + i)] - mean) / std::sqrt(var + 1e-5) + (c == 0 ? 0 : 0.5);
      worst = std::max(worst, std::abs(y.as<float>()[c * n + i] - want));
    }
    EXPECT_LT(worst, 1e-5) << "channel " << c;  // outputs within a few units of 1: float32 rounding
  }
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

}  // namespace
}  // namespace aifgen::engine

// The model behind infer-server: client-chosen shapes are bounded, and shapes are planned outside
// the lock, so requests of an already planned shape never wait behind a new one.
#include "api/kserve/infer_model.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <cmath>
#include <cstring>
#include <future>
#include <map>

#include "core/engine/random_inputs.h"
#include "core/base/error.h"
#include "tests/support/model_builder.h"
#include "tests/support/temp_dir.h"

namespace aifgen {
namespace {

// x [N, 3, H, W] free in N, H and W -> Conv -> BN -> Relu.
std::string bundle_with_free_dims(const testing::TempDir& dir) {
  auto m = testing::conv_bn_relu_model();
  auto* dims = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (int d : {0, 2, 3}) dims->mutable_dim(d)->set_dim_param(d == 0 ? "N" : d == 2 ? "H" : "W");
  m.mutable_graph()->mutable_output(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  std::filesystem::create_directories(dir.path() + "/b");
  std::ofstream(dir.path() + "/b/model.onnx", std::ios::binary) << testing::serialize(m);
  return dir.path() + "/b";
}

engine::Tensor input(std::int64_t h, std::int64_t w) {
  auto t = engine::Tensor::allocate(engine::DType::kF32, {1, 3, h, w});
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = 0.5f;
  return t;
}

TEST(InferModel, InputsBeyondTheElementLimitAreRefusedBeforeAnythingIsPlanned) {
  testing::TempDir dir;
  InferOptions o;
  o.max_batch = 1;
  o.max_input_elements = 3 * 64 * 64;
  InferModel model(bundle_with_free_dims(dir), "m", o);
  EXPECT_EQ(model.infer({input(64, 64)}).size(), 1u);
  try {
    model.infer({input(4096, 4096)});  // 50M elements: the arena would be gigabytes
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "infer-bad-input");
    EXPECT_NE(std::string(e.what()).find("--max-input-elements"), std::string::npos) << e.what();
  }
}

TEST(InferModel, ABundleWithDeclaredShapeRangesServesOnlyThose) {
  testing::TempDir dir;
  const auto bundle = bundle_with_free_dims(dir);
  std::ofstream(bundle + "/variant.json") << R"({"serving": {"input_ranges": {"x": {"min": [1, 3, 16, 16], "max": [4, 3, 64, 128]}}}})";
  InferOptions o;
  o.max_batch = 1;
  InferModel model(bundle, "m", o);
  EXPECT_EQ(model.infer({input(32, 100)}).size(), 1u);
  for (auto [h, w] : {std::pair<std::int64_t, std::int64_t>{8, 32}, {32, 200}, {65, 16}}) {
    try {
      model.infer({input(h, w)});
      ADD_FAILURE() << h << "x" << w << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.type(), "infer-bad-input");
      EXPECT_NE(std::string(e.what()).find("this bundle serves [1x3x16x16] to [4x3x64x128]"), std::string::npos) << e.what();
    }
  }
  // A declaration that does not fit the model is refused when the server starts.
  std::ofstream(bundle + "/variant.json") << R"({"serving": {"input_ranges": {"x": {"min": [1, 3], "max": [4, 3]}}}})";
  EXPECT_THROW(InferModel(bundle, "m", o), Error);
}

TEST(InferModel, ManyDistinctShapesAtOnceAreAllAnsweredCorrectly) {
  testing::TempDir dir;
  InferOptions o;
  o.max_batch = 1;
  InferModel model(bundle_with_free_dims(dir), "m", o);
  const auto reference = model.infer({input(8, 8)})[0];
  std::vector<std::future<engine::Tensor>> runs;
  for (int i = 0; i < 24; ++i)
    runs.push_back(std::async(std::launch::async, [&, i] { return model.infer({input(8 + i % 6, 8)})[0]; }));
  for (int i = 0; i < 24; ++i) {
    auto y = runs[static_cast<std::size_t>(i)].get();
    ASSERT_EQ(y.shape[2], 8 + i % 6);
    // A constant input gives the same value at an interior pixel whatever the height.
    EXPECT_FLOAT_EQ(y.as<float>()[y.shape[3] + 1], reference.as<float>()[reference.shape[3] + 1]);
  }
}

TEST(InferModel, PlansAreCachedPerShapeAndTheLeastRecentlyUsedGoesFirst) {
  testing::TempDir dir;
  InferOptions o;
  o.max_batch = 1;
  o.max_cached_plans = 2;
  InferModel model(bundle_with_free_dims(dir), "m", o);
  const auto start = model.plans_made();  // the constructor may plan a probe shape
  model.infer({input(8, 8)});
  model.infer({input(9, 9)});
  EXPECT_EQ(model.plans_made(), start + 2);
  for (int i = 0; i < 3; ++i) model.infer({input(8, 8)});  // planned shapes run without planning
  EXPECT_EQ(model.plans_made(), start + 2);
  model.infer({input(10, 10)});  // a third shape: 9x9, least recently used, goes
  EXPECT_EQ(model.plans_made(), start + 3);
  model.infer({input(8, 8)});
  EXPECT_EQ(model.plans_made(), start + 3) << "8x8 was used last before 10x10 came: it stays";
  model.infer({input(9, 9)});
  EXPECT_EQ(model.plans_made(), start + 4) << "9x9 was dropped, so it is planned again";
}

// x [1, 16, 12, 12] -> 3x3 Conv (16 -> 16, pads 1) -> y: a convolution Winograd can take,
// with the engine's own kernel below AVX-512 and oneDNN's on it.
std::string bundle_with_a_3x3_convolution(const testing::TempDir& dir) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "16", "12", "12"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("w", {16, 16, 3, 3}, 7, -0.2f, 0.2f);
  auto conv = testing::node("Conv", {"x", "w"}, {"y"});
  testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
  *g->add_node() = conv;
  std::filesystem::create_directories(dir.path() + "/w");
  std::ofstream(dir.path() + "/w/model.onnx", std::ios::binary) << testing::serialize(m);
  return dir.path() + "/w";
}

onnx::ModelProto model_in(const std::string& bundle) {
  std::ifstream f(bundle + "/model.onnx", std::ios::binary);
  onnx::ModelProto m;
  EXPECT_TRUE(m.ParseFromIstream(&f));
  return m;
}

// The 3x3 bundle's input, sin(step * i).
engine::Tensor conv_input(float step) {
  auto x = engine::Tensor::allocate(engine::DType::kF32, {1, 16, 12, 12});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(step * static_cast<float>(i));
  return x;
}

// What an engine session of `m` on one thread with `algorithm` answers for `x`.
engine::Tensor session_answer(const onnx::ModelProto& m, engine::ConvAlgorithm algorithm, const engine::Tensor& x) {
  engine::SessionOptions so;
  so.threads = 1;
  so.conv_algorithm = algorithm;
  engine::Session session(m, so);
  return session.run({x})[0];
}

bool same_bits(const engine::Tensor& a, const engine::Tensor& b) {
  return a.numel() == b.numel() && std::memcmp(a.data, b.data, static_cast<std::size_t>(a.numel()) * sizeof(float)) == 0;
}

// --conv-algorithm reaches the sessions infer-server plans: each answer is bit for bit what a
// session with the same algorithm computes, and Winograd's differs from direct's.
TEST(InferModel, TheConvolutionAlgorithmChosenIsTheOneThatRuns) {
  testing::TempDir dir;
  const auto bundle = bundle_with_a_3x3_convolution(dir);
  const auto m = model_in(bundle);
  const auto x = conv_input(0.3f);
  std::map<engine::ConvAlgorithm, engine::Tensor> served;
  for (auto algorithm : {engine::ConvAlgorithm::kDirect, engine::ConvAlgorithm::kWinograd}) {
    InferOptions o;
    o.max_batch = 1;
    o.threads = 1;
    o.conv_algorithm = algorithm;
    InferModel model(bundle, "m", o);
    served.emplace(algorithm, model.infer({x})[0]);
    EXPECT_TRUE(same_bits(served.at(algorithm), session_answer(m, algorithm, x))) << engine::conv_algorithm_name(algorithm);
  }
  const auto& d = served.at(engine::ConvAlgorithm::kDirect);
  const auto& w = served.at(engine::ConvAlgorithm::kWinograd);
  double diff = 0;
  for (std::int64_t i = 0; i < d.numel(); ++i) diff = std::max(diff, static_cast<double>(std::abs(d.as<float>()[i] - w.as<float>()[i])));
  EXPECT_GT(diff, 0.0) << "Winograd did not run";
  EXPECT_LT(diff, 1e-4);
}

// A model whose inputs have no free dimension is planned once, at start, and its proto is not
// kept (the plan holds the weights): requests of its shape keep running without planning, and
// requests of another shape are refused as bad input, not planned. Free dims keep the proto.
TEST(InferModel, AModelOfOneShapeIsPlannedOnceAndNotKeptWhileFreeDimsKeepIt) {
  testing::TempDir dir;
  const auto bundle = bundle_with_a_3x3_convolution(dir);
  const auto x = conv_input(0.7f);
  InferOptions o;
  o.max_batch = 1;
  o.threads = 1;
  o.conv_algorithm = engine::ConvAlgorithm::kDirect;
  InferModel model(bundle, "m", o);
  EXPECT_FALSE(model.keeps_model());
  EXPECT_EQ(model.plans_made(), 1);
  const auto want = session_answer(model_in(bundle), engine::ConvAlgorithm::kDirect, x);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(same_bits(model.infer({x})[0], want)) << "request " << i;
  EXPECT_EQ(model.plans_made(), 1);
  auto other = engine::Tensor::allocate(engine::DType::kF32, {1, 16, 10, 10});
  try {
    model.infer({other});
    FAIL() << "a shape the model does not declare was served";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "infer-bad-input") << e.what();
  }
  testing::TempDir free_dir;
  InferModel free_dims(bundle_with_free_dims(free_dir), "f", o);
  EXPECT_TRUE(free_dims.keeps_model());
  EXPECT_EQ(free_dims.infer({input(9, 11)}).size(), 1u);
}

// A model of one shape hands its proto to its one plan, so that plan failing is the model failing
// to load, with the engine's reason, rather than a server that answers every request with an
// error. With a free dim the first request's shape is the one planned: such a model loads.
TEST(InferModel, AModelOfOneShapeThatCannotBePlannedFailsToLoadWithTheReason) {
  testing::TempDir dir;
  for (const std::string n : {"4", "N"}) {
    SCOPED_TRACE("x dims [" + n + ", 8]");
    auto m = testing::empty_model();
    auto* g = m.mutable_graph();
    *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {n, "8"});
    *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
    *g->add_node() = testing::node("Hardmax", {"x"}, {"y"}, "the_hardmax");
    const auto bundle = dir.path() + "/h" + n;
    std::filesystem::create_directories(bundle);
    std::ofstream(bundle + "/model.onnx", std::ios::binary) << testing::serialize(m);
    InferOptions o;
    o.max_batch = 1;
    o.threads = 1;
    if (n == "N") {
      InferModel model(bundle, "h", o);
      EXPECT_TRUE(model.keeps_model());
      continue;
    }
    try {
      InferModel model(bundle, "h", o);
      FAIL() << "a model whose one shape cannot be planned loaded";
    } catch (const Error& e) {
      EXPECT_EQ(e.type(), "engine-unsupported");
      EXPECT_NE(std::string(e.what()).find("the_hardmax"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace aifgen

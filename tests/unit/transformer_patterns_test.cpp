// PyTorch's opset-13 LayerNorm (9 ops) and exact GELU (5 ops, both orders of the 0.5) are
// planned as one LayerNormalization / Gelu each, and compute what the ops compute; chains whose
// intermediates are read elsewhere are left alone.
#include <gtest/gtest.h>

#include <cmath>

#include "core/engine/kernels/product_choice.h"
#include "core/engine/session.h"
#include "core/engine/transformer_patterns.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::float_tensor;
using testing::node;

onnx::NodeProto mean_last(const std::string& in, const std::string& out) {
  auto n = node("ReduceMean", {in}, {out});
  testing::add_ints_attr(n, "axes", {-1});
  return n;
}

// x[2,3,8] -> LayerNorm over 8 (eps 1e-5, gamma, beta) -> GELU -> y; `leak` also outputs the
// centered value d, which the LayerNorm chain then may not swallow; `half_first` writes GELU as
// (x * 0.5) * (1 + erf) instead of (x * (1 + erf)) * 0.5.
onnx::ModelProto decomposed(bool leak, bool half_first) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"2", "3", "8"});
  *g->add_initializer() = float_tensor("two", {}, {2.f});
  *g->add_initializer() = float_tensor("eps", {}, {1e-5f});
  *g->add_initializer() = testing::random_tensor("gamma", {8}, 41, 0.5f, 1.5f);
  *g->add_initializer() = testing::random_tensor("beta", {8}, 42, -0.5f, 0.5f);
  *g->add_initializer() = float_tensor("sqrt2", {}, {std::sqrt(2.f)});
  *g->add_initializer() = float_tensor("one", {}, {1.f});
  *g->add_initializer() = float_tensor("half", {}, {0.5f});
  *g->add_node() = mean_last("x", "mean");
  *g->add_node() = node("Sub", {"x", "mean"}, {"d"});
  *g->add_node() = node("Pow", {"d", "two"}, {"sq"});
  *g->add_node() = mean_last("sq", "var");
  *g->add_node() = node("Add", {"var", "eps"}, {"ve"});
  *g->add_node() = node("Sqrt", {"ve"}, {"sd"});
  *g->add_node() = node("Div", {"d", "sd"}, {"n"});
  *g->add_node() = node("Mul", {"n", "gamma"}, {"ng"});
  *g->add_node() = node("Add", {"ng", "beta"}, {"h"});
  *g->add_node() = node("Div", {"h", "sqrt2"}, {"hs"});
  *g->add_node() = node("Erf", {"hs"}, {"e"});
  *g->add_node() = node("Add", {"e", "one"}, {"e1"});
  if (half_first) {
    *g->add_node() = node("Mul", {"h", "half"}, {"h2"});
    *g->add_node() = node("Mul", {"h2", "e1"}, {"y"});
  } else {
    *g->add_node() = node("Mul", {"h", "e1"}, {"he"});
    *g->add_node() = node("Mul", {"he", "half"}, {"y"});
  }
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  if (leak) *g->add_output() = testing::tensor_value("d", onnx::TensorProto::FLOAT, {});
  return m;
}

TEST(TransformerPatterns, LayerNormAndGeluChainsBecomeOneNodeEach) {
  for (bool half_first : {false, true}) {
    TransformerFusions f;
    auto fused = fuse_transformer_patterns(decomposed(false, half_first), &f);
    ASSERT_TRUE(fused.has_value());
    EXPECT_EQ(f.layer_norms, 1);
    EXPECT_EQ(f.gelus, 1);
    ASSERT_EQ(fused->graph().node_size(), 2);
    EXPECT_EQ(fused->graph().node(0).op_type(), "LayerNormalization");
    EXPECT_EQ(fused->graph().node(1).op_type(), "Gelu");
  }
  TransformerFusions f;
  auto partial = fuse_transformer_patterns(decomposed(true, false), &f);
  EXPECT_EQ(f.layer_norms, 0);  // d is a graph output
  EXPECT_EQ(f.gelus, 1);
  ASSERT_TRUE(partial.has_value());
}

TEST(TransformerPatterns, FusedGraphComputesWhatTheOpsCompute) {
  auto m = decomposed(false, false);
  Session s(m, {});
  Tensor x = Tensor::allocate(DType::kF32, {2, 3, 8});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = 3.f * std::sin(0.7f * static_cast<float>(i)) + 0.1f * static_cast<float>(i % 5);
  auto y = s.run({x})[0];
  const auto gamma = tensor_from_proto(m.graph().initializer(2)), beta = tensor_from_proto(m.graph().initializer(3));
  for (int r = 0; r < 6; ++r) {
    const float* xr = x.as<float>() + r * 8;
    double mean = 0, var = 0;
    for (int k = 0; k < 8; ++k) mean += xr[k];
    mean /= 8;
    for (int k = 0; k < 8; ++k) var += (xr[k] - mean) * (xr[k] - mean);
    var /= 8;
    for (int k = 0; k < 8; ++k) {
      const double h = (xr[k] - mean) / std::sqrt(var + 1e-5) * gamma.as<float>()[k] + beta.as<float>()[k];
      const double want = 0.5 * h * (1 + std::erf(h / std::sqrt(2.0)));
      EXPECT_NEAR(y.as<float>()[r * 8 + k], want, 2e-5 * std::max(1.0, std::abs(want))) << r << "," << k;
    }
  }
}


// x[2,5,8] -> MatMul W[8,6] -> Add b[6] -> GELU (5 ops) -> y: one MatMul+Add+Gelu step, with the
// product as oneDNN's matmul or as a 1x1 convolution over the 10 rows (product_choice.h; the
// GELU after it either way), at 1 and 2 threads.
TEST(TransformerPatterns, MatMulTakesItsBiasAndActivationAsOneStep) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"2", "5", "8"});
  *g->add_initializer() = testing::random_tensor("w", {8, 6}, 51, -1.f, 1.f);
  *g->add_initializer() = testing::random_tensor("b", {6}, 52, -1.f, 1.f);
  *g->add_initializer() = float_tensor("isqrt2", {}, {1.f / std::sqrt(2.f)});
  *g->add_initializer() = float_tensor("one", {}, {1.f});
  *g->add_initializer() = float_tensor("half", {}, {0.5f});
  *g->add_node() = node("MatMul", {"x", "w"}, {"xw"});
  *g->add_node() = node("Add", {"b", "xw"}, {"h"});
  *g->add_node() = node("Mul", {"h", "isqrt2"}, {"hs"});
  *g->add_node() = node("Erf", {"hs"}, {"e"});
  *g->add_node() = node("Add", {"one", "e"}, {"e1"});
  *g->add_node() = node("Mul", {"h", "e1"}, {"he"});
  *g->add_node() = node("Mul", {"half", "he"}, {"y"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  Tensor x = Tensor::allocate(DType::kF32, {2, 5, 8});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.9f * static_cast<float>(i));
  const auto w = tensor_from_proto(m.graph().initializer(0)), b = tensor_from_proto(m.graph().initializer(1));
  for (bool pointwise : {false, true})
    for (int threads : {1, 2}) {
      force_pointwise_products_for_testing(pointwise);
      SessionOptions o;
      o.profile = true;
      o.threads = threads;
      Session s(m, o);
      force_pointwise_products_for_testing(std::nullopt);
      EXPECT_EQ(s.pointwise_products(), pointwise ? 1u : 0u);
      auto y = s.run({x})[0];
      ASSERT_EQ(y.shape, (Shape{2, 5, 6}));
      bool one_step = false;
      for (const auto& p : s.profile()) one_step = one_step || p.op == "MatMul+Add+Gelu";
      EXPECT_TRUE(one_step);
      for (int r = 0; r < 10; ++r)
        for (int n = 0; n < 6; ++n) {
          double h = b.as<float>()[n];
          for (int k = 0; k < 8; ++k) h += static_cast<double>(x.as<float>()[r * 8 + k]) * w.as<float>()[k * 6 + n];
          const double want = 0.5 * h * (1 + std::erf(h / std::sqrt(2.0)));
          EXPECT_NEAR(y.as<float>()[r * 6 + n], want, 2e-5 * std::max(1.0, std::abs(want))) << pointwise << " " << threads;
        }
    }
}

}  // namespace
}  // namespace aifgen::engine

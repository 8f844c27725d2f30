// Bias correction of rounded weights: the shift formula on hand-checked numbers, and the INT8
// pass removing the systematic part of a convolution's weight error (per-channel mean of the
// output error) where inputs have a non-zero mean, as after a ReLU.
#include <gtest/gtest.h>

#include <cmath>

#include "core/calibration/calibration_set.h"
#include "core/engine/session.h"
#include "core/passes/pass_manager.h"
#include "core/quantize/bias_correction.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

TEST(BiasCorrection, ConvShiftIsTheWeightErrorTimesTheInputMeans) {
  // 2 output channels, 2 input channels, 1x2 kernels; group 1.
  const std::vector<float> w = {1.0f, 2.0f, 3.0f, 4.0f, -1.0f, 0.5f, 0.25f, 2.0f};
  std::vector<float> wq = w;
  wq[0] += 0.1f;   // o0, i0
  wq[3] -= 0.2f;   // o0, i1
  wq[6] += 0.05f;  // o1, i1
  const auto shift = quantize::conv_bias_shift(w, wq, {2, 2, 1, 2}, 1, {10.f, -3.f});
  ASSERT_EQ(shift.size(), 2u);
  EXPECT_NEAR(shift[0], 0.1f * 10.f + (-0.2f) * -3.f, 1e-5f);
  EXPECT_NEAR(shift[1], 0.05f * -3.f, 1e-5f);
  // Grouped: 2 groups of one input channel each; output 1 reads input 1 only.
  const auto grouped = quantize::conv_bias_shift({1.f, 1.f}, {1.5f, 0.75f}, {2, 1, 1, 1}, 2, {2.f, 4.f});
  ASSERT_EQ(grouped.size(), 2u);
  EXPECT_NEAR(grouped[0], 0.5f * 2.f, 1e-6f);
  EXPECT_NEAR(grouped[1], -0.25f * 4.f, 1e-6f);
  EXPECT_TRUE(quantize::conv_bias_shift(w, wq, {2, 2, 1, 2}, 1, {1.f}).empty());  // means of the wrong size
}

TEST(BiasCorrection, MatMulShiftFollowsTheWeightLayout) {
  // B [K=2, N=3]; with trans_b the same numbers are read as [N=2, K=3].
  const std::vector<float> w = {0, 0, 0, 0, 0, 0}, wq = {1, 2, 3, 4, 5, 6};
  const auto plain = quantize::matmul_bias_shift(w, wq, {2, 3}, false, {1.f, 10.f});
  ASSERT_EQ(plain.size(), 3u);
  EXPECT_FLOAT_EQ(plain[0], 1 + 40);
  EXPECT_FLOAT_EQ(plain[2], 3 + 60);
  const auto transposed = quantize::matmul_bias_shift(w, wq, {2, 3}, true, {1.f, 10.f, 100.f});
  ASSERT_EQ(transposed.size(), 2u);
  EXPECT_FLOAT_EQ(transposed[0], 1 + 20 + 300);
  EXPECT_FLOAT_EQ(transposed[1], 4 + 50 + 600);
}

// x[1,16,8,8] (values in [0.5, 1.5]) -> Conv 1x1 to 32 channels, with bias -> y
onnx::ModelProto positive_input_conv() {
  auto m = empty_model("positive_input_conv");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "16", "8", "8"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "32", "8", "8"});
  *g->add_initializer() = random_tensor("W", {32, 16, 1, 1}, 5, -1.f, 1.f);
  *g->add_initializer() = random_tensor("B", {32}, 6, -0.2f, 0.2f);
  *g->add_node() = node("Conv", {"x", "W", "B"}, {"y"}, "conv");
  return m;
}

engine::Tensor positive_samples(std::int64_t n, float phase) {
  auto t = engine::Tensor::allocate(engine::DType::kF32, {n, 16, 8, 8});
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = 1.f + 0.5f * std::sin(0.7f * static_cast<float>(i) + phase);
  return t;
}

// Sum over output channels of |mean over positions of (quantized - float)|.
double systematic_error(const onnx::ModelProto& quantized) {
  engine::SessionOptions o;
  o.int8_kernels = false;  // the Q/DQ arithmetic as written, on any CPU
  engine::Session ref(positive_input_conv(), o), q(quantized, o);
  auto x = positive_samples(1, 0.3f);
  auto a = ref.run({x})[0], b = q.run({x})[0];
  double total = 0;
  for (int c = 0; c < 32; ++c) {
    double mean = 0;
    for (int p = 0; p < 64; ++p) mean += static_cast<double>(b.as<float>()[c * 64 + p]) - a.as<float>()[c * 64 + p];
    total += std::abs(mean / 64);
  }
  return total;
}

TEST(BiasCorrection, ThePassRemovesTheMeanShiftOfRoundedWeights) {
  CalibrationSet set;
  set.tensors["x"] = positive_samples(8, 0.f);
  set.source = "x.npy";
  PassEnv env{&set};
  auto quantize = [&](const char* correct) {
    auto m = positive_input_conv();
    auto records = run_pipeline(m,
                                {"infer_shapes", PassSpec("quantize_int8", {{"method", "minmax"}, {"equalize", "false"},
                                                                            {"scheme", "s8s8-symmetric"}, {"bias_correction", correct}})},
                                env);
    return std::pair{m, records[1].details};
  };
  auto [corrected, with] = quantize("true");
  auto [plain, without] = quantize("false");
  EXPECT_EQ(with["bias_correction"]["biases_corrected"], 1) << with.dump();
  EXPECT_TRUE(without["bias_correction"].is_null());
  const double e_with = systematic_error(corrected), e_without = systematic_error(plain);
  EXPECT_LT(e_with, 0.5 * e_without) << "with " << e_with << ", without " << e_without;
  std::printf("[figures] systematic error summed over channels: %.3g with bias correction, %.3g without\n", e_with, e_without);
}

TEST(BiasCorrection, AutoIsJudgedOnTheHeldOutSamplesAndExplained) {
  CalibrationSet set;
  set.tensors["x"] = positive_samples(16, 0.f);
  set.source = "x.npy";
  PassEnv env{&set};
  auto m = positive_input_conv();
  auto records = run_pipeline(m, {"infer_shapes", PassSpec("quantize_int8", {{"min_sqnr_db", "10"}, {"equalize", "false"}})}, env);
  const auto& b = records[1].details["bias_correction"];
  ASSERT_TRUE(b.contains("judged")) << b.dump();
  const bool applied = b["applied"].get<bool>();
  // Kept exactly when it used less of the budget.
  const double with = b["judged"]["with"]["budget_used"].get<double>(), without = b["judged"]["without"]["budget_used"].get<double>();
  EXPECT_EQ(applied, with < without) << b.dump();
  // Without held-out samples (no budget, no method auto) it stays off and says why.
  auto m2 = positive_input_conv();
  auto r2 = run_pipeline(m2, {"infer_shapes", PassSpec("quantize_int8", {{"equalize", "false"}})}, env);
  EXPECT_FALSE(r2[1].details["bias_correction"]["applied"].get<bool>());
  EXPECT_NE(r2[1].details["bias_correction"]["why_not"].get<std::string>().find("held-out"), std::string::npos);
}

}  // namespace
}  // namespace aifgen

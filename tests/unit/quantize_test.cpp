// INT8 quantization: calibration methods, scheme parameters, the QDQ rewrite, the engine's int8
// convolutions against the float reference of the same QDQ graph, and validation catching a
// broken quantization.
#include <gtest/gtest.h>

#include <limits>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "core/calibration/calibration_set.h"
#include "core/engine/random_inputs.h"
#include "core/engine/session.h"
#include "core/engine/tensor.h"
#include "core/base/error.h"
#include "core/passes/graph_edit.h"
#include "core/passes/pass_manager.h"
#include "core/onnx_model.h"
#include "core/quantize/dpu_rules.h"
#include "targets/registry.h"
#include "core/quantize/range_observer.h"
#include "core/quantize/scheme.h"
#include "core/quantize/stats_cache.h"
#include "core/validation.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

// x[1,3,16,16] -> Conv 3x3 (+bias, pad 1) -> Relu -> depthwise Conv 3x3 (pad 1) -> Add(residual)
// -> Conv 1x1 -> GlobalAveragePool -> Flatten -> Gemm(transB) -> y[1,10].
onnx::ModelProto small_cnn() {
  auto m = empty_model("small_cnn");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "3", "16", "16"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "10"});
  *g->add_initializer() = random_tensor("W1", {8, 3, 3, 3}, 11, -0.5f, 0.5f);
  *g->add_initializer() = random_tensor("B1", {8}, 12, -0.2f, 0.2f);
  *g->add_initializer() = random_tensor("W2", {8, 1, 3, 3}, 13, -0.5f, 0.5f);
  *g->add_initializer() = random_tensor("B2", {8}, 14, -0.2f, 0.2f);
  *g->add_initializer() = random_tensor("W3", {16, 8, 1, 1}, 15, -0.5f, 0.5f);
  *g->add_initializer() = random_tensor("W4", {10, 16}, 16, -0.5f, 0.5f);
  *g->add_initializer() = random_tensor("B4", {10}, 17, -0.05f, 0.05f);
  auto c1 = node("Conv", {"x", "W1", "B1"}, {"c1"}, "conv1");
  add_ints_attr(c1, "pads", {1, 1, 1, 1});
  *g->add_node() = c1;
  *g->add_node() = node("Relu", {"c1"}, {"r1"}, "relu1");
  auto c2 = node("Conv", {"r1", "W2", "B2"}, {"c2"}, "dwconv");
  add_ints_attr(c2, "pads", {1, 1, 1, 1});
  add_int_attr(c2, "group", 8);
  *g->add_node() = c2;
  *g->add_node() = node("Add", {"c2", "r1"}, {"s"}, "residual");
  *g->add_node() = node("Conv", {"s", "W3"}, {"c3"}, "conv1x1");
  *g->add_node() = node("GlobalAveragePool", {"c3"}, {"p"});
  *g->add_node() = node("Flatten", {"p"}, {"f"});
  auto gemm = node("Gemm", {"f", "W4", "B4"}, {"y"}, "fc");
  add_int_attr(gemm, "transB", 1);
  *g->add_node() = gemm;
  return m;
}

onnx::ModelProto quantized(const onnx::ModelProto& source, const std::string& scheme, const std::string& method = "percentile",
                           const PassEnv& env = {}) {
  auto m = source;
  run_pipeline(m, {"infer_shapes", PassSpec("quantize_int8", {{"scheme", scheme}, {"method", method}, {"samples", "8"}}), "infer_shapes"},
               env);
  return m;
}

int count_ops(const onnx::ModelProto& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph().node()) n += node.op_type() == op;
  return n;
}

const onnx::TensorProto* initializer(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

// Every scale and zero point read by a Q or DQ node.
void for_each_qparam(const onnx::ModelProto& m, const std::function<void(const engine::Tensor& scale, const engine::Tensor* zp)>& fn) {
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "QuantizeLinear" && n.op_type() != "DequantizeLinear") continue;
    auto scale = engine::tensor_from_proto(*initializer(m, n.input(1)));
    std::optional<engine::Tensor> zp;
    if (n.input_size() > 2) zp = engine::tensor_from_proto(*initializer(m, n.input(2)));
    fn(scale, zp ? &*zp : nullptr);
  }
}

TEST(RangeObserver, MinMaxPercentileAndEntropyOnAKnownDistribution) {
  // Gaussian bulk (sigma 1) plus a few huge outliers: minmax keeps them, the others clip.
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<float> x(200000);
  for (auto& v : x) v = normal(rng);
  x[0] = 100.f;
  x[1] = -80.f;
  quantize::RangeObserver obs;
  obs.observe_minmax(x.data(), static_cast<std::int64_t>(x.size()));
  obs.observe_histogram(x.data(), static_cast<std::int64_t>(x.size()));
  EXPECT_EQ(obs.min(), -80.f);
  EXPECT_EQ(obs.max(), 100.f);
  auto mm = obs.range(quantize::CalibrationMethod::kMinMax, 0, 127);
  EXPECT_EQ(mm.hi, 100.f);
  // 99.9th percentile of |N(0,1)| is 3.29; the histogram's bin width here is 100/2048.
  auto pc = obs.range(quantize::CalibrationMethod::kPercentile, 99.9, 127);
  EXPECT_NEAR(pc.hi, 3.29, 0.1);
  EXPECT_NEAR(pc.lo, -3.29, 0.1);
  auto en = obs.range(quantize::CalibrationMethod::kEntropy, 0, 127);
  EXPECT_GT(en.hi, 2.0f);
  EXPECT_LT(en.hi, 20.0f);
}

// Per-channel means of [outer, channels, inner] values over two observations, non-finite
// values left out, against sums written out here; a tensor of another channel count is refused.
TEST(RangeObserver, ChannelMeansOverRowsOfEachChannelSkipNonFiniteValues) {
  const std::int64_t outer = 2, channels = 3, inner = 5, n = outer * channels * inner;
  std::vector<float> a(static_cast<std::size_t>(n)), b(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    a[static_cast<std::size_t>(i)] = static_cast<float>(i % 7) - 2.f;
    b[static_cast<std::size_t>(i)] = 0.5f * static_cast<float>(i % 5);
  }
  a[3] = std::numeric_limits<float>::quiet_NaN();
  b[17] = std::numeric_limits<float>::infinity();
  std::vector<double> sum(channels, 0.0);
  for (const auto* x : {&a, &b})
    for (std::int64_t i = 0; i < n; ++i)
      if (std::isfinite((*x)[static_cast<std::size_t>(i)])) sum[static_cast<std::size_t>((i / inner) % channels)] += (*x)[static_cast<std::size_t>(i)];
  quantize::RangeObserver obs;
  obs.observe_channel_sums(a.data(), n, channels, inner);
  obs.observe_channel_sums(b.data(), n, channels, inner);
  const auto means = obs.channel_means();
  ASSERT_EQ(means.size(), 3u);
  for (std::size_t c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(means[c], static_cast<float>(sum[c] / (2.0 * outer * inner))) << c;
  obs.observe_channel_sums(a.data(), n, 5, 3);  // five channels now: the statistics no longer hold
  EXPECT_TRUE(obs.channel_means().empty());
}

TEST(QuantScheme, ParametersFollowEachScheme) {
  auto u = quantize::activation_params(quantize::Scheme::kU8S8, {-1.f, 3.f});
  EXPECT_TRUE(u.is_unsigned);
  EXPECT_FLOAT_EQ(u.scale, 4.f / 255.f);
  EXPECT_EQ(u.zero_point, 64);  // -(-1) / (4/255) = 63.75 -> 64
  auto relu = quantize::activation_params(quantize::Scheme::kU8S8, {0.f, 6.f});
  EXPECT_EQ(relu.zero_point, 0);
  auto s = quantize::activation_params(quantize::Scheme::kS8S8Symmetric, {-1.f, 3.f});
  EXPECT_FALSE(s.is_unsigned);
  EXPECT_EQ(s.zero_point, 0);
  EXPECT_FLOAT_EQ(s.scale, 3.f / 127.f);
  auto p = quantize::activation_params(quantize::Scheme::kPow2, {-1.f, 3.f});
  EXPECT_EQ(p.scale, 0.03125f);  // 3/127 = 0.0236 -> 2^-5
  EXPECT_EQ(quantize::weight_scale(quantize::Scheme::kPow2, 1.0f), 0.015625f);  // 1/127 -> 2^-6 (2^-7 would clip 1.0)
  EXPECT_EQ(quantize::weight_scale(quantize::Scheme::kU8S8, 0.f), 1.f);          // all-zero channel
}

TEST(QuantizeInt8, U8S8RewritesEveryConvAndGemmIntoCheckedQdq) {
  auto source = small_cnn();
  auto m = quantized(source, "u8s8");  // run_pipeline ran the ONNX checker
  // 3 convolutions + 1 Gemm; activations x, r1, s, f each get one shared Q -> DQ pair.
  EXPECT_EQ(count_ops(m, "QuantizeLinear"), 4);
  EXPECT_EQ(count_ops(m, "DequantizeLinear"), 4 + 4);
  for (const auto& t : m.graph().initializer()) EXPECT_NE(t.name(), "W1") << "the float weight is gone";
  int per_channel = 0;
  for (const auto& n : m.graph().node())
    if (n.op_type() == "DequantizeLinear" && initializer(m, n.input(0)) &&
        initializer(m, n.input(0))->data_type() == onnx::TensorProto::INT8) {
      auto s = engine::tensor_from_proto(*initializer(m, n.input(1)));
      per_channel += s.numel() > 1;
    }
  EXPECT_EQ(per_channel, 4);
  int unsigned_activations = 0;
  for (const auto& n : m.graph().node())
    if (n.op_type() == "QuantizeLinear") unsigned_activations += initializer(m, n.input(2))->data_type() == onnx::TensorProto::UINT8;
  EXPECT_EQ(unsigned_activations, 4);
  auto r = validate_variant(source, m, default_thresholds("int8"));
  EXPECT_NE(r.status, ValidationStatus::kFailed) << r.reason;
  EXPECT_GT(r.outputs[0].sqnr_db, 20.0);
}

TEST(QuantizeInt8, Pow2ScalesArePowersOfTwoAndSymmetric) {
  auto m = quantized(small_cnn(), "pow2", "minmax");
  int checked = 0;
  for_each_qparam(m, [&](const engine::Tensor& scale, const engine::Tensor* zp) {
    EXPECT_EQ(scale.numel(), 1) << "pow2 is per tensor";
    for (std::int64_t i = 0; i < scale.numel(); ++i) {
      int e = 0;
      EXPECT_EQ(std::frexp(scale.as<float>()[i], &e), 0.5f) << scale.as<float>()[i] << " is not a power of two";
    }
    ASSERT_TRUE(zp);
    EXPECT_EQ(zp->dtype, engine::DType::kI8);
    for (std::int64_t i = 0; i < zp->numel(); ++i) EXPECT_EQ(zp->as<std::int8_t>()[i], 0);
    ++checked;
  });
  EXPECT_EQ(checked, 12);
}

TEST(QuantizeInt8, S8S8SymmetricHasOnlyZeroZeroPoints) {
  auto m = quantized(small_cnn(), "s8s8-symmetric", "entropy");
  int checked = 0;
  for_each_qparam(m, [&](const engine::Tensor&, const engine::Tensor* zp) {
    ASSERT_TRUE(zp);
    EXPECT_EQ(zp->dtype, engine::DType::kI8);
    for (std::int64_t i = 0; i < zp->numel(); ++i) EXPECT_EQ(zp->as<std::int8_t>()[i], 0);
    ++checked;
  });
  EXPECT_EQ(checked, 12);
}

TEST(QuantizeInt8, EngineInt8ConvolutionsMatchTheFloatReferenceOfTheSameGraph) {
  if (!engine::int8_kernels_supported()) GTEST_SKIP() << "this CPU has no VNNI: QDQ graphs run in float here (see int8_kernels_supported)";
  auto m = quantized(small_cnn(), "u8s8");
  engine::SessionOptions fast, reference;
  fast.profile = true;
  reference.int8_kernels = false;
  engine::Session a(m, fast), b(m, reference);
  double max_err = 0, max_ref = 0;
  for (std::uint32_t seed = 1; seed <= 3; ++seed) {
    auto in = engine::random_inputs(a.inputs(), seed);
    auto ya = a.run(in), yb = b.run(in);
    for (std::int64_t i = 0; i < ya[0].numel(); ++i) {
      max_err = std::max(max_err, std::abs(static_cast<double>(ya[0].as<float>()[i]) - yb[0].as<float>()[i]));
      max_ref = std::max(max_ref, std::abs(static_cast<double>(yb[0].as<float>()[i])));
    }
  }
  // Same integers on both paths; only float rounding (and a rare tie rounded the other way by
  // a multiply-by-reciprocal) may differ.
  EXPECT_LT(max_err, 1e-3 * max_ref) << max_err << " vs " << max_ref;
  int int8_convs = 0;
  for (const auto& p : a.profile()) int8_convs += p.op.rfind("ConvInt8", 0) == 0 ? static_cast<int>(p.calls) : 0;
  EXPECT_EQ(int8_convs, 3 * 3) << "3 convolutions x 3 runs on the int8 path";
}

// x -> Conv -> Relu -> Conv (stride 2) -> Clip(0, 6) -> Conv -> y: every intermediate value is read
// only by the next convolution, so the int8 path requantizes inside each producer.
onnx::ModelProto conv_chain() {
  auto m = empty_model("conv_chain");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "12", "12"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "8", "6", "6"});
  *g->add_initializer() = random_tensor("W1", {16, 4, 3, 3}, 21, -0.5f, 0.5f);
  *g->add_initializer() = random_tensor("B1", {16}, 22, -0.2f, 0.2f);
  *g->add_initializer() = random_tensor("W2", {16, 16, 3, 3}, 23, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("W3", {8, 16, 1, 1}, 24, -0.5f, 0.5f);
  *g->add_initializer() = float_tensor("lo", {}, {0.f});
  *g->add_initializer() = float_tensor("hi", {}, {6.f});
  auto c1 = node("Conv", {"x", "W1", "B1"}, {"c1"});
  add_ints_attr(c1, "pads", {1, 1, 1, 1});
  *g->add_node() = c1;
  *g->add_node() = node("Relu", {"c1"}, {"r1"});
  auto c2 = node("Conv", {"r1", "W2"}, {"c2"});
  add_ints_attr(c2, "pads", {1, 1, 1, 1});
  add_ints_attr(c2, "strides", {2, 2});
  *g->add_node() = c2;
  *g->add_node() = node("Clip", {"c2", "lo", "hi"}, {"r2"});
  *g->add_node() = node("Conv", {"r2", "W3"}, {"y"});
  return m;
}

TEST(QuantizeInt8, FusedRequantizationMatchesTheFloatReference) {
  if (!engine::int8_kernels_supported()) GTEST_SKIP() << "this CPU has no VNNI: QDQ graphs run in float here (see int8_kernels_supported)";
  auto m = quantized(conv_chain(), "u8s8");
  engine::SessionOptions fast, reference;
  fast.profile = true;
  reference.int8_kernels = false;
  engine::Session a(m, fast), b(m, reference);
  auto in = engine::random_inputs(a.inputs(), 9);
  auto ya = a.run(in), yb = b.run(in);
  double max_err = 0, max_ref = 0;
  for (std::int64_t i = 0; i < ya[0].numel(); ++i) {
    max_err = std::max(max_err, std::abs(static_cast<double>(ya[0].as<float>()[i]) - yb[0].as<float>()[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(yb[0].as<float>()[i])));
  }
  // A tie rounded differently flips one integer level of one value; allow a few levels' effect.
  EXPECT_LT(max_err, 2e-2 * max_ref) << max_err << " vs " << max_ref;
  std::set<std::string> labels;
  for (const auto& p : a.profile()) labels.insert(p.op);
  EXPECT_TRUE(labels.count("ConvInt8+Relu+QuantizeLinear")) << "requantization not fused";
  EXPECT_TRUE(labels.count("ConvInt8+Clip+QuantizeLinear")) << "requantization not fused";
  EXPECT_FALSE(labels.count("QuantizeLinear")) << "a QuantizeLinear still runs on its own";
}

TEST(QuantizeInt8, Int8MatMulAndGemmMatchTheFloatReference) {
  if (!engine::int8_kernels_supported()) GTEST_SKIP() << "this CPU has no VNNI: QDQ graphs run in float here (see int8_kernels_supported)";
  // x[2,5,16] -> MatMul(W[16,8]) -> Relu -> Reshape [10,8] -> Gemm(W2[4,8], transB, bias) -> y[10,4]
  auto m = empty_model("mm");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"2", "5", "16"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"10", "4"});
  *g->add_initializer() = random_tensor("W", {16, 8}, 31, -0.5f, 0.5f);
  *g->add_initializer() = random_tensor("W2", {4, 8}, 32, -0.5f, 0.5f);
  *g->add_initializer() = random_tensor("B2", {4}, 33, -0.3f, 0.3f);
  auto shape = float_tensor("shape", {2}, {0.f, 0.f});
  shape.clear_float_data();
  shape.set_data_type(onnx::TensorProto::INT64);
  shape.add_int64_data(10);
  shape.add_int64_data(8);
  *g->add_initializer() = shape;
  *g->add_node() = node("MatMul", {"x", "W"}, {"h"});
  *g->add_node() = node("Relu", {"h"}, {"r"});
  *g->add_node() = node("Reshape", {"r", "shape"}, {"f"});
  auto gemm = node("Gemm", {"f", "W2", "B2"}, {"y"});
  add_int_attr(gemm, "transB", 1);
  *g->add_node() = gemm;
  auto q = quantized(m, "u8s8");
  engine::SessionOptions fast, reference;
  fast.profile = true;
  reference.int8_kernels = false;
  engine::Session a(q, fast), b(q, reference);
  auto in = engine::random_inputs(a.inputs(), 4);
  auto ya = a.run(in)[0], yb = b.run(in)[0];
  double max_err = 0, max_ref = 0;
  for (std::int64_t i = 0; i < ya.numel(); ++i) {
    max_err = std::max(max_err, std::abs(static_cast<double>(ya.as<float>()[i]) - yb.as<float>()[i]));
    max_ref = std::max(max_ref, std::abs(static_cast<double>(yb.as<float>()[i])));
  }
  EXPECT_LT(max_err, 1e-2 * max_ref) << max_err << " vs " << max_ref;
  int int8_matmuls = 0;
  for (const auto& p : a.profile()) int8_matmuls += p.op == "MatMulInt8" ? static_cast<int>(p.calls) : 0;
  EXPECT_EQ(int8_matmuls, 2) << "MatMul and Gemm on the int8 path";
}

TEST(QuantizeInt8, ScalesOffByAHundredFailValidation) {
  auto source = small_cnn();
  auto m = quantized(source, "u8s8");
  std::set<std::string> activation_scales;
  for (const auto& n : m.graph().node())
    if (n.op_type() == "QuantizeLinear") activation_scales.insert(n.input(1));
  for (auto& t : *m.mutable_graph()->mutable_initializer())
    if (activation_scales.count(t.name())) t.set_float_data(0, t.float_data(0) * 100.f);
  auto r = validate_variant(source, m, default_thresholds("int8"));
  EXPECT_EQ(r.status, ValidationStatus::kFailed) << r.outputs[0].sqnr_db;
  EXPECT_LT(r.outputs[0].sqnr_db, 8.0);
}

TEST(QuantizeInt8, UsesTheCalibrationSetAndRefusesOneThatDoesNotFit) {
  auto source = small_cnn();
  CalibrationSet set;
  auto t = engine::Tensor::allocate(engine::DType::kF32, {16, 3, 16, 16});
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = 0.5f * std::sin(0.01f * static_cast<float>(i));
  set.tensors["x"] = t;
  set.source = "x.npy";
  PassEnv env{&set};
  auto m = source;
  auto records = run_pipeline(m, {"infer_shapes", PassSpec("quantize_int8", {{"samples", "32"}})}, env);
  const auto& d = records[1].details;
  EXPECT_EQ(d["calibration"]["source"], "x.npy");
  EXPECT_EQ(d["calibration"]["synthetic"], false);
  EXPECT_EQ(d["calibration"]["samples"], 12);  // 16 given, a quarter (4) held out for validation
  // The input's range came from the data (|x| <= 0.5), not from synthetic [-1, 1] noise.
  EXPECT_LE(d["activation_ranges"]["x"]["max"].get<double>(), 0.5 + 1e-6);

  CalibrationSet wrong;
  wrong.tensors["x"] = engine::Tensor::allocate(engine::DType::kF32, {4, 3, 8, 8});
  PassEnv bad{&wrong};
  auto m2 = source;
  try {
    run_pipeline(m2, {"infer_shapes", "quantize_int8"}, bad);
    FAIL() << "expected calibration-mismatch";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "calibration-mismatch");
    EXPECT_NE(std::string(e.what()).find("dim 2"), std::string::npos) << e.what();
  }
}

// The probes run on PassEnv::threads cores; what they observe, and so the model, must not change.
TEST(QuantizeInt8, TheQuantizedModelDoesNotDependOnTheProbeThreads) {
  CalibrationSet set;
  auto t = engine::Tensor::allocate(engine::DType::kF32, {12, 4, 12, 12});
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = std::sin(0.37f * static_cast<float>(i)) * std::cos(0.011f * static_cast<float>(i));
  set.tensors["x"] = t;
  set.source = "x.npy";
  for (const char* method : {"percentile", "entropy"}) {
    std::string bytes[2];
    nlohmann::json details[2];
    for (int k = 0; k < 2; ++k) {
      PassEnv env{&set};
      env.threads = k == 0 ? 1 : 3;
      auto m = conv_chain();
      auto records = run_pipeline(m, {"infer_shapes", PassSpec("quantize_int8", {{"method", method}, {"bias_correction", "true"}})}, env);
      m.SerializeToString(&bytes[k]);
      details[k] = records[1].details;
    }
    EXPECT_EQ(details[1]["activation_ranges"], details[0]["activation_ranges"]) << method;
    EXPECT_FALSE(details[0]["equalization"].is_null()) << method << ": the equalization probe did not run";
    EXPECT_EQ(details[1]["equalization"], details[0]["equalization"]) << method;
    EXPECT_EQ(bytes[1], bytes[0]) << method;
  }
}

// A job's int8 variants share one StatsCache: the equalization maxima and the statistics when
// the graph and samples are the same, the whole quantized model when the options are too.
TEST(QuantizeInt8, AJobsVariantsShareWhatTheirGraphSamplesAndOptionsDecide) {
  CalibrationSet set;
  auto t = engine::Tensor::allocate(engine::DType::kF32, {12, 4, 12, 12});
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = std::sin(0.37f * static_cast<float>(i));
  set.tensors["x"] = t;
  set.source = "x.npy";
  quantize::StatsCache cache;
  std::vector<std::string> said;
  auto run = [&](const std::string& scheme, quantize::StatsCache* shared) {
    PassEnv env{&set, shared};
    env.progress = [&](const std::string& m) { said.push_back(m); };
    auto m = conv_chain();
    auto records = run_pipeline(m, {"infer_shapes", PassSpec("quantize_int8", {{"scheme", scheme}})}, env);
    std::string bytes;
    m.SerializeToString(&bytes);
    return std::make_pair(bytes, records[1]);
  };
  auto said_any = [&](const std::string& text) {
    return std::any_of(said.begin(), said.end(), [&](const std::string& m) { return m.find(text) != std::string::npos; });
  };
  const auto alone = run("u8s8", nullptr);
  said.clear();
  const auto first = run("u8s8", &cache);
  EXPECT_TRUE(said_any("equalizing")) << "the first variant observes for itself";
  EXPECT_TRUE(said_any("calibrating"));
  said.clear();
  const auto second = run("u8s8", &cache);
  EXPECT_TRUE(said_any("quantized model reused"));
  EXPECT_FALSE(said_any("calibrating"));
  EXPECT_EQ(first.first, alone.first);
  EXPECT_EQ(second.first, first.first);
  EXPECT_EQ(second.second.details, first.second.details);
  EXPECT_EQ(second.second.counts, first.second.counts);
  // Another scheme: a model of its own, built from the shared maxima and statistics.
  said.clear();
  const auto pow2 = run("pow2", &cache);
  EXPECT_FALSE(said_any("reused"));
  EXPECT_FALSE(said_any("calibrating"));
  EXPECT_NE(pow2.first, first.first);
  EXPECT_EQ(pow2.first, run("pow2", nullptr).first);
}

onnx::ModelProto dpu_quantized(const onnx::ModelProto& source, int samples = 8) {
  auto m = source;
  run_pipeline(m, {"infer_shapes",
                   PassSpec("quantize_int8", {{"scheme", "pow2"}, {"layout", "dpu"}, {"method", "minmax"}, {"samples", std::to_string(samples)}}),
                   "infer_shapes"});
  return m;
}

// The float initializer a node's input comes from through QuantizeLinear -> DequantizeLinear.
const onnx::TensorProto* float_weight_behind_qdq(const onnx::ModelProto& m, const std::string& input) {
  const int dq = producer_of(m.graph(), input);
  if (dq < 0 || m.graph().node(dq).op_type() != "DequantizeLinear") return nullptr;
  const int q = producer_of(m.graph(), m.graph().node(dq).input(0));
  if (q < 0 || m.graph().node(q).op_type() != "QuantizeLinear") return nullptr;
  const auto* w = initializer(m, m.graph().node(q).input(0));
  return w && w->data_type() == onnx::TensorProto::FLOAT ? w : nullptr;
}

// The DPU layout: what vai_q_onnx's DPU mode produces and Vitis AI's compiler expects.
TEST(QuantizeDpuLayout, SmallCnnTakesTheFormTheDpuCompilerExpects) {
  auto source = small_cnn();
  auto m = dpu_quantized(source);
  EXPECT_EQ(quantize::check_dpu_qdq(m.graph()), std::vector<std::string>{});
  int weights = 0, biases = 0;
  for (const auto& n : m.graph().node()) {
    if (n.op_type() != "Conv" && n.op_type() != "Gemm") continue;
    EXPECT_TRUE(float_weight_behind_qdq(m, n.input(1))) << n.name() << ": weights stay float behind Q -> DQ";
    ++weights;
    if (n.input_size() > 2) {
      EXPECT_TRUE(float_weight_behind_qdq(m, n.input(2))) << n.name() << ": biases are quantized too";
      ++biases;
    }
  }
  EXPECT_EQ(weights, 4);
  EXPECT_EQ(biases, 3);
  // Every op's result is quantized: conv1 after its Relu, the residual Add, conv1x1, the pool
  // and the Gemm, plus the input, r1 and f (read by quantized ops).
  const auto* relu = &m.graph().node(0);
  for (const auto& n : m.graph().node())
    if (n.op_type() == "Relu") relu = &n;
  bool relu_output_quantized = false;
  for (const auto& n : m.graph().node()) relu_output_quantized |= n.op_type() == "QuantizeLinear" && n.input(0) == relu->output(0);
  EXPECT_TRUE(relu_output_quantized) << "conv1 + Relu is quantized after the fused activation";
  auto r = validate_variant(source, m, default_thresholds("int8"));
  EXPECT_NE(r.status, ValidationStatus::kFailed) << r.reason;
  EXPECT_GT(r.outputs[0].sqnr_db, 15.0);
}

TEST(QuantizeDpuLayout, TheStandardQdqLayoutBreaksTheDpuRules) {
  auto problems = quantize::check_dpu_qdq(quantized(small_cnn(), "pow2", "minmax").graph());
  auto mentions = [&](const std::string& text) {
    for (const auto& p : problems)
      if (p.find(text) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(mentions("weight is not a float initializer")) << ::testing::PrintToString(problems);
  EXPECT_TRUE(mentions("GlobalAveragePool 'GlobalAveragePool_p': input and output must both be quantized")) << ::testing::PrintToString(problems);
}

// Two branches with ranges 64x apart meet in a Concat and a MaxPool: the DPU needs one position
// for the Concat's inputs and output and for the pool's input and output.
TEST(QuantizeDpuLayout, ConcatAndPoolPositionsAreAligned) {
  auto m = empty_model("branches");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "8", "8"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "8", "4", "4"});
  *g->add_initializer() = random_tensor("Wa", {4, 4, 1, 1}, 21, -4.f, 4.f);
  *g->add_initializer() = random_tensor("Wb", {4, 4, 1, 1}, 22, -0.0625f, 0.0625f);
  *g->add_node() = node("Conv", {"x", "Wa"}, {"a"}, "wide");
  *g->add_node() = node("Conv", {"x", "Wb"}, {"b"}, "narrow");
  auto cat = node("Concat", {"a", "b"}, {"c"}, "cat");
  add_int_attr(cat, "axis", 1);
  *g->add_node() = cat;
  auto pool = node("MaxPool", {"c"}, {"y"}, "pool");
  add_ints_attr(pool, "kernel_shape", {2, 2});
  add_ints_attr(pool, "strides", {2, 2});
  *g->add_node() = pool;
  auto q = dpu_quantized(m);
  EXPECT_EQ(quantize::check_dpu_qdq(q.graph()), std::vector<std::string>{});
  std::set<float> concat_scales;
  for (const auto& n : q.graph().node())
    if (n.op_type() == "Concat")
      for (const auto& in : n.input()) concat_scales.insert(engine::tensor_from_proto(*initializer(q, q.graph().node(producer_of(q.graph(), in)).input(1))).as<float>()[0]);
  EXPECT_EQ(concat_scales.size(), 1u) << "the Concat's inputs keep different positions";
}

// The Vitis AI targets' own int8 pipeline (BatchNormalization folded first) on real models.
TEST(QuantizeDpuLayout, SharedModelsMeetTheDpuRulesThroughTheVitisPipeline) {
  for (const char* target : {"xilinx-zynq", "xilinx-alveo"}) {
    auto pipeline = find_target(target)->pipeline("int8");
    for (auto& spec : pipeline)
      if (spec.name == "quantize_int8") {
        EXPECT_EQ(spec.options["layout"], "dpu") << target;
        spec.options.insert_or_assign("samples", std::string("2"));  // (operator= on a short literal trips GCC 12's -Wrestrict)
        spec.options.insert_or_assign("method", std::string("minmax"));
      }
    for (const char* name : {"ch_ppocr_mobile_v2.0_cls_infer", "mobilenet_v2"}) {
      auto m = load_model_file(std::string(AIFGEN_SHARED_DIR) + "/models/" + name + ".onnx");
      auto records = run_pipeline(m, pipeline, {});
      EXPECT_EQ(quantize::check_dpu_qdq(m.graph()), std::vector<std::string>{}) << target << " " << name;
      for (const auto& r : records) {
        if (r.name == "quantize_int8") {
          EXPECT_EQ(r.details["dpu_rules"]["violations"], 0) << target << " " << name;
        }
      }
    }
  }
}

TEST(QuantizeInt8, BadOptionsAreRefusedByName) {
  auto m = small_cnn();
  for (const PassOptions& o : {PassOptions{{"scheme", "int4"}}, PassOptions{{"method", "kl"}}, PassOptions{{"percentile", "20"}},
                               PassOptions{{"samples", "0"}}, PassOptions{{"bogus", "1"}}, PassOptions{{"layout", "dpu"}},
                               PassOptions{{"scheme", "pow2"}, {"layout", "xmodel"}}}) {
    try {
      make_pass(PassSpec("quantize_int8", o));
      FAIL() << "accepted " << o.begin()->first;
    } catch (const Error& e) {
      EXPECT_EQ(e.type(), "bad-pass-option");
    }
  }
}

}  // namespace
}  // namespace aifgen

// Saturation-safe int8 weights for x86 without VNNI (core/quantize/saturation_safe.h): the
// arithmetic on its own, and the engine running them under DNNL_MAX_CPU_ISA=AVX2 (CTest's
// "int8_without_vnni" run), where oneDNN's VPMADDUBSW really saturates, against the same
// dequantized weights computed in float.
#include "core/quantize/saturation_safe.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <random>

#include "core/engine/session.h"
#include "core/quantize/weight_range.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

std::vector<std::int8_t> random_int8(std::size_t n, std::uint32_t seed) {
  // Roughly what per-channel quantization gives: a bell around 0, the channel's largest at 127.
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 40.f);
  std::vector<std::int8_t> v(n);
  for (auto& x : v) x = static_cast<std::int8_t>(std::clamp(std::round(d(rng)), -127.f, 127.f));
  return v;
}

double halving_error(const std::vector<std::int8_t>& w) {
  double e = 0;
  for (auto q : w) {
    const double h = 2 * std::clamp(std::nearbyint(q / 2.0), -64.0, 63.0) - q;
    e += h * h;
  }
  return e;
}

TEST(SaturationSafe, NoPairCanOverflowAndTheErrorIsBelowHalving) {
  struct Case {
    const char* what;
    quantize::PairLayout layout;
    std::size_t numel;
  };
  const std::vector<Case> cases = {
      {"conv 1x1", quantize::conv_pair_layout({32, 64, 1, 1}), 32 * 64},
      {"conv 3x3, odd input channels", quantize::conv_pair_layout({16, 7, 3, 3}), 16 * 7 * 9},
      {"matmul [K, N]", quantize::matmul_pair_layout({96, 40}, false), 96 * 40},
      {"gemm [N, K]", quantize::matmul_pair_layout({40, 96}, true), 40 * 96},
  };
  for (const auto& c : cases) {
    const auto w = random_int8(c.numel, 7);
    ASSERT_TRUE(quantize::can_saturate(w, c.layout)) << c.what << ": the random weights must start unsafe";
    for (bool per_channel : {true, false}) {
      const auto safe = quantize::saturation_safe(w, c.layout, per_channel);
      EXPECT_FALSE(quantize::can_saturate(safe.values, c.layout)) << c.what;
      EXPECT_EQ(safe.shrink.size(), per_channel ? static_cast<std::size_t>(c.layout.channels) : 1u);
      EXPECT_GT(safe.changed_values, 0);
      EXPECT_LE(safe.squared_error, halving_error(w)) << c.what;
      if (per_channel) {
        EXPECT_LT(safe.squared_error, 0.5 * halving_error(w)) << c.what << ": per-channel fitting should beat halving clearly";
      }
      // The error it reports is the one it made.
      double e = 0;
      for (std::int64_t ch = 0; ch < c.layout.channels; ++ch)
        for (auto off : c.layout.elements) {
          const auto i = static_cast<std::size_t>(ch * c.layout.channel_stride + off);
          const double d = safe.values[i] / static_cast<double>(safe.shrink[per_channel ? static_cast<std::size_t>(ch) : 0]) - w[i];
          e += d * d;
        }
      EXPECT_NEAR(e, safe.squared_error, 1e-6 * (1 + e)) << c.what;
    }
  }
}

// The integer rounding the shrink search uses, against std::floor(q * k + 0.5f) for every int8
// value and every shrink it tries (k = 32/32 ... 16/32), plus shrinks off that grid.
TEST(SaturationSafe, ShrunkValuesRoundAsFloorOfXPlusOneHalf) {
  std::vector<float> shrinks;
  for (int step = 0; step <= 16; ++step) shrinks.push_back(static_cast<float>(32 - step) / 32.f);
  for (float k : {0.501f, 0.7071f, 0.999f, 1.f / 3.f}) shrinks.push_back(k);
  int checked = 0;
  for (float k : shrinks)
    for (int q = -128; q <= 127; ++q) {
      const float expected = std::clamp(std::floor(static_cast<float>(q) * k + 0.5f), -127.f, 127.f);
      ASSERT_EQ(quantize::shrunk_value(static_cast<float>(q), k), static_cast<int>(expected)) << "q " << q << " k " << k;
      ++checked;
    }
  EXPECT_EQ(checked, 21 * 256);
  EXPECT_EQ(quantize::shrunk_value(-3.f, 0.5f), -1);  // -1.5 + 0.5 = -1: halves go up, not away from zero
  EXPECT_EQ(quantize::shrunk_value(3.f, 0.5f), 2);
}

TEST(SaturationSafe, ChannelsThatCannotOverflowAreLeftAsTheyAre) {
  const auto layout = quantize::conv_pair_layout({2, 4, 1, 1});
  // Channel 0: pairs (100, 28) and (-128 .. ) within the limit; channel 1: 127 + 127 overflows.
  const std::vector<std::int8_t> w = {100, 28, -60, -68, 127, 127, 3, -3};
  const auto safe = quantize::saturation_safe(w, layout, true);
  EXPECT_EQ(safe.shrink[0], 1.f);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(safe.values[static_cast<std::size_t>(i)], w[static_cast<std::size_t>(i)]);
  EXPECT_FALSE(quantize::can_saturate(safe.values, layout));
  EXPECT_NE(std::vector<std::int8_t>(safe.values.begin() + 4, safe.values.end()), std::vector<std::int8_t>(w.begin() + 4, w.end()));
}

// One Conv or MatMul in QDQ form: u8 activations (scale 1/255, zero point 0), int8 weights with
// a per-channel scale. The input is all ones, so every activation is 255: the worst case.
onnx::TensorProto int8_tensor(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<std::int8_t>& v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::INT8);
  for (auto d : dims) t.add_dims(d);
  t.set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size()));
  return t;
}

onnx::TensorProto u8_scalar(const std::string& name) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(onnx::TensorProto::UINT8);
  t.set_raw_data(std::string(1, '\0'));
  return t;
}

onnx::ModelProto qdq_model(bool conv, const std::vector<std::int64_t>& wdims, const std::vector<std::int8_t>& w) {
  auto m = empty_model("qdq");
  auto* g = m.mutable_graph();
  const std::int64_t channels = conv ? wdims[0] : wdims[1];
  const std::int64_t k = conv ? wdims[1] : wdims[0];
  if (conv) {
    *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", std::to_string(k), "4", "4"});
    *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", std::to_string(channels), "4", "4"});
  } else {
    *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"4", std::to_string(k)});
    *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"4", std::to_string(channels)});
  }
  *g->add_initializer() = float_tensor("xs", {}, {1.f / 255.f});
  *g->add_initializer() = u8_scalar("xz");
  *g->add_initializer() = int8_tensor("W", wdims, w);
  *g->add_initializer() = float_tensor("ws", {channels}, std::vector<float>(static_cast<std::size_t>(channels), 0.01f));
  *g->add_node() = node("QuantizeLinear", {"x", "xs", "xz"}, {"xq"});
  *g->add_node() = node("DequantizeLinear", {"xq", "xs", "xz"}, {"xd"});
  auto wdq = node("DequantizeLinear", {"W", "ws"}, {"wd"});
  add_int_attr(wdq, "axis", conv ? 0 : 1);
  *g->add_node() = wdq;
  *g->add_node() = node(conv ? "Conv" : "MatMul", {"xd", "wd"}, {"y"});
  return m;
}

struct Ran {
  engine::Tensor y;
  bool int8 = false;
};

Ran run_ones(const onnx::ModelProto& m, bool int8_kernels) {
  engine::SessionOptions o;
  o.int8_kernels = int8_kernels;
  o.profile = true;
  engine::Session s(m, o);
  auto x = engine::Tensor::allocate(engine::DType::kF32, s.inputs()[0].shape);
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = 1.f;
  Ran r{s.run({x})[0]};
  for (const auto& p : s.profile()) r.int8 = r.int8 || p.op.find("Int8") != std::string::npos;
  return r;
}

double max_abs_diff(const engine::Tensor& a, const engine::Tensor& b) {
  double d = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) d = std::max(d, std::abs(static_cast<double>(a.as<float>()[i]) - b.as<float>()[i]));
  return d;
}

// Weights built to overflow every pair at activation 255 (127 + 127 along the reduction axis),
// then made safe. Where oneDNN runs int8 without VNNI the result must equal the float
// computation of the same weights: a saturated pair would be off by hundreds of units.
TEST(SaturationSafe, TheEngineRunsSafeWeightsInInt8WithoutSaturating) {
  if (engine::int8_support() == engine::Int8Support::kNone) GTEST_SKIP() << "no int8 kernels on this CPU";
  for (bool conv : {true, false}) {
    const std::vector<std::int64_t> dims = conv ? std::vector<std::int64_t>{8, 16, 1, 1} : std::vector<std::int64_t>{16, 8};
    std::vector<std::int8_t> w(128, 127);
    for (std::size_t i = 0; i < w.size(); i += 5) w[i] = -90;  // some mixed-sign pairs too
    const auto layout = conv ? quantize::conv_pair_layout(dims) : quantize::matmul_pair_layout(dims, false);
    ASSERT_TRUE(quantize::can_saturate(w, layout));
    const auto unsafe = qdq_model(conv, dims, w);
    const auto safe = quantize::fit_int8_weights(unsafe);
    const auto ref_unsafe = run_ones(unsafe, false), ref_safe = run_ones(safe, false);
    const auto got_unsafe = run_ones(unsafe, true), got_safe = run_ones(safe, true);
    const char* what = conv ? "conv" : "matmul";
    // Safe weights run in int8 on every x86 with int8 kernels, and exactly.
    EXPECT_TRUE(got_safe.int8) << what;
    EXPECT_LT(max_abs_diff(ref_safe.y, got_safe.y), 1e-3) << what;
    // Unsafe ones run as written with VNNI; without it the engine runs exactly what
    // fit_int8_weights gives (what a variant's budget judged), never the saturating original.
    EXPECT_TRUE(got_unsafe.int8) << what;
    const bool vnni = engine::int8_support() == engine::Int8Support::kFull;
    EXPECT_LT(max_abs_diff(vnni ? ref_unsafe.y : ref_safe.y, got_unsafe.y), 1e-3) << what;
    // And the rewrite changed the answer by little: each output sums 16 products of 255/255 *
    // 0.01 * w, so about 16 * 1.27 = 20; the safe weights stay within a few percent.
    EXPECT_LT(max_abs_diff(ref_unsafe.y, ref_safe.y), 0.05 * 20) << what;
  }
}

// The premise, shown on oneDNN itself through the engine: without VNNI, full-range weights in
// the pairing the kernels use would saturate. With pairs (0, 1), (2, 3) safe but (1, 2) not, the
// safe layout must be the one the kernels use, or the int8 answer is wrong.
TEST(SaturationSafe, ThePairsAreTheOnesTheKernelsAdd) {
  if (engine::int8_support() == engine::Int8Support::kNone) GTEST_SKIP() << "no int8 kernels on this CPU";
  for (bool conv : {true, false}) {
    const std::vector<std::int64_t> dims = conv ? std::vector<std::int64_t>{4, 16, 1, 1} : std::vector<std::int64_t>{16, 4};
    std::vector<std::int8_t> w(64);
    // Along the reduction axis: 127, 1, 1, 127, 127, 1, ... (pairs sum to 128; shifted ones to 254).
    for (std::int64_t c = 0; c < 4; ++c)
      for (std::int64_t k = 0; k < 16; ++k) {
        const std::int8_t v = (k % 4 == 0 || k % 4 == 3) ? 127 : 1;
        w[static_cast<std::size_t>(conv ? c * 16 + k : k * 4 + c)] = v;
      }
    const auto layout = conv ? quantize::conv_pair_layout(dims) : quantize::matmul_pair_layout(dims, false);
    ASSERT_FALSE(quantize::can_saturate(w, layout));
    const auto m = qdq_model(conv, dims, w);
    const auto got = run_ones(m, true), ref = run_ones(m, false);
    EXPECT_TRUE(got.int8) << (conv ? "conv" : "matmul");
    EXPECT_LT(max_abs_diff(ref.y, got.y), 1e-3) << (conv ? "conv" : "matmul");
  }
}

}  // namespace
}  // namespace aifgen

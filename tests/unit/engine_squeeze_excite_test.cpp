// Squeeze-and-excitation blocks planned as one step (core/engine/squeeze_excite.h) compute what
// the same graph computes unfused (an Identity after the gate keeps the pattern from matching),
// for each activation and gate the exporters write, on plain, NHWC and channel-blocked inputs; and near misses
// are left to the ordinary kernels.
#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <vector>

#include "core/engine/session.h"
#include "core/engine/squeeze_excite.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;

struct Block {
  std::string activation = "Relu";  // Relu | SiLU | HardSwish
  std::string gate = "HardSigmoid";  // Sigmoid | HardSigmoid
  bool after_conv = true;             // x from a Conv (NHWC between convolutions) or the graph input
  bool barrier = false;               // Identity between gate and Mul: no fusion
  bool bias = true;
  bool grouped = false;  // x from 1x1 Conv 8->32 + Relu, then a 3x3 Conv of 2 groups of 16 (RegNet-Y)
};

// x0[1,8,12,10] -> (Conv 3x3 8->16 + Relu) -> x -> SE(16 -> 4 -> 16) -> Mul(x, gate) -> Conv 1x1 -> y
onnx::ModelProto se_model(const Block& b) {
  auto m = testing::empty_model("se");
  m.mutable_opset_import(0)->set_version(14);  // HardSwish
  auto* g = m.mutable_graph();
  const std::int64_t c = b.grouped ? 32 : b.after_conv ? 16 : 8;
  *g->add_input() = testing::tensor_value("x0", onnx::TensorProto::FLOAT, {"1", "8", "12", "10"});
  std::string x = "x0";
  if (b.grouped) {
    *g->add_initializer() = testing::random_tensor("wa", {32, 8, 1, 1}, 27, -0.4f, 0.4f);
    *g->add_initializer() = testing::random_tensor("wg", {32, 16, 3, 3}, 28, -0.2f, 0.2f);
    *g->add_node() = node("Conv", {"x0", "wa"}, {"xa"});
    *g->add_node() = node("Relu", {"xa"}, {"xr"});
    auto conv = node("Conv", {"xr", "wg"}, {"xc"});
    testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
    testing::add_int_attr(conv, "group", 2);
    *g->add_node() = conv;
    *g->add_node() = node("Relu", {"xc"}, {"x"});
    x = "x";
  } else if (b.after_conv) {
    *g->add_initializer() = testing::random_tensor("wc", {16, 8, 3, 3}, 21, -0.3f, 0.3f);
    auto conv = node("Conv", {"x0", "wc"}, {"xc"});
    testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
    *g->add_node() = conv;
    *g->add_node() = node("Relu", {"xc"}, {"x"});
    x = "x";
  }
  *g->add_initializer() = testing::random_tensor("w1", {4, c, 1, 1}, 22, -0.5f, 0.5f);
  *g->add_initializer() = testing::random_tensor("b1", {4}, 23, -0.2f, 0.2f);
  *g->add_initializer() = testing::random_tensor("w2", {c, 4, 1, 1}, 24, -0.8f, 0.8f);
  *g->add_initializer() = testing::random_tensor("b2", {c}, 25, -0.2f, 0.2f);
  *g->add_node() = node("GlobalAveragePool", {x}, {"s"});
  *g->add_node() = node("Conv", b.bias ? std::vector<std::string>{"s", "w1", "b1"} : std::vector<std::string>{"s", "w1"}, {"h"});
  std::string a = "h_act";
  if (b.activation == "SiLU") {
    *g->add_node() = node("Sigmoid", {"h"}, {"h_sig"});
    *g->add_node() = node("Mul", {"h", "h_sig"}, {a});
  } else {
    *g->add_node() = node(b.activation, {"h"}, {a});
  }
  *g->add_node() = node("Conv", {a, "w2", "b2"}, {"e"});
  auto gate = node(b.gate, {"e"}, {"gate"});
  if (b.gate == "HardSigmoid") {
    testing::add_float_attr(gate, "alpha", 1.f / 6.f);
    testing::add_float_attr(gate, "beta", 0.5f);
  }
  *g->add_node() = gate;
  std::string gv = "gate";
  if (b.barrier) {
    *g->add_node() = node("Identity", {"gate"}, {"gate_plain"});
    gv = "gate_plain";
  }
  *g->add_node() = node("Mul", {x, gv}, {"scaled"});
  *g->add_initializer() = testing::random_tensor("wp", {8, c, 1, 1}, 26, -0.4f, 0.4f);
  *g->add_node() = node("Conv", {"scaled", "wp"}, {"y"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

bool fused(const Session& s) {
  for (const auto& p : s.profile())
    if (p.op == "SqueezeExcite") return true;
  return false;
}

TEST(EngineSqueezeExcite, ABlockAfterAGroupedConvolutionRunsInItsLayout) {
  // oneDNN's grouped convolutions write channel-blocked layouts (nChw16c/nChw8c); the block
  // reads and writes that layout, so the only reorders are the graph input's, the one into the
  // grouped convolution's layout, and the output's (the block on plain values added two more
  // per block: RegNet-Y 800MF ran 43 reorders per inference, now 3).
  Tensor x = Tensor::allocate(DType::kF32, {1, 8, 12, 10});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.41f * static_cast<float>(i)) * 1.5f;
  Block b;
  b.grouped = true;
  b.activation = "Relu";
  b.gate = "Sigmoid";
  SessionOptions o;
  o.profile = true;
  Session fast(se_model(b), o);
  b.barrier = true;
  Session reference(se_model(b), {});
  auto y = fast.run({x})[0], want = reference.run({x})[0];
  EXPECT_TRUE(fused(fast));
  EXPECT_LE(testing::reorder_calls(fast), 3);
  ASSERT_EQ(y.shape, want.shape);
  for (std::int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-5f * (1 + std::abs(want.as<float>()[i]))) << i;
}

TEST(EngineSqueezeExcite, FusedBlocksComputeWhatTheUnfusedGraphComputes) {
  Tensor x = Tensor::allocate(DType::kF32, {1, 8, 12, 10});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.37f * static_cast<float>(i)) * 1.5f;
  for (const char* act : {"Relu", "SiLU", "HardSwish"})
    for (const char* gate : {"Sigmoid", "HardSigmoid"})
      for (bool after_conv : {true, false})
        for (bool bias : {true, false}) {
          Block b{act, gate, after_conv, false, bias, false};
          SessionOptions o;
          o.profile = true;
          Session fast(se_model(b), o);
          b.barrier = true;
          Session reference(se_model(b), o);
          auto y = fast.run({x})[0], want = reference.run({x})[0];
          EXPECT_TRUE(fused(fast)) << act << " " << gate << " " << after_conv;
          EXPECT_FALSE(fused(reference));
          ASSERT_EQ(y.shape, want.shape);
          float largest = 0;
          for (std::int64_t i = 0; i < want.numel(); ++i) largest = std::max(largest, std::abs(want.as<float>()[i]));
          ASSERT_GT(largest, 0.1f);
          for (std::int64_t i = 0; i < y.numel(); ++i)
            ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-5f * largest) << act << " " << gate << " after_conv " << after_conv << " @" << i;
        }
}

Tensor filled_tensor(const Shape& shape, float freq, float amp) {
  Tensor t = Tensor::allocate(DType::kF32, shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = std::sin(freq * static_cast<float>(i)) * amp;
  return t;
}

// A block's weights (c channels squeezed to r; sine-filled with the given frequencies and
// amplitudes) and the SqueezeExcite pointing at them, with a Sigmoid gate.
struct BlockWeights {
  Tensor w1, b1, w2, b2;
  BlockWeights(std::int64_t c, std::int64_t r, float f1, float a1, float f2, float a2)
      : w1(filled_tensor({r, c, 1, 1}, f1, a1)), b1(filled_tensor({r}, 0.3f, 0.2f)), w2(filled_tensor({c, r, 1, 1}, f2, a2)),
        b2(filled_tensor({c}, 0.9f, 0.2f)) {}
  BlockWeights(const BlockWeights&) = delete;  // block() points into this object
  SqueezeExcite block(SqueezeExcite::Activation activation) const {
    SqueezeExcite se;
    se.w1 = &w1;
    se.b1 = &b1;
    se.w2 = &w2;
    se.b2 = &b2;
    se.activation = activation;
    se.gate = SqueezeExcite::Gate::kSigmoid;
    return se;
  }
};

// The kernel's output for x, run with `threads` OpenMP threads (as a planned step would be).
Tensor run_on_threads(Kernel& kernel, const Tensor& x, int threads) {
  Tensor y = Tensor::allocate(DType::kF32, x.shape);
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  RunContext rc;
  kernel.run({&x}, {&y}, rc);
  omp_set_num_threads(before);
  return y;
}

TEST(EngineSqueezeExcite, TheKernelOnTwoThreadsComputesTheBlockOnPlainNhwcAndChannelBlockedInputs) {
  // The step shares its passes over x among the step's threads: two images of 24 channels x
  // 1200 pixels, SiLU and Sigmoid, against the block computed here directly, with x stored as
  // NCHW (1 channel per pixel run), NHWC (all 24) and nChw8c (3 blocks of 8).
  const std::int64_t n = 2, c = 24, h = 40, w = 30, r = 6, hw = h * w;
  const BlockWeights weights(c, r, 0.71f, 0.4f, 0.53f, 0.6f);
  const Tensor &w1 = weights.w1, &b1 = weights.b1, &w2 = weights.w2, &b2 = weights.b2;
  const SqueezeExcite se = weights.block(SqueezeExcite::Activation::kSilu);
  for (std::int64_t block : {std::int64_t{1}, c, std::int64_t{8}}) {
    Tensor x = filled_tensor({n, c / block, h, w, block}, 0.013f, 2.f);
    for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] += static_cast<float>(i % 7) * 0.05f;  // channel means differ
    // Channel k of pixel p: block k / block, pixel p within it, lane k % block.
    auto at = [&](std::int64_t img, std::int64_t k, std::int64_t p) { return ((img * (c / block) + k / block) * hw + p) * block + k % block; };
    Tensor want = Tensor::allocate(DType::kF32, x.shape);
    for (std::int64_t img = 0; img < n; ++img) {
      std::vector<double> mean(c), hidden(r);
      for (std::int64_t k = 0; k < c; ++k) {
        for (std::int64_t p = 0; p < hw; ++p) mean[k] += x.as<float>()[at(img, k, p)];
        mean[k] /= static_cast<double>(hw);
      }
      for (std::int64_t j = 0; j < r; ++j) {
        double s = b1.as<float>()[j];
        for (std::int64_t k = 0; k < c; ++k) s += w1.as<float>()[j * c + k] * mean[k];
        hidden[j] = s / (1 + std::exp(-s));
      }
      for (std::int64_t k = 0; k < c; ++k) {
        double s = b2.as<float>()[k];
        for (std::int64_t j = 0; j < r; ++j) s += w2.as<float>()[k * r + j] * hidden[j];
        const double g = 1 / (1 + std::exp(-s));
        for (std::int64_t p = 0; p < hw; ++p) want.as<float>()[at(img, k, p)] = static_cast<float>(x.as<float>()[at(img, k, p)] * g);
      }
    }
    auto kernel = make_squeeze_excite(se, {n, c, h, w}, block);
    for (int threads : {1, 2}) {
      const Tensor y = run_on_threads(*kernel, x, threads);
      for (std::int64_t i = 0; i < y.numel(); ++i)
        ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-5f * (1 + std::abs(want.as<float>()[i])))
            << "block " << block << " threads " << threads << " @" << i;
    }
  }
}

TEST(EngineSqueezeExcite, WideBlocksShareTheExcitationProductsAcrossThreadsWithTheSameGate) {
  // 512 channels squeezed to 128: 64K weights per product, where the step's threads split the
  // products' rows between them (squeeze_excite.cpp). Any split computes the serial gate: y
  // matches the block computed here in double at every thread count, and on nChw16c (whose
  // channel sums do not depend on the thread count; NHWC's add per-thread partial sums) every
  // thread count gives the same y to the last bit.
  const std::int64_t c = 512, r = 128, h = 3, w = 5, hw = h * w;
  const BlockWeights weights(c, r, 0.37f, 0.05f, 0.23f, 0.1f);
  const Tensor &w1 = weights.w1, &b1 = weights.b1, &w2 = weights.w2, &b2 = weights.b2;
  const SqueezeExcite se = weights.block(SqueezeExcite::Activation::kRelu);
  for (std::int64_t block : {c, std::int64_t{16}}) {
    Tensor x = filled_tensor({1, c / block, h, w, block}, 0.011f, 2.f);
    auto at = [&](std::int64_t k, std::int64_t p) { return ((k / block) * hw + p) * block + k % block; };
    std::vector<double> mean(c), hidden(r), gate(c);
    for (std::int64_t k = 0; k < c; ++k) {
      for (std::int64_t p = 0; p < hw; ++p) mean[k] += x.as<float>()[at(k, p)];
      mean[k] /= static_cast<double>(hw);
    }
    for (std::int64_t j = 0; j < r; ++j) {
      double s = b1.as<float>()[j];
      for (std::int64_t k = 0; k < c; ++k) s += w1.as<float>()[j * c + k] * mean[k];
      hidden[j] = std::max(s, 0.0);
    }
    bool gates_differ = false;
    for (std::int64_t k = 0; k < c; ++k) {
      double s = b2.as<float>()[k];
      for (std::int64_t j = 0; j < r; ++j) s += w2.as<float>()[k * r + j] * hidden[j];
      gate[k] = 1 / (1 + std::exp(-s));
      gates_differ = gates_differ || std::abs(gate[k] - gate[0]) > 0.05;
    }
    ASSERT_TRUE(gates_differ) << "a constant gate would not show a wrong row split";
    auto kernel = make_squeeze_excite(se, {1, c, h, w}, block);
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      const Tensor y = run_on_threads(*kernel, x, threads);
      for (std::int64_t k = 0; k < c; ++k)
        for (std::int64_t p = 0; p < hw; ++p) {
          const double want = x.as<float>()[at(k, p)] * gate[k];
          ASSERT_NEAR(y.as<float>()[at(k, p)], want, 1e-5 * (1 + std::abs(want))) << "block " << block << " threads " << threads << " channel " << k;
        }
      std::vector<float> got(y.as<float>(), y.as<float>() + y.numel());
      if (first.empty()) {
        first = got;
      } else if (block != c) {
        EXPECT_EQ(got, first) << "block " << block << " threads " << threads;
      }
    }
  }
}

TEST(EngineSqueezeExcite, TheBlockWritesOverItsInputOnlyWhenNothingReadsItLater) {
  // Each output element is its input element times a gate, so the step may write over x (one
  // buffer, in the cache of the core that wrote x, instead of two). x is 16 x 12 x 10 floats:
  // in place, the arena never holds two of it; with x also a graph output (read after the
  // block), it must keep x, and the output x must be x, not the scaled values.
  Tensor x0 = Tensor::allocate(DType::kF32, {1, 8, 12, 10});
  for (std::int64_t i = 0; i < x0.numel(); ++i) x0.as<float>()[i] = std::sin(0.29f * static_cast<float>(i)) * 1.5f;
  const std::size_t x_bytes = 16 * 12 * 10 * sizeof(float);
  SessionOptions o;
  o.profile = true;
  Session in_place(se_model({}), o);
  Block plain;
  plain.barrier = true;
  auto want = Session(se_model(plain), {}).run({x0})[0];
  EXPECT_LT(testing::relative_difference(in_place.run({x0})[0], want), 1e-5);
  EXPECT_TRUE(fused(in_place));
#if defined(__x86_64__)
  EXPECT_LT(in_place.arena_bytes(), 2 * x_bytes);
#endif

  auto read_later = [](Block b) {
    auto m = se_model(b);
    *m.mutable_graph()->add_output() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {});
    return m;
  };
  Session keeps_x(read_later({}), o);
  Session reference(read_later(plain), {});
  // Wherever oneDNN's layouts add conversions around the block (AArch64's do, under qemu: 15360
  // bytes, two values), writing over x still saves one whole value against a block whose x is
  // read later.
  EXPECT_LE(in_place.arena_bytes() + x_bytes, keeps_x.arena_bytes());
  auto got = keeps_x.run({x0}), ref = reference.run({x0});
  EXPECT_TRUE(fused(keeps_x));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_LT(testing::relative_difference(got[0], ref[0]), 1e-5);
  EXPECT_LT(testing::relative_difference(got[1], ref[1]), 1e-5);
}

TEST(EngineSqueezeExcite, NearMissesAreLeftToTheOrdinaryKernels) {
  SessionOptions o;
  o.profile = true;
  Tensor x = Tensor::allocate(DType::kF32, {1, 8, 12, 10});
  // The squeezed value is also a graph output: it must be materialised, so no fusion.
  auto m = se_model({});
  *m.mutable_graph()->add_output() = testing::tensor_value("s", onnx::TensorProto::FLOAT, {});
  Session with_output(m, o);
  with_output.run({x});
  EXPECT_FALSE(fused(with_output));
  // A 3x3 (padded) second convolution is not a matrix-vector product.
  auto m2 = se_model({});
  for (auto& t : *m2.mutable_graph()->mutable_initializer())
    if (t.name() == "w2") t = testing::random_tensor("w2", {16, 4, 3, 3}, 24);
  for (auto& n : *m2.mutable_graph()->mutable_node())
    if (n.output(0) == "e") testing::add_ints_attr(n, "pads", {1, 1, 1, 1});
  Session three_by_three(m2, o);
  three_by_three.run({x});
  EXPECT_FALSE(fused(three_by_three));
}

}  // namespace
}  // namespace aifgen::engine

// Convolution against a straightforward reference loop on small random tensors: odd shapes,
// groups, depthwise, dilation, strides and asymmetric padding; and a fused chain
// (Conv + Clip + residual Add + HardSigmoid, NHWC element-wise, global pooling) checked
// against plain loops.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/engine/registry.h"
#include "core/engine/session.h"
#include "core/base/error.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

struct ConvCase {
  std::int64_t n, c, h, w, m, kh, kw, group, sh, sw, dh, dw, pt, pl, pb, pr;
};

std::vector<float> random_values(std::size_t n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

// y[n][m][oh][ow] = b[m] + sum over the group's input channels and the kernel window.
std::vector<float> reference_conv(const ConvCase& k, const std::vector<float>& x, const std::vector<float>& w,
                                  const std::vector<float>& b, std::int64_t oh, std::int64_t ow) {
  std::vector<float> y(static_cast<std::size_t>(k.n * k.m * oh * ow));
  const std::int64_t cg = k.c / k.group, mg = k.m / k.group;
  for (std::int64_t n = 0; n < k.n; ++n)
    for (std::int64_t m = 0; m < k.m; ++m)
      for (std::int64_t i = 0; i < oh; ++i)
        for (std::int64_t j = 0; j < ow; ++j) {
          double acc = b[static_cast<std::size_t>(m)];
          const std::int64_t g = m / mg;
          for (std::int64_t ci = 0; ci < cg; ++ci)
            for (std::int64_t r = 0; r < k.kh; ++r)
              for (std::int64_t s = 0; s < k.kw; ++s) {
                std::int64_t yy = i * k.sh - k.pt + r * k.dh, xx = j * k.sw - k.pl + s * k.dw;
                if (yy < 0 || yy >= k.h || xx < 0 || xx >= k.w) continue;
                acc += x[static_cast<std::size_t>(((n * k.c + g * cg + ci) * k.h + yy) * k.w + xx)] *
                       w[static_cast<std::size_t>(((m * cg + ci) * k.kh + r) * k.kw + s)];
              }
          y[static_cast<std::size_t>(((n * k.m + m) * oh + i) * ow + j)] = static_cast<float>(acc);
        }
  return y;
}

void PrintTo(const ConvCase& k, std::ostream* os) {
  *os << "N" << k.n << " C" << k.c << " " << k.h << "x" << k.w << " M" << k.m << " k" << k.kh << "x" << k.kw << " g" << k.group
      << " s" << k.sh << "," << k.sw << " d" << k.dh << "," << k.dw << " pads " << k.pt << "," << k.pl << "," << k.pb << "," << k.pr;
}

class ConvReference : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvReference, MatchesLoops) {
  const auto k = GetParam();
  const std::int64_t oh = (k.h + k.pt + k.pb - ((k.kh - 1) * k.dh + 1)) / k.sh + 1;
  const std::int64_t ow = (k.w + k.pl + k.pr - ((k.kw - 1) * k.dw + 1)) / k.sw + 1;
  auto x = random_values(static_cast<std::size_t>(k.n * k.c * k.h * k.w), 1);
  auto w = random_values(static_cast<std::size_t>(k.m * (k.c / k.group) * k.kh * k.kw), 2);
  auto b = random_values(static_cast<std::size_t>(k.m), 3);
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"N", std::to_string(k.c), std::to_string(k.h), std::to_string(k.w)});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::float_tensor("W", {k.m, k.c / k.group, k.kh, k.kw}, w);
  *g->add_initializer() = testing::float_tensor("B", {k.m}, b);
  auto conv = testing::node("Conv", {"x", "W", "B"}, {"y"});
  testing::add_int_attr(conv, "group", k.group);
  testing::add_ints_attr(conv, "strides", {k.sh, k.sw});
  testing::add_ints_attr(conv, "dilations", {k.dh, k.dw});
  testing::add_ints_attr(conv, "pads", {k.pt, k.pl, k.pb, k.pr});
  *g->add_node() = conv;
  SessionOptions opts;
  opts.input_shapes["x"] = {k.n, k.c, k.h, k.w};
  Session s(model, opts);
  Tensor in = Tensor::allocate(DType::kF32, {k.n, k.c, k.h, k.w});
  std::copy(x.begin(), x.end(), in.as<float>());
  auto out = s.run({in});
  ASSERT_EQ(out[0].shape, (Shape{k.n, k.m, oh, ow}));
  auto want = reference_conv(k, x, w, b, oh, ow);
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(out[0].as<float>()[i], want[i], 1e-4f) << "element " << i;
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, ConvReference,
    ::testing::Values(ConvCase{1, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},    // non-square input
                      ConvCase{2, 4, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},    // 1x1, batch 2
                      ConvCase{1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},    // 1x1 everything
                      ConvCase{1, 8, 9, 9, 8, 3, 3, 8, 1, 1, 1, 1, 1, 1, 1, 1},    // depthwise
                      ConvCase{1, 6, 8, 10, 9, 3, 2, 3, 2, 1, 1, 1, 0, 1, 1, 0},   // groups, strides, asym pads
                      ConvCase{1, 4, 11, 11, 5, 3, 3, 1, 1, 2, 2, 3, 2, 0, 1, 3},  // dilation, asym pads
                      ConvCase{1, 16, 14, 14, 32, 3, 3, 1, 2, 2, 1, 1, 1, 1, 1, 1} // blocked-layout sizes
                      ));

// Depthwise 1-D convolutions with long filters, which oneDNN 2.6 runs as im2col + GEMM per
// channel and the engine as one vector pass per tap (Conformer's 31 taps), with a trailing SiLU
// (Sigmoid and Mul, left to a vector pass) or alone; strides, dilations, uneven pads, a batch.
TEST(EngineConv1d, LongDepthwiseFiltersMatchLoops) {
  struct Case {
    std::int64_t n, c, w, k, stride, dilation, pl, pr;
    bool silu;
  };
  for (const Case& t : {Case{1, 144, 200, 31, 1, 1, 15, 15, true}, Case{2, 24, 61, 9, 2, 2, 3, 5, false}, Case{1, 8, 40, 15, 1, 2, 0, 0, false},
                        Case{1, 16, 10, 31, 1, 1, 15, 15, false}}) {
    SCOPED_TRACE("C" + std::to_string(t.c) + " W" + std::to_string(t.w) + " k" + std::to_string(t.k) + " s" + std::to_string(t.stride) +
                 " d" + std::to_string(t.dilation));
    const ConvCase k{t.n, t.c, 1, t.w, t.c, 1, t.k, t.c, 1, t.stride, 1, t.dilation, 0, t.pl, 0, t.pr};
    const std::int64_t ow = (t.w + t.pl + t.pr - ((t.k - 1) * t.dilation + 1)) / t.stride + 1;
    auto x = random_values(static_cast<std::size_t>(t.n * t.c * t.w), 4);
    auto w = random_values(static_cast<std::size_t>(t.c * t.k), 5);
    auto b = random_values(static_cast<std::size_t>(t.c), 6);
    auto model = testing::empty_model();
    auto* g = model.mutable_graph();
    *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {std::to_string(t.n), std::to_string(t.c), std::to_string(t.w)});
    *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
    *g->add_initializer() = testing::float_tensor("W", {t.c, 1, t.k}, w);
    *g->add_initializer() = testing::float_tensor("B", {t.c}, b);
    auto conv = testing::node("Conv", {"x", "W", "B"}, {t.silu ? "c" : "y"});
    testing::add_int_attr(conv, "group", t.c);
    testing::add_ints_attr(conv, "strides", {t.stride});
    testing::add_ints_attr(conv, "dilations", {t.dilation});
    testing::add_ints_attr(conv, "pads", {t.pl, t.pr});
    *g->add_node() = conv;
    if (t.silu) {
      *g->add_node() = testing::node("Sigmoid", {"c"}, {"s"});
      *g->add_node() = testing::node("Mul", {"c", "s"}, {"y"});
    }
    Session s(model, {});
    Tensor in = Tensor::allocate(DType::kF32, {t.n, t.c, t.w});
    std::copy(x.begin(), x.end(), in.as<float>());
    auto out = s.run({in});
    ASSERT_EQ(out[0].shape, (Shape{t.n, t.c, ow}));
    auto want = reference_conv(k, x, w, b, 1, ow);
    for (auto& v : want)
      if (t.silu) v = v / (1 + std::exp(-v));
    for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(out[0].as<float>()[i], want[i], 1e-5f) << "element " << i;
  }
}

// x -> Conv1 -> Clip(0,6) = a;  a -> Conv2 (+ a) -> HardSigmoid = h;  Mul(h, s[C]) -> GAP.
TEST(EngineFusion, ConvChainWithResidualAndNhwcElementwiseMatchesLoops) {
  const std::int64_t c = 16, hw = 10;
  auto w1 = random_values(c * 3 * 9, 4), w2 = random_values(c * c * 9, 5), b1 = random_values(c, 6), b2 = random_values(c, 7);
  auto sc = random_values(c, 8);
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "3", std::to_string(hw), std::to_string(hw)});
  *g->add_output() = testing::tensor_value("out", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::float_tensor("W1", {c, 3, 3, 3}, w1);
  *g->add_initializer() = testing::float_tensor("B1", {c}, b1);
  *g->add_initializer() = testing::float_tensor("W2", {c, c, 3, 3}, w2);
  *g->add_initializer() = testing::float_tensor("B2", {c}, b2);
  *g->add_initializer() = testing::float_tensor("S", {1, c, 1, 1}, sc);
  *g->add_initializer() = testing::float_tensor("lo", {}, {0.f});
  *g->add_initializer() = testing::float_tensor("hi", {}, {6.f});
  for (auto [name, in, w, b] : {std::tuple{"c1", "x", "W1", "B1"}, std::tuple{"c2", "a", "W2", "B2"}}) {
    auto conv = testing::node("Conv", {in, w, b}, {name});
    testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
    *g->add_node() = conv;
    if (std::string(name) == "c1") *g->add_node() = testing::node("Clip", {"c1", "lo", "hi"}, {"a"});
  }
  *g->add_node() = testing::node("Add", {"c2", "a"}, {"r"});
  *g->add_node() = testing::node("HardSigmoid", {"r"}, {"h"});
  *g->add_node() = testing::node("Mul", {"h", "S"}, {"m"});
  *g->add_node() = testing::node("GlobalAveragePool", {"m"}, {"out"});
  SessionOptions opts;
  opts.profile = true;
  Session s(model, opts);
  auto x = random_values(3 * hw * hw, 9);
  Tensor in = Tensor::allocate(DType::kF32, {1, 3, hw, hw});
  std::copy(x.begin(), x.end(), in.as<float>());
  auto out = s.run({in});

  ConvCase k1{1, 3, hw, hw, c, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, k2{1, c, hw, hw, c, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  auto a = reference_conv(k1, x, w1, b1, hw, hw);
  for (auto& v : a) v = std::min(std::max(v, 0.f), 6.f);
  auto r = reference_conv(k2, a, w2, b2, hw, hw);
  std::vector<double> want(c, 0.0);
  for (std::int64_t ch = 0; ch < c; ++ch)
    for (std::int64_t p = 0; p < hw * hw; ++p) {
      float v = r[ch * hw * hw + p] + a[ch * hw * hw + p];
      v = std::min(1.f, std::max(0.f, 0.2f * v + 0.5f));
      want[ch] += v * sc[ch] / (hw * hw);
    }
  ASSERT_EQ(out[0].shape, (Shape{1, c, 1, 1}));
  for (std::int64_t ch = 0; ch < c; ++ch) EXPECT_NEAR(out[0].as<float>()[ch], want[ch], 1e-4) << "channel " << ch;

  // The chain really was fused: one kernel holds Conv+Clip, another Conv+Add+HardSigmoid.
  bool fused_clip = false, fused_residual = false;
  for (const auto& p : s.profile()) {
    fused_clip = fused_clip || p.op == "Conv+Clip";
    fused_residual = fused_residual || p.op == "Conv+Add+HardSigmoid";
  }
  EXPECT_TRUE(fused_clip);
  EXPECT_TRUE(fused_residual);
}

TEST(EngineMemory, ArenaReusesBuffersOfDeadValues) {
  // A chain of 8 Relu over 1 MiB tensors needs 2 live buffers at a time, not 8.
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  *g->add_input() = testing::tensor_value("v0", onnx::TensorProto::FLOAT, {"256", "1024"});
  *g->add_output() = testing::tensor_value("v8", onnx::TensorProto::FLOAT, {});
  for (int i = 0; i < 8; ++i) *g->add_node() = testing::node("Relu", {"v" + std::to_string(i)}, {"v" + std::to_string(i + 1)});
  Session s(model, {});
  EXPECT_LE(s.arena_bytes(), 2u * 256 * 1024 * 4);
  EXPECT_GE(s.arena_bytes(), 2u * 256 * 1024 * 4 - 128);
}

TEST(EngineErrors, UnsupportedOpNamesTheNode) {
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"4"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_node() = testing::node("Hardmax", {"x"}, {"y"}, "my_hardmax");
  try {
    Session s(model, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "engine-unsupported");
    EXPECT_NE(std::string(e.what()).find("my_hardmax"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("Hardmax"), std::string::npos);
  }
}

// The planner first asks a convolution only for its output (to decide what fuses into it), then
// plans it once: a describe-only call must give the same output as planning does, still refuse
// a convolution that contradicts its weights, and make no kernel (no packed weights, no
// primitive) that the planner would throw away.
TEST(EngineConvFactory, ADescribeOnlyCallGivesTheOutputAndNoKernel) {
  const auto& make = kernel_table().at("Conv");
  const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  Tensor w = Tensor::allocate(DType::kF32, {32, 16, 3, 3});
  Tensor b = Tensor::allocate(DType::kF32, {32});
  auto conv = testing::node("Conv", {"x", "w", "b"}, {"y"});
  testing::add_ints_attr(conv, "strides", {2, 2});
  testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
  auto inputs_for = [&](std::int64_t channels) {
    return std::vector<PlanInput>{{true, {DType::kF32, {1, channels, 15, 20}}, nullptr}, {true, w.desc(), &w}, {true, b.desc(), &b}};
  };
  for (bool describe_only : {true, false}) {
    NodeCtx ctx(conv, 13, inputs_for(16), eng);
    ctx.blocked_output_ok = true;
    ctx.describe_only = describe_only;
    std::vector<TensorDesc> outs;
    auto kernel = make(ctx, outs);
    EXPECT_EQ(kernel == nullptr, describe_only);
    ASSERT_EQ(outs.size(), 1u);
    EXPECT_EQ(outs[0].shape, (Shape{1, 32, 8, 10}));
    EXPECT_EQ(outs[0].dtype, DType::kF32);
  }
  NodeCtx wrong(conv, 13, inputs_for(12), eng);
  wrong.describe_only = true;
  std::vector<TensorDesc> outs;
  try {
    make(wrong, outs);
    FAIL() << "12 input channels against weights for 16 were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "engine-invalid-node");
  }
}

}  // namespace
}  // namespace aifgen::engine

// Scaled dot-product attention planned as one step (core/engine/attention.h) computes what the
// same graph computes unfused (the softmax's output also a graph output keeps the chain from
// matching): with and without a scale (Mul either side, Div), with no mask, a constant [L, M]
// mask and a runtime per-batch [B, 1, 1, M] mask, with K made by a Transpose and Q divided by a
// constant first (both taken into the step), with Swin's shifted-window masks (computed after the
// first MatMul, as torch exports them), at one and two threads; and near misses stay unfused.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>

#include "core/engine/attention.h"
#include "core/engine/session.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;

struct Chain {
  std::string scale = "Mul";  // "" | Mul | MulLeft | Div
  // "" | const | input | window: a [H, L, M] bias, then the scores viewed as [1, B, H, L, M],
  // a [1, B, 1, L, M] window mask added, and viewed back (Swin's shifted windows); the window
  // mask and both view shapes are made by nodes after the first MatMul.
  std::string mask = "";
  bool barrier = false;       // the Softmax's output is also a graph output: no fusion
  // How K reaches the first MatMul: "" an input [B,H,D,M]; "swapped" an input [B,H,M,D] through
  // Transpose(0,1,3,2); "tokens_first" an input [M,B,H,D] through Transpose(1,2,3,0) (ViT's
  // K); "unreadable" an input [B,M,H,D] through Transpose(0,2,3,1), whose batch-heads do not
  // share one stride, so the Transpose must stay a step of its own.
  std::string k_layout = "";
  bool q_div = false;  // Q divided by a constant before the first MatMul
  std::int64_t opset = 13;
  std::int64_t softmax_axis = 99;  // 99: no attribute (the opset's default)
  bool scores_output = false;      // the raw scores are also a graph output
  // Batch, heads, queries, key width, keys, value width. The defaults are small and odd-sized;
  // larger ones make oneDNN's matmul pack its operands in a scratchpad.
  std::int64_t kB = 2, kH = 3, kL = 7, kD = 5, kM = 9, kE = 4;
};

// The stored shape of K's input for each Chain::k_layout.
Shape k_stored_shape(const Chain& c) {
  if (c.k_layout == "swapped") return {c.kB, c.kH, c.kM, c.kD};
  if (c.k_layout == "tokens_first") return {c.kM, c.kB, c.kH, c.kD};
  if (c.k_layout == "unreadable") return {c.kB, c.kM, c.kH, c.kD};
  return {c.kB, c.kH, c.kD, c.kM};
}

// q[B,H,L,D] x k[B,H,D,M] -> scale -> + mask -> Softmax -> x v[B,H,M,E] -> y[B,H,L,E]
onnx::ModelProto attention_model(const Chain& c) {
  auto m = testing::empty_model("attention");
  m.mutable_opset_import(0)->set_version(c.opset);
  auto* g = m.mutable_graph();
  const auto [kB, kH, kL, kD, kM, kE] = std::array{c.kB, c.kH, c.kL, c.kD, c.kM, c.kE};
  auto dims = [](std::initializer_list<std::int64_t> d) {
    std::vector<std::string> s;
    for (auto x : d) s.push_back(std::to_string(x));
    return s;
  };
  *g->add_input() = testing::tensor_value("q", onnx::TensorProto::FLOAT, dims({kB, kH, kL, kD}));
  std::string k = "k";
  if (c.k_layout.empty()) {
    *g->add_input() = testing::tensor_value("k", onnx::TensorProto::FLOAT, dims({kB, kH, kD, kM}));
  } else {
    std::vector<std::string> stored;
    for (auto d : k_stored_shape(c)) stored.push_back(std::to_string(d));
    *g->add_input() = testing::tensor_value("k_stored", onnx::TensorProto::FLOAT, stored);
    auto t = node("Transpose", {"k_stored"}, {"k_t"});
    testing::add_ints_attr(t, "perm", c.k_layout == "swapped" ? std::vector<std::int64_t>{0, 1, 3, 2}
                                      : c.k_layout == "tokens_first" ? std::vector<std::int64_t>{1, 2, 3, 0}
                                                                     : std::vector<std::int64_t>{0, 2, 3, 1});
    *g->add_node() = t;
    k = "k_t";
  }
  *g->add_input() = testing::tensor_value("v", onnx::TensorProto::FLOAT, dims({kB, kH, kM, kE}));
  if (c.mask == "input") *g->add_input() = testing::tensor_value("mask", onnx::TensorProto::FLOAT, dims({kB, 1, 1, kM}));
  if (c.mask == "const") *g->add_initializer() = testing::random_tensor("mask", {kL, kM}, 31, -3.f, 0.f);
  std::string q = "q";
  if (c.q_div) {
    *g->add_initializer() = testing::float_tensor("sqrt_d", {}, {1.7f});
    *g->add_node() = node("Div", {"q", "sqrt_d"}, {"q_scaled"});
    q = "q_scaled";
  }
  *g->add_node() = node("MatMul", {q, k}, {"scores"});
  std::string cur = "scores";
  if (!c.scale.empty()) {
    *g->add_initializer() = testing::float_tensor("c", {}, {c.scale == "Div" ? 2.5f : 0.4f});
    if (c.scale == "MulLeft") *g->add_node() = node("Mul", {"c", cur}, {"scaled"});
    else *g->add_node() = node(c.scale, {cur, "c"}, {"scaled"});
    cur = "scaled";
  }
  if (c.mask == "window") {
    *g->add_initializer() = testing::random_tensor("mask", {kH, kL, kM}, 31, -1.f, 1.f);
    *g->add_initializer() = testing::random_tensor("window_base", {kB, kL, kM}, 37, -5.f, 0.f);
    *g->add_initializer() = testing::int64_tensor("axis0", {0});
    *g->add_initializer() = testing::int64_tensor("axis1", {1});
    auto constant_shape = [&](const std::string& name, const std::vector<std::int64_t>& dims) {
      auto n = node("Constant", {}, {name});
      auto* a = n.add_attribute();
      a->set_name("value");
      a->set_type(onnx::AttributeProto::TENSOR);
      *a->mutable_t() = testing::int64_tensor(name, dims);
      *g->add_node() = n;
    };
    *g->add_node() = node("Add", {cur, "mask"}, {"biased"});
    constant_shape("window_view", {1, -1, kH, kL, kM});
    *g->add_node() = node("Reshape", {"biased", "window_view"}, {"windowed"});
    *g->add_node() = node("Unsqueeze", {"window_base", "axis1"}, {"window_mask_1"});
    *g->add_node() = node("Unsqueeze", {"window_mask_1", "axis0"}, {"window_mask"});
    *g->add_node() = node("Add", {"windowed", "window_mask"}, {"window_masked"});
    constant_shape("back_view", {-1, kH, kL, kM});
    *g->add_node() = node("Reshape", {"window_masked", "back_view"}, {"masked"});
    cur = "masked";
  } else if (!c.mask.empty()) {
    *g->add_node() = node("Add", {cur, "mask"}, {"masked"});
    cur = "masked";
  }
  auto softmax = node("Softmax", {cur}, {"p"});
  if (c.softmax_axis != 99) testing::add_int_attr(softmax, "axis", c.softmax_axis);
  *g->add_node() = softmax;
  *g->add_node() = node("MatMul", {"p", "v"}, {"y"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  if (c.barrier) *g->add_output() = testing::tensor_value("p", onnx::TensorProto::FLOAT, {});
  if (c.scores_output) *g->add_output() = testing::tensor_value("scores", onnx::TensorProto::FLOAT, {});
  return m;
}

bool has_step(const Session& s, const std::string& op) {
  for (const auto& p : s.profile())
    if (p.op == op) return true;
  return false;
}

bool fused(const Session& s) { return has_step(s, "Attention"); }

Tensor wave(const Shape& shape, float f, float amp) {
  Tensor t = Tensor::allocate(DType::kF32, shape);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = std::sin(f * static_cast<float>(i) + 0.3f) * amp;
  return t;
}

std::vector<Tensor> inputs(const Chain& c) {
  const auto [kB, kH, kL, kD, kM, kE] = std::array{c.kB, c.kH, c.kL, c.kD, c.kM, c.kE};
  std::vector<Tensor> in = {wave({kB, kH, kL, kD}, 0.37f, 2.f), wave(k_stored_shape(c), 0.23f, 2.f), wave({kB, kH, kM, kE}, 0.11f, 1.f)};
  if (c.mask == "input") {
    Tensor mask = Tensor::allocate(DType::kF32, {kB, 1, 1, kM});
    // Batch 0 sees every key; batch 1 has its last three keys masked out, as padding masks do.
    for (std::int64_t b = 0; b < kB; ++b)
      for (std::int64_t j = 0; j < kM; ++j) mask.as<float>()[b * kM + j] = b == 1 && j >= kM - 3 ? -10000.f : 0.f;
    in.push_back(std::move(mask));
  }
  return in;
}

void expect_same_as_unfused(Chain c, int threads, int runs = 1) {
  SessionOptions o;
  o.profile = true;
  o.threads = threads;
  Session fast(attention_model(c), o);
  auto in = inputs(c);
  auto y = fast.run(in)[0];
  if (runs > 1) {
    ASSERT_EQ(fast.threads(), threads) << "the session gave up its thread team; the model is too small to test concurrency";
  }
  // Runs after the first must agree with it too: batch-heads run on several threads at once.
  for (int r = 1; r < runs; ++r) {
    auto again = fast.run(in)[0];
    ASSERT_EQ(0, std::memcmp(again.as<float>(), y.as<float>(), static_cast<std::size_t>(y.numel()) * sizeof(float))) << "run " << r;
  }
  c.barrier = true;
  Session reference(attention_model(c), o);
  auto want = reference.run(in)[0];
  const std::string what = "scale '" + c.scale + "' mask '" + c.mask + "' opset " + std::to_string(c.opset) + " threads " +
                           std::to_string(threads);
  EXPECT_TRUE(fused(fast)) << what;
  EXPECT_FALSE(fused(reference)) << what;
  // What the step takes over is gone from the plan; what it cannot read stays.
  EXPECT_EQ(has_step(fast, "Transpose"), c.k_layout == "unreadable") << what;
  EXPECT_FALSE(has_step(fast, "Div") && c.scale != "Div") << what;
  ASSERT_EQ(y.shape, (Shape{c.kB, c.kH, c.kL, c.kE})) << what;
  ASSERT_EQ(want.shape, y.shape) << what;
  float largest = 0;
  for (std::int64_t i = 0; i < want.numel(); ++i) largest = std::max(largest, std::abs(want.as<float>()[i]));
  ASSERT_GT(largest, 0.01f) << what;  // not all zeros: the comparison below means something
  for (std::int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-5f * largest) << what << " @" << i;
}

TEST(EngineAttention, FusedChainsComputeWhatTheUnfusedGraphComputes) {
  for (const char* scale : {"", "Mul", "MulLeft", "Div"})
    for (const char* mask : {"", "const", "input"})
      for (int threads : {1, 2}) expect_same_as_unfused({scale, mask}, threads);
  // K through a Transpose, Q divided first: taken into the step where the products can read them.
  for (const char* k_layout : {"swapped", "tokens_first", "unreadable"})
    for (int threads : {1, 2}) {
      Chain c{"Mul", "const"};
      c.k_layout = k_layout;
      c.q_div = true;
      expect_same_as_unfused(c, threads);
    }
  // Swin's windows: many small 49 x 49 batch-heads, run in groups per product call (at most 13 of
  // that size): 5 x 7 = 35 heads go in groups of 7, 5 x 13 = 65 in groups of 13; K and Q taken
  // over.
  for (std::int64_t heads : {7, 13}) {
    Chain windows{"", "const"};
    windows.kB = 5, windows.kH = heads, windows.kL = 49, windows.kD = 32, windows.kM = 49, windows.kE = 32;
    windows.k_layout = "swapped";
    windows.q_div = true;
    for (int threads : {1, 2}) expect_same_as_unfused(windows, threads);
  }
  // Swin's shifted windows: both masks become one constant of the scores' shape; the nodes making
  // the window mask and the views come after the first MatMul and are planned before it.
  for (int threads : {1, 2}) {
    Chain shifted{"Mul", "window"};
    shifted.k_layout = "swapped";
    shifted.q_div = true;
    expect_same_as_unfused(shifted, threads);
  }
  // Before opset 13 Softmax flattens at `axis`; with axis -1 that is still the last axis alone.
  Chain old;
  old.opset = 11;
  old.softmax_axis = -1;
  expect_same_as_unfused(old, 1);
}

// Encoder-sized heads: oneDNN's matmul packs operands in a scratchpad here, and heads run on
// several threads at once, so each thread must bring its own (a shared one gave errors of 1%).
TEST(EngineAttention, ConcurrentHeadsOfEncoderSizeAgreeWithTheUnfusedGraphOnEveryRun) {
  Chain big;
  big.mask = "input";
  // 200M MACs in the first product: above the work under which a session runs on one thread.
  big.kB = 4, big.kH = 12, big.kL = 256, big.kD = 64, big.kM = 256, big.kE = 64;
  for (int threads : {2, 4}) expect_same_as_unfused(big, threads, 8);
}

TEST(EngineAttention, MaskedKeysGetNoWeight) {
  // With the padding mask, batch 1's output must not depend on its masked keys' values.
  Chain c{"Div", "input"};
  const auto [kH, kL, kM, kE] = std::array{c.kH, c.kL, c.kM, c.kE};
  Session s(attention_model(c), {});
  auto in = inputs(c);
  auto y = s.run(in)[0];
  for (std::int64_t h = 0; h < kH; ++h)
    for (std::int64_t j = kM - 3; j < kM; ++j)
      for (std::int64_t e = 0; e < kE; ++e) in[2].as<float>()[((1 * kH + h) * kM + j) * kE + e] = 1000.f;
  auto y2 = s.run(in)[0];
  const std::int64_t per_batch = kH * kL * kE;
  for (std::int64_t i = per_batch; i < 2 * per_batch; ++i) ASSERT_NEAR(y.as<float>()[i], y2.as<float>()[i], 1e-5f) << i;
  // ...while a key it does see moves it.
  for (std::int64_t e = 0; e < kE; ++e) in[2].as<float>()[((1 * kH + 0) * kM + 0) * kE + e] = 1000.f;
  auto y3 = s.run(in)[0];
  float moved = 0;
  for (std::int64_t i = per_batch; i < 2 * per_batch; ++i) moved = std::max(moved, std::abs(y3.as<float>()[i] - y.as<float>()[i]));
  EXPECT_GT(moved, 1.f);
}

TEST(EngineAttention, KIsReadThroughATransposeOnlyWhereItsBatchHeadsNest) {
  using Strides = std::vector<std::int64_t>;
  // [B, H, M, D] with its last two axes swapped: heads D*M apart, D contiguous, M every D.
  EXPECT_EQ(permuted_k_strides({2, 3, 5, 4}, {0, 1, 3, 2}), (Strides{20, 1, 4}));
  // ViT's K: [M, B, H, D] -> [B, H, D, M]: heads D apart (B's stride is H*D: they nest).
  EXPECT_EQ(permuted_k_strides({5, 2, 3, 4}, {1, 2, 3, 0}), (Strides{4, 1, 24}));
  // [B, M, H, D] -> [B, H, D, M]: B is M*H*D apart, not H*D: no single head stride.
  EXPECT_FALSE(permuted_k_strides({2, 5, 3, 4}, {0, 2, 3, 1}));
  // An axis of one element between B and H says nothing about how B and H nest: B is 60 apart
  // where the heads need 12.
  EXPECT_FALSE(permuted_k_strides({2, 1, 5, 3, 4}, {0, 1, 3, 4, 2}));
  // Neither of the last two axes contiguous: not a matrix a product can read.
  EXPECT_FALSE(permuted_k_strides({4, 5, 3}, {2, 0, 1}));
}

Tensor int64s(const std::vector<std::int64_t>& v) {
  Tensor t = Tensor::allocate(DType::kI64, {static_cast<std::int64_t>(v.size())});
  std::copy(v.begin(), v.end(), t.as<std::int64_t>());
  return t;
}

TEST(EngineAttention, WindowMasksCombineIntoOneOfTheScoresShapeOrNotAtAll) {
  // Scores [4 windows, 2 heads, 3, 3]: a per-head bias [2, 3, 3] and a per-window mask
  // [1, 4, 1, 3, 3] seen through the view [1, 4, 2, 3, 3].
  const Shape scores{4, 2, 3, 3};
  Tensor bias = wave({2, 3, 3}, 0.7f, 1.f), window = wave({1, 4, 1, 3, 3}, 0.3f, 5.f);
  auto mask = combined_window_mask(bias, window, scores, int64s({1, -1, 2, 3, 3}), int64s({-1, 2, 3, 3}));
  ASSERT_TRUE(mask);
  ASSERT_EQ(mask->shape, scores);
  for (std::int64_t w = 0; w < 4; ++w)
    for (std::int64_t h = 0; h < 2; ++h)
      for (std::int64_t i = 0; i < 9; ++i)
        ASSERT_FLOAT_EQ(mask->as<float>()[(w * 2 + h) * 9 + i], bias.as<float>()[h * 9 + i] + window.as<float>()[w * 9 + i])
            << w << " " << h << " " << i;
  // 0 in a view copies the dim at its place.
  EXPECT_TRUE(combined_window_mask(bias, window, scores, int64s({1, 4, 2, 0, 3}), int64s({4, 2, 3, 0})));
  // A view back to another shape, a view of the wrong size, a mask that would grow the scores
  // and a second -1: nothing.
  EXPECT_FALSE(combined_window_mask(bias, window, scores, int64s({1, 4, 2, 3, 3}), int64s({8, 3, 3})));
  EXPECT_FALSE(combined_window_mask(bias, window, scores, int64s({1, 5, 2, 3, 3}), int64s({4, 2, 3, 3})));
  EXPECT_FALSE(combined_window_mask(bias, wave({1, 4, 3, 3, 3}, 0.3f, 5.f), scores, int64s({1, 4, 2, 3, 3}), int64s({4, 2, 3, 3})));
  EXPECT_FALSE(combined_window_mask(bias, window, scores, int64s({1, -1, -1, 3, 3}), int64s({4, 2, 3, 3})));
}

TEST(EngineAttention, NearMissesAreLeftToTheOrdinaryKernels) {
  SessionOptions o;
  o.profile = true;
  auto run_fused = [&](const Chain& c) {
    Session s(attention_model(c), o);
    s.run(inputs(c));
    return fused(s);
  };
  // The raw scores are also a graph output: they must be materialised.
  Chain with_output;
  with_output.scores_output = true;
  EXPECT_FALSE(run_fused(with_output));
  // Opset 11's default Softmax axis (1) normalises over H x L x M, not over the keys.
  Chain flattening;
  flattening.opset = 11;
  EXPECT_FALSE(run_fused(flattening));
  // A softmax over another axis is not attention.
  Chain other_axis;
  other_axis.softmax_axis = 2;
  EXPECT_FALSE(run_fused(other_axis));
}

}  // namespace
}  // namespace aifgen::engine

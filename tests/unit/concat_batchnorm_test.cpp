// A channel Concat read only by an inference BatchNormalization (itself read only by a Relu)
// runs as one Concat that scales, shifts (and rectifies) while it copies, with the results of
// the three separate ops, on NHWC values from convolutions and on plain graph inputs alike;
// chains that cannot fuse (another reader between, a Concat along another axis, run-time
// statistics) stay as written.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/engine/concat_batchnorm.h"
#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;

struct Chain {
  bool conv_inputs = true;  // Concat of two convolutions' outputs and the graph input (NHWC path)
  bool relu = true;         // a Relu after the BatchNormalization
  bool barrier = false;     // an Identity between Concat and BatchNormalization: nothing fuses
  std::int64_t axis = 1;
  bool bn_is_output = false;  // the normalization's result is also a graph output
  bool whole_blocks = false;  // the convolutions make one and two channel blocks and x is not joined
};

// x[1,4,6,5] -> Concat(...) -> BatchNormalization (scale shared through an Identity, as PyTorch
// exports equal initializers) [-> Relu] -> Conv 1x1 -> y.
onnx::ModelProto chain_model(const Chain& c) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "6", "5"});
  std::vector<std::string> parts;
  std::int64_t channels = 0;
  if (c.conv_inputs) {
    const std::int64_t block = testing::onednn_channel_block();
    const std::int64_t ca = c.whole_blocks ? block : 3, cb = c.whole_blocks ? 2 * block : 5;
    *g->add_initializer() = testing::random_tensor("w1", {ca, 4, 3, 3}, 11, -0.5f, 0.5f);
    *g->add_initializer() = testing::random_tensor("w2", {cb, 4, 1, 1}, 12, -0.5f, 0.5f);
    auto c1 = node("Conv", {"x", "w1"}, {"a"});
    testing::add_ints_attr(c1, "pads", {1, 1, 1, 1});
    *g->add_node() = c1;
    *g->add_node() = node("Conv", {"x", "w2"}, {"b"});
    parts = {"a", "b"};
    if (!c.whole_blocks) parts.push_back("x");
    channels = ca + cb + (c.whole_blocks ? 0 : 4);
  } else {
    *g->add_node() = node("Sigmoid", {"x"}, {"s"});
    parts = {"x", "s"};
    channels = 8;
  }
  const std::int64_t concat_channels = c.axis == 1 ? channels : 4;
  auto cat = node("Concat", parts, {c.barrier ? "cat_raw" : "cat"});
  testing::add_int_attr(cat, "axis", c.axis);
  *g->add_node() = cat;
  if (c.barrier) *g->add_node() = node("Identity", {"cat_raw"}, {"cat"});
  *g->add_initializer() = testing::random_tensor("gamma0", {concat_channels}, 21, 0.5f, 1.5f);
  *g->add_node() = node("Identity", {"gamma0"}, {"gamma"});
  *g->add_initializer() = testing::random_tensor("beta", {concat_channels}, 22, -0.5f, 0.5f);
  *g->add_initializer() = testing::random_tensor("mean", {concat_channels}, 23, -0.3f, 0.3f);
  *g->add_initializer() = testing::random_tensor("var", {concat_channels}, 24, 0.2f, 2.f);
  auto bn = node("BatchNormalization", {"cat", "gamma", "beta", "mean", "var"}, {"n"});
  testing::add_float_attr(bn, "epsilon", 1e-3f);
  *g->add_node() = bn;
  std::string act = "n";
  if (c.relu) {
    *g->add_node() = node("Relu", {"n"}, {"r"});
    act = "r";
  }
  const std::int64_t conv_in = c.axis == 1 ? channels : 4;
  *g->add_initializer() = testing::random_tensor("w3", {2, conv_in, 1, 1}, 31, -0.5f, 0.5f);
  *g->add_node() = node("Conv", {act, "w3"}, {"y"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  if (c.bn_is_output) *g->add_output() = testing::tensor_value("n", onnx::TensorProto::FLOAT, {});
  return m;
}

std::int64_t fused_count(const onnx::ModelProto& m) {
  std::int64_t fused = -1;
  auto out = fuse_concat_batchnorm(m, &fused);
  EXPECT_EQ(out.has_value(), fused > 0);
  return fused;
}

// The model's outputs equal the unfused chain's (an Identity barrier keeps all three ops), and
// its profile shows the fused step with the expected label.
void expect_same_as_unfused(Chain c, const std::string& fused_label, SessionOptions profiled = {}) {
  Chain unfused = c;
  unfused.barrier = true;
  profiled.profile = true;
  Session fused(chain_model(c), profiled), reference(chain_model(unfused), {});
  Tensor x = Tensor::allocate(DType::kF32, {1, 4, 6, 5});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.37f * static_cast<float>(i)) * 2.f;
  auto got = fused.run({x}), want = reference.run({x});
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t o = 0; o < got.size(); ++o) {
    ASSERT_EQ(got[o].shape, want[o].shape);
    for (std::int64_t i = 0; i < got[o].numel(); ++i) ASSERT_NEAR(got[o].as<float>()[i], want[o].as<float>()[i], 1e-5f) << o << " " << i;
  }
  bool seen = false;
  for (const auto& p : fused.profile()) seen = seen || p.op == fused_label;
  EXPECT_TRUE(seen) << "no step labelled " << fused_label;
  EXPECT_LT(fused.kernel_count(), reference.kernel_count());
  if (c.whole_blocks && profiled.activation_layout == ActivationLayout::kBlocked) {
    // The two convolutions' blocked outputs are joined as they are: the only reorders are x's
    // into the blocked layout and y's out of it (the plain path adds one per operand and one
    // for the result).
    EXPECT_LE(testing::reorder_calls(fused), 2);
  }
}

TEST(ConcatBatchNorm, ConcatNormReluOfConvolutionOutputsIsOneStepWithTheSameResult) {
  EXPECT_EQ(fused_count(chain_model({})), 1);
  auto fused = fuse_concat_batchnorm(chain_model({}));
  ASSERT_TRUE(fused.has_value());
  // Conv, Conv, Concat (with the normalization and the ReLU), the scale's Identity, Conv.
  EXPECT_EQ(fused->graph().node_size(), 5);
  expect_same_as_unfused({}, "Concat+BatchNormalization+Relu");
}

TEST(ConcatBatchNorm, PlainInputsAndANormalizationWithoutReluFuseToo) {
  Chain plain;
  plain.conv_inputs = false;
  expect_same_as_unfused(plain, "Concat+BatchNormalization+Relu");
  Chain no_relu;
  no_relu.relu = false;
  expect_same_as_unfused(no_relu, "Concat+BatchNormalization");
  // The normalization's result also a graph output: the Relu stays a separate step, and both
  // outputs match.
  Chain shared;
  shared.bn_is_output = true;
  expect_same_as_unfused(shared, "Concat+BatchNormalization");
}

// DenseNet on AVX2: convolutions write nChw8c (nChw16c on AVX-512), so the fused Concat runs on
// the blocked values, each channel still scaled by its own parameters, at 1 and 2 threads.
TEST(ConcatBatchNorm, OnChannelBlockedOperandsTheFusedConcatKeepsTheirLayoutWithTheSameResult) {
  for (int threads : {1, 2}) {
    SessionOptions o;
    o.threads = threads;
    o.activation_layout = ActivationLayout::kBlocked;
    Chain blocked;
    blocked.whole_blocks = true;
    expect_same_as_unfused(blocked, "Concat+BatchNormalization+Relu", o);
    blocked.relu = false;
    expect_same_as_unfused(blocked, "Concat+BatchNormalization", o);
  }
}

TEST(ConcatBatchNorm, ChainsThatCannotFuseStayAsWritten) {
  Chain barrier;
  barrier.barrier = true;
  EXPECT_EQ(fused_count(chain_model(barrier)), 0);
  Chain height;  // a Concat along H: BatchNormalization's channels are not the Concat's axis
  height.axis = 2;
  EXPECT_EQ(fused_count(chain_model(height)), 0);
  // Statistics computed at run time (here the variance from the input) are not folded.
  auto m = chain_model({});
  for (auto& n : *m.mutable_graph()->mutable_node())
    if (n.op_type() == "BatchNormalization") n.set_input(4, "var_rt");
  *m.mutable_graph()->add_node() = node("Abs", {"var"}, {"var_abs"});
  *m.mutable_graph()->add_node() = node("Identity", {"var_abs"}, {"var_rt"});
  EXPECT_EQ(fused_count(m), 0);
}

}  // namespace
}  // namespace aifgen::engine

// Values stay in oneDNN's NHWC layout through channel Concat, channel Split and inference
// BatchNormalization between convolutions (no reorder to NCHW and back), with the same results
// as when every op reads plain NCHW. The plain reference is the same graph with an Identity in
// front of each of those ops: Identity is not layout-aware, so its input is made plain.
#include <gtest/gtest.h>

#include <cmath>

#include <dnnl.hpp>

#include "core/engine/nhwc_passthrough.h"
#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::random_tensor;
using testing::tensor_value;

// Calls per inference of the op type `op` in a profiled session.
std::int64_t op_calls(const Session& s, const std::string& op) {
  for (const auto& p : s.profile())
    if (p.op == op) return p.calls;
  return 0;
}

// oneDNN's AVX-512 float convolutions write NHWC, which the ops under test keep; its AVX2 ones
// write nChw8c, from which those ops read a plain copy (`DNNL_MAX_CPU_ISA=AVX2` runs). There
// the results must still match, but the layout claims (reorder counts, in-place shuffles and
// transposes) do not apply.
bool convolutions_write_nhwc() { return testing::onednn_uses_avx512(); }

onnx::NodeProto conv(const std::string& x, const std::string& w, const std::string& y, bool pad) {
  auto n = node("Conv", {x, w}, {y});
  if (pad) testing::add_ints_attr(n, "pads", {1, 1, 1, 1});
  return n;
}

// With `on`, puts an Identity after value v and returns its output (Identity is not
// layout-aware, so the engine makes v plain there); without, returns v.
struct Barrier {
  onnx::GraphProto* g;
  bool on;
  int count = 0;
  std::string operator()(const std::string& v) {
    if (!on) return v;
    std::string out = v + "_plain" + std::to_string(count++);
    *g->add_node() = node("Identity", {v}, {out});
    return out;
  }
};

// A plan started blocked (nChw16c/nChw8c), all convolutions direct, every step timed.
SessionOptions blocked_direct_profiled() {
  SessionOptions o;
  o.conv_algorithm = ConvAlgorithm::kDirect;
  o.activation_layout = ActivationLayout::kBlocked;
  o.profile = true;
  return o;
}

// x[1,8,10,10] -> conv a (16 ch, 3x3), conv b (24 ch, 1x1) -> Concat(axis 1) -> 40 ch
//   -> BatchNormalization -> Split(axis 1: 10, 30) -> conv c on the first part, conv d on the
//   second -> Concat -> conv e -> y. With `barriers`, an Identity precedes each Concat, BN and
//   Split input.
onnx::ModelProto channel_ops_model(bool barriers) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "8", "10", "10"});
  *g->add_initializer() = random_tensor("wa", {16, 8, 3, 3}, 1, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("wb", {24, 8, 1, 1}, 2, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("wc", {16, 10, 3, 3}, 3, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("wd", {16, 30, 1, 1}, 4, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("we", {16, 32, 3, 3}, 5, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("gamma", {40}, 6, 0.5f, 1.5f);
  *g->add_initializer() = random_tensor("beta", {40}, 7, -0.5f, 0.5f);
  *g->add_initializer() = random_tensor("mean", {40}, 8, -0.2f, 0.2f);
  *g->add_initializer() = random_tensor("var", {40}, 9, 0.5f, 2.0f);
  Barrier barrier{g, barriers};
  *g->add_node() = conv("x", "wa", "a", true);
  *g->add_node() = conv("x", "wb", "b", false);
  auto cat1 = node("Concat", {barrier("a"), barrier("b")}, {"ab"});
  testing::add_int_attr(cat1, "axis", 1);
  *g->add_node() = cat1;
  *g->add_node() = node("BatchNormalization", {barrier("ab"), "gamma", "beta", "mean", "var"}, {"bn"});
  *g->add_initializer() = testing::int64_tensor("split", {10, 30});
  auto split = node("Split", {barrier("bn"), "split"}, {"s0", "s1"});
  testing::add_int_attr(split, "axis", -3);
  *g->add_node() = split;
  *g->add_node() = conv("s0", "wc", "c", true);
  *g->add_node() = conv("s1", "wd", "d", false);
  auto cat2 = node("Concat", {barrier("c"), barrier("d")}, {"cd"});
  testing::add_int_attr(cat2, "axis", 1);
  *g->add_node() = cat2;
  *g->add_node() = conv("cd", "we", "y", true);
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

TEST(EngineLayout, ChannelConcatSplitAndBatchNormKeepNhwcWithTheSameResults) {
  SessionOptions o;
  o.conv_algorithm = ConvAlgorithm::kDirect;  // the layouts claimed are the direct kernels' (Winograd reads nChw16c)
  o.profile = true;
  Session fast(channel_ops_model(false), o), plain(channel_ops_model(true), o);
  Tensor x = Tensor::allocate(DType::kF32, {1, 8, 10, 10});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.37f * static_cast<float>(i));
  auto y = fast.run({x})[0], want = plain.run({x})[0];
  ASSERT_EQ(y.shape, want.shape);
  for (std::int64_t i = 0; i < y.numel(); ++i)
    ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-4f * std::max(1.f, std::abs(want.as<float>()[i]))) << i;
  // The plain graph reorders around every barrier; the NHWC one at most at the model's edges.
  if (!convolutions_write_nhwc()) return;
  EXPECT_LE(testing::reorder_calls(fast), 2) << testing::reorder_calls(plain);
  EXPECT_GT(testing::reorder_calls(plain), testing::reorder_calls(fast) + 4);
}


// x[n,16,hw,hw] -> conv a (`ca` channels, 3x3), conv b (`cb`, 1x1), and a plain graph input z
// [n,16,hw,hw] -> Concat(axis 1) -> MaxPool 3x3 -> conv e (16, 3x3) -> y. With `barriers`, an Identity precedes
// each Concat input, so the Concat reads plain values.
// Without `with_z` the Concat joins a and b only.
onnx::ModelProto blocked_concat_model(std::int64_t n, std::int64_t ca, std::int64_t cb, std::int64_t hw, bool barriers,
                                      bool with_z = true) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  const std::string batch = std::to_string(n), side = std::to_string(hw);
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {batch, "16", side, side});
  if (with_z) *g->add_input() = tensor_value("z", onnx::TensorProto::FLOAT, {batch, "16", side, side});
  *g->add_initializer() = random_tensor("wa", {ca, 16, 3, 3}, 11, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("wb", {cb, 16, 1, 1}, 12, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("we", {16, ca + cb + (with_z ? 16 : 0), 3, 3}, 13, -0.2f, 0.2f);
  Barrier barrier{g, barriers};
  *g->add_node() = conv("x", "wa", "a", true);
  *g->add_node() = conv("x", "wb", "b", false);
  std::vector<std::string> operands = {barrier("a"), barrier("b")};
  if (with_z) operands.push_back(barrier("z"));
  auto cat = node("Concat", operands, {"abz"});
  testing::add_int_attr(cat, "axis", 1);
  *g->add_node() = cat;
  // A pooling between (as in GoogLeNet) keeps the Concat at 2 threads, where one read only by a
  // convolution becomes that convolution's parts (concat_split.h).
  auto pool = node("MaxPool", {"abz"}, {"pooled"});
  testing::add_ints_attr(pool, "kernel_shape", {3, 3});
  testing::add_ints_attr(pool, "pads", {1, 1, 1, 1});
  *g->add_node() = pool;
  *g->add_node() = conv("pooled", "we", "y", true);
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

// In a plan started blocked, a channel Concat of blocked convolution outputs runs on their
// [N, C/B, H, W, B] views: no reorder to plain and back; a plain operand joins with one reorder.
// Results match the plain graph's, at batch 1 (one row, shared by the threads byte-wise), at
// batch 2, and with channels that are not whole blocks (20: another path).
TEST(EngineLayout, AChannelConcatOfBlockedValuesStaysBlockedWithTheSameResults) {
  struct Case {
    std::int64_t n, ca, cb, hw;
    bool whole_blocks;
  };
  // 12x12 maps are copied on one thread (too little work for a team); 112x112 on two.
  for (const Case c : {Case{1, 32, 16, 12, true}, Case{1, 32, 16, 112, true}, Case{2, 48, 32, 12, true}, Case{1, 20, 16, 12, false}}) {
    SCOPED_TRACE("n " + std::to_string(c.n) + ", channels " + std::to_string(c.ca) + "+" + std::to_string(c.cb) + ", " +
                 std::to_string(c.hw) + "x" + std::to_string(c.hw));
    SessionOptions o = blocked_direct_profiled();
    // The reference: the plain graph on one thread (at 2 its Concat copies through the same
    // shared-rows path as the blocked one's).
    SessionOptions one = o;
    one.threads = 1;
    Session plain(blocked_concat_model(c.n, c.ca, c.cb, c.hw, true), one);
    for (int threads : {1, 2}) {
      o.threads = threads;
      Session fast(blocked_concat_model(c.n, c.ca, c.cb, c.hw, false), o);
      Tensor x = Tensor::allocate(DType::kF32, {c.n, 16, c.hw, c.hw}), z = Tensor::allocate(DType::kF32, {c.n, 16, c.hw, c.hw});
      for (std::int64_t i = 0; i < x.numel(); ++i) {
        x.as<float>()[i] = std::sin(0.37f * static_cast<float>(i));
        z.as<float>()[i] = std::cos(0.11f * static_cast<float>(i));
      }
      auto y = fast.run({x, z})[0], want = plain.run({x, z})[0];
      ASSERT_EQ(y.shape, want.shape);
      for (std::int64_t i = 0; i < y.numel(); ++i)
        ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-4f * std::max(1.f, std::abs(want.as<float>()[i]))) << i;
      // The plain graph reorders a and b to plain, z once and the Concat's result back, plus
      // x in and y out; the blocked one x in, z once and y out. With 20 channels the Concat
      // takes another path (the results above are its test).
      if (c.whole_blocks) {
        EXPECT_EQ(testing::reorder_calls(fast), 3) << threads << " threads";
      }
      EXPECT_GE(testing::reorder_calls(plain), 5);
    }
  }
}

// In oneDNN's own layouts a Concat stays blocked only when every operand is blocked alike: on
// AVX2, where oneDNN's convolutions write nChw8c, GoogLeNet's Concats reordered every operand to
// NCHW and the result back. Results match the plain graph's at 1 and 2 threads.
TEST(EngineLayout, InOneDnnLayoutsAConcatOfAlikeBlockedValuesStaysBlocked) {
  SessionOptions o;
  o.conv_algorithm = ConvAlgorithm::kDirect;
  o.activation_layout = ActivationLayout::kOneDnn;
  o.profile = true;
  SessionOptions one = o;
  one.threads = 1;
  Session plain(blocked_concat_model(1, 32, 16, 20, true, false), one);
  Tensor x = Tensor::allocate(DType::kF32, {1, 16, 20, 20});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.37f * static_cast<float>(i));
  const Tensor want = plain.run({x})[0];
  for (int threads : {1, 2}) {
    o.threads = threads;
    Session fast(blocked_concat_model(1, 32, 16, 20, false, false), o);
    const Tensor y = fast.run({x})[0];
    ASSERT_EQ(y.shape, want.shape);
    EXPECT_LT(testing::relative_difference(y, want), 1e-5) << threads << " threads";
    // On AVX-512 the direct convolutions write NHWC and the Concat takes the NHWC path.
    if (testing::onednn_uses_avx512()) continue;
    // x in and y out; before, a and b to NCHW and the Concat's result back too.
    EXPECT_EQ(testing::reorder_calls(fast), 2) << threads << " threads";
    EXPECT_GE(testing::reorder_calls(plain), 5);
  }
}

// x[1,16,12,12] -> conv a (32 channels, 1x1); a plain graph input z [1,16,12,12]; x -> conv b
// (16, 1x1) -> Concat(a, z, b) -> MaxPool 3x3 -> y. With `barriers`, an Identity precedes
// each Concat input.
onnx::ModelProto mixed_concat_model(bool barriers) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "16", "12", "12"});
  *g->add_input() = tensor_value("z", onnx::TensorProto::FLOAT, {"1", "16", "12", "12"});
  *g->add_initializer() = random_tensor("wa", {32, 16, 1, 1}, 31, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("wb", {16, 16, 1, 1}, 32, -0.3f, 0.3f);
  Barrier barrier{g, barriers};
  *g->add_node() = conv("x", "wa", "a", false);
  *g->add_node() = conv("x", "wb", "b", false);
  auto cat = node("Concat", {barrier("a"), barrier("z"), barrier("b")}, {"azb"});
  testing::add_int_attr(cat, "axis", 1);
  *g->add_node() = cat;
  auto pool = node("MaxPool", {"azb"}, {"y"});
  testing::add_ints_attr(pool, "kernel_shape", {3, 3});
  testing::add_ints_attr(pool, "pads", {1, 1, 1, 1});
  *g->add_node() = pool;
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

// A channel Concat with an NHWC operand writes every operand straight into its channel slice
// of the NHWC result (concat_by_reorders.h): the plain operand z is not converted to NHWC
// first, and the channels land in order (the results match the plain graph's).
TEST(EngineLayout, AMixedLayoutConcatWritesEachOperandIntoItsSlice) {
  SessionOptions o;
  o.conv_algorithm = ConvAlgorithm::kDirect;
  o.activation_layout = ActivationLayout::kOneDnn;
  o.profile = true;
  Session fast(mixed_concat_model(false), o), plain(mixed_concat_model(true), o);
  Tensor x = Tensor::allocate(DType::kF32, {1, 16, 12, 12}), z = Tensor::allocate(DType::kF32, {1, 16, 12, 12});
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    x.as<float>()[i] = std::sin(0.29f * static_cast<float>(i));
    z.as<float>()[i] = std::cos(0.07f * static_cast<float>(i));
  }
  auto y = fast.run({x, z})[0], want = plain.run({x, z})[0];
  ASSERT_EQ(y.shape, (Shape{1, 64, 12, 12}));
  ASSERT_EQ(y.shape, want.shape);
  for (std::int64_t i = 0; i < y.numel(); ++i)
    ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-5f * std::max(1.f, std::abs(want.as<float>()[i]))) << i;
  if (!convolutions_write_nhwc()) return;
  // x into the convolutions' NHWC and y out: nothing for z or the Concat.
  EXPECT_EQ(testing::reorder_calls(fast), 2);
  EXPECT_EQ(op_calls(fast, "Concat"), 1);
}

// x[1,16,9,9] -> conv (`m` channels, 3x3) -> GlobalAveragePool -> y; with `barrier`, an
// Identity before the pool makes it read a plain value.
onnx::ModelProto conv_gap_model(std::int64_t m, bool barrier) {
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "16", "9", "9"});
  *g->add_initializer() = random_tensor("w", {m, 16, 3, 3}, 21, -0.3f, 0.3f);
  Barrier plain{g, barrier};
  *g->add_node() = conv("x", "w", "c", true);
  *g->add_node() = node("GlobalAveragePool", {plain("c")}, {"y"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return model;
}

// In a plan started blocked, a global average pool reads the convolution's nChw16c (32
// channels) or nChw8c (40) output as it is: only x is reordered; the means match the plain
// graph's, channel for channel.
TEST(EngineLayout, AGlobalAveragePoolReadsABlockedValueWithoutAReorder) {
  for (std::int64_t m : {32, 40}) {
    SessionOptions o = blocked_direct_profiled();
    Session fast(conv_gap_model(m, false), o), plain(conv_gap_model(m, true), o);
    Tensor x = Tensor::allocate(DType::kF32, {1, 16, 9, 9});
    for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.23f * static_cast<float>(i));
    auto y = fast.run({x})[0], want = plain.run({x})[0];
    ASSERT_EQ(y.shape, (Shape{1, m, 1, 1}));
    ASSERT_EQ(y.shape, want.shape);
    for (std::int64_t i = 0; i < y.numel(); ++i) ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-5f) << m << " channels, " << i;
    EXPECT_EQ(testing::reorder_calls(fast), 1) << m << " channels";
    EXPECT_EQ(testing::reorder_calls(plain), 2) << m << " channels";
  }
}


onnx::NodeProto constant_node(const std::string& out, const std::vector<std::int64_t>& v) {
  auto n = node("Constant", {}, {out});
  auto* a = n.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = testing::int64_tensor(out, v);
  return n;
}

// ShuffleNet's channel shuffle of two groups of `c` channels on 6x6 maps, as PyTorch exports it:
// Reshape [1,2,c,6,6] -> Transpose (0,2,1,3,4) -> Reshape [1,-1,6,6], each shape a Constant node.
void add_channel_shuffle(onnx::GraphProto* g, const std::string& in, const std::string& out, std::int64_t c) {
  *g->add_node() = constant_node(out + "_shape5", {1, 2, c, 6, 6});
  *g->add_node() = node("Reshape", {in, out + "_shape5"}, {out + "_r5"});
  auto tr = node("Transpose", {out + "_r5"}, {out + "_t5"});
  testing::add_ints_attr(tr, "perm", {0, 2, 1, 3, 4});
  *g->add_node() = tr;
  *g->add_node() = constant_node(out + "_shape4", {1, -1, 6, 6});
  *g->add_node() = node("Reshape", {out + "_t5", out + "_shape4"}, {out});
}

void add_channel_concat(onnx::GraphProto* g, const std::string& x, const std::string& y, const std::string& out) {
  auto n = node("Concat", {x, y}, {out});
  testing::add_int_attr(n, "axis", 1);
  *g->add_node() = n;
}

// ShuffleNet's unit as PyTorch exports it: x[1,8,6,6] -> conv (16 ch) -> Slice channels [0,8) and
// [8,16) -> conv on the second half -> Concat -> Reshape [1,2,8,6,6] -> Transpose (0,2,1,3,4) ->
// Reshape [1,-1,6,6] (each shape a Constant node just before its Reshape) -> conv -> y.
onnx::ModelProto shuffle_unit_model(bool barriers) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "8", "6", "6"});
  *g->add_initializer() = random_tensor("w0", {16, 8, 1, 1}, 31, -0.4f, 0.4f);
  *g->add_initializer() = random_tensor("w1", {8, 8, 3, 3}, 32, -0.4f, 0.4f);
  *g->add_initializer() = random_tensor("w2", {16, 16, 1, 1}, 33, -0.4f, 0.4f);
  *g->add_initializer() = testing::int64_tensor("axes", {1});
  *g->add_initializer() = testing::int64_tensor("s0", {0});
  *g->add_initializer() = testing::int64_tensor("s1", {8});
  *g->add_initializer() = testing::int64_tensor("s2", {16});
  Barrier barrier{g, barriers};
  *g->add_node() = conv("x", "w0", "a", false);
  const std::string a = barrier("a");
  *g->add_node() = node("Slice", {a, "s0", "s1", "axes"}, {"lo"});
  *g->add_node() = node("Slice", {a, "s1", "s2", "axes"}, {"hi"});
  *g->add_node() = conv("hi", "w1", "b", true);
  auto cat = node("Concat", {"lo", "b"}, {"cat"});
  testing::add_int_attr(cat, "axis", 1);
  *g->add_node() = cat;
  *g->add_node() = constant_node("shape5", {1, 2, 8, 6, 6});
  *g->add_node() = node("Reshape", {barrier("cat"), "shape5"}, {"r5"});
  auto tr = node("Transpose", {"r5"}, {"t5"});
  testing::add_ints_attr(tr, "perm", {0, 2, 1, 3, 4});
  *g->add_node() = tr;
  *g->add_node() = constant_node("shape4", {1, -1, 6, 6});
  *g->add_node() = node("Reshape", {"t5", "shape4"}, {"shuffled"});
  *g->add_node() = conv("shuffled", "w2", "y", false);
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

TEST(EngineLayout, ChannelSliceAndChannelShuffleKeepNhwcWithTheSameResults) {
  SessionOptions o;
  o.conv_algorithm = ConvAlgorithm::kDirect;  // the layouts claimed are the direct kernels' (Winograd reads nChw16c)
  o.profile = true;
  Session fast(shuffle_unit_model(false), o), plain(shuffle_unit_model(true), o);
  Tensor x = Tensor::allocate(DType::kF32, {1, 8, 6, 6});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::cos(0.23f * static_cast<float>(i));
  auto y = fast.run({x})[0], want = plain.run({x})[0];
  ASSERT_EQ(y.shape, want.shape);
  for (std::int64_t i = 0; i < y.numel(); ++i)
    ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-4f * std::max(1.f, std::abs(want.as<float>()[i]))) << i;
  if (!convolutions_write_nhwc()) return;
  // Concat and shuffle are one interleaving copy of the two NHWC halves.
  EXPECT_EQ(op_calls(fast, "ConcatShuffle"), 1);
  EXPECT_EQ(op_calls(fast, "Concat"), 0);
  EXPECT_EQ(op_calls(fast, "ChannelShuffle"), 0);
  EXPECT_LE(testing::reorder_calls(fast), 2) << testing::reorder_calls(plain);
  EXPECT_GT(testing::reorder_calls(plain), testing::reorder_calls(fast) + 2);
}


// Two ShuffleNet units in a row, the second splitting the first's shuffled output as PyTorch's
// chunk exports it: bounds computed from its Shape (Shape -> Slice -> Div by 2, minus `skew`).
// x[1,8,6,6] -> conv (16) = a -> unit 1 (as above) = s1 -> Slice [0,h) and [h,16) -> conv (16-h)
// on the second -> Concat -> shuffle -> conv -> y, h = 16/2 - skew.
onnx::ModelProto shuffle_chain_model(bool barriers, std::int64_t skew) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  const std::int64_t h = 8 - skew;
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "8", "6", "6"});
  *g->add_initializer() = random_tensor("w0", {16, 8, 1, 1}, 41, -0.4f, 0.4f);
  *g->add_initializer() = random_tensor("w1", {8, 8, 3, 3}, 42, -0.4f, 0.4f);
  *g->add_initializer() = random_tensor("w2", {16 - h, 16 - h, 3, 3}, 43, -0.4f, 0.4f);
  *g->add_initializer() = random_tensor("w3", {16, 16, 1, 1}, 44, -0.4f, 0.4f);
  for (auto [name, v] : {std::pair<const char*, std::int64_t>{"axes", 1}, {"zero", 0}, {"one", 1}, {"two", 2}, {"eight", 8},
                         {"sixteen", 16}, {"skew", skew}})
    *g->add_initializer() = testing::int64_tensor(name, {v});
  Barrier barrier{g, barriers};
  auto shuffle = [&](const std::string& in, const std::string& out, std::int64_t c) { add_channel_shuffle(g, barrier(in), out, c / 2); };
  auto concat = [&](const std::string& x, const std::string& y, const std::string& out) { add_channel_concat(g, x, y, out); };
  *g->add_node() = conv("x", "w0", "a", false);
  *g->add_node() = node("Slice", {"a", "zero", "eight", "axes"}, {"lo"});
  *g->add_node() = node("Slice", {"a", "eight", "sixteen", "axes"}, {"hi"});
  *g->add_node() = conv("hi", "w1", "b", true);
  concat("lo", "b", "cat1");
  shuffle("cat1", "s1", 16);
  const std::string s1 = barrier("s1");
  *g->add_node() = node("Shape", {s1}, {"dims"});
  *g->add_node() = node("Slice", {"dims", "one", "two"}, {"channels"});
  *g->add_node() = node("Div", {"channels", "two"}, {"half"});
  *g->add_node() = node("Sub", {"half", "skew"}, {"split"});
  *g->add_node() = node("Slice", {s1, "zero", "split", "axes"}, {"lo2"});
  *g->add_node() = node("Slice", {s1, "split", "channels", "axes"}, {"hi2"});
  *g->add_node() = conv("hi2", "w2", "b2", true);
  concat("lo2", "b2", "cat2");
  shuffle("cat2", "s2", 16);
  *g->add_node() = conv("s2", "w3", "y", false);
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

TEST(EngineLayout, AShuffleSplitByTheNextUnitIsWrittenAsItsSlicesWithTheSameResults) {
  SessionOptions o;
  o.conv_algorithm = ConvAlgorithm::kDirect;
  o.profile = true;
  for (std::int64_t skew : {0, 1}) {  // even halves; odd bounds (7 | 9), which cannot interleave
    Session fast(shuffle_chain_model(false, skew), o), plain(shuffle_chain_model(true, skew), o);
    Tensor x = Tensor::allocate(DType::kF32, {1, 8, 6, 6});
    for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.29f * static_cast<float>(i) + 0.5f);
    auto y = fast.run({x})[0], want = plain.run({x})[0];
    ASSERT_EQ(y.shape, want.shape);
    ASSERT_EQ(y.shape, (Shape{1, 16, 6, 6}));
    for (std::int64_t i = 0; i < y.numel(); ++i)
      ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-4f * std::max(1.f, std::abs(want.as<float>()[i]))) << "skew " << skew << " at " << i;
    if (!convolutions_write_nhwc()) continue;
    if (skew == 0) {
      // Unit 1's Concat, shuffle and unit 2's two Slices: two interleaving copies; unit 2's
      // Concat and shuffle (read by a convolution): one. Only unit 1's own Slices of `a` remain.
      EXPECT_EQ(op_calls(fast, "ConcatShuffleSlice"), 2);
      EXPECT_EQ(op_calls(fast, "ConcatShuffle"), 1);
      EXPECT_EQ(op_calls(fast, "Slice"), 2);
    } else {
      // Odd bounds: unit 1's shuffled value is written whole and sliced as usual; unit 2's
      // halves differ in size (7 and 9 channels), so its Concat and shuffle run apart.
      EXPECT_EQ(op_calls(fast, "ConcatShuffleSlice"), 0);
      EXPECT_EQ(op_calls(fast, "ConcatShuffle"), 1);
      EXPECT_EQ(op_calls(fast, "Slice"), 4);
      EXPECT_EQ(op_calls(fast, "ChannelShuffle"), 1);
    }
  }
}

// Two ShuffleNet units on channel-blocked values (a plan started blocked: nChw16c, nChw8c on
// AVX2, where oneDNN's own layouts are blocked too), `c` channels a half: x[1,16,6,6] -> conv 1x1
// (c) = a, conv 3x3 (c) = b -> Concat -> shuffle -> Slice [0,c) and [c,2c) by its Shape -> conv
// 1x1 on the first, conv 3x3 on the second -> Concat -> shuffle -> conv 1x1 (16) -> y.
onnx::ModelProto blocked_shuffle_model(bool barriers, std::int64_t c) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "16", "6", "6"});
  *g->add_initializer() = random_tensor("wa", {c, 16, 1, 1}, 71, -0.4f, 0.4f);
  *g->add_initializer() = random_tensor("wb", {c, 16, 3, 3}, 72, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("wc", {c, c, 1, 1}, 73, -0.4f, 0.4f);
  *g->add_initializer() = random_tensor("wd", {c, c, 3, 3}, 74, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("we", {16, 2 * c, 1, 1}, 75, -0.3f, 0.3f);
  for (auto [name, v] : {std::pair<const char*, std::int64_t>{"axes", 1}, {"zero", 0}, {"one", 1}, {"two", 2}})
    *g->add_initializer() = testing::int64_tensor(name, {v});
  Barrier barrier{g, barriers};
  auto shuffle = [&](const std::string& in, const std::string& out) { add_channel_shuffle(g, barrier(in), out, c); };
  auto concat = [&](const std::string& x, const std::string& y, const std::string& out) { add_channel_concat(g, x, y, out); };
  *g->add_node() = conv("x", "wa", "a", false);
  *g->add_node() = conv("x", "wb", "b", true);
  concat("a", "b", "cat1");
  shuffle("cat1", "s1");
  const std::string s1 = barrier("s1");
  *g->add_node() = node("Shape", {s1}, {"dims"});
  *g->add_node() = node("Slice", {"dims", "one", "two"}, {"channels"});
  *g->add_node() = node("Div", {"channels", "two"}, {"half"});
  *g->add_node() = node("Slice", {s1, "zero", "half", "axes"}, {"lo"});
  *g->add_node() = node("Slice", {s1, "half", "channels", "axes"}, {"hi"});
  *g->add_node() = conv("lo", "wc", "c", false);
  *g->add_node() = conv("hi", "wd", "d", true);
  concat("c", "d", "cat2");
  shuffle("cat2", "s2");
  *g->add_node() = conv("s2", "we", "y", false);
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

// The blocked halves are interleaved straight into the slices and into the shuffled value a
// convolution reads: no Transpose, Slice or Concat of their own, and no reorder but the model's
// input and output. 16 channels a half are whole blocks; 12 (shufflenet_v2_x1_0's 58 and 116
// alike) leave a padded last block and a slice that starts inside a block.
TEST(EngineLayout, ABlockedShuffleSplitByTheNextUnitIsWrittenAsItsSlicesWithTheSameResults) {
  for (std::int64_t c : {16, 12}) {
    SessionOptions o = blocked_direct_profiled();
    SessionOptions one = o;
    one.threads = 1;
    Session plain(blocked_shuffle_model(true, c), one);
    Tensor x = Tensor::allocate(DType::kF32, {1, 16, 6, 6});
    for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.31f * static_cast<float>(i) + 0.2f);
    const Tensor want = plain.run({x})[0];
    for (int threads : {1, 2}) {
      o.threads = threads;
      Session fast(blocked_shuffle_model(false, c), o);
      for (int run = 0; run < 2; ++run) {
        const Tensor y = fast.run({x})[0];
        ASSERT_EQ(y.shape, (Shape{1, 16, 6, 6}));
        EXPECT_LT(testing::relative_difference(y, want), 1e-5) << c << " channels, " << threads << " threads, run " << run;
      }
      // Counts over the two runs.
      EXPECT_EQ(op_calls(fast, "ConcatShuffleSlice"), 4) << c;
      EXPECT_EQ(op_calls(fast, "ConcatShuffle"), 2) << c;
      EXPECT_EQ(op_calls(fast, "Slice") + op_calls(fast, "Transpose") + op_calls(fast, "Concat"), 0) << c;
      EXPECT_LE(testing::reorder_calls(fast), 4) << c;
      EXPECT_GT(testing::reorder_calls(plain), 4) << c;
    }
  }
}

// The kernel alone, value by value: halves of 5 channels in nChw8c (one padded block each), the
// slice [3, 9) of their shuffle: 6 channels, lanes 6 and 7 of its block zero (oneDNN reads padded
// lanes as zeros), channel j from half (3 + j) % 2 at channel (3 + j) / 2.
TEST(EngineLayout, TheBlockedInterleaveTakesEachChannelFromItsHalfAndZeroesThePadding) {
  const Shape half = {2, 5, 2, 3};
  const std::int64_t plane = 6, block = 8;
  Tensor halves[2];
  for (int k = 0; k < 2; ++k) {
    halves[k] = Tensor::allocate(DType::kF32, {2 * block * plane});
    for (std::int64_t i = 0; i < halves[k].numel(); ++i) halves[k].as<float>()[i] = static_cast<float>(1000 * k + i);
  }
  Tensor y = Tensor::allocate(DType::kF32, {2 * block * plane});
  for (std::int64_t i = 0; i < y.numel(); ++i) y.as<float>()[i] = -1.0f;
  RunContext ctx;
  make_interleave_halves_blocked(half, block, {3, 9})->run({&halves[0], &halves[1]}, {&y}, ctx);
  for (std::int64_t image = 0; image < 2; ++image)
    for (std::int64_t p = 0; p < plane; ++p)
      for (std::int64_t l = 0; l < block; ++l) {
        const float got = y.as<float>()[(image * plane + p) * block + l];
        if (l >= 6) {
          EXPECT_EQ(got, 0.0f) << image << " " << p << " " << l;
          continue;
        }
        const std::int64_t s = 3 + l, from = s % 2, channel = s / 2;
        EXPECT_EQ(got, halves[from].as<float>()[(image * plane + p) * block + channel]) << image << " " << p << " " << l;
      }
}

// ConvNeXt's block edges: x[1,8,6,6] -> conv -> Transpose(0,2,3,1) -> Add per-channel bias (last
// axis) -> Transpose(0,3,1,2) -> conv -> y. On the NHWC value each transpose is the same bytes.
onnx::ModelProto permute_model(bool barriers) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "8", "6", "6"});
  *g->add_initializer() = random_tensor("w0", {16, 8, 3, 3}, 61, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("w1", {8, 16, 1, 1}, 62, -0.3f, 0.3f);
  *g->add_initializer() = random_tensor("bias", {16}, 63, -1.f, 1.f);
  *g->add_node() = conv("x", "w0", "a", true);
  std::string a = "a";
  if (barriers) {
    *g->add_node() = node("Identity", {"a"}, {"a_plain"});
    a = "a_plain";
  }
  auto t1 = node("Transpose", {a}, {"nhwc"});
  testing::add_ints_attr(t1, "perm", {0, 2, 3, 1});
  *g->add_node() = t1;
  *g->add_node() = node("Add", {"nhwc", "bias"}, {"biased"});
  auto t2 = node("Transpose", {"biased"}, {"nchw"});
  testing::add_ints_attr(t2, "perm", {0, 3, 1, 2});
  *g->add_node() = t2;
  std::string b = "nchw";
  if (barriers) {
    *g->add_node() = node("Identity", {"nchw"}, {"nchw_plain"});
    b = "nchw_plain";
  }
  *g->add_node() = conv(b, "w1", "y", false);
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

TEST(EngineLayout, NchwNhwcTransposesOfLaidOutValuesAreViews) {
  SessionOptions o;
  o.conv_algorithm = ConvAlgorithm::kDirect;  // the layouts claimed are the direct kernels' (Winograd reads nChw16c)
  o.profile = true;
  Session fast(permute_model(false), o), plain(permute_model(true), o);
  Tensor x = Tensor::allocate(DType::kF32, {1, 8, 6, 6});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.41f * static_cast<float>(i));
  auto y = fast.run({x})[0], want = plain.run({x})[0];
  ASSERT_EQ(y.shape, want.shape);
  for (std::int64_t i = 0; i < y.numel(); ++i)
    ASSERT_NEAR(y.as<float>()[i], want.as<float>()[i], 1e-4f * std::max(1.f, std::abs(want.as<float>()[i]))) << i;
  if (!convolutions_write_nhwc()) return;
  // Both transposes are relabellings of the NHWC bytes (Transpose(layout)), which the plan then
  // drops as views (drop_view_steps): no transpose step runs at all.
  std::int64_t transposes = 0;
  for (const auto& p : fast.profile())
    if (p.op.rfind("Transpose", 0) == 0) transposes += p.calls;
  EXPECT_EQ(transposes, 0);
  EXPECT_LE(testing::reorder_calls(fast), 2) << testing::reorder_calls(plain);  // the model input and output only
  EXPECT_GT(testing::reorder_calls(plain), testing::reorder_calls(fast) + 2);
}

}  // namespace
}  // namespace aifgen::engine

namespace aifgen::engine {
namespace {

// x[1,8,10,9] -> conv (16 ch) -> c (also an output) -> ReduceMean over `axes` (attribute before
// opset 18, input from 18) -> m.
onnx::ModelProto mean_model(std::vector<std::int64_t> axes, std::int64_t keepdims, std::int64_t opset) {
  auto m = testing::empty_model();
  m.mutable_opset_import(0)->set_version(opset);
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "8", "10", "9"});
  *g->add_initializer() = random_tensor("w", {16, 8, 3, 3}, 11, -0.3f, 0.3f);
  *g->add_node() = conv("x", "w", "c", true);
  auto mean = node("ReduceMean", {"c"}, {"m"});
  if (opset >= 18) {
    *g->add_initializer() = testing::int64_tensor("axes", axes);
    mean.add_input("axes");
  } else {
    testing::add_ints_attr(mean, "axes", axes);
  }
  testing::add_int_attr(mean, "keepdims", keepdims);
  *g->add_node() = mean;
  *g->add_output() = tensor_value("c", onnx::TensorProto::FLOAT, {});
  *g->add_output() = tensor_value("m", onnx::TensorProto::FLOAT, {});
  return m;
}

TEST(EngineLayout, SpatialReduceMeanRunsAsAGlobalAveragePoolWithReduceMeansShape) {
  // ShuffleNet pools with x.mean([2, 3]): planned as a GlobalAveragePool on the convolution's
  // layout, with ReduceMean's output shape ([N, C] without keepdims). Other axes stay a
  // ReduceMean. Each result against the mean computed here from the convolution's output.
  Tensor x = Tensor::allocate(DType::kF32, {1, 8, 10, 9});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.31f * static_cast<float>(i));
  struct Case {
    std::vector<std::int64_t> axes;
    std::int64_t keepdims, opset;
    Shape want;
    bool pooled;
  };
  for (const auto& k : {Case{{2, 3}, 0, 13, {1, 16}, true}, Case{{-1, -2}, 1, 13, {1, 16, 1, 1}, true},
                        Case{{2, 3}, 0, 18, {1, 16}, true}, Case{{1, 2}, 0, 13, {1, 9}, false}}) {
    SessionOptions o;
    o.conv_algorithm = ConvAlgorithm::kDirect;  // the layouts claimed are the direct kernels' (Winograd reads nChw16c)
    o.profile = true;
    Session s(mean_model(k.axes, k.keepdims, k.opset), o);
    auto out = s.run({x});
    ASSERT_EQ(out.size(), 2u);
    ASSERT_EQ(out[1].shape, k.want) << k.axes[0] << k.axes[1];
    const float* c = out[0].as<float>();  // [1, 16, 10, 9]
    for (std::int64_t i = 0; i < out[1].numel(); ++i) {
      double sum = 0;
      if (k.pooled) {
        for (std::int64_t p = 0; p < 90; ++p) sum += c[i * 90 + p];
        sum /= 90;
      } else {  // mean over C and H: output index is w
        for (std::int64_t ch = 0; ch < 16; ++ch)
          for (std::int64_t h = 0; h < 10; ++h) sum += c[(ch * 10 + h) * 9 + i];
        sum /= 160;
      }
      EXPECT_NEAR(out[1].as<float>()[i], sum, 1e-5) << i;
    }
    bool pooled = false, reduced = false;
    for (const auto& p : s.profile()) {
      pooled = pooled || p.op == "GlobalAveragePool";
      reduced = reduced || p.op == "ReduceMean";
    }
    EXPECT_EQ(pooled, k.pooled);
    EXPECT_EQ(reduced, !k.pooled);
  }
}

}  // namespace
}  // namespace aifgen::engine

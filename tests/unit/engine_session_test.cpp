// Session behaviour: plan-time folding of shape arithmetic, concurrent runs, input checks, and
// the .npy reader the CLI uses.
#include <gtest/gtest.h>

#include <map>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <thread>
#include <tuple>

#include "core/engine/hardswish_pattern.h"
#include "core/engine/kernels/post_ops.h"
#include "core/engine/npy.h"
#include "core/engine/session.h"
#include "core/base/error.h"
#include "core/onnx_model.h"
#include "tests/support/model_builder.h"
#include "tests/support/reference_conv.h"
#include "tests/support/temp_dir.h"

namespace aifgen::engine {
namespace {

Tensor filled(const Shape& s, float seed) {
  Tensor t = Tensor::allocate(DType::kF32, s);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = static_cast<float>((i * 37 + static_cast<int>(seed * 1000)) % 201) / 100.f - 1.f;
  return t;
}

TEST(EngineSession, ShapeArithmeticIsFoldedAtPlanTime) {
  // y = Reshape(x, Concat(Shape(x)[0:1], [-1])): only the Reshape is left to run.
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"N", "3", "4"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  onnx::TensorProto starts, ends, minus_one;
  for (auto [t, v, name] : {std::tuple{&starts, 0, "s"}, std::tuple{&ends, 1, "e"}, std::tuple{&minus_one, -1, "m"}}) {
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(1);
    t->add_int64_data(v);
    *g->add_initializer() = *t;
  }
  *g->add_node() = testing::node("Shape", {"x"}, {"shape"});
  *g->add_node() = testing::node("Slice", {"shape", "s", "e"}, {"batch"});
  auto concat = testing::node("Concat", {"batch", "m"}, {"target"});
  testing::add_int_attr(concat, "axis", 0);
  *g->add_node() = concat;
  *g->add_node() = testing::node("Reshape", {"x", "target"}, {"y"});
  SessionOptions opts;
  opts.input_shapes["x"] = {2, 3, 4};
  Session s(m, opts);
  EXPECT_EQ(s.kernel_count(), 1u);
  EXPECT_EQ(s.outputs()[0].shape, (Shape{2, 12}));
  auto out = s.run({filled({2, 3, 4}, 1)});
  EXPECT_EQ(std::memcmp(out[0].data, filled({2, 3, 4}, 1).data, 24 * sizeof(float)), 0);
}

TEST(EngineSession, ReshapesOfComputedValuesAreViewsNotCopies) {
  // a = Relu(x); b = Reshape(a, [6, 4]); c = Flatten(b); y = Sigmoid(c); z = Neg(a); b is an
  // output too. The Reshape and the Flatten become views of a's bytes (no kernels), which must
  // stay intact until both b is copied out and Neg has read a.
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"2", "3", "4"});
  for (const char* out : {"b", "y", "z"}) *g->add_output() = testing::tensor_value(out, onnx::TensorProto::FLOAT, {});
  onnx::TensorProto target;
  target.set_name("target");
  target.set_data_type(onnx::TensorProto::INT64);
  target.add_dims(2);
  target.add_int64_data(6);
  target.add_int64_data(4);
  *g->add_initializer() = target;
  *g->add_node() = testing::node("Relu", {"x"}, {"a"});
  *g->add_node() = testing::node("Reshape", {"a", "target"}, {"b"});
  *g->add_node() = testing::node("Flatten", {"b"}, {"c"});
  *g->add_node() = testing::node("Sigmoid", {"c"}, {"y"});
  *g->add_node() = testing::node("Neg", {"a"}, {"z"});
  Session s(m, {});
  EXPECT_EQ(s.kernel_count(), 3u);  // Relu, Sigmoid, Neg
  const Tensor x = filled({2, 3, 4}, 0.3f);
  auto out = s.run({x});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].shape, (Shape{6, 4}));
  EXPECT_EQ(out[1].shape, (Shape{6, 4}));
  for (std::int64_t i = 0; i < 24; ++i) {
    const float a = std::max(x.as<float>()[i], 0.f);
    EXPECT_EQ(out[0].as<float>()[i], a) << i;
    EXPECT_NEAR(out[1].as<float>()[i], 1.f / (1.f + std::exp(-a)), 1e-6f) << i;
    EXPECT_EQ(out[2].as<float>()[i], -a) << i;
  }
}

// a = Conv(x), b = Conv'(x), y = Relu(Conv(b) + a): a ResNet block's residual add. `late`: a is
// read again after the block (z = Sigmoid(a), an output); `barrier`: an Identity between the
// last Conv and the Add keeps the Add out of the convolution (the reference).
onnx::ModelProto residual_model(bool late, bool barrier) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "3", "12", "10"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_initializer() = testing::random_tensor("wa", {16, 3, 3, 3}, 41, -0.4f, 0.4f);
  *g->add_initializer() = testing::random_tensor("wb", {16, 3, 3, 3}, 42, -0.4f, 0.4f);
  *g->add_initializer() = testing::random_tensor("wc", {16, 16, 3, 3}, 43, -0.2f, 0.2f);
  for (const auto& [in, w, out] : {std::tuple{"x", "wa", "a"}, std::tuple{"x", "wb", "b"}, std::tuple{"b", "wc", barrier ? "c0" : "c"}}) {
    auto conv = testing::node("Conv", {in, w}, {out});
    testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
    *g->add_node() = conv;
  }
  if (barrier) *g->add_node() = testing::node("Identity", {"c0"}, {"c"});
  *g->add_node() = testing::node("Add", {"c", "a"}, {"s"});
  *g->add_node() = testing::node("Relu", {"s"}, {"y"});
  if (late) {
    *g->add_node() = testing::node("Sigmoid", {"a"}, {"z"});
    *g->add_output() = testing::tensor_value("z", onnx::TensorProto::FLOAT, {});
  }
  return m;
}

TEST(EngineSession, AResidualConvolutionWritesOverTheResidualOnlyWhenNothingReadsItAfter) {
  // The convolution accumulating onto the residual a would copy a into its output first; with
  // no reader of a after it, the output takes a's bytes instead: no copy, and the arena holds
  // two [1,16,12,10] values (plus at most the 3-channel input in the convolutions' layout)
  // where a, b and the output were three, in NHWC (AVX-512) and nChw8c (AVX2) alike. Read again
  // after the block, a must survive the convolution intact.
  const Tensor x = filled({1, 3, 12, 10}, 0.7f);
  const std::size_t value_bytes = 16 * 12 * 10 * sizeof(float);
  // Direct convolutions: Winograd reads nChw16c, and a reorder would change the arena's count.
  SessionOptions direct;
  direct.conv_algorithm = ConvAlgorithm::kDirect;
  for (bool late : {false, true}) {
    Session fused(residual_model(late, false), direct), reference(residual_model(late, true), direct);
    auto got = fused.run({x}), want = reference.run({x});
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t o = 0; o < got.size(); ++o)
      for (std::int64_t i = 0; i < got[o].numel(); ++i)
        ASSERT_NEAR(got[o].as<float>()[i], want[o].as<float>()[i], 1e-5f) << "late " << late << " output " << o << " @" << i;
    if (!late) {
      EXPECT_LT(fused.arena_bytes(), 2 * value_bytes + value_bytes / 2);
    }
  }
}

TEST(EngineSession, ConcurrentRunsGiveTheSameAnswersAsSequentialOnes) {
  auto model = load_model_file(std::string(AIFGEN_SHARED_DIR) + "/models/mobilenet_v2.onnx");
  SessionOptions opts;
  opts.threads = 1;
  Session s(model, opts);
  std::vector<Tensor> inputs, expected;
  for (int i = 0; i < 4; ++i) {
    inputs.push_back(filled({1, 3, 224, 224}, static_cast<float>(i)));
    expected.push_back(s.run({inputs.back()})[0]);
  }
  std::vector<std::vector<Tensor>> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int rep = 0; rep < 3; ++rep) got[i] = s.run({inputs[i]});
    });
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    float worst = 0;
    for (std::int64_t k = 0; k < expected[i].numel(); ++k)
      worst = std::max(worst, std::abs(got[i][0].as<float>()[k] - expected[i].as<float>()[k]));
    EXPECT_EQ(worst, 0.f) << "thread " << i;
  }
  EXPECT_NE(std::memcmp(expected[0].data, expected[1].data, expected[0].bytes()), 0);  // inputs differ
}

// run_reading lends the run state's own bytes: the same values run() copies out, no owner, and
// the state goes back to the pool even when the reader throws.
TEST(EngineSession, RunReadingLendsTheSameOutputsRunCopiesOutAndSurvivesAThrowingReader) {
  auto m = testing::conv_bn_relu_model();
  SessionOptions opts;
  opts.input_shapes["x"] = {1, 3, 8, 8};
  Session s(m, opts);
  const auto x = filled({1, 3, 8, 8}, 0.3f);
  const auto copied = s.run({x});
  bool read = false;
  s.run_reading({x}, [&](const std::vector<Tensor>& lent) {
    read = true;
    ASSERT_EQ(lent.size(), copied.size());
    EXPECT_EQ(lent[0].owner, nullptr);
    EXPECT_EQ(lent[0].shape, copied[0].shape);
    EXPECT_EQ(std::memcmp(lent[0].data, copied[0].data, copied[0].bytes()), 0);
  });
  EXPECT_TRUE(read);
  EXPECT_THROW(s.run_reading({x}, [](const std::vector<Tensor>&) { throw std::runtime_error("reader failed"); }), std::runtime_error);
  const auto again = s.run({x});
  EXPECT_EQ(std::memcmp(again[0].data, copied[0].data, copied[0].bytes()), 0);
  EXPECT_THROW(s.run_reading({filled({1, 3, 8, 9}, 0)}, [](const std::vector<Tensor>&) {}), Error);
}

TEST(EngineSession, RejectsInputsOfTheWrongShapeOrType) {
  auto m = testing::conv_bn_relu_model();
  SessionOptions opts;
  opts.input_shapes["x"] = {1, 3, 8, 8};
  Session s(m, opts);
  EXPECT_THROW(s.run({filled({1, 3, 8, 9}, 0)}), Error);
  EXPECT_THROW(s.run({}), Error);
  Tensor ints = Tensor::allocate(DType::kI64, {1, 3, 8, 8});
  EXPECT_THROW(s.run({ints}), Error);
  opts.input_shapes["x"] = {1, 4, 8, 8};  // contradicts the model's fixed channel dim
  EXPECT_THROW(Session(m, opts), Error);
}

TEST(Npy, RoundTripsAndRejectsMalformedFiles) {
  testing::TempDir dir;
  auto t = filled({2, 5}, 3);
  write_npy(dir.path() + "/a.npy", t);
  auto back = read_npy(dir.path() + "/a.npy");
  EXPECT_EQ(back.shape, t.shape);
  EXPECT_EQ(std::memcmp(back.data, t.data, t.bytes()), 0);
  std::string good;
  {
    std::ifstream in(dir.path() + "/a.npy", std::ios::binary);
    good.assign(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_THROW(parse_npy(good.substr(0, good.size() - 4)), Error);       // truncated data
  EXPECT_THROW(parse_npy("not numpy at all"), Error);                     // no magic
  auto npy = [](const std::string& dict, const std::string& data) {
    std::string header = dict + "\n";
    std::string out = std::string("\x93NUMPY\x01\x00", 8);
    out.push_back(static_cast<char>(header.size() & 0xff));
    out.push_back(static_cast<char>(header.size() >> 8));
    return out + header + data;
  };
  EXPECT_NO_THROW(parse_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0'))));
  EXPECT_THROW(parse_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999,), }", "")), Error);
  EXPECT_THROW(parse_npy(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", std::string(8, '\0'))), Error);
  EXPECT_THROW(parse_npy(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", std::string(8, '\0'))), Error);
  EXPECT_THROW(parse_npy(npy("{'descr': '<U8', 'fortran_order': False, 'shape': (2,), }", std::string(64, '\0'))), Error);
  EXPECT_THROW(parse_npy(npy("{'descr': '<f4', 'shape': (2,), }", std::string(8, '\0'))), Error);
  // The shared reference inputs are .npy files written by NumPy itself.
  auto ref = read_npy(std::string(AIFGEN_SHARED_DIR) + "/models/refs/mobilenet_v2/input_input.npy");
  EXPECT_EQ(ref.shape, (Shape{1, 3, 224, 224}));
}

// A convolution's and a product's weights, each read where the planner put the model's own copy.
// `elsewhere`: W is also a graph output ("out") or also read by a Mul that runs ("mul").
onnx::ModelProto weights_model(const std::string& elsewhere) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "16", "8", "8"});
  *g->add_input() = testing::tensor_value("a", onnx::TensorProto::FLOAT, {"4", "64"});
  *g->add_initializer() = testing::random_tensor("W", {32, 16, 3, 3}, 11);
  *g->add_initializer() = testing::random_tensor("B", {32}, 12);
  *g->add_initializer() = testing::random_tensor("M", {64, 24}, 13);
  auto conv = testing::node("Conv", {"x", "W", "B"}, {"y"});
  testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
  *g->add_node() = conv;
  *g->add_node() = testing::node("MatMul", {"a", "M"}, {"z"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  *g->add_output() = testing::tensor_value("z", onnx::TensorProto::FLOAT, {});
  if (elsewhere == "out") *g->add_output() = testing::tensor_value("W", onnx::TensorProto::FLOAT, {});
  if (elsewhere == "mul") {
    *g->add_input() = testing::tensor_value("v", onnx::TensorProto::FLOAT, {"32", "16", "3", "3"});
    *g->add_node() = testing::node("Mul", {"v", "W"}, {"p"});
    *g->add_output() = testing::tensor_value("p", onnx::TensorProto::FLOAT, {});
  }
  return m;
}

TEST(EngineSession, WeightsTheKernelsCopiedAreFreedAfterPlanningAndOthersKept) {
  // resnext101_32x8d's process held its 338 MB of weights three times after planning: the
  // decoded initializers, the kernels' packed copies and the model. The session keeps only
  // what some step reads at run time: here the convolution's bias, not W or M, unless W is also
  // a graph output or read by a Mul, where it must stay and come out intact.
  for (const std::string elsewhere : {"", "out", "mul"}) {
    SCOPED_TRACE("W also read: " + (elsewhere.empty() ? std::string("no") : elsewhere));
    const auto m = weights_model(elsewhere);
    const Tensor w = tensor_from_proto(m.graph().initializer(0)), b = tensor_from_proto(m.graph().initializer(1)),
                 mm = tensor_from_proto(m.graph().initializer(2));
    for (int threads : {1, 2}) {
      SessionOptions o;
      o.threads = threads;
      Session s(m, o);
      if (elsewhere.empty()) EXPECT_LE(s.held_constant_bytes(), b.bytes());
      else EXPECT_GE(s.held_constant_bytes(), w.bytes());
      EXPECT_GE(s.constant_bytes(), w.bytes() + mm.bytes());
      const Tensor x = filled({1, 16, 8, 8}, 0.3f), a = filled({4, 64}, 0.6f), v = filled({32, 16, 3, 3}, 0.9f);
      std::vector<Tensor> in = {x, a};
      if (elsewhere == "mul") in.push_back(v);
      for (int run = 0; run < 2; ++run) {
        const auto out = s.run(in);
        ASSERT_EQ(out.size(), elsewhere.empty() ? 2u : 3u);
        const auto conv = testing::reference_conv2d(x, w, &b, 1);
        for (std::size_t i = 0; i < conv.size(); ++i) ASSERT_NEAR(out[0].as<float>()[i], conv[i], 1e-4f) << "y @" << i;
        for (int r = 0; r < 4; ++r)
          for (int c = 0; c < 24; ++c) {
            float want = 0;
            for (int k = 0; k < 64; ++k) want += a.as<float>()[r * 64 + k] * mm.as<float>()[k * 24 + c];
            ASSERT_NEAR(out[1].as<float>()[r * 24 + c], want, 1e-4f) << "z @" << r << "," << c;
          }
        for (std::int64_t i = 0; !elsewhere.empty() && i < w.numel(); ++i) {
          const float want = elsewhere == "out" ? w.as<float>()[i] : v.as<float>()[i] * w.as<float>()[i];
          ASSERT_EQ(out[2].as<float>()[i], want) << elsewhere << " @" << i;
        }
      }
    }
  }
}

TEST(EngineTensor, TakingAProtoMovesItsRawBytesAndLeavesNothingToDecodeAgain) {
  auto p = tensor_to_proto(filled({64, 32}, 0.4f), "w");
  const Tensor copy = tensor_from_proto(p);
  const void* bytes = p.raw_data().data();
  const Tensor taken = tensor_taking_proto(p);
  EXPECT_EQ(static_cast<const void*>(taken.data), bytes);  // moved, not copied
  EXPECT_EQ(taken.shape, copy.shape);
  EXPECT_EQ(taken.dtype, copy.dtype);
  EXPECT_EQ(std::memcmp(taken.data, copy.data, copy.bytes()), 0);
  EXPECT_EQ(p.name(), "w");
  EXPECT_EQ(p.dims_size(), 2);
  EXPECT_TRUE(p.raw_data().empty());
  try {
    tensor_from_proto(p);
    FAIL() << "a proto whose bytes were taken decoded again";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "tensor-size");
  }
  // Typed fields are copied and left as they are.
  auto typed = testing::float_tensor("v", {3}, {1.f, 2.f, 3.f});
  const Tensor v = tensor_taking_proto(typed);
  EXPECT_EQ(typed.float_data_size(), 3);
  EXPECT_EQ(v.as<float>()[2], 3.f);
  // A payload that contradicts the dims is refused before anything moves.
  auto wrong = tensor_to_proto(filled({4}, 0.1f), "short");
  wrong.add_dims(2);
  try {
    tensor_taking_proto(wrong);
    FAIL() << "16 bytes for 8 floats were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "tensor-size");
  }
  EXPECT_EQ(wrong.raw_data().size(), 16u);
}

TEST(EngineSession, AModelGivenByValuePlansAndRunsAsTheSameModelLent) {
  // Given by value, the session takes the initializers' bytes for its constants and leaves the
  // model empty; planned and run, it must answer as the session that copied them, bit for bit,
  // keep the same constants where a step reads them (W as a graph output or read by a Mul) and
  // free the same ones after planning.
  for (const std::string elsewhere : {"", "out", "mul"}) {
    SCOPED_TRACE("W also read: " + (elsewhere.empty() ? std::string("no") : elsewhere));
    const auto m = testing::with_raw_initializers(weights_model(elsewhere));
    for (int threads : {1, 2}) {
      SessionOptions o;
      o.threads = threads;
      Session lent(m, o);
      auto given = m;
      Session owned(std::move(given), o);
      EXPECT_EQ(owned.held_constant_bytes(), lent.held_constant_bytes());
      EXPECT_EQ(owned.constant_bytes(), lent.constant_bytes());
      std::vector<Tensor> in = {filled({1, 16, 8, 8}, 0.3f), filled({4, 64}, 0.6f)};
      if (elsewhere == "mul") in.push_back(filled({32, 16, 3, 3}, 0.9f));
      for (int run = 0; run < 2; ++run) {
        const auto want = lent.run(in), got = owned.run(in);
        ASSERT_EQ(got.size(), want.size());
        for (std::size_t k = 0; k < want.size(); ++k) {
          ASSERT_EQ(got[k].shape, want[k].shape);
          EXPECT_EQ(std::memcmp(got[k].data, want[k].data, want[k].bytes()), 0) << "output " << k;
        }
      }
    }
  }
}

}  // namespace
}  // namespace aifgen::engine

namespace aifgen {
namespace {

// x -> Conv -> c; c * Clip(c + 3, 0, 6) / 6 -> y: hardswish as exporters write it before opset 14.
onnx::ModelProto decomposed_hardswish(bool add_read_twice) {
  using namespace aifgen::testing;
  auto m = empty_model("hardswish");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "6", "6"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "4", "6", "6"});
  *g->add_initializer() = random_tensor("W", {4, 4, 1, 1}, 51, -2.f, 2.f);
  *g->add_initializer() = float_tensor("three", {}, {3.f});
  *g->add_initializer() = float_tensor("zero", {}, {0.f});
  *g->add_initializer() = float_tensor("six", {}, {6.f});
  *g->add_node() = node("Conv", {"x", "W"}, {"c"}, "conv");
  *g->add_node() = node("Add", {"c", "three"}, {"a"});
  *g->add_node() = node("Clip", {"a", "zero", "six"}, {"r"});
  *g->add_node() = node("Mul", {"c", "r"}, {"m"});
  *g->add_node() = node("Div", {"m", "six"}, {"y"});
  if (add_read_twice) *g->add_output() = tensor_value("a", onnx::TensorProto::FLOAT, {"1", "4", "6", "6"});
  return m;
}

TEST(EngineSession, DecomposedHardswishRunsAsOneKernelFusedIntoTheConvolution) {
  auto m = decomposed_hardswish(false);
  std::int64_t fused = 0;
  auto rewritten = engine::fuse_decomposed_hardswish(m, &fused);
  ASSERT_TRUE(rewritten.has_value());
  EXPECT_EQ(fused, 1);
  EXPECT_EQ(rewritten->graph().node_size(), 2);  // Conv, HardSwish
  engine::SessionOptions o;
  o.profile = true;
  engine::Session s(m, o);
  auto x = engine::Tensor::allocate(engine::DType::kF32, {1, 4, 6, 6});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.5f * static_cast<float>(i));
  auto y = s.run({x})[0];
  bool conv_hardswish = false;
  for (const auto& p : s.profile()) conv_hardswish = conv_hardswish || p.op == "Conv+HardSwish";
  // Fused where oneDNN's post-op computes hardswish exactly; AArch64's SVE-512 kernels (qemu) do
  // not, and it runs as its own step there (post_ops.h).
  EXPECT_EQ(conv_hardswish, engine::hardswish_post_op_exact(dnnl::engine(dnnl::engine::kind::cpu, 0)));
  // The same values as the four ops compute them.
  auto w = engine::tensor_from_proto(m.graph().initializer(0));
  for (int c = 0; c < 4; ++c)
    for (int p = 0; p < 36; ++p) {
      float v = 0;
      for (int k = 0; k < 4; ++k) v += w.as<float>()[c * 4 + k] * x.as<float>()[k * 36 + p];
      const float want = v * std::clamp(v + 3.f, 0.f, 6.f) / 6.f;
      EXPECT_NEAR(y.as<float>()[c * 36 + p], want, 1e-5f * std::max(1.f, std::abs(want)));
    }
  // A chain whose intermediate is read elsewhere is left alone.
  EXPECT_FALSE(engine::fuse_decomposed_hardswish(decomposed_hardswish(true)).has_value());
}


// x[1,4,6,6] -> 1x1 Conv -> a; gate = Sigmoid(a) or HardSigmoid(a; alpha, 0.5); y = a * gate.
onnx::ModelProto gated_conv(bool hard, float alpha) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "6", "6"});
  *g->add_initializer() = testing::random_tensor("w", {4, 4, 1, 1}, 21, -2.f, 2.f);
  *g->add_node() = testing::node("Conv", {"x", "w"}, {"a"});
  auto gate = testing::node(hard ? "HardSigmoid" : "Sigmoid", {"a"}, {"g"});
  if (hard) {
    testing::add_float_attr(gate, "alpha", alpha);
    testing::add_float_attr(gate, "beta", 0.5f);
  }
  *g->add_node() = gate;
  *g->add_node() = testing::node("Mul", {"g", "a"}, {"y"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

TEST(EngineSession, SwishAndHardswishGatesFuseIntoTheConvolution) {
  // The hardswish gate (HardSigmoid alpha 1/6) is one step only where oneDNN computes it exactly
  // (not AArch64's SVE-512 kernels, post_ops.h); other HardSigmoid gates are never fused.
  const bool exact = engine::hardswish_post_op_exact(dnnl::engine(dnnl::engine::kind::cpu, 0));
  for (const auto& [hard, alpha, fused] : {std::tuple{false, 0.2f, true}, std::tuple{true, 1.f / 6.f, exact}, std::tuple{true, 0.2f, false}}) {
    auto m = gated_conv(hard, alpha);
    engine::SessionOptions o;
    o.profile = true;
    engine::Session s(m, o);
    auto x = engine::Tensor::allocate(engine::DType::kF32, {1, 4, 6, 6});
    for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.3f * static_cast<float>(i));
    auto y = s.run({x})[0];
    bool one_step = false;
    for (const auto& p : s.profile()) one_step = one_step || p.op == std::string("Conv+") + (hard ? "HardSigmoid" : "Sigmoid") + "+Mul";
    EXPECT_EQ(one_step, fused) << "hard " << hard << " alpha " << alpha;
    auto w = engine::tensor_from_proto(m.graph().initializer(0));
    for (int c = 0; c < 4; ++c)
      for (int p = 0; p < 36; ++p) {
        float a = 0;
        for (int k = 0; k < 4; ++k) a += w.as<float>()[c * 4 + k] * x.as<float>()[k * 36 + p];
        const float gate = hard ? std::clamp(alpha * a + 0.5f, 0.f, 1.f) : 1.f / (1.f + std::exp(-a));
        EXPECT_NEAR(y.as<float>()[c * 36 + p], a * gate, 1e-5f * std::max(1.f, std::abs(a)));
      }
  }
}

// The per-step profile (bench --profile-steps) lists every planned step once, in plan order,
// with its run count and time; summed per op it is the per-op profile, and the last step writes
// the model's output. Unprofiled sessions keep none.
TEST(EngineSession, TheStepProfileListsEveryStepInPlanOrderAndAddsUpToTheOpProfile) {
  engine::SessionOptions o;
  o.profile = true;
  o.input_shapes["x"] = {1, 3, 8, 8};
  engine::Session s(testing::conv_bn_relu_model(), o);
  EXPECT_TRUE(s.step_profile().empty());
  auto x = engine::Tensor::allocate(engine::DType::kF32, {1, 3, 8, 8});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::cos(0.23f * static_cast<float>(i));
  const int runs = 3;
  for (int r = 0; r < runs; ++r) s.run({x});
  const auto steps = s.step_profile();
  ASSERT_EQ(steps.size(), s.kernel_count());
  std::map<std::string, double> per_op;
  for (std::size_t k = 0; k < steps.size(); ++k) {
    EXPECT_EQ(steps[k].index, k);
    EXPECT_EQ(steps[k].calls, runs) << steps[k].op;
    EXPECT_GE(steps[k].total_ms, 0.0);
    EXPECT_GE(steps[k].threads, 1);
    EXPECT_LE(steps[k].threads, s.threads());
    per_op[steps[k].op] += steps[k].total_ms;
  }
  EXPECT_EQ(steps.back().output, (engine::Shape{1, 4, 8, 8}));
  bool has_conv = false;
  for (const auto& p : s.profile()) {
    ASSERT_TRUE(per_op.count(p.op)) << p.op;
    EXPECT_NEAR(per_op[p.op], p.total_ms, 1e-9) << p.op;
    has_conv = has_conv || p.op == "Conv+Relu";
  }
  EXPECT_TRUE(has_conv);
  EXPECT_EQ(per_op.size(), s.profile().size());

  engine::SessionOptions plain;
  plain.input_shapes["x"] = {1, 3, 8, 8};
  engine::Session unprofiled(testing::conv_bn_relu_model(), plain);
  unprofiled.run({x});
  EXPECT_TRUE(unprofiled.step_profile().empty());
}

// Conv -> BatchNormalization -> Relu plans as one Conv+Relu (the BN folded into the weights at
// plan time) and computes what the three ops state.
TEST(EngineSession, BatchNormalizationAfterAConvIsFoldedAtPlanTime) {
  auto m = testing::conv_bn_relu_model();
  engine::SessionOptions o;
  o.profile = true;
  o.input_shapes["x"] = {1, 3, 8, 8};
  engine::Session s(m, o);
  auto x = engine::Tensor::allocate(engine::DType::kF32, {1, 3, 8, 8});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.37f * static_cast<float>(i));
  auto y = s.run({x})[0];
  bool conv_relu = false, batchnorm = false;
  for (const auto& p : s.profile()) {
    conv_relu = conv_relu || p.op == "Conv+Relu";
    batchnorm = batchnorm || p.op.find("BatchNormalization") != std::string::npos;
  }
  EXPECT_TRUE(conv_relu);
  EXPECT_FALSE(batchnorm);
  auto init = [&](int k) { return engine::tensor_from_proto(m.graph().initializer(k)); };
  auto w = init(0), b = init(1), gamma = init(2), beta = init(3), mean = init(4), var = init(5);
  const auto conv = testing::reference_conv2d(x, w, &b, 1);
  for (int oc = 0; oc < 4; ++oc)
    for (int p = 0; p < 64; ++p) {
      const float v = conv[static_cast<std::size_t>(oc * 64 + p)];
      const float bn = gamma.as<float>()[oc] * (v - mean.as<float>()[oc]) / std::sqrt(var.as<float>()[oc] + 1e-3f) + beta.as<float>()[oc];
      const float want = std::max(bn, 0.f);
      EXPECT_NEAR(y.as<float>()[oc * 64 + p], want, 1e-5f * std::max(1.f, std::abs(want)));
    }
}

}  // namespace
}  // namespace aifgen

// FP16 conversion: fp16 weights and compute with Casts only at region borders, options, range
// clamping, and validation by emulation (every fp16 value rounded like fp16 storage would).
#include <gtest/gtest.h>

#include <cmath>

#include "core/engine/random_inputs.h"
#include "core/engine/session.h"
#include "core/base/error.h"
#include "core/fp16_emulation.h"
#include "core/numeric/half.h"
#include "core/passes/fp16_range_check.h"
#include "core/passes/pass_manager.h"
#include "core/validation.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

// x -> Conv -> Relu -> Conv -> y
onnx::ModelProto two_convs() {
  auto m = empty_model("two_convs");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "3", "8", "8"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "4", "8", "8"});
  *g->add_initializer() = random_tensor("W1", {6, 3, 3, 3}, 1);
  *g->add_initializer() = random_tensor("B1", {6}, 2);
  *g->add_initializer() = random_tensor("W2", {4, 6, 1, 1}, 3);
  auto c1 = node("Conv", {"x", "W1", "B1"}, {"c1"});
  add_ints_attr(c1, "pads", {1, 1, 1, 1});
  *g->add_node() = c1;
  *g->add_node() = node("Relu", {"c1"}, {"r1"});
  *g->add_node() = node("Conv", {"r1", "W2"}, {"y"});
  return m;
}

int count_ops(const onnx::ModelProto& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph().node()) n += node.op_type() == op;
  return n;
}

onnx::ModelProto fp16(const onnx::ModelProto& source, PassOptions options = {}, PassCounts* counts = nullptr) {
  auto m = source;
  auto records = run_pipeline(m, {PassSpec("convert_fp16", std::move(options))});  // + ONNX checker
  if (counts) *counts = records[0].counts;
  return m;
}

TEST(ConvertFp16, WeightsAndComputeInFp16WithCastsOnlyAtTheBorders) {
  auto source = two_convs();
  PassCounts counts;
  auto m = fp16(source, {}, &counts);
  for (const auto& t : m.graph().initializer()) EXPECT_EQ(t.data_type(), onnx::TensorProto::FLOAT16) << t.name();
  EXPECT_EQ(count_ops(m, "Cast"), 2);  // input to fp16, output back to fp32
  EXPECT_EQ(counts["nodes_fp16"], 3);
  EXPECT_EQ(counts["initializers_converted"], 3);
  EXPECT_EQ(m.graph().input(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(m.graph().output(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT);
  EXPECT_EQ(m.graph().output(0).name(), "y");
  EXPECT_LT(m.ByteSizeLong(), source.ByteSizeLong());
  auto r = validate_variant(source, m, default_thresholds("fp16"));
  EXPECT_EQ(r.status, ValidationStatus::kValidated) << r.reason;
  EXPECT_GE(r.outputs[0].cosine, 0.999);
  EXPECT_NE(r.method.find("validated by emulation"), std::string::npos);
  EXPECT_LT(r.outputs[0].sqnr_db, 100.0) << "fp16 rounding must show";
}

// two_convs, then m = y * 2 and an If (on whether x sums above 0) whose branches add or
// subtract 1 from m. The branches read m by name: m's producer stays float32 with the If and
// its bodies, the convolutions still convert.
onnx::ModelProto two_convs_then_if() {
  auto m = two_convs();
  auto* g = m.mutable_graph();
  g->mutable_output(0)->set_name("out");
  *g->add_initializer() = float_tensor("two", {}, {2.f});
  *g->add_initializer() = float_tensor("one", {}, {1.f});
  *g->add_initializer() = float_tensor("zero", {}, {0.f});
  *g->add_node() = node("Mul", {"y", "two"}, {"m"});
  *g->add_node() = node("ReduceSum", {"x"}, {"total"});
  *g->add_node() = node("Greater", {"total", "zero"}, {"positive"});
  auto branch = [](const std::string& name, const std::string& op) {
    onnx::GraphProto b;
    b.set_name(name);
    *b.add_node() = node(op, {"m", "one"}, {name + "_out"});
    *b.add_output() = tensor_value(name + "_out", onnx::TensorProto::FLOAT, {"1", "4", "8", "8"});
    return b;
  };
  auto when = node("If", {"positive"}, {"out"});
  auto* then_branch = when.add_attribute();
  then_branch->set_name("then_branch");
  then_branch->set_type(onnx::AttributeProto::GRAPH);
  *then_branch->mutable_g() = branch("then", "Add");
  auto* else_branch = when.add_attribute();
  else_branch->set_name("else_branch");
  else_branch->set_type(onnx::AttributeProto::GRAPH);
  *else_branch->mutable_g() = branch("else", "Sub");
  *g->add_node() = when;
  return m;
}

TEST(ConvertFp16, ValuesControlFlowBodiesReadStayFloatAndTheRestConverts) {
  const auto source = two_convs_then_if();
  PassCounts counts;
  auto m = fp16(source, {}, &counts);  // the ONNX checker runs on the result
  EXPECT_EQ(counts["nodes_fp16"], 3);  // the convolutions and the Relu
  EXPECT_EQ(counts["nodes_kept_for_control_flow"], 1);  // the Mul whose m the branches read
  for (const auto& n : m.graph().node())
    if (n.op_type() == "Mul") {
      EXPECT_EQ(n.output(0), "m");
      EXPECT_NE(n.input(0), "y");  // reads the fp16 y through a Cast
    }
  for (int k = 0; k < 2; ++k) {
    const auto& flag = k == 0 ? std::vector<float>(192, 0.5f) : std::vector<float>(192, -0.5f);  // both branches
    const std::vector<engine::Tensor> in{[&] {
      auto t = engine::Tensor::allocate(engine::DType::kF32, {1, 3, 8, 8});
      std::copy(flag.begin(), flag.end(), t.as<float>());
      return t;
    }()};
    const auto want = engine::Session(source, {}).run(in)[0];
    const auto got = engine::Session(emulate_fp16(m), {}).run(in)[0];
    ASSERT_EQ(got.shape, want.shape);
    for (std::int64_t i = 0; i < want.numel(); ++i)
      EXPECT_NEAR(got.as<float>()[i], want.as<float>()[i], 1e-2f + 1e-2f * std::abs(want.as<float>()[i])) << k << " " << i;
  }
  auto r = validate_variant(source, m, default_thresholds("fp16"));
  EXPECT_EQ(r.status, ValidationStatus::kValidated) << r.reason;
}

TEST(ConvertFp16, BlockedOpsStayFloatBehindCasts) {
  auto m = fp16(two_convs(), {{"block_ops", "Relu"}});
  // x -> fp16, c1 -> fp32 for the Relu, r1 -> fp16, y -> fp32.
  EXPECT_EQ(count_ops(m, "Cast"), 4);
}

TEST(ConvertFp16, InputsAndOutputsCanBeFp16Too) {
  auto m = fp16(two_convs(), {{"keep_io_types", "false"}});
  EXPECT_EQ(count_ops(m, "Cast"), 0);
  EXPECT_EQ(m.graph().input(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT16);
  EXPECT_EQ(m.graph().output(0).type().tensor_type().elem_type(), onnx::TensorProto::FLOAT16);
  auto r = validate_variant(two_convs(), m, default_thresholds("fp16"));
  EXPECT_EQ(r.status, ValidationStatus::kValidated) << r.reason;
}

TEST(ConvertFp16, ValuesBeyondTheFp16RangeAreClampedAndCounted) {
  auto m = two_convs();
  auto* w = m.mutable_graph()->mutable_initializer(1);  // B1
  w->set_float_data(0, 1e6f);
  PassCounts counts;
  auto h = fp16(m, {{"range_check", "false"}}, &counts);
  EXPECT_EQ(counts["values_clamped"], 1);
  // With the range check (the default) the first Conv's output, ~1e6 in channel 0, cannot be
  // fp16: that Conv, the Relu and the second Conv reading it stay float32, so nothing is
  // clamped and nothing is left in fp16.
  PassCounts checked;
  auto kept = fp16(m, {}, &checked);
  EXPECT_EQ(checked["values_clamped"], 0);
  EXPECT_EQ(checked["nodes_kept_for_range"], 3);
  EXPECT_EQ(checked["nodes_fp16"], 0);
  auto r = validate_variant(m, kept, default_thresholds("fp16"));
  EXPECT_EQ(r.status, ValidationStatus::kValidated) << r.reason;
}

TEST(ConvertFp16, BadOptionsAreRefused) {
  EXPECT_THROW(make_pass(PassSpec("convert_fp16", {{"keep_io_types", "maybe"}})), Error);
  EXPECT_THROW(make_pass(PassSpec("convert_fp16", {{"nope", "1"}})), Error);
}

TEST(Fp16Emulation, EveryFp16ValueIsRoundedToFp16) {
  auto m = fp16(two_convs());
  ASSERT_TRUE(uses_fp16(m));
  EXPECT_FALSE(uses_fp16(two_convs()));
  auto emulated = emulate_fp16(m);
  EXPECT_FALSE(uses_fp16(emulated) && count_ops(emulated, "Cast") == 0);
  engine::Session e(emulated, {}), ref(two_convs(), {});
  auto in = engine::random_inputs(e.inputs(), 3);
  auto y = e.run(in)[0];
  auto y32 = ref.run(in)[0];
  int differ = 0;
  for (std::int64_t i = 0; i < y.numel(); ++i) {
    const float v = y.as<float>()[i];
    EXPECT_EQ(round_to_half(v), v) << "output " << i << " is not an fp16 value";
    differ += v != y32.as<float>()[i];
  }
  EXPECT_GT(differ, y.numel() / 2);
}

// The model: y = log|x * 1e-4 * 1e-4| - log|x * 1e-4 * 1e-4|. Exact (zero) in fp32; in
// fp16 x * 1e-8 underflows to 0, log(0) = -inf and -inf - -inf = NaN.
onnx::ModelProto underflowing_log() {
  auto m = empty_model("underflow");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"1", "16"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"1", "16"});
  *g->add_initializer() = float_tensor("a", {1}, {1e-4f});
  *g->add_initializer() = float_tensor("b", {1}, {1e-4f});
  *g->add_node() = node("Mul", {"x", "a"}, {"xa"});
  *g->add_node() = node("Mul", {"xa", "b"}, {"xab"});
  *g->add_node() = node("Abs", {"xab"}, {"m"});
  *g->add_node() = node("Log", {"m"}, {"l1"});
  *g->add_node() = node("Log", {"m"}, {"l2"});
  *g->add_node() = node("Sub", {"l1", "l2"}, {"y"});
  return m;
}

TEST(Fp16Emulation, UnderflowToZeroThenLogIsCaughtAsNonFinite) {
  // Every op in fp16 (Log unblocked) is what a naive converter ships: emulation must show NaN.
  auto naive = fp16(underflowing_log(), {{"block_ops", ""}, {"range_check", "false"}});
  auto r = validate_variant(underflowing_log(), naive, default_thresholds("fp16"));
  EXPECT_EQ(r.status, ValidationStatus::kFailed) << r.reason;
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_GT(r.outputs[0].nonfinite_values, 0);
}

TEST(ConvertFp16, OpsWhoseObservedRangeLeavesFp16StayFloat) {
  PassCounts counts;
  auto m = fp16(underflowing_log(), {}, &counts);
  EXPECT_EQ(counts["nodes_kept_for_range"], 2);  // the second Mul (1e-8) and the Abs reading it
  auto r = validate_variant(underflowing_log(), m, default_thresholds("fp16"));
  EXPECT_EQ(r.status, ValidationStatus::kValidated) << r.reason;
  // The same with every op allowed in fp16: the range check alone keeps the chain float32.
  PassCounts all;
  auto unblocked = fp16(underflowing_log(), {{"block_ops", ""}}, &all);
  EXPECT_EQ(all["nodes_kept_for_range"], 2);
  EXPECT_EQ(validate_variant(underflowing_log(), unblocked, default_thresholds("fp16")).status, ValidationStatus::kValidated);
}

TEST(ConvertFp16, ObservedRangesAndTheKeptOpsDoNotDependOnTheProbeThreads) {
  const auto model = two_convs();
  std::vector<std::string> values;
  for (const auto& n : model.graph().node())
    for (const auto& v : n.output()) values.push_back(v);
  std::vector<Sample> samples;
  for (std::uint32_t s = 0; s < 4; ++s) samples.push_back(engine::random_inputs({{"x", engine::DType::kF32, {1, 3, 8, 8}}}, 7 + s));
  const auto one = observe_ranges(model, values, samples, 1);
  const auto three = observe_ranges(model, values, samples, 3);
  ASSERT_EQ(one.size(), values.size());
  ASSERT_EQ(three.size(), values.size());
  for (const auto& v : values) {
    EXPECT_GT(one.at(v).nonzero, 0) << v;
    EXPECT_EQ(three.at(v).max_abs, one.at(v).max_abs) << v;
    EXPECT_EQ(three.at(v).nonzero, one.at(v).nonzero) << v;
    EXPECT_EQ(three.at(v).flushed, one.at(v).flushed) << v;
  }
  // Through the pass: the same model whatever PassEnv::threads says.
  for (const auto& source : {two_convs(), underflowing_log()}) {
    std::string bytes[2];
    for (int t = 0; t < 2; ++t) {
      auto m = source;
      PassEnv env;
      env.threads = t == 0 ? 1 : 3;
      run_pipeline(m, {PassSpec("convert_fp16", {{"block_ops", ""}})}, env);
      m.SerializeToString(&bytes[t]);
    }
    EXPECT_EQ(bytes[0], bytes[1]) << source.graph().name();
  }
}

TEST(Half, EveryHalfValueRoundTripsAndMidpointsRoundToEven) {
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    const auto h = static_cast<std::uint16_t>(b);
    const float f = half_bits_to_float(h);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(half_bits_to_float(float_to_half_bits(f))));
      continue;
    }
    ASSERT_EQ(float_to_half_bits(f), h) << std::hex << b;
    // The midpoint to the next half value rounds to whichever of the two has an even mantissa.
    if ((b & 0x7fff) < 0x7bff) {
      const float next = half_bits_to_float(static_cast<std::uint16_t>(b + 1));
      const float mid = f + (next - f) / 2;
      ASSERT_EQ(float_to_half_bits(mid), (b & 1) ? b + 1 : b) << std::hex << b;
    }
  }
}

TEST(Half, ConversionsRoundToNearestEven) {
  EXPECT_EQ(half_bits_to_float(float_to_half_bits(1.0f)), 1.0f);
  EXPECT_EQ(float_to_half_bits(65504.f), 0x7bff);
  EXPECT_EQ(float_to_half_bits(1e6f), 0x7c00);  // overflow: +inf
  // 1 + 2^-11 lies exactly between 1 and the next fp16 (1 + 2^-10): ties to even (1.0).
  EXPECT_EQ(round_to_half(1.0f + std::ldexp(1.0f, -11)), 1.0f);
  EXPECT_EQ(round_to_half(1.0f + 3 * std::ldexp(1.0f, -11)), 1.0f + std::ldexp(1.0f, -9));
}

}  // namespace
}  // namespace aifgen

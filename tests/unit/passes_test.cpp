// Passes: each rewrite checked on small graphs, with BN folding verified numerically against
// an independent computation of the folded weights.
#include <gtest/gtest.h>

#include <cmath>

#include "core/engine/random_inputs.h"
#include "core/engine/session.h"
#include "core/base/error.h"
#include "core/onnx_model.h"
#include "core/passes/graph_edit.h"
#include "core/passes/pass_manager.h"
#include "core/passes/pass.h"
#include "core/tensor_util.h"
#include "core/validation.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

const onnx::TensorProto& initializer(const onnx::ModelProto& m, const std::string& name) {
  int i = find_initializer(m.graph(), name);
  EXPECT_GE(i, 0) << name;
  return m.graph().initializer(i);
}

int count_op(const onnx::ModelProto& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph().node()) n += node.op_type() == op;
  return n;
}

TEST(FoldBatchNorm, FoldedWeightsMatchIndependentComputation) {
  auto m = testing::conv_bn_relu_model();
  const auto original = m;
  auto counts = make_pass("fold_batchnorm")->run(m);
  EXPECT_EQ(counts["batchnorms_folded"], 1);
  EXPECT_EQ(count_op(m, "BatchNormalization"), 0);

  const auto& conv = m.graph().node(0);
  ASSERT_EQ(conv.op_type(), "Conv");
  EXPECT_EQ(conv.output(0), "bn");  // the Conv took over the BN's output name
  auto w = read_floats(initializer(m, conv.input(1)));
  auto b = read_floats(initializer(m, conv.input(2)));

  auto w0 = read_floats(initializer(original, "W")), b0 = read_floats(initializer(original, "B"));
  auto gamma = read_floats(initializer(original, "gamma")), beta = read_floats(initializer(original, "beta"));
  auto mean = read_floats(initializer(original, "mean")), var = read_floats(initializer(original, "var"));
  ASSERT_EQ(w.size(), w0.size());
  for (int c = 0; c < 4; ++c) {
    double scale = gamma[c] / std::sqrt(double(var[c]) + 1e-3);
    for (int k = 0; k < 27; ++k) EXPECT_NEAR(w[c * 27 + k], w0[c * 27 + k] * scale, 1e-6);
    EXPECT_NEAR(b[c], (b0[c] - mean[c]) * scale + beta[c], 1e-6);
  }
  EXPECT_NO_THROW(accept_model(m));
}

TEST(FoldBatchNorm, LeavesSharedConvOutputAlone) {
  auto m = testing::conv_bn_relu_model();
  auto* g = m.mutable_graph();
  *g->add_node() = testing::node("Relu", {"c"}, {"c2"});
  *g->add_output() = testing::tensor_value("c2", onnx::TensorProto::FLOAT, {"N", "4", "8", "8"});
  auto counts = make_pass("fold_batchnorm")->run(m);
  EXPECT_EQ(counts["batchnorms_folded"], 0);
  EXPECT_EQ(counts["batchnorms_kept"], 1);
}

TEST(FoldBatchNorm, SharedWeightsKeepTheirOldValues) {
  auto m = testing::conv_bn_relu_model();
  auto* g = m.mutable_graph();
  auto conv2 = testing::node("Conv", {"x", "W"}, {"c2"});
  testing::add_ints_attr(conv2, "pads", {1, 1, 1, 1});
  *g->add_node() = conv2;
  *g->add_output() = testing::tensor_value("c2", onnx::TensorProto::FLOAT, {"N", "4", "8", "8"});
  auto w_before = read_floats(initializer(m, "W"));
  make_pass("fold_batchnorm")->run(m);
  EXPECT_EQ(read_floats(initializer(m, "W")), w_before);  // the second Conv still reads W unchanged
  EXPECT_NO_THROW(accept_model(m));
}

TEST(FoldBatchNorm, FoldsConstantNodeWeights) {
  auto m = testing::conv_bn_relu_model();
  auto* g = m.mutable_graph();
  // Move W into a Constant node, as Paddle exports weights.
  auto w = g->initializer(0);
  g->mutable_initializer()->DeleteSubrange(0, 1);
  auto c = testing::node("Constant", {}, {"W"});
  auto* a = c.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  *a->mutable_t() = w;
  g->mutable_node()->Add(std::move(c));
  g->mutable_node()->SwapElements(0, 3);  // Constant first (topological order)
  g->mutable_node()->SwapElements(1, 3);
  g->mutable_node()->SwapElements(2, 3);
  ASSERT_NO_THROW(accept_model(m));
  auto counts = make_pass("fold_batchnorm")->run(m);
  EXPECT_EQ(counts["batchnorms_folded"], 1);
  EXPECT_NO_THROW(accept_model(m));
}

TEST(FoldBatchNorm, KeepsTrainingModeBatchNorm) {
  auto m = testing::conv_bn_relu_model();
  m.mutable_graph()->mutable_node(1)->add_output("running_mean");
  EXPECT_EQ(make_pass("fold_batchnorm")->run(m)["batchnorms_folded"], 0);
}

TEST(EliminateIdentity, RewiresReaders) {
  auto m = testing::conv_bn_relu_model(/*with_identity=*/true);
  auto counts = make_pass("eliminate_identity")->run(m);
  EXPECT_EQ(counts["nodes_removed"], 1);
  EXPECT_EQ(count_op(m, "Identity"), 0);
  EXPECT_EQ(m.graph().node(2).input(0), "bn");
  EXPECT_NO_THROW(accept_model(m));
}

TEST(EliminateIdentity, KeepsGraphOutputNameByRenamingTheProducer) {
  auto m = testing::conv_bn_relu_model();
  auto* g = m.mutable_graph();
  g->mutable_node(2)->set_output(0, "r");
  *g->add_node() = testing::node("Identity", {"r"}, {"y"});
  auto counts = make_pass("eliminate_identity")->run(m);
  EXPECT_EQ(counts["nodes_removed"], 1);
  EXPECT_EQ(g->node(2).output(0), "y");
  EXPECT_NO_THROW(accept_model(m));
}

TEST(EliminateIdentity, KeepsPassThroughOfAGraphInput) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"2"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {"2"});
  *g->add_node() = testing::node("Identity", {"x"}, {"y"});
  auto counts = make_pass("eliminate_identity")->run(m);
  EXPECT_EQ(counts["nodes_removed"], 0);
  EXPECT_EQ(counts["nodes_kept"], 1);
}

// A Dropout told to train is the identity only when its ratio is a constant 0 (torchvision's
// Swin exports its attention dropouts so); any other ratio, or one a caller could feed, stays.
TEST(EliminateIdentity, RemovesTrainingDropoutsOnlyWhenTheirRatioIsAConstantZero) {
  auto dropout_model = [](float ratio, bool ratio_is_input) {
    auto m = testing::empty_model();
    auto* g = m.mutable_graph();
    *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"2"});
    *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {"2"});
    *g->add_initializer() = testing::float_tensor("ratio", {}, {ratio});
    if (ratio_is_input) *g->add_input() = testing::tensor_value("ratio", onnx::TensorProto::FLOAT, {});
    onnx::TensorProto yes;
    yes.set_name("training");
    yes.set_data_type(onnx::TensorProto::BOOL);
    yes.add_int32_data(1);
    *g->add_initializer() = yes;
    *g->add_node() = testing::node("Dropout", {"x", "ratio", "training"}, {"d"});
    *g->add_node() = testing::node("Relu", {"d"}, {"y"});
    return m;
  };
  auto zero = dropout_model(0.f, false);
  EXPECT_EQ(make_pass("eliminate_identity")->run(zero)["nodes_removed"], 1);
  EXPECT_EQ(count_op(zero, "Dropout"), 0);
  EXPECT_EQ(zero.graph().node(0).input(0), "x");
  auto some = dropout_model(0.1f, false);
  EXPECT_EQ(make_pass("eliminate_identity")->run(some)["nodes_removed"], 0);
  auto fed = dropout_model(0.f, true);
  EXPECT_EQ(make_pass("eliminate_identity")->run(fed)["nodes_removed"], 0);
  // dropout_only (the CPU engine's use): Dropouts go, Identity nodes stay.
  auto both = dropout_model(0.f, false);
  both.mutable_graph()->mutable_node(1)->set_input(0, "i");  // x -> Dropout -> Identity -> Relu
  *both.mutable_graph()->add_node() = testing::node("Identity", {"d"}, {"i"});
  EXPECT_EQ(make_pass(PassSpec("eliminate_identity", {{"dropout_only", "true"}}))->run(both)["nodes_removed"], 1);
  EXPECT_EQ(count_op(both, "Dropout"), 0);
  EXPECT_EQ(count_op(both, "Identity"), 1);
  EXPECT_THROW(make_pass(PassSpec("eliminate_identity", {{"dropout_only", "yes"}})), Error);
  // constant_identities too (what the engine runs): an Identity of a constant goes, its readers
  // read the constant; an Identity of a computed value stays.
  auto aliased = dropout_model(0.f, false);
  *aliased.mutable_graph()->add_node() = testing::node("Identity", {"ratio"}, {"ratio_alias"});
  *aliased.mutable_graph()->add_node() = testing::node("Identity", {"d"}, {"i"});
  *aliased.mutable_graph()->add_node() = testing::node("Add", {"i", "ratio_alias"}, {"z"});
  EXPECT_EQ(make_pass(PassSpec("eliminate_identity", {{"dropout_only", "true"}, {"constant_identities", "true"}}))->run(aliased)["nodes_removed"], 2);
  EXPECT_EQ(count_op(aliased, "Identity"), 1);
  const auto& add = aliased.graph().node(aliased.graph().node_size() - 1);
  EXPECT_EQ(add.input(0), "i");
  EXPECT_EQ(add.input(1), "ratio");
  EXPECT_THROW(make_pass(PassSpec("eliminate_identity", {{"constant_identities", "1"}})), Error);
}

TEST(EliminateDeadNodes, RemovesDanglingChainsAndUnusedInitializers) {
  auto m = testing::conv_bn_relu_model();
  auto* g = m.mutable_graph();
  *g->add_initializer() = testing::random_tensor("unused", {10}, 9);
  *g->add_node() = testing::node("Relu", {"c"}, {"dead1"});
  *g->add_node() = testing::node("Sigmoid", {"dead1"}, {"dead2"});
  auto counts = make_pass("eliminate_dead_nodes")->run(m);
  EXPECT_EQ(counts["nodes_removed"], 2);
  EXPECT_EQ(counts["initializers_removed"], 1);
  EXPECT_EQ(g->node_size(), 3);
  EXPECT_NO_THROW(accept_model(m));
}

TEST(PassManager, X86PipelineOnConvBnIdentity) {
  auto m = testing::conv_bn_relu_model(true);
  auto records = run_pipeline(m, {"eliminate_identity", "fold_batchnorm", "eliminate_dead_nodes", "infer_shapes"});
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].counts["nodes_removed"], 1);
  EXPECT_EQ(records[1].counts["batchnorms_folded"], 1);
  EXPECT_EQ(records[2].counts["initializers_removed"], 6);  // W, B, gamma, beta, mean, var replaced
  EXPECT_EQ(m.graph().node_size(), 2);
  EXPECT_EQ(m.graph().initializer_size(), 2);
}

TEST(FoldConstants, ShapeArithmeticAndConstantNodesBecomeInitializers) {
  // y = Reshape(x, Concat(Gather(Shape(x), 0), [-1])) with x fully shaped: only Reshape stays.
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"2", "3", "4"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {"2", "12"});
  onnx::TensorProto zero, minus_one;
  zero.set_name("zero");
  zero.set_data_type(onnx::TensorProto::INT64);
  zero.add_dims(1);
  zero.add_int64_data(0);
  *g->add_initializer() = zero;
  auto c = testing::node("Constant", {}, {"minus_one"});
  auto* a = c.add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  minus_one.set_data_type(onnx::TensorProto::INT64);
  minus_one.add_dims(1);
  minus_one.add_int64_data(-1);
  *a->mutable_t() = minus_one;
  *g->add_node() = c;
  *g->add_node() = testing::node("Shape", {"x"}, {"shape"});
  *g->add_node() = testing::node("Gather", {"shape", "zero"}, {"batch"});
  auto concat = testing::node("Concat", {"batch", "minus_one"}, {"target"});
  testing::add_int_attr(concat, "axis", 0);
  *g->add_node() = concat;
  *g->add_node() = testing::node("Reshape", {"x", "target"}, {"y"});
  accept_model(m);
  const auto original = m;
  auto counts = make_pass("fold_constants")->run(m);
  EXPECT_EQ(counts["nodes_folded"], 4);
  EXPECT_EQ(validate_variant(original, m, {}).status, ValidationStatus::kValidated);
  make_pass("eliminate_dead_nodes")->run(m);
  ASSERT_EQ(m.graph().node_size(), 1);
  EXPECT_EQ(m.graph().node(0).op_type(), "Reshape");
  const auto& target = m.graph().initializer(find_initializer(m.graph(), "target"));
  EXPECT_EQ(std::vector<std::int64_t>(target.dims().begin(), target.dims().end()), std::vector<std::int64_t>{2});
  EXPECT_NO_THROW(accept_model(m));
}

TEST(FoldConstants, LeavesRuntimeValuesAlone) {
  auto m = testing::conv_bn_relu_model();
  accept_model(m);
  EXPECT_EQ(make_pass("fold_constants")->run(m)["nodes_folded"], 0);
  EXPECT_EQ(m.graph().node_size(), 3);
}

TEST(FuseMatMulAdd, BecomesGemmOnlyWhenExact) {
  auto build = [](std::vector<std::int64_t> c_dims) {
    auto m = testing::empty_model();
    auto* g = m.mutable_graph();
    *g->add_input() = testing::tensor_value("a", onnx::TensorProto::FLOAT, {"3", "8"});
    *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {"3", "5"});
    *g->add_initializer() = testing::random_tensor("B", {8, 5}, 1);
    std::int64_t n = 1;
    for (auto d : c_dims) n *= d;
    *g->add_initializer() = testing::random_tensor("C", c_dims, 2);
    *g->add_node() = testing::node("MatMul", {"a", "B"}, {"ab"});
    *g->add_node() = testing::node("Add", {"ab", "C"}, {"y"});
    return m;
  };
  auto m = build({5});
  accept_model(m);
  const auto original = m;
  EXPECT_EQ(make_pass("fuse_matmul_add")->run(m)["matmuls_fused"], 1);
  EXPECT_EQ(validate_variant(original, m, {}).status, ValidationStatus::kValidated);
  ASSERT_EQ(m.graph().node_size(), 1);
  EXPECT_EQ(m.graph().node(0).op_type(), "Gemm");
  EXPECT_NO_THROW(accept_model(m));
  auto full = build({3, 5});  // a full [M, N] C is not a row bias: left alone
  accept_model(full);
  EXPECT_EQ(make_pass("fuse_matmul_add")->run(full)["matmuls_fused"], 0);
}

TEST(PassManager, UnknownPassIsAnError) {
  onnx::ModelProto m;
  try {
    run_pipeline(m, {"no_such_pass"});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "unknown-pass");
    EXPECT_FALSE(e.allowed().empty());
  }
}

}  // namespace
}  // namespace aifgen

namespace aifgen {
namespace {

TEST(FuseConvActivation, ConvActivationPairsBecomeFusedConvTheEngineRunsTheSame) {
  auto source = testing::empty_model("chain");
  auto* g = source.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "3", "8", "8"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {"1", "4", "8", "8"});
  *g->add_initializer() = testing::random_tensor("W1", {6, 3, 3, 3}, 1);
  *g->add_initializer() = testing::random_tensor("W2", {4, 6, 1, 1}, 2);
  *g->add_initializer() = testing::float_tensor("lo", {}, {0.f});
  *g->add_initializer() = testing::float_tensor("hi", {}, {0.5f});
  auto c1 = testing::node("Conv", {"x", "W1"}, {"c1"}, "c1");
  testing::add_ints_attr(c1, "pads", {1, 1, 1, 1});
  *g->add_node() = c1;
  *g->add_node() = testing::node("Clip", {"c1", "lo", "hi"}, {"r1"});
  *g->add_node() = testing::node("Conv", {"r1", "W2"}, {"c2"}, "c2");
  auto leaky = testing::node("LeakyRelu", {"c2"}, {"y"});
  testing::add_float_attr(leaky, "alpha", 0.3f);
  *g->add_node() = leaky;
  auto m = source;
  auto records = run_pipeline(m, {"infer_shapes", "fuse_conv_activation"});  // + the ONNX checker
  EXPECT_EQ(records[1].counts["convs_fused"], 2);
  ASSERT_EQ(m.graph().node_size(), 2);
  EXPECT_EQ(m.graph().node(0).domain(), "com.aifgen");
  EXPECT_EQ(m.graph().node(0).op_type(), "FusedConv");
  EXPECT_EQ(m.graph().node(1).output(0), "y");
  bool declared = false;
  for (const auto& op : m.opset_import()) declared = declared || op.domain() == "com.aifgen";
  EXPECT_TRUE(declared);
  engine::Session a(source, {}), b(m, {});
  auto in = engine::random_inputs(a.inputs(), 5);
  auto ya = a.run(in)[0], yb = b.run(in)[0];
  for (std::int64_t i = 0; i < ya.numel(); ++i) ASSERT_EQ(ya.as<float>()[i], yb.as<float>()[i]);
}

TEST(FuseConvActivation, ASharedConvOutputIsLeftAlone) {
  auto m = testing::conv_bn_relu_model();  // Conv -> BN -> Relu: the Conv's reader is not an activation
  EXPECT_EQ(make_pass("fuse_conv_activation")->run(m)["convs_fused"], 0);
}

}  // namespace
}  // namespace aifgen

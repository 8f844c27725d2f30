// The model census: IO with symbolic dims, op counts, parameters and MACs checked by hand.
#include "core/model_info.h"

#include <gtest/gtest.h>

#include "core/onnx_model.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

TEST(ModelInfo, ConvBnReluCensus) {
  auto m = testing::conv_bn_relu_model();
  accept_model(m);
  auto info = inspect_model(m);
  EXPECT_EQ(info.ir_version, 7);
  EXPECT_EQ(info.opset_imports.at(""), 13);
  ASSERT_EQ(info.inputs.size(), 1u);
  EXPECT_EQ(info.inputs[0].name, "x");
  EXPECT_EQ(info.inputs[0].dtype, "float32");
  ASSERT_EQ(info.inputs[0].shape.size(), 4u);
  EXPECT_EQ(std::get<std::string>(info.inputs[0].shape[0]), "N");  // symbolic batch kept
  EXPECT_EQ(std::get<std::int64_t>(info.inputs[0].shape[1]), 3);
  EXPECT_EQ(info.op_census.at("Conv"), 1);
  EXPECT_EQ(info.op_census.at("BatchNormalization"), 1);
  EXPECT_EQ(info.op_census.at("Relu"), 1);
  EXPECT_EQ(info.node_count, 3);
  EXPECT_EQ(info.parameter_count, 4 * 3 * 3 * 3 + 4 + 4 * 4);
  // Conv at batch 1: 4 output channels x 8x8 positions x (3 in-channels x 3x3 kernel).
  EXPECT_EQ(info.macs, 4 * 8 * 8 * 3 * 3 * 3);
  EXPECT_EQ(info.macs_unknown_nodes, 0);
}

TEST(ModelInfo, GemmAndMatMulMacs) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("a", onnx::TensorProto::FLOAT, {"batch", "16"});
  *g->add_output() = testing::tensor_value("z", onnx::TensorProto::FLOAT, {"batch", "5"});
  *g->add_initializer() = testing::random_tensor("W1", {8, 16}, 1);  // transB: [N, K]
  *g->add_initializer() = testing::random_tensor("W2", {8, 5}, 2);
  auto gemm = testing::node("Gemm", {"a", "W1"}, {"h"});
  testing::add_int_attr(gemm, "transB", 1);
  *g->add_node() = gemm;
  *g->add_node() = testing::node("MatMul", {"h", "W2"}, {"z"});
  accept_model(m);
  auto info = inspect_model(m);
  EXPECT_EQ(info.macs, 1 * 8 * 16 + 1 * 5 * 8);
  EXPECT_EQ(info.parameter_count, 8 * 16 + 8 * 5);
}

TEST(ModelInfo, UnknownSpatialDimsAreCountedAsUnknown) {
  auto m = testing::conv_bn_relu_model();
  auto* in = m.mutable_graph()->mutable_input(0);
  *in = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"N", "3", "H", "W"});
  *m.mutable_graph()->mutable_output(0) = testing::tensor_value("y", onnx::TensorProto::FLOAT, {"N", "4", "H", "W"});
  accept_model(m);
  auto info = inspect_model(m);
  EXPECT_EQ(info.macs, 0);
  EXPECT_EQ(info.macs_unknown_nodes, 1);
}

TEST(ModelInfo, MobileNetV2MatchesPublishedSize) {
  auto m = load_model_file(std::string(AIFGEN_SHARED_DIR) + "/models/mobilenet_v2.onnx");
  accept_model(m);
  auto info = inspect_model(m);
  // torchvision MobileNetV2: ~300 M MACs and 3.5 M parameters (BN folded by the exporter).
  EXPECT_NEAR(static_cast<double>(info.macs), 300.8e6, 2e6);
  EXPECT_NEAR(static_cast<double>(info.parameter_count), 3.49e6, 0.03e6);
  EXPECT_EQ(info.op_census.at("Conv"), 52);
}

}  // namespace
}  // namespace aifgen

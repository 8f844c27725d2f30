// The untrusted-bytes boundary: every kind of bad model is refused with its own stable type.
#include "core/onnx_model.h"

#include <gtest/gtest.h>

#include "core/engine/tensor.h"
#include "core/base/error.h"
#include "tests/support/model_builder.h"
#include "tests/support/temp_dir.h"

namespace aifgen {
namespace {

using testing::TempDir;

std::string error_type_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.type();
  }
  return "(no error)";
}

std::string load_and_accept(const std::string& path) {
  return error_type_of([&] {
    auto m = load_model_file(path);
    accept_model(m);
  });
}

TEST(OnnxModel, AcceptsEverySharedModel) {
  for (const char* name : {"mobilenet_v2", "transformer_encoder", "ch_PP-OCRv4_det_infer", "ch_PP-OCRv4_rec_infer",
                           "ch_ppocr_mobile_v2.0_cls_infer"}) {
    std::string path = std::string(AIFGEN_SHARED_DIR) + "/models/" + name + ".onnx";
    EXPECT_EQ(load_and_accept(path), "(no error)") << name;
  }
}

TEST(OnnxModel, ShapeInferenceFillsValueInfo) {
  TempDir dir;
  auto path = dir.file("m.onnx", testing::serialize(testing::conv_bn_relu_model()));
  auto m = load_model_file(path);
  EXPECT_EQ(m.graph().value_info_size(), 0);
  accept_model(m);
  EXPECT_EQ(m.graph().value_info_size(), 2);  // c and bn
}

TEST(OnnxModel, RejectsTruncatedProtobuf) {
  TempDir dir;
  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  EXPECT_EQ(load_and_accept(dir.file("t.onnx", bytes.substr(0, bytes.size() / 2))), "model-parse-failed");
}

TEST(OnnxModel, RejectsRandomBytes) {
  TempDir dir;
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 7919 + 13) & 0xff));
  EXPECT_EQ(load_and_accept(dir.file("r.onnx", junk)), "model-parse-failed");
}

TEST(OnnxModel, RejectsEmptyFile) {
  TempDir dir;
  EXPECT_EQ(load_and_accept(dir.file("e.onnx", "")), "model-empty");
}

TEST(OnnxModel, RejectsProtobufThatIsNotAModel) {
  TempDir dir;
  // A serialized TensorShapeProto.Dimension: valid protobuf whose fields happen to fit
  // ModelProto's wire types, so it parses but has no graph.
  onnx::TensorShapeProto_Dimension dim;
  dim.set_dim_value(5);
  dim.set_denotation("DATA_BATCH");
  std::string bytes;
  dim.SerializeToString(&bytes);
  EXPECT_EQ(load_and_accept(dir.file("t.onnx", bytes)), "not-an-onnx-model");
}

TEST(OnnxModel, RejectsModelFailingTheChecker) {
  TempDir dir;
  auto m = testing::conv_bn_relu_model();
  m.mutable_graph()->mutable_node(2)->set_op_type("NoSuchOp");
  EXPECT_EQ(load_and_accept(dir.file("c.onnx", testing::serialize(m))), "model-checker-failed");
}

TEST(OnnxModel, RejectsExternalData) {
  TempDir dir;
  auto m = testing::conv_bn_relu_model();
  testing::point_first_weight_at_external_file(m, "../../etc/passwd");
  EXPECT_EQ(load_and_accept(dir.file("x.onnx", testing::serialize(m))), "model-external-data");
}

TEST(OnnxModel, RejectsShapeInferenceConflicts) {
  TempDir dir;
  auto m = testing::conv_bn_relu_model();
  // Declares y with 5 channels although the Conv makes 4.
  *m.mutable_graph()->mutable_output(0) = testing::tensor_value("y", onnx::TensorProto::FLOAT, {"N", "5", "8", "8"});
  EXPECT_EQ(load_and_accept(dir.file("s.onnx", testing::serialize(m))), "model-shape-inference-failed");
}

// Regression for a fuzzing find: a Conv whose input is declared rank 2 made libonnx's shape
// inference dereference out of range (SIGSEGV). It must be refused, not crash.
TEST(OnnxModel, RefusesConvGeometryThatCrashesLibonnxInference) {
  TempDir dir;
  auto m = testing::conv_bn_relu_model();
  *m.mutable_graph()->mutable_input(0) = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"N", "3"});
  EXPECT_EQ(load_and_accept(dir.file("r2.onnx", testing::serialize(m))), "model-invalid-node");
  auto p = testing::conv_bn_relu_model();
  testing::add_ints_attr(*p.mutable_graph()->mutable_node(0), "strides", {1, 1, 1});
  EXPECT_EQ(load_and_accept(dir.file("st.onnx", testing::serialize(p))), "model-invalid-node");
  // The input the fuzzer produced, kept in the corpus, is refused the same way.
  EXPECT_EQ(load_and_accept(std::string(AIFGEN_SOURCE_DIR) + "/fuzz/corpus/onnx_model/regression-convpool-rank"), "model-invalid-node");
}

TEST(OnnxModel, RefusesHugeDeclaredShapesAndTooManyNodes) {
  TempDir dir;
  auto m = testing::conv_bn_relu_model();
  *m.mutable_graph()->mutable_input(0) =
      testing::tensor_value("x", onnx::TensorProto::FLOAT, {"100000000", "3", "100000000", "8"});
  EXPECT_EQ(load_and_accept(dir.file("huge.onnx", testing::serialize(m))), "model-too-complex");
  auto many = testing::conv_bn_relu_model();
  auto path = dir.file("many.onnx", testing::serialize(many));
  ModelLimits limits;
  limits.max_nodes = 2;
  EXPECT_EQ(error_type_of([&] {
              auto p = load_model_file(path);
              accept_model(p, limits);
            }),
            "model-too-complex");
}

TEST(OnnxModel, TensorDimsLargerThanThePayloadAreRefusedBeforeAllocating) {
  onnx::TensorProto t;
  t.set_name("w");
  t.set_data_type(onnx::TensorProto::FLOAT);
  for (int i = 0; i < 4; ++i) t.add_dims(1 << 20);  // 2^80 elements declared, 4 bytes present
  t.set_raw_data(std::string(4, '\0'));
  EXPECT_THROW(engine::tensor_from_proto(t), Error);
  onnx::TensorProto u;
  u.set_name("u");
  u.set_data_type(onnx::TensorProto::FLOAT);
  u.add_dims(1 << 30);  // 4 GiB declared, 1 value present
  u.add_float_data(1.f);
  EXPECT_THROW(engine::tensor_from_proto(u), Error);
}

TEST(OnnxModel, RefusesFilesOverTheLimit) {
  TempDir dir;
  auto path = dir.file("big.onnx", testing::serialize(testing::conv_bn_relu_model()));
  ModelLimits limits;
  limits.max_bytes = 100;
  EXPECT_EQ(error_type_of([&] { load_model_file(path, limits); }), "model-too-large");
}

}  // namespace
}  // namespace aifgen

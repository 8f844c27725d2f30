// Builds small ONNX models in code for tests, with the ONNX protobuf API.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace aifgen::testing {

// Float tensor with deterministic pseudo-random values in [lo, hi].
onnx::TensorProto random_tensor(const std::string& name, const std::vector<std::int64_t>& dims, std::uint32_t seed,
                                float lo = -1.f, float hi = 1.f);
onnx::TensorProto float_tensor(const std::string& name, const std::vector<std::int64_t>& dims,
                               const std::vector<float>& values);

// A 1-D int64 tensor (shapes, pads, axes, split sizes).
onnx::TensorProto int64_tensor(const std::string& name, const std::vector<std::int64_t>& values);

onnx::ValueInfoProto tensor_value(const std::string& name, int elem_type, const std::vector<std::string>& dims);

onnx::NodeProto node(const std::string& op, const std::vector<std::string>& inputs,
                     const std::vector<std::string>& outputs, const std::string& name = "");
void add_int_attr(onnx::NodeProto& n, const std::string& name, std::int64_t v);
void add_float_attr(onnx::NodeProto& n, const std::string& name, float v);
void add_ints_attr(onnx::NodeProto& n, const std::string& name, const std::vector<std::int64_t>& v);

// An empty opset-13 model (IR 7) with the given graph name.
onnx::ModelProto empty_model(const std::string& graph_name = "test");

// x[N,3,8,8] -> Conv(W[4,3,3,3], B[4], pad 1) -> BatchNormalization(4 ch, eps 1e-3) -> Relu -> y.
// `with_identity` inserts an Identity between BN and Relu.
onnx::ModelProto conv_bn_relu_model(bool with_identity = false);

// Makes the first initializer reference external data at `location` instead of holding bytes.
void point_first_weight_at_external_file(onnx::ModelProto& m, const std::string& location);

// `m` with every initializer's values in raw_data, as exporters write them (the builders above
// write typed fields, which a session owning the model copies instead of taking).
onnx::ModelProto with_raw_initializers(onnx::ModelProto m);

std::string serialize(const onnx::ModelProto& m);

}  // namespace aifgen::testing

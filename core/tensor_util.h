// Small helpers over onnx::TensorProto / type protos: dtype names, element counts, float data.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aifgen {

// "float32", "int64", ... for an onnx::TensorProto::DataType value; "unknown" otherwise.
std::string dtype_name(int onnx_elem_type);

// Product of dims, or nullopt on overflow / negative dims.
std::optional<std::int64_t> element_count(const onnx::TensorProto& t);

// Copies float32 data out of raw_data or float_data. Throws Error(kInvalidModel) when the tensor
// is not float32 or its payload size disagrees with its dims.
std::vector<float> read_floats(const onnx::TensorProto& t);

// Replaces the tensor payload by `values` stored as little-endian raw_data.
void write_floats(onnx::TensorProto& t, const std::vector<float>& values);

}  // namespace aifgen

// Tensor payload access for passes: ONNX stores floats either in float_data or raw_data.
#include "core/tensor_util.h"

#include <cstring>

#include "core/base/error.h"

namespace aifgen {

std::string dtype_name(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return "float32";
    case onnx::TensorProto::UINT8: return "uint8";
    case onnx::TensorProto::INT8: return "int8";
    case onnx::TensorProto::UINT16: return "uint16";
    case onnx::TensorProto::INT16: return "int16";
    case onnx::TensorProto::INT32: return "int32";
    case onnx::TensorProto::INT64: return "int64";
    case onnx::TensorProto::STRING: return "string";
    case onnx::TensorProto::BOOL: return "bool";
    case onnx::TensorProto::FLOAT16: return "float16";
    case onnx::TensorProto::DOUBLE: return "float64";
    case onnx::TensorProto::UINT32: return "uint32";
    case onnx::TensorProto::UINT64: return "uint64";
    case onnx::TensorProto::COMPLEX64: return "complex64";
    case onnx::TensorProto::COMPLEX128: return "complex128";
    case onnx::TensorProto::BFLOAT16: return "bfloat16";
    default: return "unknown";
  }
}

std::optional<std::int64_t> element_count(const onnx::TensorProto& t) {
  std::int64_t n = 1;
  for (auto d : t.dims()) {
    if (d < 0) return std::nullopt;
    if (d != 0 && n > INT64_MAX / d) return std::nullopt;
    n *= d;
  }
  return n;
}

std::vector<float> read_floats(const onnx::TensorProto& t) {
  if (t.data_type() != onnx::TensorProto::FLOAT)
    throw Error(ErrorCode::kInvalidModel, "tensor-dtype", "tensor '" + t.name() + "' is not float32");
  auto n = element_count(t);
  if (!n) throw Error(ErrorCode::kInvalidModel, "tensor-shape", "tensor '" + t.name() + "' has bad dims");
  std::vector<float> out(static_cast<std::size_t>(*n));
  if (t.has_raw_data()) {
    if (t.raw_data().size() != out.size() * sizeof(float))
      throw Error(ErrorCode::kInvalidModel, "tensor-size",
                  "tensor '" + t.name() + "' raw_data size does not match its dims");
    std::memcpy(out.data(), t.raw_data().data(), t.raw_data().size());  // x86/arm64: little-endian
  } else {
    if (static_cast<std::size_t>(t.float_data_size()) != out.size())
      throw Error(ErrorCode::kInvalidModel, "tensor-size",
                  "tensor '" + t.name() + "' float_data size does not match its dims");
    std::copy(t.float_data().begin(), t.float_data().end(), out.begin());
  }
  return out;
}

void write_floats(onnx::TensorProto& t, const std::vector<float>& values) {
  t.clear_float_data();
  t.set_raw_data(std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

}  // namespace aifgen

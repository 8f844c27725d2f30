// Tensor storage and conversion from/to ONNX TensorProto.
#include "core/engine/tensor.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/base/error.h"
#include "core/engine/block_cache.h"

namespace aifgen::engine {

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF64: case DType::kI64: case DType::kU64: return 8;
    case DType::kF32: case DType::kI32: case DType::kU32: return 4;
    case DType::kF16: case DType::kI16: case DType::kU16: return 2;
    case DType::kI8: case DType::kU8: case DType::kBool: return 1;
  }
  return 1;
}

const char* dtype_str(DType t) {
  switch (t) {
    case DType::kF32: return "float32";
    case DType::kF64: return "float64";
    case DType::kF16: return "float16";
    case DType::kI64: return "int64";
    case DType::kI32: return "int32";
    case DType::kI16: return "int16";
    case DType::kI8: return "int8";
    case DType::kU8: return "uint8";
    case DType::kU16: return "uint16";
    case DType::kU32: return "uint32";
    case DType::kU64: return "uint64";
    case DType::kBool: return "bool";
  }
  return "?";
}

DType dtype_from_onnx(int t) {
  switch (t) {
    case onnx::TensorProto::FLOAT: return DType::kF32;
    case onnx::TensorProto::DOUBLE: return DType::kF64;
    case onnx::TensorProto::FLOAT16: return DType::kF16;
    case onnx::TensorProto::INT64: return DType::kI64;
    case onnx::TensorProto::INT32: return DType::kI32;
    case onnx::TensorProto::INT16: return DType::kI16;
    case onnx::TensorProto::INT8: return DType::kI8;
    case onnx::TensorProto::UINT8: return DType::kU8;
    case onnx::TensorProto::UINT16: return DType::kU16;
    case onnx::TensorProto::UINT32: return DType::kU32;
    case onnx::TensorProto::UINT64: return DType::kU64;
    case onnx::TensorProto::BOOL: return DType::kBool;
    default:
      throw Error(ErrorCode::kUnprocessable, "engine-unsupported-dtype",
                  "the CPU engine does not execute tensors of ONNX type " + std::to_string(t));
  }
}

int dtype_to_onnx(DType t) {
  switch (t) {
    case DType::kF32: return onnx::TensorProto::FLOAT;
    case DType::kF64: return onnx::TensorProto::DOUBLE;
    case DType::kF16: return onnx::TensorProto::FLOAT16;
    case DType::kI64: return onnx::TensorProto::INT64;
    case DType::kI32: return onnx::TensorProto::INT32;
    case DType::kI16: return onnx::TensorProto::INT16;
    case DType::kI8: return onnx::TensorProto::INT8;
    case DType::kU8: return onnx::TensorProto::UINT8;
    case DType::kU16: return onnx::TensorProto::UINT16;
    case DType::kU32: return onnx::TensorProto::UINT32;
    case DType::kU64: return onnx::TensorProto::UINT64;
    case DType::kBool: return onnx::TensorProto::BOOL;
  }
  return 0;
}

std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) out += 'x';  // appended separately: GCC 12 warns (-Wrestrict, falsely) on "x" + to_string
    out += std::to_string(s[i]);
  }
  return out + "]";
}

namespace {

// Tensor bytes start on a 64-byte boundary, as oneDNN's own buffers and the session arena do:
// some of its JIT kernels store with aligned non-temporal moves (oneDNN 2.6's AVX-512
// resampling wrote its output with vmovntps and faulted on a 16-byte aligned tensor the
// dynamic tail had allocated).
std::shared_ptr<std::byte[]> aligned_bytes(std::size_t n) {
  if (n >= BlockCache::kMinBytes)
    if (auto* cache = BlockCache::current()) return cache->take(n);
  return std::shared_ptr<std::byte[]>(allocate_cache_aligned(n), [](std::byte* q) { std::free(q); });
}

}  // namespace

Tensor Tensor::allocate(DType dtype, Shape shape) {
  Tensor t = allocate_for_overwrite(dtype, std::move(shape));
  std::memset(t.data, 0, std::max<std::size_t>(t.bytes(), 1));
  return t;
}

Tensor Tensor::allocate_for_overwrite(DType dtype, Shape shape) {
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.owner = aligned_bytes(t.bytes());
  t.data = t.owner.get();
  return t;
}

namespace {

template <typename Dst, typename Field>
void copy_field(Tensor& t, const Field& field, const std::string& name) {
  if (static_cast<std::int64_t>(field.size()) != t.numel())
    throw Error(ErrorCode::kInvalidModel, "tensor-size", "tensor '" + name + "' has " + std::to_string(field.size()) +
                                                            " values for shape " + shape_str(t.shape));
  auto* dst = t.as<Dst>();
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<Dst>(field.Get(i));
}

}  // namespace

namespace {

struct ProtoPayload {
  DType dtype;
  Shape shape;
};

// The dtype and shape a TensorProto declares, checked against the payload it carries before
// anything sized by them is allocated (a tiny file may declare a tensor of petabytes).
ProtoPayload checked_payload(const onnx::TensorProto& p) {
  if (p.data_location() == onnx::TensorProto::EXTERNAL)
    throw Error(ErrorCode::kInvalidModel, "model-external-data", "tensor '" + p.name() + "' uses external data");
  Shape shape(p.dims().begin(), p.dims().end());
  const DType dtype = dtype_from_onnx(p.data_type());
  unsigned __int128 count = 1;
  for (auto d : shape) {
    if (d < 0) throw Error(ErrorCode::kInvalidModel, "tensor-shape", "tensor '" + p.name() + "' has a negative dim");
    count *= static_cast<unsigned __int128>(d);
    if (count > (static_cast<unsigned __int128>(1) << 40))
      throw Error(ErrorCode::kInvalidModel, "tensor-shape", "tensor '" + p.name() + "' declares too many elements");
  }
  const std::size_t expected_bytes = static_cast<std::size_t>(count) * dtype_size(dtype);
  if (p.has_raw_data()) {
    if (p.raw_data().size() != expected_bytes)
      throw Error(ErrorCode::kInvalidModel, "tensor-size", "tensor '" + p.name() + "' raw_data size mismatch");
  } else {
    const std::size_t values = static_cast<std::size_t>(p.float_data_size() + p.double_data_size() + p.int64_data_size() +
                                                        p.uint64_data_size() + p.int32_data_size());
    if (values != static_cast<std::size_t>(count))
      throw Error(ErrorCode::kInvalidModel, "tensor-size",
                  "tensor '" + p.name() + "' has " + std::to_string(values) + " values for shape " + shape_str(shape));
  }
  return {dtype, std::move(shape)};
}

}  // namespace

Tensor tensor_from_proto(const onnx::TensorProto& p) {
  auto [dtype, shape] = checked_payload(p);
  Tensor t = Tensor::allocate(dtype, shape);
  if (p.has_raw_data()) {
    std::memcpy(t.data, p.raw_data().data(), t.bytes());
    return t;
  }
  switch (t.dtype) {
    case DType::kF32: copy_field<float>(t, p.float_data(), p.name()); break;
    case DType::kF64: copy_field<double>(t, p.double_data(), p.name()); break;
    case DType::kI64: copy_field<std::int64_t>(t, p.int64_data(), p.name()); break;
    case DType::kU64: copy_field<std::uint64_t>(t, p.uint64_data(), p.name()); break;
    case DType::kU32: copy_field<std::uint32_t>(t, p.uint64_data(), p.name()); break;
    case DType::kI32: copy_field<std::int32_t>(t, p.int32_data(), p.name()); break;
    case DType::kI16: copy_field<std::int16_t>(t, p.int32_data(), p.name()); break;
    case DType::kU16: copy_field<std::uint16_t>(t, p.int32_data(), p.name()); break;
    case DType::kF16: copy_field<std::uint16_t>(t, p.int32_data(), p.name()); break;  // bit patterns
    case DType::kI8: copy_field<std::int8_t>(t, p.int32_data(), p.name()); break;
    case DType::kU8: copy_field<std::uint8_t>(t, p.int32_data(), p.name()); break;
    case DType::kBool: copy_field<std::uint8_t>(t, p.int32_data(), p.name()); break;
  }
  return t;
}

Tensor tensor_taking_proto(onnx::TensorProto& p) {
  if (!p.has_raw_data() || p.raw_data().empty()) return tensor_from_proto(p);
  auto [dtype, shape] = checked_payload(p);
  // The string's heap buffer moves with it (operator new's alignment, as Tensor::allocate's).
  auto bytes = std::make_shared<std::string>(std::move(*p.mutable_raw_data()));
  p.mutable_raw_data()->clear();
  Tensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.owner = std::shared_ptr<std::byte[]>(bytes, reinterpret_cast<std::byte*>(bytes->data()));
  t.data = t.owner.get();
  return t;
}

onnx::TensorProto tensor_to_proto(const Tensor& t, const std::string& name) {
  onnx::TensorProto p;
  p.set_name(name);
  p.set_data_type(dtype_to_onnx(t.dtype));
  for (auto d : t.shape) p.add_dims(d);
  p.set_raw_data(std::string(reinterpret_cast<const char*>(t.data), t.bytes()));
  return p;
}

std::vector<std::int64_t> to_int64_vector(const Tensor& t) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(t.numel()));
  if (t.dtype == DType::kI64) std::memcpy(out.data(), t.data, t.bytes());
  else if (t.dtype == DType::kI32) for (std::size_t i = 0; i < out.size(); ++i) out[i] = t.as<std::int32_t>()[i];
  else throw Error(ErrorCode::kInvalidArgument, "engine-bad-input", std::string("expected an integer tensor, got ") + dtype_str(t.dtype));
  return out;
}

}  // namespace aifgen::engine

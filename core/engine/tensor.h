// Tensors of the CPU engine: a dtype, a shape and a pointer to row-major contiguous data that
// either owns its buffer (constants, outputs handed to callers) or points into a run's arena.
#pragma once

#include <onnx/onnx_pb.h>

#include <dnnl.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace aifgen::engine {

enum class DType { kF32, kF64, kF16, kI64, kI32, kI16, kI8, kU8, kU16, kU32, kU64, kBool };

using Shape = std::vector<std::int64_t>;

std::size_t dtype_size(DType t);
const char* dtype_str(DType t);
// Throws Error(kUnsupported...) for ONNX types the engine does not execute (strings, complex).
DType dtype_from_onnx(int onnx_type);
int dtype_to_onnx(DType t);
std::int64_t numel(const Shape& s);
std::string shape_str(const Shape& s);

struct TensorDesc {
  DType dtype = DType::kF32;
  Shape shape;
  // Set when the value is stored in a oneDNN-specific (blocked) layout between oneDNN kernels;
  // null means plain row-major. Only layout-aware kernels ever see a non-null layout.
  std::shared_ptr<const dnnl::memory::desc> layout;
  std::size_t bytes() const {
    return layout ? layout->get_size() : static_cast<std::size_t>(numel(shape)) * dtype_size(dtype);
  }
};

struct Tensor {
  DType dtype = DType::kF32;
  Shape shape;
  std::byte* data = nullptr;
  std::shared_ptr<std::byte[]> owner;  // empty when the data lives elsewhere (arena)

  static Tensor allocate(DType dtype, Shape shape);  // zero-filled
  // Uninitialized bytes, for a caller that writes every one of them next.
  static Tensor allocate_for_overwrite(DType dtype, Shape shape);
  std::int64_t numel() const { return engine::numel(shape); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
  TensorDesc desc() const { return {dtype, shape}; }
  template <typename T> T* as() { return reinterpret_cast<T*>(data); }
  template <typename T> const T* as() const { return reinterpret_cast<const T*>(data); }
};

// Decodes a TensorProto (raw_data or typed fields) into an owned tensor. Throws Error.
Tensor tensor_from_proto(const onnx::TensorProto& t);
// The same, but a raw_data payload is moved into the tensor instead of copied: `t` keeps its
// name, type and dims and an empty raw_data, which no later decoding accepts (tensor-size).
Tensor tensor_taking_proto(onnx::TensorProto& t);
onnx::TensorProto tensor_to_proto(const Tensor& t, const std::string& name);

// Reads integer values (int32/int64 tensors) as int64, e.g. shapes and axes.
std::vector<std::int64_t> to_int64_vector(const Tensor& t);

}  // namespace aifgen::engine

// Dtype dispatch and N-d broadcasting shared by the element-wise kernels.
#pragma once

#include <cstdint>
#include <type_traits>
#include <vector>

#include "core/engine/tensor.h"

namespace aifgen::engine {

// Calls f(T{}) with the C++ type of `t`. Returns false for dtypes without a C++ arithmetic type
// (float16), so callers can refuse them at plan time.
template <typename F>
bool dispatch_type(DType t, F&& f) {
  switch (t) {
    case DType::kF32: f(float{}); return true;
    case DType::kF64: f(double{}); return true;
    case DType::kI64: f(std::int64_t{}); return true;
    case DType::kI32: f(std::int32_t{}); return true;
    case DType::kI16: f(std::int16_t{}); return true;
    case DType::kI8: f(std::int8_t{}); return true;
    case DType::kU8: f(std::uint8_t{}); return true;
    case DType::kU16: f(std::uint16_t{}); return true;
    case DType::kU32: f(std::uint32_t{}); return true;
    case DType::kU64: f(std::uint64_t{}); return true;
    case DType::kBool: f(bool{}); return true;
    case DType::kF16: return false;
  }
  return false;
}

// Broadcast output shape (numpy rules); returns false when the shapes are incompatible.
bool broadcast_shape(const std::vector<Shape>& shapes, Shape& out);

// Iteration plan for an N-ary broadcast: dims merged where every operand broadcasts the same
// way, so the inner loop is as long as possible. Operand k's element for output row r and
// inner index i is at row_offset[k][r] + i * inner_stride[k].
struct BroadcastPlan {
  std::int64_t rows = 1, inner = 1;
  std::vector<std::vector<std::int64_t>> row_offset;  // [operand][row]
  std::vector<std::int64_t> inner_stride;             // [operand]: 0 or 1
};
BroadcastPlan plan_broadcast(const std::vector<Shape>& inputs, const Shape& out);

}  // namespace aifgen::engine

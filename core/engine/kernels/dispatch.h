// Dtype dispatch, N-d broadcasting and loop splitting shared by the element-wise kernels.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "core/engine/tensor.h"

namespace aifgen::engine {

// Element count above which element-wise loops split across the run's OpenMP threads; below
// it the fork/join costs more than it saves (a 2-thread team costs ~1-2 us here).
inline constexpr std::int64_t kParallelMinElements = 16384;

// Calls fn(begin, end) over [0, n) split into one contiguous chunk per OpenMP thread (one call
// when n is small), for loops that live in multiversioned functions.
template <typename Fn>
void parallel_chunks(std::int64_t n, Fn&& fn) {
  if (n <= kParallelMinElements) {
    fn(std::int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const std::int64_t chunk = (n + nt - 1) / nt, b = std::min(n, t * chunk), e = std::min(n, b + chunk);
    if (b < e) fn(b, e);
  }
}

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

// The shape a Reshape to `target` gives a value of shape `in` (ONNX rules: 0 copies the input's
// dim at that place unless `allowzero`, one -1 is inferred); false with the reason in `why`
// when it cannot (the Reshape kernel and the attention planner's window views share it).
bool reshape_target(const Shape& in, const std::vector<std::int64_t>& target, bool allowzero, Shape& out, std::string& why);

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

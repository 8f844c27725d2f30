// A product by constant weights at a batch of at most kMaxRowsProductRows rows of A (a classifier
// head's Gemm at batch 1, a decoder's step), as dot products of the weights' rows with each row
// of A: recurrent_rows, the recurrence's kernel. Such a product is a matrix-vector product
// bound by how fast the weights' bytes arrive. oneDNN 2.6 ran MNASNet's 1280x1000 head (5 MB)
// as a 1x1 convolution in 0.27 ms at 1 thread on a Zen 5 core, 19 GB/s, where ONNX Runtime took
// 0.21; the weights' rows streamed by recurrent_rows arrive at 65-85 GB/s on the same core.
// matmul.cpp times this kernel against oneDNN's at planning and keeps the faster.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/engine/aligned_floats.h"
#include "core/engine/kernel.h"
#include "core/engine/kernels/recurrent_rows.h"

namespace aifgen::engine {

constexpr std::int64_t kMaxRowsProductRows = 4;

// B's [K, N] values, element (i, j) at data[i * stride_k + j * stride_n], as N rows of K on
// 64-byte lines (each output's weights contiguous).
AlignedFloats weight_rows(const float* data, std::int64_t k, std::int64_t n, std::int64_t stride_k, std::int64_t stride_n);

class RowsProductKernel final : public Kernel {
 public:
  // y [m, n] = act(a [m, k] x weights^T + bias); weights: n rows of k; bias: n values or empty.
  RowsProductKernel(std::int64_t m, std::int64_t k, std::int64_t n, AlignedFloats weights, AlignedFloats bias, RecurrentActivation act);

  // A trailing step on the output (a GELU left out of the fused activations).
  std::function<void(const std::vector<const Tensor*>&, Tensor&)> epilogue;
  // Only A is read at run time: the weights and bias were copied at planning.
  bool reads_input_at_run(std::size_t i) const override { return i == 0; }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override;
  // The product alone, on the calling thread's OpenMP team: a [m, k] row-major, y [m, n].
  void multiply(const float* a, float* y) const;

 private:
  std::int64_t m_, k_, n_;
  AlignedFloats weights_, bias_;
  RecurrentActivation act_;
};

}  // namespace aifgen::engine

// A depthwise 3-D convolution (one input and one output channel per group, constant weights)
// on plain NCDHW values.
//
// oneDNN 2.6 has jit depthwise kernels for 1-D and 2-D convolutions only; a 3-D one runs as
// im2col + GEMM group by group (x64:gemm:jit). mvit_v1_b pools its attention's queries, keys and
// values with 3x3x3 depthwise convolutions of 96 channels per head: those 35 layers took about
// 250 ms of its 1.4 s run at one thread. Here each image is turned channels-last by a oneDNN
// reorder, every output position sums its taps as vectors across the channels, and the result is
// reordered back: every multiply-add is a full vector and no tap is computed twice.
#pragma once

#include <dnnl.hpp>

#include <cstdint>
#include <vector>

#include "core/engine/kernel.h"
#include "core/engine/tensor.h"

namespace aifgen::engine {

struct VolumeWindow {
  std::int64_t kernel[3], stride[3], pad[3];  // depth, height, width; pads at the start
};

class DepthwiseVolumeKernel final : public Kernel {
 public:
  // `weights` [C, 1, kd, kh, kw]; `bias` C values or empty; x [N, C, D, H, W] -> y [N, C, ...].
  DepthwiseVolumeKernel(const Tensor& weights, std::vector<float> bias, VolumeWindow window, const Shape& x, const Shape& y,
                        const dnnl::engine& eng);

  // Scratch one run needs: an image in and out, channels-last.
  static std::size_t scratch_bytes(const Shape& x, const Shape& y);

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override;

 private:
  std::vector<float> taps_;  // [kd][kh][kw][C]
  std::vector<float> bias_;  // C
  VolumeWindow w_;
  Shape x_, y_;
  dnnl::engine eng_;
  dnnl::memory::desc x_plain_, x_last_, y_plain_, y_last_;
  dnnl::reorder to_last_, from_last_;
};

}  // namespace aifgen::engine

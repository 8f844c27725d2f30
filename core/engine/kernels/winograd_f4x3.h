// Winograd F(4x4, 3x3) for float 3x3 stride-1 convolutions of channel-blocked tensors (nChw8c,
// nChw16c), written here because oneDNN 2.6.3 ships Winograd kernels for AVX-512 only: on an
// AVX2 CPU every VGG/ResNet/DenseNet 3x3 layer ran direct, at ONNX Runtime's speed (its MLAS has
// no Winograd either) and no faster.
//
// Each 4x4 block of outputs (a tile) is computed from the 6x6 block of inputs under it as
// A^T [(G g G^T) . (B^T d B)] A (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2015): the 36 products of the middle are, over all tiles and channels, 36 matrix
// products [tiles, C] x [C, K], which one batched oneDNN matmul does, with 4x fewer
// multiplications than the direct 3x3 sum (36 instead of 144 per tile and channel pair). The
// input and output transforms are vector adds over one channel block, and the output transform
// also adds the bias, a residual and a ReLU where the session fused them.
//
// Results differ from the direct sum by rounding in the transforms (the matrices hold 4, 5, 8 and
// 1/24); measured on random layers at about 1e-6 of the largest output (tests/unit/
// engine_winograd_f4x3_test.cpp). Used only where timed faster than the direct kernel
// (winograd_choice.h), or everywhere with ConvAlgorithm::kWinograd.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <dnnl.hpp>

#include "core/engine/kernel.h"

namespace aifgen::engine {

// The source and destination of one matmul call take about this many bytes together, so a
// chunk's transformed tiles stay in the last-level cache between the transforms and the products
// (the whole of VGG's 224x224 layers would be 58 MB).
inline constexpr std::size_t kWinogradChunkBytes = std::size_t{4} << 20;

struct WinogradF4x3Shape {
  std::int64_t images = 1, channels = 0, height = 0, width = 0;  // source [N, G * C, H, W]; C per group
  std::int64_t outputs = 0, out_height = 0, out_width = 0;        // destination [N, G * K, OH, OW]; K per group
  std::int64_t pad_top = 0, pad_left = 0;                         // the bottom and right pads follow from OH, OW
  std::int64_t block = 8;                                         // source and destination are nChw{block}c
  std::int64_t groups = 1;  // G: group g reads channels [g C, (g + 1) C) and writes outputs [g K, (g + 1) K)
};

// What the output transform applies after the bias: a residual in the destination's layout
// (oneDNN's sum post-op), then max(0, x).
struct WinogradEpilogue {
  bool residual = false;
  bool relu = false;
};

// The epilogue for a fused post-op chain this kernel applies itself (none, Relu, a sum, a sum
// then Relu), or nullopt.
std::optional<WinogradEpilogue> winograd_epilogue_for(const std::vector<PostOp>& ops);

// Whether the shape is one this kernel computes: block 8 or 16, each group's channels and
// outputs whole blocks (so a group's part of a blocked tensor is whole blocks too), pads in 0..2.
bool winograd_f4x3_supports(const WinogradF4x3Shape& shape);

class WinogradF4x3 {
 public:
  // `weights`: plain [G * K, C, 3, 3] (ONNX's grouped layout); `bias`: G * K values or null. The transformed weights are packed
  // once into the layout of the batched matmul oneDNN makes for the calling thread's OpenMP
  // thread count; with `shared`, taken from there when a live plan packed them for the same
  // layout (packed_weights.h; `weights` must then outlive it).
  // `chunk_bytes` bounds the transformed tiles of one matmul call (tests make it small to get
  // many chunks and a short last one).
  WinogradF4x3(const WinogradF4x3Shape& shape, const float* weights, const float* bias, WinogradEpilogue epilogue,
               const dnnl::engine& eng, std::size_t chunk_bytes = kWinogradChunkBytes, PackedWeights* shared = nullptr);

  // Bytes of scratch space run() needs (64-byte aligned at its start).
  std::size_t scratch_bytes() const { return scratch_bytes_; }
  // src and dst in nChw{block}c; `residual` in dst's layout (it may be dst itself) when the
  // epilogue adds one.
  void run(const float* src, float* dst, const float* residual, std::byte* scratch, dnnl::stream& stream) const;

  const WinogradF4x3Shape& shape() const { return shape_; }
  std::int64_t chunks() const { return (tiles_ + chunk_ - 1) / chunk_; }
  WinogradEpilogue epilogue() const { return epilogue_; }

 private:
  WinogradF4x3Shape shape_;
  WinogradEpilogue epilogue_;
  std::int64_t tiles_h_ = 0, tiles_w_ = 0, tiles_ = 0;  // tiles per image row/column and in all
  std::int64_t chunk_ = 0;                              // tiles per matmul call (the last may have fewer)
  std::vector<float> bias_;                             // K values, zeros without a bias
  dnnl::engine eng_;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul matmul_;
  std::shared_ptr<dnnl::memory> packed_weights_;
  std::size_t v_offset_ = 0, m_offset_ = 0, matmul_scratch_offset_ = 0, scratch_bytes_ = 0;
};

}  // namespace aifgen::engine

// A ConvTranspose whose kernel equals its stride (2x2 at stride 2: Mask R-CNN's mask head,
// U-Net and FCN decoders) writes each input pixel's s x s output block from that pixel alone:
// y[m, s*i + p, s*j + q] = b[m] + sum over c of x[c, i, j] * w[c, m, p, q]. That is a 1x1
// convolution to M*s*s channels, channel m*s*s + p*s + q holding w[:, m, p, q], followed by a
// CRD DepthToSpace of block s. oneDNN 2.6 runs such a deconvolution with a slow kernel (its
// gemm on plain layouts, or the AVX2 direct one: Mask R-CNN's 256-channel upsampling of 100
// ROIs took 455 ms per run where ONNX Runtime takes 186), and its 1x1 convolution well.
// Engine-internal: the model on disk is not changed. Results differ by rounding only (the same
// products, summed over the same channels).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>

namespace aifgen::engine {

// The model with each such ConvTranspose of the main graph rewritten, or nullopt when there is
// none. It qualifies with one group, float32 constant weights [C, M, s, s] and bias
// (initializers or Constant nodes; the session first removes Identity aliases of them), strides equal
// to the kernel, no dilation, padding, output padding, output_shape or auto_pad but NOTSET or
// VALID. `rewritten` counts them.
std::optional<onnx::ModelProto> conv_transposes_as_pointwise(const onnx::ModelProto& model, std::int64_t* rewritten = nullptr);

}  // namespace aifgen::engine

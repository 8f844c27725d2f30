// AlexNet's stem, an 11x11 convolution at stride 4 of the 3 image channels: oneDNN 2.6 has no
// direct AVX2 kernel for it and runs it as im2col + GEMM (`x64:gemm:jit`; 4.1-4.5 ms at 1 thread
// and 2.5 ms at 2 on an AVX2 EPYC, where ONNX Runtime's direct kernel takes 1.8 and 0.9, the
// whole gap between the two on alexnet). The same convolution on the input regrouped by stride
// blocks (space to depth: channel (c, p, q) at (I, J) is input channel c at (s*I + p, s*J + q))
// is a stride-1 convolution of C*s*s channels with a ceil(k/s) kernel, which oneDNN runs with
// its direct kernel: y[o,i,j] = sum over c, a, b, p, q of w[o, c, s*a + p, s*b + q] *
// x[c, s*(i + a) + p, s*(j + b) + q], the weights regrouped alike (zero where s*a + p >= k).
// It does ~19% more multiplications (the zero weights) and one copy of the input.
// Engine-internal: the model on disk is not changed.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>

#include <dnnl.hpp>

namespace aifgen::engine {

// The model with each such convolution rewritten as Pad -> Reshape -> Transpose -> Reshape ->
// stride-1 Conv, or nullopt when there is none. A convolution qualifies when it reads a graph
// input of fixed [N, C, H, W] dims, has one group, no dilation, equal strides s >= 2 below its
// kernel, C*s*s <= 64, and oneDNN on `eng` would run it as a GEMM but the rewritten one with a
// direct kernel (that last condition dropped when `only_where_gemm` is false: tests check the
// rewrite on any machine). `rewritten` counts them.
std::optional<onnx::ModelProto> stems_as_space_to_depth(const onnx::ModelProto& model, const dnnl::engine& eng,
                                                        std::int64_t* rewritten = nullptr, bool only_where_gemm = true);

}  // namespace aifgen::engine

// Direct or Winograd for one 3x3 stride-1 float convolution (ConvAlgorithm, conv_algorithm.h).
//
// oneDNN's Winograd kernels (jit_fp32_wino_2x3 / jit_wino_4x3, AVX-512 only) do the 3x3
// convolutions of ResNet, VGG, DenseNet, GoogLeNet and the like with ~2.25x fewer
// multiplications; measured on a 2-core AVX-512 VM with oneDNN 2.6.3, 64->64 at 56x56 took 0.54
// instead of 1.04 ms, vgg16 as a whole 81 instead of 150 ms. They lose on a 3-channel first layer
// (2.7x slower) and on small maps at 2 threads (128->32 at 7x7: 2x slower), and the picture
// differs between CPUs, so by default each shape is timed both ways on this machine, with the
// step's thread count, and the faster kept; Winograd's time includes the reorders between its
// nChw16c and the layouts the direct kernel would read and write (the session then races the
// whole plan against an all-direct one, Session::choose_winograd_or_direct). Results differ from
// the direct algorithm by rounding only (~2e-6 of the largest output per layer; the zoo's deep
// ResNets stay within 1e-4 of ONNX Runtime). The transformed weights take 1.8x (2x3) to 4x
// (4x3) the memory of the plain ones.
#pragma once

#include <dnnl.hpp>
#include <optional>
#include <string>

#include "core/engine/conv_algorithm.h"
#include "core/engine/kernels/post_ops.h"

namespace aifgen::engine {

// The Winograd primitive for `winograd` (same shapes, attributes and post-ops as `direct`) when
// the policy and this machine say it should replace `direct`; nullopt to keep `direct` (also when
// oneDNN has no Winograd kernel for the shape or this CPU). Measurements run with the calling
// thread's OpenMP thread count and are remembered per shape, needed reorders and thread count
// for the life of the process.
std::optional<dnnl::convolution_forward::primitive_desc> winograd_instead(
    ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
    const dnnl::convolution_forward::desc& winograd, const dnnl::primitive_attr& attr, const PostOpChain& chain,
    const dnnl::engine& eng);

// The same for a grouped convolution run group by group: `one_group` describes one group's
// convolution (a batch of one, channels a multiple of 16 on both sides, so each group's slice of
// an nChw16c tensor is itself a dense nChw16c tensor at an offset), timed `groups` times against
// `direct`, the whole grouped convolution; `whole_src`/`whole_dst` are the full tensors in the
// layouts the per-group primitive reads and writes, for the reorders the direct kernel would not
// need. oneDNN 2.6 has no Winograd kernel for grouped convolutions (RegNet's 3x3 layers with
// 16 to 128 channels per group ran direct at about ORT's speed; one 128->128 group at 28x28 is
// 2.3x faster as Winograd on one thread).
std::optional<dnnl::convolution_forward::primitive_desc> grouped_winograd_instead(
    ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
    const dnnl::convolution_forward::desc& one_group, int groups, const dnnl::memory::desc& whole_src,
    const dnnl::memory::desc& whole_dst, const dnnl::primitive_attr& attr, const PostOpChain& chain, const dnnl::engine& eng);

}  // namespace aifgen::engine

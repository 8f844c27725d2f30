// Which ops may run on a value while it stays in oneDNN's NHWC layout, and how they are
// rewritten to run on its raw buffer viewed as [N, H, W, C]. oneDNN's fastest float
// convolutions here read and write NHWC; every op between two convolutions that needs the
// plain NCHW form costs two reorders (ShuffleNet, SqueezeNet, GoogLeNet and DenseNet spent up to
// 45% of their time in them), so element-wise ops, global average pooling and channel
// Concat/Split keep the layout.
#pragma once

#include <onnx/onnx_pb.h>

#include <memory>
#include <utility>
#include <vector>

#include <dnnl.hpp>

#include "core/engine/kernel.h"
#include "core/engine/tensor.h"

namespace aifgen::engine {

// True when `d` is a 4-D value in NHWC order (channels innermost, no blocking).
bool is_nhwc(const TensorDesc& d);

// How many channels a 4-D float value stores together per pixel: 1 for plain NCHW, C for NHWC,
// B for oneDNN's channel-blocked nChw8c/nChw16c ([N, C/B, H, W, B]) when B divides C (no
// padding channels); 0 for any other layout.
std::int64_t channel_block(const TensorDesc& d);

// [N, C, H, W] -> [N, H, W, C] and back.
Shape nhwc_physical(const Shape& s);
Shape nchw_logical(const Shape& physical);

// The NHWC float32 layout of a logical NCHW shape.
std::shared_ptr<const dnnl::memory::desc> nhwc_layout(const Shape& logical);

// Element-wise ops whose result at each element depends only on the elements at the same
// position: they run on any layout when every operand is in it (or broadcasts per channel).
bool layout_free_elementwise(const onnx::NodeProto& n);

// A Concat or Split along the channel axis of a 4-D value (`rank` of its data input).
bool is_channel_concat_or_split(const onnx::NodeProto& n, std::size_t rank);

// The same node along `axis`: 3 for running on [N, H, W, C] views, 1 on the [N, C/B, H, W, B]
// views of a channel-blocked value. Other attributes are kept.
onnx::NodeProto along_axis(const onnx::NodeProto& n, std::int64_t axis);

// oneDNN's channel-blocked float32 layout (nChw8c or nChw16c, `block` 8 or 16) of a logical
// NCHW shape, and its [N, C/B, H, W, B] physical view (B divides C).
std::shared_ptr<const dnnl::memory::desc> channel_blocked_layout(const Shape& logical, std::int64_t block);
Shape blocked_physical(const Shape& logical, std::int64_t block);

// A channel Concat whose operands convolutions wrote channel-blocked (GoogLeNet's and
// Inception's branches in a plan started blocked, activation_layout.h) can run on their
// [N, C/B, H, W, B] views along axis 1: in that view each operand's channels are whole blocks,
// so the Concat is one copy in the layout the next convolution reads, where the plain path
// reordered every operand to NCHW and the result back; DenseNet's Concats with a fused
// BatchNormalization and ReLU (concat_batchnorm.h) too. The block it runs in: 16 or 8 when no
// operand is NHWC, at least one is blocked by it and every operand's channels divide by it;
// 0 otherwise. `inputs` are the operands' descriptions (nullptr for a constant).
std::int64_t blocked_concat_block(const onnx::NodeProto& n, const std::vector<const TensorDesc*>& inputs);

// ShuffleNet's channel shuffle, Reshape [N,C,H,W] -> [N,g,C/g,H,W], Transpose (0,2,1,3,4),
// Reshape back to [N,C,H,W], on an NHWC value: one permutation of each pixel's C channels
// (output channel j*g + i is input channel i*C/g + j), instead of three plain-layout ops and
// two reorders. `physical` is the [N,H,W,C] view.
std::unique_ptr<Kernel> make_channel_shuffle_nhwc(const Shape& physical, std::int64_t groups);

// Concat of two NHWC values of one shape along channels, the channel shuffle of 2 groups, then
// channel slices [start, end) of the result (both even): each slice is channels start/2 ..
// end/2 of the two inputs interleaved (output channel 2j from the first, 2j+1 from the second).
// `half` is the inputs' [N,H,W,C] view; one output per range, each [N,H,W,end-start].
std::unique_ptr<Kernel> make_interleave_halves_nhwc(const Shape& half, std::vector<std::pair<std::int64_t, std::int64_t>> ranges);

// The same for two values of one shape in one channel-blocked layout (nChw8c or nChw16c, `block`
// 8 or 16; oneDNN's AVX2 convolutions write nChw8c), padding channels allowed: `half` is the
// inputs' logical [N,C,H,W] shape, and the output is channels [start, end) of the shuffled
// value, [N,end-start,H,W] in the same blocked layout with its spare lanes zero. Any bounds.
std::unique_ptr<Kernel> make_interleave_halves_blocked(const Shape& half, std::int64_t block, std::pair<std::int64_t, std::int64_t> range);

// 8 or 16 when `d` is a 4-D float value in nChw8c or nChw16c, including a padded last block
// (channel_block() counts only unpadded ones); 0 otherwise.
std::int64_t padded_channel_block(const TensorDesc& d);

}  // namespace aifgen::engine

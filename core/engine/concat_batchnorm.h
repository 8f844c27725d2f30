// DenseNet's pre-activation: every dense layer concatenates all the features before it and
// applies BatchNormalization and ReLU to the result, three full passes over a tensor that grows
// with the block (Concat, then the normalization, then the ReLU; ~13% of densenet121 at one
// thread). A channel Concat whose only reader is an inference BatchNormalization (and that one's
// only reader a Relu) becomes one Concat that applies the per-channel scale and shift (and the
// ReLU) while it copies, so the tensor is written once and never re-read. Engine-internal: the
// model on disk is not changed; the Concat carries the folded statistics as private attributes
// that the Concat kernel reads (kConcatScaleAttr, ...).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>

namespace aifgen::engine {

inline constexpr const char* kConcatScaleAttr = "aifgen_channel_scale";  // floats, one per output channel
inline constexpr const char* kConcatShiftAttr = "aifgen_channel_shift";  // floats, one per output channel
inline constexpr const char* kConcatReluAttr = "aifgen_relu";            // int, 1: max(0, .) after the shift
// Set by the planner on such a Concat run on [N, C/B, H, W, B] views of channel-blocked values
// (nhwc_passthrough.h): int B; output channel c is block c / B, lane c % B.
inline constexpr const char* kConcatChannelBlockAttr = "aifgen_channel_block";

// A standard Concat that only joins its inputs: no attribute but `axis`, so no BatchNormalization
// is fused into it. Passes that move, split or re-lay a Concat take only these.
bool is_plain_concat(const onnx::NodeProto& n);

// The model with each such Concat -> BatchNormalization [-> Relu] chain as one Concat, or nullopt
// when there is none. `fused` counts the chains.
std::optional<onnx::ModelProto> fuse_concat_batchnorm(const onnx::ModelProto& model, std::int64_t* fused = nullptr);

}  // namespace aifgen::engine

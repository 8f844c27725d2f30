// A channel Concat read only by a convolution is not materialised: a convolution is linear in
// its input channels, so Conv(Concat(a, b), W) = Conv(a, W[:, :Ca]) + Conv(b, W[:, Ca:]), and the
// planner fuses each Add into the next convolution as an accumulation (Conv+Add, in place).
//
// Why: between NHWC values a channel Concat copies one short piece per pixel per input, and at 2
// threads those pieces were written on both cores: SqueezeNet's fire modules (expand 1x1 and 3x3
// -> Concat -> the next squeeze 1x1 convolution) spent 0.19 ms in 8 Concats at 1 thread and 0.39
// ms at 2 threads, of 2.6 ms in all. oneDNN 2.6's convolutions cannot write a strided channel
// slice of a larger NHWC tensor (that drops them to the reference kernel), so the copy cannot be
// avoided by writing in place. YOLO-style CSP blocks (Concat -> 1x1 Conv) match too.
// With the split, squeezenet1_1 at 2 threads ran 2.45-2.52 ms instead of 2.63-2.65 ms; at 1
// thread 3.52-3.66 ms instead of 3.33-3.41 ms (the Concat copies in cache there, the narrow
// partial convolutions are less efficient, and a Winograd choice flipped), so sessions use it
// only with a thread team.
//
// Matched: Concat on axis 1 whose output only one ungrouped Conv reads (as its input, with
// constant float weights), each Concat input's channel count known from the graph (a declared
// shape, or a convolution's weights through channel-preserving ops), and the convolution's
// output channels times (inputs - 1) fewer than the Concat's: each extra part re-reads the
// output, so a classifier widening 512 channels to 1000 keeps its Concat. Engine-internal: the model
// on disk is not changed.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>

namespace aifgen::engine {

// The model with each such Concat and Conv rewritten, or nullopt when there is none.
std::optional<onnx::ModelProto> split_concats_into_convs(const onnx::ModelProto& model, std::int64_t* split = nullptr);

}  // namespace aifgen::engine

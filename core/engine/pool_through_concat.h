// A pooling of a channel Concat becomes a Concat of the pooled inputs: MaxPool and AveragePool
// work on each channel alone, so Pool(Concat(a, b)) = Concat(Pool(a), Pool(b)) with the same
// attributes.
//
// Why: SqueezeNet's fire modules and GoogLeNet's inception blocks end in a channel Concat read
// only by a stride-2 MaxPool. The Concat copied the full-size values (squeezenet1_1's
// [1,128,55,55]: 0.04 ms at 1 thread, 0.07 ms at 2, where its operands were written on both
// cores); after the swap it copies the pooled quarter, and where a convolution reads that
// Concat, a session with a thread team splits it into that convolution's parts
// (concat_split.h), so no copy is left.
//
// Matched: Concat along axis 1 of 4-D values whose output only one MaxPool or AveragePool
// reads, as its only input, with one output (no MaxPool indices) and the Concat's output not a
// graph output. Engine-internal: the model on disk is not changed.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>

namespace aifgen::engine {

// The model with each such pool moved onto the Concat's inputs, or nullopt when there is none.
std::optional<onnx::ModelProto> pool_through_concats(const onnx::ModelProto& model, std::int64_t* moved = nullptr);

}  // namespace aifgen::engine

// An explicit zero Pad of the spatial dims in front of a Conv or an AveragePool becomes that op's
// own padding (AveragePool then counts the padding, as it averaged the Pad's zeros). PyTorch
// exports every count_include_pad average pool of Inception and DenseNet this way, and the Pad
// alone costs a reorder to NCHW, a copy and a reorder back. Engine-internal: the model on disk
// is not changed.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>

namespace aifgen::engine {

// The model with each such Pad folded into its only reader, or nullopt when there is none.
std::optional<onnx::ModelProto> fold_pads_into_consumers(const onnx::ModelProto& model, std::int64_t* folded = nullptr);

}  // namespace aifgen::engine

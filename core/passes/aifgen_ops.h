// aifgen's private operator domain: ops only aifgen's engine reads, written by passes for the
// targets whose runtime is aifgen's engine (targets whose runtime fuses by itself keep
// standard ONNX).
//
//   com.aifgen.FusedConv (version 1): Conv's inputs and attributes, plus
//     activation         string: Relu | LeakyRelu | Clip | Sigmoid | Tanh | HardSigmoid | HardSwish
//     activation_params  floats: LeakyRelu {alpha}, Clip {min, max}, HardSigmoid {alpha, beta}
//   = the activation applied to the convolution's output.
#pragma once

#include <onnx/onnx_pb.h>

#include <optional>

namespace aifgen {

inline constexpr const char* kAifgenDomain = "com.aifgen";

// The same model in standard ONNX (FusedConv -> Conv + activation), or nullopt when it has no
// aifgen-domain node. Throws Error(kInvalidModel, "aifgen-op-invalid") for malformed nodes.
std::optional<onnx::ModelProto> expand_aifgen_ops(const onnx::ModelProto& model);

}  // namespace aifgen

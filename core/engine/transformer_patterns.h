// LayerNorm and GELU as exporters write them before the ops existed in ONNX (LayerNormalization
// is opset 17, Gelu opset 20): PyTorch at opset 13 writes F.layer_norm as nine ops (ReduceMean,
// Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div, Mul gamma, Add beta) and exact GELU as five (Div
// by sqrt 2 or Mul by 1/sqrt 2, Erf, Add 1, Mul x, Mul 0.5). ConvNeXt, ViT, Swin and BERT-like
// encoders spend a quarter of their time in these chains, one pass over the tensor per op. The
// engine plans each chain as one LayerNormalization or Gelu node (GELU is then a oneDNN
// post-op of the convolution before it, where there is one). Engine-internal, like
// hardswish_pattern.h: the model on disk is not changed.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>

namespace aifgen::engine {

struct TransformerFusions {
  std::int64_t layer_norms = 0, gelus = 0;
};

// The model with every such chain replaced, or nullopt when there is none.
std::optional<onnx::ModelProto> fuse_transformer_patterns(const onnx::ModelProto& model, TransformerFusions* fused = nullptr);

}  // namespace aifgen::engine

// Squeeze-and-excitation blocks (MobileNetV3, EfficientNet, RegNet, the PP-OCR classifier) as one
// step: GlobalAveragePool -> 1x1 Conv -> Relu | SiLU | HardSwish -> 1x1 Conv -> Sigmoid |
// HardSigmoid -> Mul with the block's input. Unfused these are five or six kernels, four of them
// on a [N, C, 1, 1] value where a oneDNN primitive call costs more than its arithmetic; here the
// channel means, the two small matrix-vector products and the gate are computed in one pass over
// registers, and the input is read once for the means and once for the scaling, in whatever
// layout it arrives (plain NCHW, NHWC, or the channel-blocked layout of oneDNN's grouped
// convolutions, so RegNet's grouped conv -> SE -> 1x1 conv needs no reorder between them). ONNX Runtime's CPU provider leaves these ops unfused.
#pragma once

#include <onnx/onnx_pb.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/kernel.h"

namespace aifgen::engine {

struct SqueezeExcite {
  enum class Activation { kRelu, kSilu, kHardSwish };
  enum class Gate { kSigmoid, kHardSigmoid };
  std::string input, output;  // the block's input x and the Mul's output
  std::vector<int> nodes;     // every node the block replaces, GlobalAveragePool first
  const Tensor* w1 = nullptr;  // [R, C, 1, 1]
  const Tensor* b1 = nullptr;  // [R] or null
  const Tensor* w2 = nullptr;  // [C, R, 1, 1]
  const Tensor* b2 = nullptr;  // [C] or null
  Activation activation = Activation::kRelu;
  Gate gate = Gate::kSigmoid;
  float alpha = 0.2f, beta = 0.5f;  // HardSigmoid
};

// What the planner knows about the graph: readers of each value, graph outputs, and plan-time
// constants by name (null when not constant).
struct GraphView {
  const onnx::GraphProto& graph;
  const std::unordered_map<std::string, std::vector<int>>& readers;
  const std::function<bool(const std::string&)>& is_graph_output;
  const std::function<const Tensor*(const std::string&)>& constant;
};

// The block starting at the GlobalAveragePool node `gap`, or nullopt when the nodes after it are
// not exactly that shape (every intermediate read once, weights constant, 1x1 stride-1 unpadded
// ungrouped convolutions, x read only by the pool and the Mul).
std::optional<SqueezeExcite> match_squeeze_excite(const GraphView& view, int gap);

// The fused step for x of logical shape [N, C, H, W] stored with `channel_block` channels
// together per pixel (channel_block() in nhwc_passthrough.h: 1 plain NCHW, C NHWC, 8 or 16
// oneDNN's nChw8c/nChw16c); y is written in the same layout.
std::unique_ptr<Kernel> make_squeeze_excite(const SqueezeExcite& se, const Shape& logical, std::int64_t channel_block);

}  // namespace aifgen::engine

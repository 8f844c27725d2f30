// Channel equalization before INT8 quantization (SmoothQuant's migration, Xiao et al. 2023,
// with alpha 0.5; the same exact rescaling as cross-layer equalization, Nagel et al. 2019).
//
// Per-tensor activation scales fail when a few channels of a tensor are far wider than the rest:
// one outlier channel sets the step for all. Where a tensor X is made by a node whose output
// channels are weights (Conv, Gemm, MatMul with constant weights, optionally followed by Relu or
// LeakyRelu, which commute with positive scales) and read only by such nodes, channel c of X can
// be divided by s_c and the readers' weights for channel c multiplied by s_c: the float model
// computes the same function, and the ranges move from activations into weights, which are
// quantized per output channel. s_c = sqrt(max|X_c| / max|W_c|) balances the two.
#pragma once

#include <onnx/onnx_pb.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace aifgen::quantize {

struct EqualizationSite {
  std::string value;         // the tensor whose channels are rescaled
  int producer = -1;         // node writing the channels (Conv, Gemm or MatMul)
  int activation = -1;       // a Relu/LeakyRelu between producer and value, or -1
  std::vector<int> readers;  // nodes absorbing the scales (Conv, Gemm or MatMul)
  int channel_axis = 1;      // of `value`: 1 for Conv readers, the last axis for Gemm/MatMul
  std::int64_t channels = 0;
};

// The tensors of `graph` that can be equalized exactly.
std::vector<EqualizationSite> find_equalization_sites(const onnx::GraphProto& graph);

// Rescales each site whose per-channel max |x| (over calibration samples) is in
// `channel_abs_max`; returns what it did (sites, their widest/narrowest channel ratio before).
nlohmann::json apply_equalization(onnx::GraphProto& graph, const std::vector<EqualizationSite>& sites,
                                  const std::map<std::string, std::vector<float>>& channel_abs_max);

}  // namespace aifgen::quantize

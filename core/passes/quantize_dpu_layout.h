// The DPU layout of INT8 QDQ (quantize_int8 with layout=dpu, scheme pow2): the form vai_q_onnx's
// DPU mode gives a model and Vitis AI's compiler expects (see core/quantize/dpu_rules.h).
// Where the standard layout quantizes only what Conv/Gemm/MatMul read, this one quantizes every
// DPU op's output (after a fused Relu/Clip/LeakyRelu) and input, keeps weights and biases float
// behind QuantizeLinear -> DequantizeLinear, and then moves positions until the compiler's shift
// limits hold and Concat and pooling inputs/outputs agree.
#pragma once

#include <onnx/onnx_pb.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/quantize/range_observer.h"
#include "core/quantize/stats_cache.h"

namespace aifgen {

// doc_string of a node the layout left to the CPU on purpose (kept float by the accuracy budget).
inline constexpr const char* kCpuFallbackMark = "aifgen: kept float to meet the accuracy budget; runs on the CPU";

// The float activations the layout quantizes (to calibrate).
std::vector<std::string> dpu_layout_activations(const onnx::GraphProto& graph);

// The nodes the layout quantizes as DPU ops (Conv, Gemm, MatMul with weights, Add, Concat, pools).
std::vector<int> dpu_layout_nodes(const onnx::GraphProto& graph);

struct DpuLayoutCounts {
  std::int64_t activations = 0, weights = 0, biases = 0;
  std::int64_t positions_adjusted = 0;  // moves made to meet the compiler's limits
  nlohmann::json adjustments = nlohmann::json::array();  // what moved and why (first 50)
};

// Rewrites `graph` in place. `observers` holds statistics for every name
// dpu_layout_activations returned. Nodes in `cpu_nodes` are not treated as DPU ops (their
// weights stay float; the mixed-precision search leaves them to the CPU).
DpuLayoutCounts apply_dpu_layout(onnx::GraphProto& graph, const quantize::Observers& observers, quantize::CalibrationMethod method,
                                 double percentile, const std::set<int>& cpu_nodes = {});

}  // namespace aifgen

// What an x86 int8 variant does on CPUs without VNNI (AVX2, AVX-512 without VNNI), decided once
// at conversion against the variant's accuracy budget and written into its metadata
// (core/quantize/weight_range.h), so the engine on such a host runs what was judged:
//   1. every int8 weight made saturation-safe (core/quantize/saturation_safe.h), if that meets
//      the budget;
//   2. otherwise safe weights with the nodes whose rewrite costs most kept in float (their
//      activation Q/DQ dropped, their weights 8-bit dequantized), the fewest that meet it;
//   3. otherwise the float graph (Q/DQ dropped, int8-rounded weights): never slower than fp32.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/quantize/mixed_precision.h"

namespace aifgen::quantize {

struct NoVnniPlan {
  std::int64_t weights_rewritten = 0;         // int8 weights that could saturate and were rewritten
  std::optional<BudgetVerdict> all_rewritten;  // judged only with a probe
  int candidates = 0;                       // int8 nodes the mix could keep float
  std::vector<std::string> float_nodes;     // step 2: first outputs of the nodes kept float
  std::optional<BudgetVerdict> mix;         // step 2's verdict (of the best tried when unmet)
  bool int8 = true;                         // false: step 3
};

// Decides for `model` (an int8 QDQ model) and records the decision in its metadata. Without a
// probe (no budget) the safe weights are used unjudged. The mix
// keeps at most `max_float_fraction` of the candidates in float.
NoVnniPlan plan_without_vnni(onnx::ModelProto& model, const HeldOutProbe* probe, double max_float_fraction, int threads,
                             const ProgressFn& progress);

// First outputs of the nodes that read a dequantized int8 weight and would halve it (the int8
// convolutions and matrix products, depthwise convolutions excepted), in graph order.
std::vector<std::string> int8_weight_readers(const onnx::ModelProto& model);

}  // namespace aifgen::quantize

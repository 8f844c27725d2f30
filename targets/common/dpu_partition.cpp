#include "targets/common/dpu_partition.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/passes/graph_edit.h"
#include "core/passes/quantize_dpu_layout.h"

namespace aifgen {
namespace {

std::vector<std::int64_t> ints(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  return {};
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

using Producers = std::map<std::string, int>;  // value -> index of the node making it

// The weight behind a Conv's second input: an initializer, an int8 one behind DequantizeLinear,
// or a float one behind QuantizeLinear -> DequantizeLinear (the DPU form).
const onnx::TensorProto* conv_weight(const onnx::GraphProto& g, const Producers& producers, const std::string& name) {
  if (const auto* t = find_constant(g, name)) return t;
  auto p = producers.find(name);
  if (p == producers.end() || g.node(p->second).op_type() != "DequantizeLinear") return nullptr;
  const auto& dq = g.node(p->second);
  if (const auto* t = find_constant(g, dq.input(0))) return t;  // int8 weight behind DQ
  auto q = producers.find(dq.input(0));                          // float weight -> Q -> DQ
  return q != producers.end() && g.node(q->second).op_type() == "QuantizeLinear" ? find_constant(g, g.node(q->second).input(0)) : nullptr;
}

std::string check_window(const char* what, const std::vector<std::int64_t>& kernel, const std::vector<std::int64_t>& strides,
                         std::int64_t kernel_max, std::int64_t stride_max) {
  for (auto k : kernel)
    if (k < 1 || k > kernel_max) return std::string(what) + " kernel " + std::to_string(k) + " is outside [1, " + std::to_string(kernel_max) + "]";
  for (auto s : strides)
    if (s < 1 || s > stride_max) return std::string(what) + " stride " + std::to_string(s) + " is outside [1, " + std::to_string(stride_max) + "]";
  return "";
}

DpuPlacement place_conv(const onnx::GraphProto& g, const Producers& producers, const onnx::NodeProto& n, const DpuLimits& l) {
  DpuPlacement p{n.name(), n.op_type(), false, ""};
  const auto* w = n.input_size() > 1 ? conv_weight(g, producers, n.input(1)) : nullptr;
  if (!w || w->dims_size() != 4) {
    p.reason = "not a 2-D convolution with a constant weight (a weight that arrives at run time has no DPU engine)";
    return p;
  }
  const std::int64_t group = attr_int(n, "group", 1), oc = w->dims(0), ic = w->dims(1) * group;
  const std::vector<std::int64_t> kernel = {w->dims(2), w->dims(3)};
  auto strides = ints(n, "strides"), pads = ints(n, "pads"), dilations = ints(n, "dilations");
  if (strides.empty()) strides = {1, 1};
  if (dilations.empty()) dilations = {1, 1};
  const bool depthwise = group > 1 && group == ic && oc == ic;
  if (group != 1 && !depthwise) {
    p.reason = "grouped convolution (group " + std::to_string(group) + ") is neither standard nor depthwise; the DPU runs only those";
    return p;
  }
  const std::string window = depthwise ? check_window("depthwise", kernel, strides, l.depthwise_kernel_max, l.depthwise_stride_max)
                                        : check_window("convolution", kernel, strides, l.conv_kernel_max, l.conv_stride_max);
  if (!window.empty()) {
    p.reason = window;
    return p;
  }
  for (std::size_t i = 0; i < pads.size(); ++i) {
    const auto axis = i % 2;
    if (pads[i] < 0 || pads[i] > (kernel[axis] - 1) * dilations[axis]) {
      p.reason = "padding " + std::to_string(pads[i]) + " exceeds (kernel - 1) x dilation";
      return p;
    }
  }
  const std::int64_t limit = 256 * l.channel_parallel;
  if (!depthwise && l.conv_kernel_area_max > 0 && kernel[0] * kernel[1] > l.conv_kernel_area_max) {
    p.reason = "kernel area " + std::to_string(kernel[0] * kernel[1]) + " exceeds " + std::to_string(l.conv_kernel_area_max);
    return p;
  }
  const std::int64_t in_size = kernel[0] * kernel[1] * ceil_div(ic, l.channel_parallel);
  if (in_size > l.bank_depth) {
    p.reason = "kernel_w x kernel_h x ceil(input_channels / " + std::to_string(l.channel_parallel) + ") = " + std::to_string(in_size) +
               " exceeds the bank depth " + std::to_string(l.bank_depth);
    return p;
  }
  if (oc > limit || ic > limit) {
    p.reason = std::to_string(std::max(ic, oc)) + " channels exceed 256 x channel_parallel = " + std::to_string(limit);
    return p;
  }
  if ((dilations[0] > 1 || dilations[1] > 1) && std::max(dilations[0], dilations[1]) * ic > limit) {
    p.reason = "dilation x input channels exceeds 256 x channel_parallel";
    return p;
  }
  p.on_dpu = true;
  p.reason = depthwise ? "depthwise convolution engine" : "convolution engine";
  return p;
}

DpuPlacement place_pool(const onnx::NodeProto& n, const DpuLimits& l) {
  DpuPlacement p{n.name(), n.op_type(), false, ""};
  auto kernel = ints(n, "kernel_shape"), strides = ints(n, "strides");
  if (strides.empty()) strides.assign(kernel.size(), 1);
  if (kernel.size() != 2) {
    p.reason = "only 2-D pooling";
    return p;
  }
  if (n.op_type() == "AveragePool" && kernel[0] != kernel[1]) {
    p.reason = "average pooling needs a square kernel";
    return p;
  }
  p.reason = check_window("pooling", kernel, strides, l.pool_kernel_max, l.pool_stride_max);
  p.on_dpu = p.reason.empty();
  if (p.on_dpu) p.reason = "pooling engine";
  return p;
}

bool reads_dequantized(const onnx::GraphProto& g, const Producers& producers, const onnx::NodeProto& n) {
  for (const auto& in : n.input()) {
    auto p = producers.find(in);
    if (p != producers.end() && g.node(p->second).op_type() == "DequantizeLinear") return true;
  }
  return false;
}

}  // namespace

std::vector<DpuPlacement> partition_for_dpu(const onnx::ModelProto& model, const DpuLimits& limits) {
  // Ops the DPU's engines run whatever their parameters (activations fuse into the preceding
  // convolution or element-wise op; layout ops are folded by the compiler).
  static const std::set<std::string> engines = {"Relu", "LeakyRelu", "Clip", "HardSigmoid", "HardSwish", "Add", "Mul", "Concat",
                                                "BatchNormalization", "Resize", "Upsample", "Pad", "Flatten", "Reshape", "Transpose",
                                                "DepthToSpace", "SpaceToDepth", "GlobalAveragePool"};
  static const std::set<std::string> boundary = {"QuantizeLinear", "DequantizeLinear", "Constant", "Identity"};
  const auto& g = model.graph();
  bool quantized = false;
  Producers producers;
  for (int i = 0; i < g.node_size(); ++i) {
    quantized = quantized || g.node(i).op_type() == "DequantizeLinear";
    for (const auto& o : g.node(i).output()) producers[o] = i;
  }
  std::vector<DpuPlacement> out;
  for (const auto& n : g.node()) {
    const bool standard = n.domain().empty() || n.domain() == "ai.onnx";
    const std::string op = standard ? n.op_type() : n.domain() + "::" + n.op_type();
    if (!standard) {
      out.push_back({n.name(), op, false, "custom-domain op: the DPU compiler knows only standard ONNX"});
    } else if (n.doc_string() == kCpuFallbackMark) {
      out.push_back({n.name(), op, false, "kept float to meet the accuracy budget: runs on the CPU"});
    } else if (n.op_type() == "Conv") {
      out.push_back(place_conv(g, producers, n, limits));
    } else if (n.op_type() == "MaxPool" || n.op_type() == "AveragePool") {
      out.push_back(place_pool(n, limits));
    } else if (n.op_type() == "ConvTranspose") {
      const bool weight = n.input_size() > 1 && conv_weight(g, producers, n.input(1));
      out.push_back({n.name(), op, weight, weight ? "transposed convolution engine" : "weight arrives at run time: no DPU engine"});
    } else if (n.op_type() == "Gemm" || n.op_type() == "MatMul") {
      const bool weight = n.input_size() > 1 && conv_weight(g, producers, n.input(1));
      out.push_back({n.name(), op, weight, weight ? "fully connected (convolution engine)" : "activation x activation product (the weight arrives at run time): no DPU engine"});
    } else if (boundary.count(n.op_type())) {
      out.push_back({n.name(), op, true, "quantization boundary / constant: consumed by the compiler"});
    } else if ((n.op_type() == "Concat" || n.op_type() == "Add") && quantized && !reads_dequantized(g, producers, n)) {
      out.push_back({n.name(), op, false, "reads no quantized tensor (integer or shape arithmetic): CPU"});
    } else if (engines.count(n.op_type())) {
      out.push_back({n.name(), op, true, "DPU engine (fused or element-wise)"});
    } else {
      out.push_back({n.name(), op, false, "not in the DPU operator table: runs on the CPU"});
    }
  }
  return out;
}

}  // namespace aifgen

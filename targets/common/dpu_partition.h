// Which nodes of a quantized model a DPU can run, node by node, checked against the DPU's
// documented operator and parameter limits (Vitis AI User Guide UG1414 3.5, "Currently
// Supported Operators"), and why each other node stays on the CPU. The Vitis AI execution
// provider decides the final partition when it compiles on the board; this report says in
// advance what it can and cannot place, and why.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <vector>

namespace aifgen {

struct DpuLimits {
  std::string arch;             // the DPU configuration the numbers belong to
  std::int64_t channel_parallel = 16;
  std::int64_t bank_depth = 2048;
  std::int64_t conv_kernel_max = 16, conv_stride_max = 8;
  std::int64_t conv_kernel_area_max = 0;  // > 0: kernel_w x kernel_h at most this (DPUCV2DX8G)
  std::int64_t depthwise_kernel_max = 16, depthwise_stride_max = 8;
  std::int64_t pool_kernel_max = 8, pool_stride_max = 8;
  std::string source;           // the document and table these come from
};

struct DpuPlacement {
  std::string node, op;
  bool on_dpu = false;
  std::string reason;  // for people: what the DPU does with it, or why it cannot
};

std::vector<DpuPlacement> partition_for_dpu(const onnx::ModelProto& model, const DpuLimits& limits);

}  // namespace aifgen

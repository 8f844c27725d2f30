// AMD/Xilinx DPU targets (Vitis AI 3.5): the power-of-two INT8 QDQ model, a compile step for the
// board's DPU (ONNX Runtime's Vitis AI execution provider partitions the graph and compiles the
// DPU subgraphs), a partition report (which nodes the DPU runs, which fall back to the CPU), a
// runtime entrypoint and manifests requesting the FPGA.
#pragma once

#include "targets/target.h"

namespace aifgen {

struct VitisFlavor {
  std::string dpu;           // DPUCAHX8H, DPUCZDX8G
  std::string board;         // arch file folder: U50LV, ZCU104, KV260 ...
  std::string device_resource;  // Kubernetes extended resource of the FPGA device plugin
  std::string k8s_arch;      // amd64 (Alveo hosts), arm64 (Zynq)
};

class VitisTarget final : public Target {
 public:
  VitisTarget(TargetDescriptor desc, VitisFlavor flavor) : desc_(std::move(desc)), flavor_(std::move(flavor)) {}
  const TargetDescriptor& descriptor() const override { return desc_; }
  TargetSupport assess(const std::map<std::string, std::int64_t>& op_census) const override;
  std::vector<PassSpec> pipeline(const std::string& precision) const override;
  std::string package(const onnx::ModelProto& model, const VariantBuild& build, const std::string& out_path) const override;

 private:
  TargetDescriptor desc_;
  VitisFlavor flavor_;
};

// Ops the DPU executes (from a quantized graph); everything else runs on the host CPU.
const std::set<std::string>& dpu_ops();

}  // namespace aifgen

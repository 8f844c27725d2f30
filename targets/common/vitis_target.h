// AMD/Xilinx DPU targets through the one documented path from an ONNX model to a DPU: ONNX
// Runtime with the Vitis AI execution provider (VOE) on the board, which partitions the QDQ
// model, compiles the DPU subgraphs for the board's DPU at session creation and caches them.
// ONNX Runtime's Vitis AI EP page and UG1414 list the boards: Zynq UltraScale+ ZCU102, ZCU104,
// KV260 and Versal VCK190 with Vitis AI 3.0; Versal AI Edge VEK280 with Vitis AI 3.5. No Alveo
// card has a documented ONNX path: the EP flow starts with Vitis AI 3.0, which dropped
// DPUCAHX8H (U50/U50LV/U280/U55C), and Vitis AI 3.5 documents VOE for the VEK280 only; its V70
// runs xmodels from the PyTorch/TensorFlow quantizers through the Vitis AI Library.
//
// The bundle: the power-of-two INT8 QDQ model, a partition report checked against the DPU's
// operator limits, serve_kserve.py (KServe v2 on port 8000, like every other bundle), a
// compile step, a Dockerfile on the board's own runtime image, and manifests.
#pragma once

#include "targets/common/dpu_partition.h"
#include "targets/target.h"

namespace aifgen {

struct VitisFlavor {
  std::string dpu;              // DPUCZDX8G, DPUCV2DX8G
  std::string boards;           // for people: "ZCU102, ZCU104, KV260"
  std::string vitis_ai;         // the Vitis AI release whose VOE supports those boards
  std::string runtime_package;  // VOE package installed on the board image
  std::string board_image;      // the board image that release is tested with
  std::string k8s_arch;         // the boards' CPU: arm64
  DpuLimits limits;
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

// Op types some DPU engine runs (parameters permitting); everything else runs on the host CPU.
const std::set<std::string>& dpu_ops();

}  // namespace aifgen

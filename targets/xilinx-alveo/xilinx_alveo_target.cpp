// Target "xilinx-alveo": the data-center FPGA row, re-aimed. No Alveo card has a documented path
// from an ONNX model to its DPU: ONNX Runtime's Vitis AI execution provider arrived in Vitis AI
// 3.0, which dropped the U50/U280 DPU (DPUCAHX8H); Vitis AI 3.5 supports the Alveo V70 only with
// xmodels from its PyTorch/TensorFlow quantizers, and documents VOE for the Versal AI Edge VEK280.
// The VEK280 carries the V70's DPU family (DPUCV2DX8G), so this target builds for it through
// the documented VOE flow; the id stays for API compatibility and the descriptor says so.
#include "targets/common/vitis_target.h"

namespace aifgen {

const Target& xilinx_alveo_target() {
  static const VitisTarget target(
      [] {
        TargetDescriptor d{"xilinx-alveo",
                           "AMD Versal AI Edge VEK280 with the DPUCV2DX8G (the Alveo V70's DPU family). Re-aimed: no Alveo card has "
                           "a documented ONNX path in Vitis AI 3.0-3.5",
                           "Vitis AI 3.5 ONNX Runtime with the Vitis AI execution provider (VOE) on the VEK280; KServe v2 server in the bundle",
                           "3.5", {"int8"}, "pow2", false};
        d.references = {"Vitis AI User Guide UG1414 3.5, Programming with VOE (supported target: VEK280)",
                        "Vitis AI Library UG1354 3.5 release notes (VEK280 and V70 boards; image amd-vek280-dpu-v2023.1-v3.5.0.img.gz; "
                        "vaip_config.json in vitis_ai_2023.1-r3.5.0.tar.gz)",
                        "ONNX Runtime docs, Vitis AI Execution Provider (no Alveo card listed)",
                        "Vitis AI User Guide UG1414 3.5, Currently Supported Operators (DPUCV2DX8G_ISA1_C20B1 limits)"};
        return d;
      }(),
      VitisFlavor{"DPUCV2DX8G", "VEK280 (Versal AI Edge)", "3.5", "vitis_ai_2023.1-r3.5.0.tar.gz", "amd-vek280-dpu-v2023.1-v3.5.0.img.gz",
                  "arm64",
                  DpuLimits{"DPUCV2DX8G_ISA1_C20B1", 32, 65528, 16, 8, 53, 16, 8, 8, 8,
                            "UG1414 3.5 Currently Supported Operators, DPUCV2DX8G_ISA1_C20B1 (VEK280/V70)"}});
  return target;
}

}  // namespace aifgen

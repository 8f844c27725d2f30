// Target "xilinx-zynq": Zynq UltraScale+ MPSoC boards with the DPUCZDX8G (ZCU102, ZCU104, KV260),
// the boards ONNX Runtime's Vitis AI execution provider lists for them, with Vitis AI 3.0: the
// release that introduced the ONNX Runtime flow (VOE) and the last one for these boards (Vitis AI
// 3.5's Library points Zynq UltraScale+ users back to 3.0).
#include "targets/common/vitis_target.h"

namespace aifgen {

const Target& xilinx_zynq_target() {
  static const VitisTarget target(
      [] {
        TargetDescriptor d{"xilinx-zynq", "AMD Zynq UltraScale+ MPSoC boards with the DPUCZDX8G: ZCU102, ZCU104, KV260",
                           "Vitis AI 3.0 ONNX Runtime with the Vitis AI execution provider (VOE) on the board; KServe v2 server in the bundle",
                           "3.0", {"int8"}, "pow2", false};
        d.references = {"ONNX Runtime docs, Vitis AI Execution Provider (supported targets: ZCU102, ZCU104, KV260, VCK190, VEK280)",
                        "Vitis AI User Guide UG1414 3.0, Programming with VOE (package vitis_ai_2022.2-r3.0.0.tar.gz)",
                        "Vitis AI Library UG1354 3.5 release notes: Zynq UltraScale+ stays on Vitis AI 3.0",
                        "Vitis AI User Guide UG1414 3.5, Currently Supported Operators (DPUCZDX8G_ISA1_B4096 limits)",
                        "VOE's Python API is documented from Vitis AI 3.5 (UG1414 3.5); on 3.0 images check that the VOE package "
                        "installs the onnxruntime Python module before relying on serve_kserve.py"};
        return d;
      }(),
      VitisFlavor{"DPUCZDX8G", "ZCU102, ZCU104, KV260", "3.0", "vitis_ai_2022.2-r3.0.0.tar.gz",
                  "the Vitis AI 3.0 board image for the board", "arm64",
                  DpuLimits{"DPUCZDX8G_ISA1_B4096", 16, 2048, 16, 8, 0, 16, 8, 8, 8,
                            "UG1414 3.5 Currently Supported Operators, DPUCZDX8G_ISA1_B4096 (ZCU102, ZCU104)"}});
  return target;
}

}  // namespace aifgen

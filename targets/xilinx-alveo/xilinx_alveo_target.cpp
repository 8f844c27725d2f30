// Target "xilinx-alveo": Alveo U50/U280 data-center FPGA cards with the DPUCAHX8H DPU.
#include "targets/common/vitis_target.h"

namespace aifgen {

const Target& xilinx_alveo_target() {
  static const VitisTarget target(
      TargetDescriptor{"xilinx-alveo", "AMD/Xilinx Alveo U50/U280 FPGA cards (DPUCAHX8H)", "Vitis AI 3.5 (ONNX Runtime with the Vitis AI execution provider: DPU subgraphs compiled and run through VART)",
                       "3.5", {"int8"}, "pow2", false},
      VitisFlavor{"DPUCAHX8H", "U50LV", "amd.com/xilinx_u50_gen3x16_xdma_base_5", "amd64"});
  return target;
}

}  // namespace aifgen

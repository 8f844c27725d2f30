// Target "xilinx-zynq": Zynq UltraScale+ MPSoC / Kria SOMs with the DPUCZDX8G DPU (ARM host).
#include "targets/common/vitis_target.h"

namespace aifgen {

const Target& xilinx_zynq_target() {
  static const VitisTarget target(
      TargetDescriptor{"xilinx-zynq", "AMD/Xilinx Zynq UltraScale+ and Kria SOMs (DPUCZDX8G)", "Vitis AI 3.5 (ONNX Runtime with the Vitis AI execution provider: DPU subgraphs compiled and run through VART)",
                       "3.5", {"int8"}, "pow2", false},
      VitisFlavor{"DPUCZDX8G", "KV260", "xilinx.com/fpga-kv260-dpu", "arm64"});
  return target;
}

}  // namespace aifgen

// Target "nvidia-jetson": Jetson AGX Orin / Orin NX (JetPack 6, L4T r36) with Triton's iGPU
// build and TensorRT for L4T. fp16 and int8 only: fp32 wastes these parts' tensor cores.
#include "targets/common/nvidia_target.h"

namespace aifgen {

const Target& nvidia_jetson_target() {
  static const NvidiaTarget target(
      TargetDescriptor{"nvidia-jetson", "NVIDIA Jetson AGX Orin / Orin NX (JetPack 6, L4T r36)",
                       "Triton Inference Server 24.05 iGPU build (L4T) with TensorRT for L4T", "24.05-igpu",
                       {"fp16", "int8"}, "s8s8-symmetric", false},
      NvidiaFlavor{"nvcr.io/nvidia/tritonserver:24.05-py3-igpu", "kubernetes.io/arch", "arm64", 4});
  return target;
}

}  // namespace aifgen

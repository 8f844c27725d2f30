// Target "nvidia-jetson": Jetson AGX Orin / Orin NX (JetPack 6.0, L4T r36.3) with Triton's iGPU
// build. fp16 and int8 only: fp32 wastes these parts' tensor cores. Memory is shared with the
// GPU, so the manifest asks for what an Orin NX 8GB can give (Triton plus trtexec's build).
#include "targets/common/nvidia_target.h"

namespace aifgen {

const Target& nvidia_jetson_target() {
  static const NvidiaTarget target(
      [] {
        TargetDescriptor d{"nvidia-jetson", "NVIDIA Jetson AGX Orin / Orin NX (JetPack 6.0, L4T r36.3)",
                           "Triton Inference Server 24.05 iGPU build for JetPack 6.0, TensorRT (engine built on the device at first start)",
                           "24.05-igpu", {"fp16", "int8"}, "s8s8-symmetric", false};
        d.references = {"Triton Inference Server release notes 23.11 and 24.05 (-igpu containers for JetPack 6.0 and later)",
                        "Triton model_config.proto (triton-inference-server/common) and Model Configuration docs r24.05",
                        "trtexec --help, TensorRT 10.0",
                        "NVIDIA k8s-device-plugin on JetPack (resource nvidia.com/gpu); docker --runtime nvidia (NVIDIA Container Toolkit on JetPack)"};
        return d;
      }(),
      NvidiaFlavor{"nvcr.io/nvidia/tritonserver:24.05-py3-igpu", "kubernetes.io/arch", "arm64", 4, "3Gi", "6Gi", true});
  return target;
}

}  // namespace aifgen

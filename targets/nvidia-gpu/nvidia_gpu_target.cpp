// Target "nvidia-gpu": datacenter GPUs (T4, A10, A100, L4, H100) under Triton + TensorRT.
#include "targets/common/nvidia_target.h"

namespace aifgen {

const Target& nvidia_gpu_target() {
  static const NvidiaTarget target(
      TargetDescriptor{"nvidia-gpu", "NVIDIA datacenter GPUs (T4, A10, A100, L4, H100)",
                       "Triton Inference Server 24.05 with TensorRT 8.6 (engine built from the ONNX at first start)", "24.05",
                       {"fp32", "fp16", "int8"}, "s8s8-symmetric", false},
      NvidiaFlavor{"nvcr.io/nvidia/tritonserver:24.05-py3", "nvidia.com/gpu.present", "\"true\"", 8});
  return target;
}

}  // namespace aifgen

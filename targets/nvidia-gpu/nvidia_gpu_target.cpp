// Target "nvidia-gpu": datacenter GPUs (T4, A10, A100, L4, H100) under Triton + TensorRT.
#include "targets/common/nvidia_target.h"

namespace aifgen {

const Target& nvidia_gpu_target() {
  static const NvidiaTarget target(
      [] {
        TargetDescriptor d{"nvidia-gpu", "NVIDIA datacenter GPUs, compute capability 6.0+ (T4, A10, A100, L4, H100)",
                           "Triton Inference Server 24.05 with TensorRT 10.0.1 (engine built from the ONNX at first start)", "24.05",
                           {"fp32", "fp16", "int8"}, "s8s8-symmetric", false};
        d.references = {"Triton Inference Server release notes 24.05 (TensorRT 10.0.1, CUDA 12.4, drivers)",
                        "Triton model_config.proto (triton-inference-server/common) and Model Configuration docs r24.05",
                        "trtexec --help, TensorRT 10.0 (--minShapes/--optShapes/--maxShapes, --int8, --fp16, --stronglyTyped, --skipInference)",
                        "NVIDIA k8s-device-plugin (resource nvidia.com/gpu)",
                        "KServe v1beta1 custom predictor (PROTOCOL=v2)"};
        return d;
      }(),
      NvidiaFlavor{"nvcr.io/nvidia/tritonserver:24.05-py3", "nvidia.com/gpu.present", "\"true\"", 8, "8Gi", "8Gi", false});
  return target;
}

}  // namespace aifgen

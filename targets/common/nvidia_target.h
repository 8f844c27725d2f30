// NVIDIA targets: a Triton Inference Server model repository whose TensorRT engine is built from
// the variant's ONNX by trtexec at first start (engine and timing cache kept on a volume).
//
// Versions that fit together (Triton release notes 24.05; Frameworks Support Matrix): Triton
// 24.05 ships TensorRT 10.0.1 on CUDA 12.4 (driver R545, or R470/R525/R535 on datacenter GPUs),
// and its -igpu build runs on Jetson with JetPack 6.0 (L4T r36.3).
#pragma once

#include "targets/target.h"

namespace aifgen {

struct TensorrtProfile;

struct NvidiaFlavor {
  std::string base_image;  // the Triton container the bundle's Dockerfile starts from
  std::string k8s_selector_key, k8s_selector_value;
  int max_batch = 8;       // dynamic batching up to this when the model's batch dim is free
  std::string memory_request, memory_limit;
  bool jetson = false;     // docker needs --runtime nvidia there (JetPack's container runtime)
};

class NvidiaTarget final : public Target {
 public:
  NvidiaTarget(TargetDescriptor desc, NvidiaFlavor flavor) : desc_(std::move(desc)), flavor_(std::move(flavor)) {}
  const TargetDescriptor& descriptor() const override { return desc_; }
  TargetSupport assess(const std::map<std::string, std::int64_t>& op_census) const override;
  std::vector<PassSpec> pipeline(const std::string& precision) const override;
  std::string package(const onnx::ModelProto& model, const VariantBuild& build, const std::string& out_path) const override;

 private:
  TargetDescriptor desc_;
  NvidiaFlavor flavor_;
};

// onnx-tensorrt's operator list (TensorRT 8.6's ONNX parser): the default-domain ops it imports.
const std::set<std::string>& tensorrt_ops();

// config.pbtxt for `model` (text format of Triton's ModelConfig): platform tensorrt_plan,
// inputs/outputs with Triton types, -1 for every free dim, max_batch_size and dynamic batching
// from the profile. Throws Error(kUnprocessable, "target-unsupported-type") for tensor types
// TensorRT has no binding type for (FP64, UINT16/32/64, strings).
std::string triton_config(const onnx::ModelProto& model, const std::string& name, const TensorrtProfile& profile);

// trtexec's precision flags: fp16 builds strongly typed (the model's own fp16/fp32 types decide);
// int8 adds --fp16 so layers left outside Q/DQ run in fp16, not fp32.
std::string trtexec_precision_flags(const std::string& precision);

// build_engine.sh: trtexec -> model.plan, cached under a key of model hash, precision, GPU and
// TensorRT version.
std::string build_engine_script(const std::string& model_name, const std::string& precision, const TensorrtProfile& profile);

}  // namespace aifgen

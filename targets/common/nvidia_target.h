// NVIDIA targets: a Triton Inference Server model repository whose TensorRT engine is built from
// the variant's ONNX by trtexec at first start (engine and timing cache kept on a volume).
#pragma once

#include "targets/target.h"

namespace aifgen {

struct NvidiaFlavor {
  std::string base_image;  // the Triton container the bundle's Dockerfile starts from
  std::string k8s_selector_key, k8s_selector_value;
  int max_batch = 8;       // dynamic batching up to this when the model's batch dim is free
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

// TensorRT's ONNX parser (8.6): the default-domain ops it imports.
const std::set<std::string>& tensorrt_ops();

// config.pbtxt for `model` (text format of Triton's ModelConfig): platform tensorrt_plan,
// inputs/outputs with Triton types and dims, dynamic batching when the batch dim is free.
std::string triton_config(const onnx::ModelProto& model, const std::string& name, int max_batch);

}  // namespace aifgen

// CPU targets run by aifgen's own engine (`aifgen infer-server`): x86_64-cpu and arm64-cpu.
#pragma once

#include "targets/target.h"

namespace aifgen {

class CpuTarget final : public Target {
 public:
  // `k8s_arch` is the kubernetes.io/arch node label ("amd64", "arm64").
  CpuTarget(TargetDescriptor desc, std::string k8s_arch) : desc_(std::move(desc)), arch_(std::move(k8s_arch)) {}

  const TargetDescriptor& descriptor() const override { return desc_; }
  TargetSupport assess(const std::map<std::string, std::int64_t>& op_census) const override;
  std::vector<PassSpec> pipeline(const std::string& precision) const override;
  std::string package(const onnx::ModelProto& model, const VariantBuild& build, const std::string& out_path) const override;

 private:
  TargetDescriptor desc_;
  std::string arch_;
};

}  // namespace aifgen

// Deployment files shared by the targets' packagers: Kubernetes manifests (Deployment +
// Service, or a KServe InferenceService) and the bundle's client/ directory.
#pragma once

#include <map>
#include <string>

#include "targets/common/bundle_files.h"

namespace aifgen {

struct DeploySpec {
  std::string name;   // DNS-1123 name for every object
  std::string image;  // the image `docker build` of this bundle produces (to push and reference)
  int port = 8000;
  std::string cpu = "2", memory = "2Gi";
  std::map<std::string, std::string> node_selector;  // e.g. kubernetes.io/arch: arm64
  std::map<std::string, std::string> device_limits;  // e.g. nvidia.com/gpu: "1"
  std::string cache_mount;                           // non-empty: a PVC mounted here (TensorRT engine + timing cache)
  std::string ready_path = "/v2/health/ready";
  std::string live_path = "/v2/health/live";
};

std::string k8s_deployment_yaml(const DeploySpec& d);
std::string kserve_yaml(const DeploySpec& d);

// client/run_loadgen.sh and client/README.md: `aifgen loadgen` against the served model, with
// --report-to when SERVICE_URL, VARIANT_ID and TOKEN are set.
void add_client_files(BundleFiles& files, const std::string& model_name, const std::string& variant_id, int port);

}  // namespace aifgen

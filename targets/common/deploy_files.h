// Deployment files shared by the targets' packagers: Kubernetes manifests (Deployment +
// Service, or a KServe InferenceService) and the bundle's client/ directory.
//
// Written against the Kubernetes API (apps/v1 Deployment, core/v1 Service and
// PersistentVolumeClaim) and KServe's v1beta1 InferenceService, whose predictor is a pod spec
// plus KServe's own fields; tests validate every manifest with the kubernetes-models schemas.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "targets/common/bundle_files.h"

namespace aifgen {

struct DeploySpec {
  std::string name;   // DNS-1123 name for every object
  std::string image;  // the image `docker build` of this bundle produces (to push and reference)
  int port = 8000;
  std::string cpu = "2";
  std::string memory = "2Gi";        // request
  std::string memory_limit;          // empty: the request
  std::map<std::string, std::string> node_selector;  // e.g. kubernetes.io/arch: arm64
  std::map<std::string, std::string> device_limits;  // e.g. nvidia.com/gpu: "1"
  std::map<std::string, std::string> env;
  std::string cache_mount;  // non-empty: a PVC mounted here (TensorRT engines, DPU compile cache)
  // Non-empty: host device paths mounted into a privileged container, for devices no device
  // plugin offers as a resource (the Zynq/Versal DPU behind zocl). Privileged is the only way
  // Kubernetes gives a container a device node without a plugin.
  std::vector<std::string> host_devices;
  // > 0: the container builds or compiles at start for up to this long; a startupProbe on the
  // readiness path holds liveness off until then (Kubernetes "Configure Liveness, Readiness
  // and Startup Probes").
  int startup_seconds = 0;
  std::string ready_path = "/v2/health/ready";
  std::string live_path = "/v2/health/live";
};

std::string k8s_deployment_yaml(const DeploySpec& d);
// KServe v1beta1 InferenceService with a custom predictor container. PROTOCOL=v2 tells KServe
// that the container speaks the Open Inference Protocol (KServe's custom-container protocol
// setting).
std::string kserve_yaml(const DeploySpec& d);

// True for a valid Kubernetes extended resource name: a DNS subdomain prefix outside
// kubernetes.io, '/', and a name of [A-Za-z0-9._-] starting and ending alphanumeric, 63 at most
// (Kubernetes API conventions, "Extended resources").
bool is_extended_resource_name(const std::string& s);

// client/run_loadgen.sh and client/README.md: `aifgen loadgen` against the served model, with
// --report-to when SERVICE_URL, VARIANT_ID and TOKEN are set.
void add_client_files(BundleFiles& files, const std::string& model_name, const std::string& variant_id, int port);

}  // namespace aifgen

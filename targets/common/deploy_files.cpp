#include "targets/common/deploy_files.h"

#include <regex>

namespace aifgen {
namespace {

std::string resources(const DeploySpec& d, const std::string& indent) {
  std::string r = indent + "resources:\n" + indent + "  requests:\n" + indent + "    cpu: \"" + d.cpu + "\"\n" + indent +
                  "    memory: " + d.memory + "\n";
  r += indent + "  limits:\n" + indent + "    memory: " + (d.memory_limit.empty() ? d.memory : d.memory_limit) + "\n";
  for (const auto& [k, v] : d.device_limits) r += indent + "    " + k + ": \"" + v + "\"\n";
  return r;
}

std::string node_selector(const DeploySpec& d, const std::string& indent) {
  if (d.node_selector.empty()) return "";
  std::string s = indent + "nodeSelector:\n";
  for (const auto& [k, v] : d.node_selector) s += indent + "  " + k + ": " + v + "\n";
  return s;
}

std::string probe(const char* kind, const std::string& path, int port, const std::string& indent, int period, int failures) {
  return indent + kind + ":\n" + indent + "  httpGet:\n" + indent + "    path: " + path + "\n" + indent +
         "    port: " + std::to_string(port) + "\n" + indent + "  periodSeconds: " + std::to_string(period) + "\n" + indent +
         "  failureThreshold: " + std::to_string(failures) + "\n";
}

// Everything of the container below its image: port, env, resources, probes, mounts.
std::string container_body(const DeploySpec& d, const std::string& indent) {
  std::string y = indent + "ports:\n" + indent + "  - containerPort: " + std::to_string(d.port) + "\n" + indent +
                  "    name: http\n" + indent + "    protocol: TCP\n";
  if (!d.env.empty()) {
    y += indent + "env:\n";
    for (const auto& [k, v] : d.env) y += indent + "  - name: " + k + "\n" + indent + "    value: \"" + v + "\"\n";
  }
  y += resources(d, indent);
  // A container that builds an engine or compiles for its device at start gets a startupProbe:
  // liveness and readiness wait for it, so a long first build is not killed and restarted.
  if (d.startup_seconds > 0) y += probe("startupProbe", d.ready_path, d.port, indent, 10, (d.startup_seconds + 9) / 10);
  y += probe("readinessProbe", d.ready_path, d.port, indent, 5, 3);
  y += probe("livenessProbe", d.live_path, d.port, indent, 10, 3);
  if (!d.host_devices.empty()) y += indent + "securityContext:\n" + indent + "  privileged: true\n";
  if (!d.cache_mount.empty() || !d.host_devices.empty()) {
    y += indent + "volumeMounts:\n";
    if (!d.cache_mount.empty()) y += indent + "  - name: cache\n" + indent + "    mountPath: " + d.cache_mount + "\n";
    for (std::size_t i = 0; i < d.host_devices.size(); ++i)
      y += indent + "  - name: device-" + std::to_string(i) + "\n" + indent + "    mountPath: " + d.host_devices[i] + "\n";
  }
  return y;
}

std::string volumes(const DeploySpec& d, const std::string& indent) {
  if (d.cache_mount.empty() && d.host_devices.empty()) return "";
  std::string y = indent + "volumes:\n";
  if (!d.cache_mount.empty())
    y += indent + "  - name: cache\n" + indent + "    persistentVolumeClaim:\n" + indent + "      claimName: " + d.name + "-cache\n";
  for (std::size_t i = 0; i < d.host_devices.size(); ++i)
    y += indent + "  - name: device-" + std::to_string(i) + "\n" + indent + "    hostPath:\n" + indent + "      path: " +
         d.host_devices[i] + "\n";
  return y;
}

std::string cache_claim(const DeploySpec& d) {
  if (d.cache_mount.empty()) return "";
  return "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: " + d.name +
         "-cache\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 2Gi\n---\n";
}

}  // namespace

std::string k8s_deployment_yaml(const DeploySpec& d) {
  const std::string port = std::to_string(d.port);
  std::string y = cache_claim(d);
  y += "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + d.name + "\n  labels:\n    app: " + d.name +
       "\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: " + d.name +
       "\n  template:\n    metadata:\n      labels:\n        app: " + d.name + "\n    spec:\n";
  y += node_selector(d, "      ");
  y += "      containers:\n        - name: model\n          image: " + d.image + "\n";
  y += container_body(d, "          ");
  y += volumes(d, "      ");
  y += "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: " + d.name + "\nspec:\n  selector:\n    app: " + d.name +
       "\n  ports:\n    - name: http\n      port: " + port + "\n      targetPort: " + port + "\n";
  return y;
}

std::string kserve_yaml(const DeploySpec& d) {
  DeploySpec k = d;
  k.env["PROTOCOL"] = "v2";
  std::string y = cache_claim(k);
  y += "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: " + k.name + "\nspec:\n  predictor:\n";
  y += node_selector(k, "    ");
  y += "    containers:\n      - name: kserve-container\n        image: " + k.image + "\n";
  y += container_body(k, "        ");
  y += volumes(k, "    ");
  return y;
}

bool is_extended_resource_name(const std::string& s) {
  static const std::regex re(R"(^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$)");
  const auto slash = s.find('/');
  if (slash == std::string::npos || slash > 253 || s.size() - slash - 1 > 63 || !std::regex_match(s, re)) return false;
  const std::string prefix = s.substr(0, slash);
  return prefix != "kubernetes.io" && !(prefix.size() > 14 && prefix.compare(prefix.size() - 14, 14, ".kubernetes.io") == 0);
}

void add_client_files(BundleFiles& files, const std::string& model_name, const std::string& variant_id, int port) {
  files.add("client/run_loadgen.sh",
            "#!/usr/bin/env bash\n"
            "# Load test of the served model with aifgen's client; reports back to the aifgen service\n"
            "# when SERVICE_URL, TOKEN (an API key with write scope) are set.\n"
            "set -euo pipefail\n"
            "URL=${URL:-http://127.0.0.1:" + std::to_string(port) + "}\n"
            "args=(--url \"$URL\" --model " + model_name + " --concurrency \"${CONCURRENCY:-4}\" --duration \"${DURATION:-30}\")\n"
            "[ -n \"${RATE:-}\" ] && args+=(--rate \"$RATE\")\n"
            "if [ -n \"${SERVICE_URL:-}\" ]; then\n"
            "  args+=(--report-to \"$SERVICE_URL\" --variant " + variant_id + ")\n"
            "  [ -n \"${TOKEN:-}\" ] && args+=(--token \"$TOKEN\")  # an API key with write scope, unless the service is local-only\n"
            "fi\n"
            "exec \"${AIFGEN:-aifgen}\" loadgen \"${args[@]}\"\n",
            true);
  files.add("client/README.md",
            "# Client\n\n`run_loadgen.sh` sends real inference requests to the served model with `aifgen loadgen`\n"
            "and prints p50/p90/p99 latency and throughput.\n\n"
            "| variable | default | what |\n|---|---|---|\n"
            "| `URL` | `http://127.0.0.1:" + std::to_string(port) + "` | where the model is served |\n"
            "| `CONCURRENCY` | 4 | requests in flight |\n| `DURATION` | 30 | seconds |\n| `RATE` | unset | requests/s (open loop) instead of closed loop |\n"
            "| `SERVICE_URL`, `TOKEN` | unset | report the result to the aifgen service as a field benchmark of variant `" +
                variant_id + "` |\n| `AIFGEN` | `aifgen` | path of the aifgen binary |\n");
}

}  // namespace aifgen

#include "targets/common/deploy_files.h"

namespace aifgen {
namespace {

std::string resources(const DeploySpec& d, const std::string& indent) {
  std::string r = indent + "resources:\n" + indent + "  requests:\n" + indent + "    cpu: \"" + d.cpu + "\"\n" + indent +
                  "    memory: " + d.memory + "\n";
  r += indent + "  limits:\n" + indent + "    memory: " + d.memory + "\n";
  for (const auto& [k, v] : d.device_limits) r += indent + "    " + k + ": \"" + v + "\"\n";
  return r;
}

std::string node_selector(const DeploySpec& d, const std::string& indent) {
  if (d.node_selector.empty()) return "";
  std::string s = indent + "nodeSelector:\n";
  for (const auto& [k, v] : d.node_selector) s += indent + "  " + k + ": " + v + "\n";
  return s;
}

std::string probe(const char* kind, const std::string& path, int port, const std::string& indent, int delay) {
  return indent + kind + ":\n" + indent + "  httpGet:\n" + indent + "    path: " + path + "\n" + indent +
         "    port: " + std::to_string(port) + "\n" + indent + "  initialDelaySeconds: " + std::to_string(delay) + "\n" +
         indent + "  periodSeconds: 10\n";
}

}  // namespace

std::string k8s_deployment_yaml(const DeploySpec& d) {
  const std::string port = std::to_string(d.port);
  std::string y;
  if (!d.cache_mount.empty())
    y += "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: " + d.name +
         "-cache\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 2Gi\n---\n";
  y += "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + d.name + "\n  labels:\n    app: " + d.name +
       "\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: " + d.name +
       "\n  template:\n    metadata:\n      labels:\n        app: " + d.name + "\n    spec:\n";
  y += node_selector(d, "      ");
  y += "      containers:\n        - name: model\n          image: " + d.image +
       "\n          ports:\n            - containerPort: " + port + "\n              name: http\n";
  y += resources(d, "          ");
  // First start may build an engine (TensorRT): readiness waits for it, liveness is lenient.
  y += probe("readinessProbe", d.ready_path, d.port, "          ", 5);
  y += probe("livenessProbe", d.live_path, d.port, "          ", d.cache_mount.empty() ? 10 : 600);
  if (!d.cache_mount.empty())
    y += "          volumeMounts:\n            - name: cache\n              mountPath: " + d.cache_mount +
         "\n      volumes:\n        - name: cache\n          persistentVolumeClaim:\n            claimName: " + d.name + "-cache\n";
  y += "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: " + d.name + "\nspec:\n  selector:\n    app: " + d.name +
       "\n  ports:\n    - name: http\n      port: " + port + "\n      targetPort: " + port + "\n";
  return y;
}

std::string kserve_yaml(const DeploySpec& d) {
  std::string y = "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nmetadata:\n  name: " + d.name +
                  "\nspec:\n  predictor:\n";
  y += node_selector(d, "    ");
  y += "    containers:\n      - name: kserve-container\n        image: " + d.image +
       "\n        ports:\n          - containerPort: " + std::to_string(d.port) + "\n            protocol: TCP\n";
  y += resources(d, "        ");
  return y;
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

#include "targets/common/vitis_target.h"

#include <nlohmann/json.hpp>
#include <set>

#include "core/onnx_model.h"
#include "targets/common/bundle_files.h"
#include "targets/common/deploy_files.h"
#include "targets/common/op_support.h"
#include "targets/common/pipelines.h"
#include "targets/common/variant_manifest.h"
#include "vitis_kserve_server.h"

namespace aifgen {

const std::set<std::string>& dpu_ops() {
  // The op types partition_for_dpu can place on the DPU; Quantize/DequantizeLinear carry the
  // fixed-point positions the compiler consumes.
  static const std::set<std::string> ops = {
      "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "Relu", "LeakyRelu", "Clip", "Add", "Mul",
      "Concat", "Gemm", "MatMul", "BatchNormalization", "Resize", "Upsample", "Pad", "Flatten", "Reshape", "Transpose",
      "HardSigmoid", "HardSwish", "QuantizeLinear", "DequantizeLinear", "DepthToSpace", "SpaceToDepth"};
  return ops;
}

TargetSupport VitisTarget::assess(const std::map<std::string, std::int64_t>& census) const {
  return assess_support(census, dpu_ops(), Fallback::kCpu, flavor_.dpu);
}

std::vector<PassSpec> VitisTarget::pipeline(const std::string& precision) const {
  auto p = standard_pipeline(precision, "pow2");
  for (auto& spec : p)
    if (spec.name == "quantize_int8") spec.options["layout"] = "dpu";  // the form the DPU compiler expects
  return p;
}

std::string VitisTarget::package(const onnx::ModelProto& model, const VariantBuild& build, const std::string& out_path) const {
  std::string model_bytes;
  model.SerializeToString(&model_bytes);
  const std::string model_name = dns_name(build.source_model_name);
  const std::string name = dns_name("aifgen-" + build.variant_id);

  // Partition, node by node, against the DPU's documented limits.
  nlohmann::json nodes = nlohmann::json::array();
  std::map<std::string, std::int64_t> cpu_ops;
  std::int64_t on_dpu = 0, on_cpu = 0;
  for (const auto& p : partition_for_dpu(model, flavor_.limits)) {
    nodes.push_back({{"node", p.node}, {"op", p.op}, {"device", p.on_dpu ? "dpu" : "cpu"}, {"reason", p.reason}});
    if (p.on_dpu) {
      ++on_dpu;
    } else {
      ++on_cpu;
      ++cpu_ops[p.op];
    }
  }
  const std::string summary = std::to_string(on_dpu) + " of " + std::to_string(on_dpu + on_cpu) + " nodes on the " + flavor_.dpu +
                              (on_cpu ? ", " + std::to_string(on_cpu) + " on the CPU" : "");
  nlohmann::json partition = {{"dpu", flavor_.dpu},
                              {"boards", flavor_.boards},
                              {"limits", {{"arch", flavor_.limits.arch},
                                          {"channel_parallel", flavor_.limits.channel_parallel},
                                          {"bank_depth", flavor_.limits.bank_depth},
                                          {"conv_kernel_max", flavor_.limits.conv_kernel_max},
                                          {"conv_stride_max", flavor_.limits.conv_stride_max},
                                          {"depthwise_kernel_max", flavor_.limits.depthwise_kernel_max},
                                          {"depthwise_stride_max", flavor_.limits.depthwise_stride_max},
                                          {"pool_kernel_max", flavor_.limits.pool_kernel_max},
                                          {"pool_stride_max", flavor_.limits.pool_stride_max},
                                          {"source", flavor_.limits.source}}},
                              {"summary", summary},
                              {"dpu_nodes", on_dpu},
                              {"cpu_nodes", on_cpu},
                              {"cpu_ops", cpu_ops},
                              {"nodes", nodes},
                              {"note", "The Vitis AI execution provider makes the final partition when it compiles on the board."}};

  BundleFiles files;
  files.add("model.onnx", model_bytes);
  files.add("partition.json", partition.dump(2) + "\n");
  files.add("serve_kserve.py", std::string(kVitisKserveServerPy), true);
  files.add("compile.sh",
            "#!/usr/bin/env bash\n"
            "# Compiles the DPU subgraphs of model.onnx for this board's " + flavor_.dpu + " ahead of the first request:\n"
            "# creating the ONNX Runtime session with the Vitis AI execution provider (Vitis AI " + flavor_.vitis_ai + ") partitions\n"
            "# the graph and compiles into COMPILE_CACHE. Optional: entrypoint.sh compiles on first start too.\n"
            "set -euo pipefail\n"
            "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
            "export AIFGEN_DPU=" + flavor_.dpu + "\n"
            "exec \"${PYTHON:-python3}\" \"$here/serve_kserve.py\" --compile-only --model \"$here/model.onnx\" --name " + model_name + "\n",
            true);
  files.add("entrypoint.sh",
            "#!/usr/bin/env bash\n"
            "# Serves the model over KServe v2 (Open Inference Protocol, REST) on PORT (8000): live at once,\n"
            "# ready once the DPU subgraphs are compiled (first start) or loaded from COMPILE_CACHE.\n"
            "set -euo pipefail\n"
            "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
            "export AIFGEN_DPU=" + flavor_.dpu + "\n"
            "exec \"${PYTHON:-python3}\" \"$here/serve_kserve.py\" --model \"$here/model.onnx\" --name \"${MODEL_NAME:-" + model_name +
                "}\" \\\n  --port \"${PORT:-8000}\"\n",
            true);
  files.add("Dockerfile",
            "# The board's own Vitis AI " + flavor_.vitis_ai + " runtime, as a container. AMD publishes no runtime image for\n"
            "# these boards: build VITIS_AI_RUNTIME_IMAGE from the board image (" + flavor_.board_image + ") with the\n"
            "# VOE package " + flavor_.runtime_package + " installed (README.md). Without one, run entrypoint.sh on the board.\n"
            "# No default image on purpose: `docker build` stops here until you name yours.\n"
            "ARG VITIS_AI_RUNTIME_IMAGE\n"
            "ARG VITIS_AI_RUNTIME_TAG=vitis-ai-" + flavor_.vitis_ai + "\n"
            "FROM ${VITIS_AI_RUNTIME_IMAGE}:${VITIS_AI_RUNTIME_TAG}\n"
            "COPY . /bundle\n"
            "ENV COMPILE_CACHE=/cache PORT=8000\n"
            "EXPOSE 8000\n"
            "ENTRYPOINT [\"/bundle/entrypoint.sh\"]\n");
  DeploySpec d;
  d.name = name;
  d.image = name + ":1";
  d.memory = "2Gi";
  d.node_selector = {{"kubernetes.io/arch", flavor_.k8s_arch}};
  if (!build.resources.fpga.empty()) {
    d.device_limits = {{build.resources.fpga, "1"}};
  } else {
    // No upstream device plugin offers these boards' DPU as a resource: the container gets the
    // DPU's device nodes (zocl's render node, XRT) directly, which Kubernetes allows only to a
    // privileged container. --k8s-fpga-resource names a plugin's resource instead.
    d.host_devices = {"/dev/dri"};
    d.node_selector["aifgen.dev/dpu"] = flavor_.dpu;
  }
  d.cache_mount = "/cache";
  d.env = {{"COMPILE_CACHE", "/cache"}};
  d.startup_seconds = 1200;  // the first session compiles every DPU subgraph
  files.add("k8s/deployment.yaml", k8s_deployment_yaml(d));
  files.add("k8s/kserve.yaml", kserve_yaml(d));
  add_client_files(files, model_name, build.variant_id, 8000);
  std::string cpu_text;
  for (const auto& [op, n] : cpu_ops) cpu_text += (cpu_text.empty() ? "" : ", ") + op + " x" + std::to_string(n);
  const std::string warning = synthetic_calibration_warning(build);
  files.add("README.md",
            "# " + build.source_model_name + " for " + desc_.id + " (int8, " + flavor_.dpu + ")\n\n"
            "Generated by aifgen " + build.aifgen_version + " on " + build.created_at + ". Runtime: " + desc_.runtime + ".\n"
            "Boards: " + flavor_.boards + ".\n\n" + warning +
            "**Partition** (checked against " + flavor_.limits.source + "): " + summary + ".\n" +
            (cpu_text.empty() ? "" : "CPU-side ops: " + cpu_text + "; `partition.json` says why for each node.\n") + "\n"
            "| file | what |\n|---|---|\n"
            "| `model.onnx` | INT8 QDQ, symmetric, per-tensor, every scale a power of two (the DPU's fixed point) |\n"
            "| `partition.json` | every node on the DPU or the CPU, with the reason, and the DPU limits used |\n"
            "| `serve_kserve.py`, `entrypoint.sh` | KServe v2 (REST) on port 8000, ONNX Runtime with the Vitis AI execution provider |\n"
            "| `compile.sh` | compiles the DPU subgraphs into `$COMPILE_CACHE` ahead of the first request (optional) |\n"
            "| `Dockerfile`, `k8s/` | container on the board's runtime image; Deployment + Service + cache PVC, or KServe |\n"
            "| `client/`, `variant.json`, `SHA256SUMS` | load client, report, checksums |\n\n"
            "## Run it on the board\n\n"
            "1. Flash the Vitis AI " + flavor_.vitis_ai + " board image (" + flavor_.board_image + ") and install the VOE package\n"
            "   `" + flavor_.runtime_package + "` as the Vitis AI " + flavor_.vitis_ai + " target setup describes; it provides ONNX Runtime with\n"
            "   the Vitis AI execution provider and `vaip_config.json` (set `VAIP_CONFIG` if it is not `/etc/vaip_config.json`).\n"
            "2. `sha256sum -c SHA256SUMS && ./entrypoint.sh` (needs python3 and numpy). The first start compiles for the DPU;\n"
            "   `/v2/health/ready` turns 200 when it is done.\n"
            "3. From any machine with aifgen: `URL=http://<board>:8000 client/run_loadgen.sh`.\n\n"
            "In Kubernetes (k3s on the board, say), build the image with\n"
            "`docker build --build-arg VITIS_AI_RUNTIME_IMAGE=<your board runtime image> --build-arg VITIS_AI_RUNTIME_TAG=<its tag> -t " + name + ":1 .`.\n" +
            (build.resources.fpga.empty()
                 ? "No upstream device plugin exposes this DPU, so the manifests mount `/dev/dri` into a privileged container and\n"
                   "select nodes labelled `aifgen.dev/dpu=" + flavor_.dpu + "` (`kubectl label node <board> aifgen.dev/dpu=" + flavor_.dpu + "`).\n"
                   "With a device plugin, generate with `--k8s-fpga-resource <its resource name>` instead.\n"
                 : "The manifests request `" + build.resources.fpga + ": 1` from your device plugin.\n") +
            "\nNot run on " + flavor_.dpu + " hardware by aifgen's tests: the KServe server and its probes are tested with a stand-in\n"
            "for ONNX Runtime, the files against Vitis AI's documents (`variant.json` lists them). Accuracy figures in\n"
            "`variant.json` come from running this QDQ model on aifgen's CPU engine (validated by emulation).\n");
  nlohmann::json extra = {{"opset", default_opset(model)},
                          {"serving", {{"protocol", "kserve-v2"}, {"model_name", model_name}, {"port", 8000}}},
                          {"partition", {{"summary", summary}, {"dpu_nodes", on_dpu}, {"cpu_nodes", on_cpu}, {"cpu_ops", cpu_ops}}}};
  return finish_bundle(files, build, desc_, std::move(extra), out_path);
}

}  // namespace aifgen

#include "targets/common/vitis_target.h"

#include <nlohmann/json.hpp>
#include <set>

#include "core/onnx_model.h"
#include "targets/common/bundle_files.h"
#include "targets/common/deploy_files.h"
#include "targets/common/op_support.h"
#include "targets/common/pipelines.h"
#include "targets/common/variant_manifest.h"

namespace aifgen {

const std::set<std::string>& dpu_ops() {
  // Quantize/DequantizeLinear carry the fixed-point positions the compiler consumes.
  static const std::set<std::string> ops = {
      "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "Relu", "LeakyRelu", "Clip", "Add", "Mul",
      "Concat", "Gemm", "MatMul", "BatchNormalization", "Resize", "Upsample", "Pad", "Flatten", "Reshape", "Transpose",
      "HardSigmoid", "HardSwish", "Sigmoid", "QuantizeLinear", "DequantizeLinear", "DepthToSpace", "SpaceToDepth"};
  return ops;
}

TargetSupport VitisTarget::assess(const std::map<std::string, std::int64_t>& census) const {
  return assess_support(census, dpu_ops(), Fallback::kCpu, flavor_.dpu);
}

std::vector<PassSpec> VitisTarget::pipeline(const std::string& precision) const { return standard_pipeline(precision, "pow2"); }

std::string VitisTarget::package(const onnx::ModelProto& model, const VariantBuild& build, const std::string& out_path) const {
  std::string model_bytes;
  model.SerializeToString(&model_bytes);
  const std::string model_name = dns_name(build.source_model_name);
  const std::string name = dns_name("aifgen-" + build.variant_id);
  // Partition: each node on the DPU or on the CPU, in graph order.
  nlohmann::json dpu = nlohmann::json::array(), cpu = nlohmann::json::array();
  std::map<std::string, std::int64_t> census;
  for (const auto& n : model.graph().node()) {
    const std::string op = n.domain().empty() || n.domain() == "ai.onnx" ? n.op_type() : n.domain() + "::" + n.op_type();
    ++census[op];
    const bool on_dpu = dpu_ops().count(op) || op == "Constant" || op == "Identity";
    (on_dpu ? dpu : cpu).push_back({{"node", n.name()}, {"op", op}});
  }
  auto support = assess(census);
  nlohmann::json partition = {{"dpu", flavor_.dpu}, {"board", flavor_.board}, {"verdict", support.verdict},
                              {"summary", support.summary}, {"dpu_nodes", dpu}, {"cpu_nodes", cpu}};
  const std::string arch = "/opt/vitis_ai/compiler/arch/" + flavor_.dpu + "/" + flavor_.board + "/arch.json";
  BundleFiles files;
  files.add("model.onnx", model_bytes);
  files.add("partition.json", partition.dump(2) + "\n");
  files.add("compile.sh",
            "#!/usr/bin/env bash\n"
            "# Compiles the DPU subgraphs of the power-of-two INT8 QDQ model for the " + flavor_.dpu + " DPU (" + flavor_.board + ")\n"
            "# with the Vitis AI ONNX Runtime Engine (VOE, Vitis AI 3.5): creating a session with the\n"
            "# Vitis AI execution provider partitions the graph (DPU / CPU, as in partition.json), compiles\n"
            "# for the DPU named by the board's vaip_config.json and caches the result in compiled/.\n"
            "# Run it once on the target (or an image with the same DPU configuration).\n"
            "set -euo pipefail\n"
            "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
            "export AIFGEN_DPU=" + flavor_.dpu + " AIFGEN_DPU_ARCH=${AIFGEN_DPU_ARCH:-" + arch + "}\n"
            "exec python3 \"$here/run_vitisai.py\" --compile-only \"$here/model.onnx\"\n",
            true);
  files.add("entrypoint.sh",
            "#!/usr/bin/env bash\n"
            "# One inference on INPUT (an .npy) with the compiled model (compile.sh first); outputs are\n"
            "# written next to it.\n"
            "set -euo pipefail\n"
            "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
            "exec python3 \"$here/run_vitisai.py\" \"$here/model.onnx\" \"${INPUT:?INPUT=.npy file}\"\n",
            true);
  files.add("run_vitisai.py",
            "#!/usr/bin/env python3\n"
            "\"\"\"Runs the QDQ model with ONNX Runtime's Vitis AI execution provider (VOE): DPU subgraphs on\n"
            "the DPU through VART, the rest on the CPU. --compile-only creates the session (which compiles\n"
            "and caches the DPU subgraphs) and exits.\"\"\"\n"
            "import os\nimport sys\n\nimport numpy as np\nimport onnxruntime as ort\n\n\n"
            "def session(model):\n"
            "    here = os.path.dirname(os.path.abspath(model))\n"
            "    options = {\"config_file\": os.environ.get(\"VAIP_CONFIG\", \"/usr/bin/vaip_config.json\"),\n"
            "               \"cache_dir\": os.path.join(here, \"compiled\"), \"cache_key\": \"" + model_name + "\"}\n"
            "    return ort.InferenceSession(model, providers=[\"VitisAIExecutionProvider\"], provider_options=[options])\n\n\n"
            "def main(argv):\n"
            "    if argv[1] == \"--compile-only\":\n"
            "        session(argv[2])\n"
            "        print(\"compiled into\", os.path.join(os.path.dirname(os.path.abspath(argv[2])), \"compiled\"))\n"
            "        return\n"
            "    s = session(argv[1])\n"
            "    x = np.load(argv[2])\n"
            "    outputs = s.run(None, {s.get_inputs()[0].name: x})\n"
            "    for meta, y in zip(s.get_outputs(), outputs):\n"
            "        np.save(argv[2][:-4] + \"_\" + meta.name.replace(\"/\", \"_\") + \".npy\", y)\n\n\n"
            "if __name__ == \"__main__\":\n    main(sys.argv)\n",
            true);
  files.add("Dockerfile",
            "# For targets that run containers: an image with Vitis AI 3.5's ONNX Runtime (VOE) and the\n"
            "# board's DPU configuration. The base is an argument because AMD publishes board images per\n"
            "# platform; the default names the Vitis AI 3.5 image.\n"
            "ARG VITIS_AI_IMAGE=xilinx/vitis-ai-pytorch-cpu\n"
            "ARG VITIS_AI_TAG=3.5.0\n"
            "FROM ${VITIS_AI_IMAGE}:${VITIS_AI_TAG}\n"
            "COPY . /bundle\n"
            "ENTRYPOINT [\"/bundle/entrypoint.sh\"]\n");
  DeploySpec d;
  d.name = name;
  d.image = name + ":1";
  d.memory = "4Gi";
  d.node_selector = {{"kubernetes.io/arch", flavor_.k8s_arch}};
  d.device_limits = {{flavor_.device_resource, "1"}};
  files.add("k8s/deployment.yaml", k8s_deployment_yaml(d));
  add_client_files(files, model_name, build.variant_id, 8000);
  std::string cpu_ops;
  for (const auto& [op, n] : support.fallback_ops) cpu_ops += (cpu_ops.empty() ? "" : ", ") + op + " x" + std::to_string(n);
  const std::string warning = synthetic_calibration_warning(build);
  files.add("README.md",
            "# " + build.source_model_name + " for " + desc_.id + " (int8, " + flavor_.dpu + ")\n\n"
            "Generated by aifgen " + build.aifgen_version + " on " + build.created_at + ". Runtime: " + desc_.runtime + ".\n\n" + warning +
            "**Partition:** " + support.summary + ".\n" + (cpu_ops.empty() ? "" : "CPU-side ops: " + cpu_ops + ".\n") + "\n"
            "| file | what |\n|---|---|\n"
            "| `model.onnx` | INT8 QDQ, symmetric, per-tensor, every scale a power of two (the DPU's fixed point) |\n"
            "| `partition.json` | every node, on the DPU or the CPU |\n"
            "| `compile.sh` | Vitis AI 3.5 ONNX Runtime Engine: partition, compile the DPU subgraphs for " + flavor_.dpu + " (arch `" + arch + "`), cache them in `compiled/` |\n"
            "| `entrypoint.sh`, `run_vitisai.py` | runs the model with ONNX Runtime's Vitis AI execution provider (DPU through VART, the rest on the CPU) |\n"
            "| `Dockerfile`, `k8s/deployment.yaml` | image with the compiled model; Deployment requesting `" + flavor_.device_resource + "` |\n"
            "| `client/`, `variant.json`, `SHA256SUMS` | load client, report, checksums |\n\n"
            "The Vitis AI tools are not part of aifgen and were not run when this bundle was made: `compile.sh`\n"
            "and `run_vitisai.py` follow Vitis AI 3.5's documented ONNX Runtime flow and have not been executed on\n"
            + flavor_.dpu + " hardware by aifgen's tests. Vitis AI 3.5's ONNX Runtime flow lists Zynq UltraScale+ and Versal\n"
            "boards; for Alveo DPUCAHX8H cards, check your Vitis AI release's support for ONNX models.\n"
            "The accuracy figures in `variant.json` come from running this QDQ model on aifgen's CPU engine (validated by emulation).\n");
  nlohmann::json extra = {{"opset", default_opset(model)}, {"partition", {{"verdict", support.verdict}, {"summary", support.summary},
                                                                          {"dpu_nodes", support.native_nodes}, {"cpu_nodes", support.fallback_nodes}}}};
  return finish_bundle(files, build, desc_, std::move(extra), out_path);
}

}  // namespace aifgen

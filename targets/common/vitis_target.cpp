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
            "# Compiles the power-of-two INT8 QDQ model for the " + flavor_.dpu + " DPU (" + flavor_.board + ").\n"
            "# Run inside the Vitis AI 3.5 container (docker run -v $PWD:/bundle xilinx/vitis-ai-pytorch-cpu:3.5.0).\n"
            "set -euo pipefail\n"
            "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
            "ARCH=${ARCH:-" + arch + "}\n"
            "out=${OUT:-$here/compiled}\n"
            "mkdir -p \"$out\"\n"
            "# QDQ ONNX -> XIR: the scales are already powers of two, so the conversion keeps them exactly.\n"
            "python3 -m vai_q_onnx.tools.convert_onnx_to_xmodel -i \"$here/model.onnx\" -o \"$out/quantized.xmodel\"\n"
            "vai_c_xir --xmodel \"$out/quantized.xmodel\" --arch \"$ARCH\" --net_name " + model_name + " --output_dir \"$out\"\n"
            "echo \"compiled: $out/" + model_name + ".xmodel (subgraphs on the DPU and the CPU as in partition.json)\"\n",
            true);
  files.add("entrypoint.sh",
            "#!/usr/bin/env bash\n"
            "# Runs the compiled model with VART on the board (after compile.sh): one inference on\n"
            "# INPUT (an .npy), outputs written next to it.\n"
            "set -euo pipefail\n"
            "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
            "exec python3 \"$here/run_vart.py\" \"${XMODEL:-$here/compiled/" + model_name + ".xmodel}\" \"${INPUT:?INPUT=.npy file}\"\n",
            true);
  files.add("run_vart.py",
            "#!/usr/bin/env python3\n"
            "\"\"\"One inference with VART: runs every DPU subgraph of the compiled xmodel in order.\"\"\"\n"
            "import sys\n\nimport numpy as np\nimport vart\nimport xir\n\n\n"
            "def main(xmodel, input_npy):\n"
            "    graph = xir.Graph.deserialize(xmodel)\n"
            "    subgraphs = [s for s in graph.get_root_subgraph().toposort_child_subgraph()\n"
            "                 if s.has_attr(\"device\") and s.get_attr(\"device\").upper() == \"DPU\"]\n"
            "    x = np.load(input_npy)\n"
            "    for sub in subgraphs:\n"
            "        runner = vart.Runner.create_runner(sub, \"run\")\n"
            "        inp, out = runner.get_input_tensors()[0], runner.get_output_tensors()[0]\n"
            "        scale = 2 ** inp.get_attr(\"fix_point\")\n"
            "        q = np.clip(np.round(x * scale), -128, 127).astype(np.int8).reshape(tuple(inp.dims))\n"
            "        y = np.empty(tuple(out.dims), dtype=np.int8)\n"
            "        job = runner.execute_async([q], [y])\n"
            "        runner.wait(job)\n"
            "        x = y.astype(np.float32) / (2 ** out.get_attr(\"fix_point\"))\n"
            "    np.save(input_npy.replace(\".npy\", \"\") + \"_output.npy\", x)\n\n\n"
            "if __name__ == \"__main__\":\n    main(sys.argv[1], sys.argv[2])\n",
            true);
  files.add("Dockerfile",
            "# Compile stage and runtime for hosts with the FPGA (Alveo: XRT + the DPU shell installed).\n"
            "FROM xilinx/vitis-ai-pytorch-cpu:3.5.0\n"
            "COPY . /bundle\n"
            "RUN /bundle/compile.sh\n"
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
  std::string warning;
  if (build.report_json.find("Calibrated on synthetic inputs") != std::string::npos)
    warning = "**Calibrated on synthetic inputs (uniform noise), not on real data: the INT8 accuracy on real inputs is unknown.**\n\n";
  files.add("README.md",
            "# " + build.source_model_name + " for " + desc_.id + " (int8, " + flavor_.dpu + ")\n\n"
            "Generated by aifgen " + build.aifgen_version + " on " + build.created_at + ". Runtime: " + desc_.runtime + ".\n\n" + warning +
            "**Partition:** " + support.summary + ".\n" + (cpu_ops.empty() ? "" : "CPU-side ops: " + cpu_ops + ".\n") + "\n"
            "| file | what |\n|---|---|\n"
            "| `model.onnx` | INT8 QDQ, symmetric, per-tensor, every scale a power of two (the DPU's fixed point) |\n"
            "| `partition.json` | every node, on the DPU or the CPU |\n"
            "| `compile.sh` | Vitis AI 3.5: QDQ ONNX -> XIR -> `vai_c_xir` for `" + arch + "` (set `ARCH` for another board) |\n"
            "| `entrypoint.sh`, `run_vart.py` | runs the compiled model with VART |\n"
            "| `Dockerfile`, `k8s/deployment.yaml` | image with the compiled model; Deployment requesting `" + flavor_.device_resource + "` |\n"
            "| `client/`, `variant.json`, `SHA256SUMS` | load client, report, checksums |\n\n"
            "The Vitis AI tools are not part of aifgen and were not run when this bundle was made: `compile.sh`\n"
            "and `run_vart.py` are written for Vitis AI 3.5 and have not been executed on " + flavor_.dpu + " hardware by aifgen's tests.\n"
            "The accuracy figures in `variant.json` come from running this QDQ model on aifgen's CPU engine (validated by emulation).\n");
  nlohmann::json extra = {{"opset", default_opset(model)}, {"partition", {{"verdict", support.verdict}, {"summary", support.summary},
                                                                          {"dpu_nodes", support.native_nodes}, {"cpu_nodes", support.fallback_nodes}}}};
  if (!build.report_json.empty()) extra.update(nlohmann::json::parse(build.report_json));
  auto names = files.names();
  names.push_back("variant.json");
  extra["files"] = names;
  std::string manifest = variant_manifest_json(build, desc_, extra.dump());
  files.add("variant.json", manifest);
  files.write(out_path, "aifgen-" + build.variant_id);
  return manifest;
}

}  // namespace aifgen

#include "targets/common/nvidia_target.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "core/base/error.h"
#include "core/onnx_model.h"
#include "targets/common/bundle_files.h"
#include "targets/common/deploy_files.h"
#include "targets/common/op_support.h"
#include "targets/common/pipelines.h"
#include "targets/common/tensorrt_profile.h"
#include "targets/common/variant_manifest.h"

namespace aifgen {
namespace {

// The I/O types a TensorRT 10.0 engine binds (nvinfer1::DataType): no FP64, no unsigned
// integers wider than 8 bits, no strings.
std::string triton_type(const std::string& tensor, int onnx_type) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT: return "TYPE_FP32";
    case onnx::TensorProto::FLOAT16: return "TYPE_FP16";
    case onnx::TensorProto::INT64: return "TYPE_INT64";
    case onnx::TensorProto::INT32: return "TYPE_INT32";
    case onnx::TensorProto::INT8: return "TYPE_INT8";
    case onnx::TensorProto::UINT8: return "TYPE_UINT8";
    case onnx::TensorProto::BOOL: return "TYPE_BOOL";
    default:
      throw Error(ErrorCode::kUnprocessable, "target-unsupported-type",
                  "tensor '" + tensor + "' has ONNX type " + onnx::TensorProto::DataType_Name(onnx_type) +
                      ", which TensorRT cannot take as an engine input or output; cast it to float32 or int64 in the model");
  }
}

std::string dims_text(const std::vector<std::int64_t>& dims, bool drop_batch) {
  std::string out;
  for (std::size_t i = drop_batch ? 1 : 0; i < dims.size(); ++i) out += (out.empty() ? "" : ", ") + std::to_string(dims[i]);
  return "[ " + out + " ]";
}

}  // namespace

const std::set<std::string>& tensorrt_ops() {
  static const std::set<std::string> ops = {
      "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh", "AveragePool",
      "BatchNormalization", "Cast", "Ceil", "Celu", "Clip", "Concat", "ConstantOfShape", "Conv", "ConvTranspose", "Cos",
      "Cosh", "CumSum", "DepthToSpace", "DequantizeLinear", "Div", "Dropout", "Einsum", "Elu", "Equal", "Erf", "Exp",
      "Expand", "EyeLike", "Flatten", "Floor", "Gather", "GatherElements", "GatherND", "Gemm", "GlobalAveragePool",
      "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual", "GridSample", "HardSigmoid", "HardSwish", "If",
      "InstanceNormalization", "IsInf", "IsNaN", "LayerNormalization", "LeakyRelu", "Less", "LessOrEqual", "Log",
      "LogSoftmax", "Loop", "LpNormalization", "LpPool", "LRN", "MatMul", "Max", "MaxPool", "Mean", "Min", "Mod", "Mul",
      "Neg", "NonMaxSuppression", "NonZero", "Not", "OneHot", "Or", "Pad", "Pow", "PRelu", "QuantizeLinear",
      "RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Range", "Reciprocal", "ReduceL1",
      "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum",
      "ReduceSumSquare", "Relu", "Reshape", "Resize", "ReverseSequence", "RoiAlign", "Round", "Scan", "ScatterElements",
      "ScatterND", "Selu", "Shape", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Softmax", "Softplus",
      "Softsign", "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tan", "Tanh", "ThresholdedRelu", "Tile",
      "TopK", "Transpose", "Trilu", "Unsqueeze", "Upsample", "Where", "Xor"};
  return ops;
}

std::string triton_config(const onnx::ModelProto& model, const std::string& name, const TensorrtProfile& profile) {
  std::string c = "name: \"" + name + "\"\nplatform: \"tensorrt_plan\"\nmax_batch_size: " + std::to_string(profile.max_batch) + "\n";
  c += "input [\n";
  bool first = true;
  for (const auto& in : model.graph().input()) {
    auto t = std::find_if(profile.inputs.begin(), profile.inputs.end(), [&](const TensorrtInput& p) { return p.name == in.name(); });
    if (t == profile.inputs.end()) continue;  // an initializer listed as an input
    c += std::string(first ? "" : ",\n") + "  {\n    name: \"" + in.name() + "\"\n    data_type: " +
         triton_type(in.name(), in.type().tensor_type().elem_type()) + "\n    dims: " + dims_text(t->dims, profile.batched) + "\n  }";
    first = false;
  }
  c += "\n]\noutput [\n";
  first = true;
  for (const auto& out : model.graph().output()) {
    c += std::string(first ? "" : ",\n") + "  {\n    name: \"" + out.name() + "\"\n    data_type: " +
         triton_type(out.name(), out.type().tensor_type().elem_type()) + "\n    dims: " + dims_text(dims_of(out), profile.batched) + "\n  }";
    first = false;
  }
  c += "\n]\n";
  if (profile.batched) c += "dynamic_batching {\n  max_queue_delay_microseconds: 2000\n}\n";
  c += "instance_group [\n  {\n    count: 1\n    kind: KIND_GPU\n  }\n]\n";
  return c;
}

std::string trtexec_precision_flags(const std::string& precision) {
  // The fp16 model.onnx already says which ops run in fp16 and which stay fp32 (blocked ops, and
  // ops whose observed ranges leave fp16's). A weakly typed build with --fp16 would let TensorRT
  // pick fp16 for those too; --stronglyTyped (trtexec of TensorRT 10.0.1, samples/common/
  // sampleOptions.cpp: "Create a strongly typed network") makes it obey the model's types.
  if (precision == "fp16") return "--stronglyTyped";
  if (precision == "int8") return "--int8 --fp16";
  return "";
}

std::string build_engine_script(const std::string& model_name, const std::string& precision, const TensorrtProfile& profile) {
  const std::string flags = trtexec_precision_flags(precision), shapes = trtexec_shape_args(profile);
  return "#!/usr/bin/env bash\n"
         "# Builds the TensorRT engine from the variant's ONNX for the GPU it runs on. An engine only\n"
         "# works for the model, precision, GPU and TensorRT version it was built with, so all four\n"
         "# name the cached plan in ENGINE_CACHE (a volume): later starts skip the build, and a shared\n"
         "# volume never hands one GPU's engine to another.\n"
         "set -euo pipefail\n"
         "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
         "repo=${MODEL_REPOSITORY:-$here/model_repository}\n"
         "cache=${ENGINE_CACHE:-/cache}\n"
         "# Where NVIDIA's TensorRT and Triton containers install trtexec (it is not on PATH there).\n"
         "trtexec=${TRTEXEC:-/usr/src/tensorrt/bin/trtexec}\n"
         "onnx=\"$repo/" + model_name + "/1/model.onnx\"\n"
         "[ -x \"$trtexec\" ] || { echo \"build_engine.sh: no trtexec at $trtexec (set TRTEXEC)\" >&2; exit 2; }\n"
         "mkdir -p \"$cache\"\n"
         "model_hash=$(sha256sum \"$onnx\" | cut -c1-16)\n"
         "gpu=$(nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader 2>/dev/null | head -n1 || true)\n"
         "if [ -z \"$gpu\" ] && [ -r /proc/device-tree/model ]; then gpu=$(tr -d '\\0' </proc/device-tree/model); fi  # Jetson\n"
         "[ -n \"$gpu\" ] || { echo \"build_engine.sh: cannot tell which GPU this is (nvidia-smi, /proc/device-tree/model)\" >&2; exit 2; }\n"
         "trt=${TRT_VERSION:-}\n"
         "if [ -z \"$trt\" ]; then\n"
         "  lib=$(ldconfig -p 2>/dev/null | awk '$1 ~ /^libnvinfer\\.so\\.[0-9]+$/ {print $NF; exit}' || true)\n"
         "  [ -n \"$lib\" ] && trt=$(basename \"$(readlink -f \"$lib\")\" | sed 's/^libnvinfer\\.so\\.//')\n"
         "fi\n"
         "[ -n \"$trt\" ] || { echo \"build_engine.sh: cannot tell the TensorRT version (set TRT_VERSION)\" >&2; exit 2; }\n"
         "slug() { printf '%s' \"$1\" | tr -c 'A-Za-z0-9._-' '_'; }\n"
         "device=$(slug \"$gpu-trt$trt\")\n"
         "plan=\"$cache/" + model_name + "-" + precision + "-$model_hash-$device.plan\"\n"
         "if [ ! -s \"$plan\" ]; then\n"
         "  echo \"build_engine.sh: building $plan (first start on this GPU; minutes)\"\n"
         "  \"$trtexec\" --onnx=\"$onnx\" --saveEngine=\"$plan.tmp.$$\" --timingCacheFile=\"$cache/timing-$device.cache\" \\\n"
         "    --skipInference" + (flags.empty() ? "" : " " + flags) + (shapes.empty() ? "" : " \\\n    " + shapes) + "\n"
         "  mv \"$plan.tmp.$$\" \"$plan\"\n"
         "fi\n"
         "ln -sf \"$plan\" \"$repo/" + model_name + "/1/model.plan\"\n";
}

TargetSupport NvidiaTarget::assess(const std::map<std::string, std::int64_t>& census) const {
  return assess_support(census, tensorrt_ops(), Fallback::kNone, "TensorRT");
}

std::vector<PassSpec> NvidiaTarget::pipeline(const std::string& precision) const {
  // Standard ONNX only: TensorRT fuses Conv + activation itself.
  return standard_pipeline(precision, "s8s8-symmetric");
}

std::string NvidiaTarget::package(const onnx::ModelProto& model, const VariantBuild& build, const std::string& out_path) const {
  std::string model_bytes;
  model.SerializeToString(&model_bytes);
  const std::string model_name = dns_name(build.source_model_name);
  const std::string name = dns_name("aifgen-" + build.variant_id);
  const TensorrtProfile profile = tensorrt_profile(model, flavor_.max_batch, build.shape_profiles, build.sample_shapes);
  const std::string config = triton_config(model, model_name, profile);
  const bool batched = profile.batched;
  const std::string flags = trtexec_precision_flags(build.precision);
  BundleFiles files;
  files.add("model_repository/" + model_name + "/config.pbtxt", config);
  files.add("model_repository/" + model_name + "/1/model.onnx", model_bytes);
  files.add("build_engine.sh", build_engine_script(model_name, build.precision, profile), true);
  files.add("entrypoint.sh",
            "#!/usr/bin/env bash\n"
            "# First start builds the engine (minutes; the startupProbe allows for it); then Triton serves\n"
            "# HTTP/REST, the KServe v2 protocol, on 8000 (gRPC 8001, metrics 8002).\n"
            "set -euo pipefail\n"
            "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
            "export MODEL_REPOSITORY=${MODEL_REPOSITORY:-$here/model_repository}\n"
            "\"$here/build_engine.sh\"\n"
            "exec \"${TRITONSERVER:-/opt/tritonserver/bin/tritonserver}\" --model-repository=\"$MODEL_REPOSITORY\" \\\n"
            "  --http-port=8000 --grpc-port=8001 --metrics-port=8002\n",
            true);
  files.add("Dockerfile",
            "# Triton Inference Server with TensorRT; the engine is built at first start (build_engine.sh).\n"
            "FROM " + flavor_.base_image + "\n"
            "COPY . /bundle\n"
            "ENV MODEL_REPOSITORY=/bundle/model_repository ENGINE_CACHE=/cache\n"
            "VOLUME /cache\n"
            "EXPOSE 8000 8001 8002\n"
            "ENTRYPOINT [\"/bundle/entrypoint.sh\"]\n");
  DeploySpec d;
  d.name = name;
  d.image = name + ":1";
  d.cpu = "2";
  d.memory = flavor_.memory_request;
  d.memory_limit = flavor_.memory_limit;
  d.node_selector = {{flavor_.k8s_selector_key, flavor_.k8s_selector_value}};
  if (!build.resources.gpu.empty()) d.device_limits = {{build.resources.gpu, "1"}};
  d.cache_mount = "/cache";
  d.env = {{"ENGINE_CACHE", "/cache"}};
  // trtexec with INT8 on a Jetson Orin takes about ten minutes; 30 minutes leaves room.
  d.startup_seconds = 1800;
  files.add("k8s/deployment.yaml", k8s_deployment_yaml(d));
  files.add("k8s/kserve.yaml", kserve_yaml(d));
  add_client_files(files, model_name, build.variant_id, 8000);
  const std::string warning = synthetic_calibration_warning(build);
  std::string profile_rows;
  nlohmann::json profile_json = nlohmann::json::array();
  for (const auto& t : profile.inputs) {
    profile_rows += "| `" + t.name + "` | " + shape_text(t.range.min) + " | " + shape_text(t.range.opt) + " | " + shape_text(t.range.max) + " | " +
                    t.source + " |\n";
    profile_json.push_back({{"input", t.name}, {"min", t.range.min}, {"opt", t.range.opt}, {"max", t.range.max}, {"source", t.source}});
  }
  const std::string run_flags = flavor_.jetson ? "--runtime nvidia" : "--gpus all";
  files.add("README.md",
            "# " + build.source_model_name + " for " + desc_.id + " (" + build.precision + ")\n\n"
            "Generated by aifgen " + build.aifgen_version + " on " + build.created_at + ". Runtime: " + desc_.runtime + ".\n\n" + warning +
            "| file | what |\n|---|---|\n"
            "| `model_repository/" + model_name + "/config.pbtxt` | Triton model configuration (platform `tensorrt_plan`, free dims -1" +
            (batched ? ", dynamic batching up to " + std::to_string(profile.max_batch) : ", no batching by Triton") + ") |\n"
            "| `model_repository/" + model_name + "/1/model.onnx` | the variant (" +
            (build.precision == "int8" ? "explicit QDQ, symmetric int8" : build.precision == "fp16" ? "fp16 weights and compute" : "fp32") + ") |\n"
            "| `build_engine.sh` | `trtexec`" + (flags.empty() ? "" : " " + flags) + " -> `model.plan`, engine and timing cache kept in `$ENGINE_CACHE` under model hash + precision + GPU + TensorRT version |\n"
            "| `entrypoint.sh`, `Dockerfile` | build the engine once, then `tritonserver` (HTTP 8000, gRPC 8001, metrics 8002) |\n"
            "| `k8s/` | Deployment + Service + PVC for the engine cache, a startupProbe for the first build" +
            (build.resources.gpu.empty() ? "" : ", requesting `" + build.resources.gpu + ": 1`") + "; a KServe alternative |\n"
            "| `client/` | `run_loadgen.sh` (Triton's HTTP API is the KServe v2 protocol) |\n"
            "| `variant.json`, `SHA256SUMS` | the report; checksums of every file |\n\n"
            "**Shapes the engine accepts** (TensorRT optimization profile; set per job with the\n"
            "`shape_profiles` option):\n\n| input | min | opt | max | from |\n|---|---|---|---|---|\n" + profile_rows + "\n"
            "```sh\nsha256sum -c SHA256SUMS\ndocker build -t " + name + ":1 .\n"
            "docker run --rm " + run_flags + " -p 8000:8000 -v trt-cache:/cache " + name + ":1\n"
            "client/run_loadgen.sh\n```\n\n"
            "Written for " + desc_.runtime + " (" + flavor_.base_image + "); see `variant.json` for the documents followed.\n"
            "Not run on a GPU by aifgen's tests: the numbers in `variant.json` were validated by emulation on aifgen's CPU\n"
            "engine (fp16 rounding, QDQ in float); this GPU's own latency arrives as a field benchmark when `client/` reports it.\n");
  nlohmann::json extra = {{"opset", default_opset(model)},
                          {"serving", {{"protocol", "kserve-v2 (Triton HTTP)"}, {"model_name", model_name}, {"port", 8000}}},
                          {"tensorrt", {{"trtexec_flags", flags}, {"max_batch_size", profile.max_batch}, {"profile", profile_json},
                                        {"engine_cache_key", "model sha256 + precision + GPU name and compute capability + TensorRT version"}}}};
  return finish_bundle(files, build, desc_, std::move(extra), out_path);
}

}  // namespace aifgen

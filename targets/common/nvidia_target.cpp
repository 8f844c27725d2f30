#include "targets/common/nvidia_target.h"

#include <nlohmann/json.hpp>
#include <set>

#include "core/engine/random_inputs.h"
#include "core/error.h"
#include "core/onnx_model.h"
#include "targets/common/bundle_files.h"
#include "targets/common/deploy_files.h"
#include "targets/common/op_support.h"
#include "targets/common/pipelines.h"
#include "targets/common/variant_manifest.h"

namespace aifgen {
namespace {

std::string triton_type(int onnx_type) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT: return "TYPE_FP32";
    case onnx::TensorProto::FLOAT16: return "TYPE_FP16";
    case onnx::TensorProto::DOUBLE: return "TYPE_FP64";
    case onnx::TensorProto::INT64: return "TYPE_INT64";
    case onnx::TensorProto::INT32: return "TYPE_INT32";
    case onnx::TensorProto::INT8: return "TYPE_INT8";
    case onnx::TensorProto::UINT8: return "TYPE_UINT8";
    case onnx::TensorProto::BOOL: return "TYPE_BOOL";
    default: throw Error(ErrorCode::kUnprocessable, "target-unsupported-type", "Triton has no type for ONNX type " + std::to_string(onnx_type));
  }
}

bool batch_dim_free(const onnx::ValueInfoProto& v) {
  const auto& s = v.type().tensor_type().shape();
  return s.dim_size() > 0 && !s.dim(0).has_dim_value();
}

std::string dims_text(const onnx::ValueInfoProto& v, bool drop_batch, const std::vector<std::int64_t>* bound) {
  const auto& s = v.type().tensor_type().shape();
  std::string out;
  for (int i = drop_batch ? 1 : 0; i < s.dim_size(); ++i) {
    std::int64_t d = s.dim(i).has_dim_value() ? s.dim(i).dim_value() : -1;
    if (d < 0 && bound) d = (*bound)[static_cast<std::size_t>(i)];
    out += (out.empty() ? "" : ", ") + std::to_string(d);
  }
  return "[ " + out + " ]";
}

std::string shape_arg(const std::vector<std::int64_t>& dims, std::int64_t batch) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? "x" : "") + std::to_string(i == 0 ? batch : dims[i]);
  return s;
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

std::string triton_config(const onnx::ModelProto& model, const std::string& name, int max_batch) {
  const auto& g = model.graph();
  std::set<std::string> inits;
  for (const auto& t : g.initializer()) inits.insert(t.name());
  bool batched = max_batch > 0;
  for (const auto& in : g.input())
    if (!inits.count(in.name())) batched = batched && batch_dim_free(in);
  for (const auto& out : g.output()) batched = batched && batch_dim_free(out);
  auto bound = engine::default_input_shapes(model);
  std::string c = "name: \"" + name + "\"\nplatform: \"tensorrt_plan\"\nmax_batch_size: " + std::to_string(batched ? max_batch : 0) + "\n";
  c += "input [\n";
  bool first = true;
  for (const auto& in : g.input()) {
    if (inits.count(in.name())) continue;
    c += std::string(first ? "" : ",\n") + "  {\n    name: \"" + in.name() + "\"\n    data_type: " +
         triton_type(in.type().tensor_type().elem_type()) + "\n    dims: " + dims_text(in, batched, &bound.at(in.name())) + "\n  }";
    first = false;
  }
  c += "\n]\noutput [\n";
  first = true;
  for (const auto& out : g.output()) {
    c += std::string(first ? "" : ",\n") + "  {\n    name: \"" + out.name() + "\"\n    data_type: " +
         triton_type(out.type().tensor_type().elem_type()) + "\n    dims: " + dims_text(out, batched, nullptr) + "\n  }";
    first = false;
  }
  c += "\n]\n";
  if (batched) c += "dynamic_batching {\n  max_queue_delay_microseconds: 2000\n}\n";
  c += "instance_group [\n  {\n    count: 1\n    kind: KIND_GPU\n  }\n]\n";
  return c;
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
  const std::string config = triton_config(model, model_name, flavor_.max_batch);
  const bool batched = config.find("max_batch_size: 0") == std::string::npos;
  const std::string flags = build.precision == "fp16" ? " --fp16" : build.precision == "int8" ? " --int8" : "";
  // Shape profile: the batch dim 1..max (opt 1) when free, other free dims at their defaults.
  std::string shapes;
  if (batched) {
    std::set<std::string> inits;
    for (const auto& t : model.graph().initializer()) inits.insert(t.name());
    std::string mn, opt, mx;
    for (const auto& [in, dims] : engine::default_input_shapes(model)) {
      if (inits.count(in)) continue;
      mn += (mn.empty() ? "" : ",") + in + ":" + shape_arg(dims, 1);
      opt += (opt.empty() ? "" : ",") + in + ":" + shape_arg(dims, 1);
      mx += (mx.empty() ? "" : ",") + in + ":" + shape_arg(dims, flavor_.max_batch);
    }
    shapes = " \\\n  --minShapes=" + mn + " --optShapes=" + opt + " --maxShapes=" + mx;
  }
  BundleFiles files;
  files.add("model_repository/" + model_name + "/config.pbtxt", config);
  files.add("model_repository/" + model_name + "/1/model.onnx", model_bytes);
  files.add("build_engine.sh",
            "#!/usr/bin/env bash\n"
            "# Builds the TensorRT engine from the variant's ONNX for the GPU it runs on (engines are\n"
            "# specific to GPU and TensorRT version). Engine and timing cache live in ENGINE_CACHE, a\n"
            "# volume, so later starts skip the build.\n"
            "set -euo pipefail\n"
            "repo=${MODEL_REPOSITORY:-/bundle/model_repository}\n"
            "cache=${ENGINE_CACHE:-/cache}\n"
            "mkdir -p \"$cache\"\n"
            "plan=\"$cache/" + model_name + "-" + build.precision + ".plan\"\n"
            "if [ ! -s \"$plan\" ]; then\n"
            "  trtexec --onnx=\"$repo/" + model_name + "/1/model.onnx\" --saveEngine=\"$plan.tmp\" \\\n"
            "    --timingCacheFile=\"$cache/timing.cache\"" + flags + shapes + "\n"
            "  mv \"$plan.tmp\" \"$plan\"\n"
            "fi\n"
            "ln -sf \"$plan\" \"$repo/" + model_name + "/1/model.plan\"\n",
            true);
  files.add("entrypoint.sh",
            "#!/usr/bin/env bash\n"
            "# First start builds the engine (minutes); then Triton serves HTTP/REST (KServe v2) on 8000.\n"
            "set -euo pipefail\n"
            "here=$(cd \"$(dirname \"$0\")\" && pwd)\n"
            "MODEL_REPOSITORY=${MODEL_REPOSITORY:-$here/model_repository} \"$here/build_engine.sh\"\n"
            "exec tritonserver --model-repository=\"${MODEL_REPOSITORY:-$here/model_repository}\" --http-port=8000 \\\n"
            "  --grpc-port=8001 --metrics-port=8002\n",
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
  d.memory = "8Gi";
  d.node_selector = {{flavor_.k8s_selector_key, flavor_.k8s_selector_value}};
  d.device_limits = {{"nvidia.com/gpu", "1"}};
  d.cache_mount = "/cache";
  files.add("k8s/deployment.yaml", k8s_deployment_yaml(d));
  files.add("k8s/kserve.yaml", kserve_yaml(d));
  add_client_files(files, model_name, build.variant_id, 8000);
  const std::string warning = synthetic_calibration_warning(build);
  files.add("README.md",
            "# " + build.source_model_name + " for " + desc_.id + " (" + build.precision + ")\n\n"
            "Generated by aifgen " + build.aifgen_version + " on " + build.created_at + ". Runtime: " + desc_.runtime + ".\n\n" + warning +
            "| file | what |\n|---|---|\n"
            "| `model_repository/" + model_name + "/config.pbtxt` | Triton model configuration (platform `tensorrt_plan`" +
            (batched ? ", dynamic batching up to " + std::to_string(flavor_.max_batch) : "") + ") |\n"
            "| `model_repository/" + model_name + "/1/model.onnx` | the variant (" +
            (build.precision == "int8" ? "explicit QDQ, symmetric int8" : build.precision == "fp16" ? "fp16 weights and compute" : "fp32") + ") |\n"
            "| `build_engine.sh` | `trtexec`" + (flags.empty() ? "" : flags) + " -> `model.plan`, timing cache kept in `$ENGINE_CACHE` |\n"
            "| `entrypoint.sh`, `Dockerfile` | build the engine once, then `tritonserver` (HTTP 8000, gRPC 8001, metrics 8002) |\n"
            "| `k8s/` | Deployment + Service + PVC for the engine cache, requesting `nvidia.com/gpu: 1`; a KServe alternative |\n"
            "| `client/` | `run_loadgen.sh` (Triton's HTTP API is the KServe v2 protocol) |\n"
            "| `variant.json`, `SHA256SUMS` | the report; checksums of every file |\n\n"
            "```sh\nsha256sum -c SHA256SUMS\ndocker build -t " + name + ":1 .\n"
            "docker run --rm --gpus all -p 8000:8000 -v trt-cache:/cache " + name + ":1\n"
            "client/run_loadgen.sh\n```\n\n"
            "The numbers in `variant.json` were validated by emulation on aifgen's CPU engine (fp16 rounding,\n"
            "QDQ in float); this GPU's own latency arrives as a field benchmark when `client/` reports it.\n");
  nlohmann::json extra = {{"opset", default_opset(model)},
                          {"serving", {{"protocol", "kserve-v2 (Triton HTTP)"}, {"model_name", model_name}, {"port", 8000}}},
                          {"tensorrt", {{"trtexec_flags", flags.empty() ? "" : flags.substr(1)}, {"max_batch_size", batched ? flavor_.max_batch : 0}}}};
  return finish_bundle(files, build, desc_, std::move(extra), out_path);
}

}  // namespace aifgen

// Target "x86_64-cpu": Intel/AMD servers, run by aifgen's own CPU engine.
//
// fp32: graph optimizations, Conv + activation fused into aifgen's private op. int8: the same, then static QDQ quantization with the u8s8
// scheme (uint8 asymmetric activations, int8 per-channel weights), which the engine runs as
// oneDNN int8 convolutions (VNNI where the CPU has it).
#include <nlohmann/json.hpp>

#include "core/onnx_model.h"
#include "targets/common/bundle_writer.h"
#include "targets/common/variant_manifest.h"
#include "targets/target.h"
#include "targets/x86_64-cpu/bundle_readme.h"

namespace aifgen {
namespace {

class X86CpuTarget final : public Target {
 public:
  const TargetDescriptor& descriptor() const override { return desc_; }

  std::vector<PassSpec> pipeline(const std::string& precision) const override {
    // Shapes first (fuse_matmul_add needs them); Identity removal and constant folding so BN
    // folding sees Conv -> BN with constant parameters; dead-node elimination then drops the
    // weights the folds replaced; shapes are recomputed last for the rewritten graph.
    std::vector<PassSpec> p = {"infer_shapes",    "eliminate_identity",   "fold_constants", "fold_batchnorm",
                               "fuse_matmul_add", "eliminate_dead_nodes", "infer_shapes"};
    if (precision == "int8") {
      // QDQ stays standard: the engine recognizes Q -> DQ -> Conv itself.
      p.push_back({"quantize_int8", {{"scheme", "u8s8"}}});
      p.push_back("infer_shapes");
    } else {
      p.push_back("fuse_conv_activation");  // com.aifgen.FusedConv: this target's runtime is aifgen's engine
    }
    return p;
  }

  std::string package(const onnx::ModelProto& model, const VariantBuild& build, const std::string& out_path) const override {
    std::string model_bytes;
    model.SerializeToString(&model_bytes);
    nlohmann::json extra = {{"files", {"model.onnx", "variant.json", "README.md"}},
                            {"opset", default_opset(model)}};
    if (!build.report_json.empty()) extra.update(nlohmann::json::parse(build.report_json));
    std::string manifest = variant_manifest_json(build, desc_, extra.dump());
    BundleWriter w(out_path, "aifgen-" + build.variant_id);
    w.add("model.onnx", model_bytes);
    w.add("variant.json", manifest);
    w.add("README.md", x86_bundle_readme(build, default_opset(model)));
    w.close();
    return manifest;
  }

 private:
  TargetDescriptor desc_{
      "x86_64-cpu", "Intel/AMD x86-64 servers (AVX2 and newer)", "aifgen engine (oneDNN); any ONNX runtime",
      {"fp32", "int8"}, "u8s8", /*runs_on_service_host=*/true};
};

}  // namespace

const Target& x86_64_cpu_target() {
  static const X86CpuTarget target;
  return target;
}

}  // namespace aifgen

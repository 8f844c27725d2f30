#include "targets/common/pipelines.h"

namespace aifgen {

std::vector<PassSpec> fp32_optimizations() {
  return {"infer_shapes",    "eliminate_identity",   "fold_constants", "fold_batchnorm",
          "fuse_matmul_add", "eliminate_dead_nodes", "infer_shapes"};
}

std::vector<PassSpec> standard_pipeline(const std::string& precision, const std::string& int8_scheme) {
  auto p = fp32_optimizations();
  if (precision == "fp16") {
    p.push_back("convert_fp16");
    p.push_back("infer_shapes");
  } else if (precision == "int8") {
    p.push_back({"quantize_int8", {{"scheme", int8_scheme}}});
    p.push_back("infer_shapes");
  }
  return p;
}

}  // namespace aifgen

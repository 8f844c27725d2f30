// libFuzzer target: POST /v1/jobs body parsing (JSON, then the strict job-request rules, the
// variants it names, checked by the registry, and the build options inside it), and for accepted shape profiles the TensorRT profile, the
// config.pbtxt and trtexec's shape flags they turn into for a model with a batch dim, a fixed
// dim and two free dims (x[N, 3, H, W]).
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "api/rest/job_request.h"
#include "core/base/error.h"
#include "service/build_options.h"
#include "targets/registry.h"
#include "targets/common/nvidia_target.h"
#include "targets/common/tensorrt_profile.h"

namespace {

onnx::ModelProto dynamic_model() {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  for (auto* v : {g->add_input(), g->add_output()}) {
    v->set_name(v == &g->input(0) ? "x" : "y");
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_param("N");
    t->mutable_shape()->add_dim()->set_dim_value(3);
    t->mutable_shape()->add_dim()->set_dim_param("H");
    t->mutable_shape()->add_dim()->set_dim_param("W");
  }
  auto* n = g->add_node();
  n->set_op_type("Relu");
  n->add_input("x");
  n->add_output("y");
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const onnx::ModelProto model = dynamic_model();
  auto j = nlohmann::json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return 0;
  try {
    auto req = aifgen::api::parse_job_request(j);
    // The (target, precision) pairs either form names, checked against the registry.
    if (req.variants.empty()) (void)aifgen::expand_requests(req.targets, req.precisions);
    else (void)aifgen::expand_pairs(req.variants);
    auto options = aifgen::parse_build_options(nlohmann::json::parse(req.options_json));
    if (!options.shape_profiles.empty()) {
      auto profile = aifgen::tensorrt_profile(model, 8, options.shape_profiles, {});
      (void)aifgen::triton_config(model, "m", profile);
      (void)aifgen::trtexec_shape_args(profile);
    }
  } catch (const aifgen::Error&) {
  }
  return 0;
}

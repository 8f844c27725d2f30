// Pass "infer_shapes": recomputes value_info from scratch with ONNX shape inference, so later
// consumers (and the variant's model.onnx) carry shapes that match the rewritten graph.
#include "core/onnx_model.h"
#include "core/passes/pass.h"

namespace aifgen {

class InferShapesPass final : public Pass {
 public:
  std::string name() const override { return "infer_shapes"; }
  PassCounts run(onnx::ModelProto& model) override {
    reinfer_shapes(model);
    return {{"value_infos", model.graph().value_info_size()}};
  }
};

std::unique_ptr<Pass> make_infer_shapes_pass() { return std::make_unique<InferShapesPass>(); }

}  // namespace aifgen

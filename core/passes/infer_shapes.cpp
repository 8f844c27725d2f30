// Pass "infer_shapes": recomputes value_info from scratch with ONNX shape inference, so later
// consumers (and the variant's model.onnx) carry shapes that match the rewritten graph.
#include <onnx/shape_inference/implementation.h>

#include "core/error.h"
#include "core/passes/pass.h"

namespace aifgen {

class InferShapesPass final : public Pass {
 public:
  std::string name() const override { return "infer_shapes"; }
  PassCounts run(onnx::ModelProto& model) override {
    model.mutable_graph()->clear_value_info();
    try {
      onnx::ShapeInferenceOptions options(true, 1, true);
      onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(), options);
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kInvalidModel, "model-shape-inference-failed", e.what());
    }
    return {{"value_infos", model.graph().value_info_size()}};
  }
};

std::unique_ptr<Pass> make_infer_shapes_pass() { return std::make_unique<InferShapesPass>(); }

}  // namespace aifgen

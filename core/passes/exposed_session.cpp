#include "core/passes/exposed_session.h"

#include <set>

namespace aifgen {

ExposedSession::ExposedSession(const onnx::ModelProto& model, const std::vector<std::string>& values, const Sample& sample) {
  auto probe = model;
  auto* g = probe.mutable_graph();
  std::set<std::string> outputs;
  for (const auto& o : g->output()) outputs.insert(o.name());
  for (const auto& v : values)
    if (outputs.insert(v).second) g->add_output()->set_name(v);
  engine::SessionOptions so;
  const auto inputs = model_inputs(model);
  for (std::size_t k = 0; k < inputs.size() && k < sample.size(); ++k) so.input_shapes[inputs[k].name] = sample[k].shape;
  // No races at plan time: a probe runs a few dozen times, not enough to win back the plans a
  // race makes and times. Direct convolutions also round as the int8 kernels' float reference
  // does (Winograd's transforms add their own rounding to what is observed).
  so.conv_algorithm = engine::ConvAlgorithm::kDirect;
  so.activation_layout = engine::ActivationLayout::kOneDnn;
  session = std::make_unique<engine::Session>(std::move(probe), so);  // the copy's weights taken, not copied again
  for (std::size_t k = 0; k < session->outputs().size(); ++k) index[session->outputs()[k].name] = k;
}

}  // namespace aifgen

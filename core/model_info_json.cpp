// ModelInfo -> JSON. Dims are numbers (fixed), strings (symbolic) or null (unknown).
#include "core/model_info_json.h"

namespace aifgen {
namespace {

nlohmann::json tensor_json(const TensorInfo& t) {
  nlohmann::json shape = nullptr;
  if (t.has_shape) {
    shape = nlohmann::json::array();
    for (const auto& d : t.shape) {
      if (auto* v = std::get_if<std::int64_t>(&d)) shape.push_back(*v);
      else if (auto* s = std::get_if<std::string>(&d)) shape.push_back(*s);
      else shape.push_back(nullptr);
    }
  }
  return {{"name", t.name}, {"dtype", t.dtype}, {"shape", shape}};
}

}  // namespace

nlohmann::json model_info_to_json(const ModelInfo& info) {
  nlohmann::json opsets = nlohmann::json::object();
  for (const auto& [domain, version] : info.opset_imports) opsets[domain.empty() ? "ai.onnx" : domain] = version;
  nlohmann::json inputs = nlohmann::json::array(), outputs = nlohmann::json::array();
  for (const auto& t : info.inputs) inputs.push_back(tensor_json(t));
  for (const auto& t : info.outputs) outputs.push_back(tensor_json(t));
  return {
      {"ir_version", info.ir_version},
      {"opset_imports", opsets},
      {"producer", {{"name", info.producer_name}, {"version", info.producer_version}}},
      {"graph_name", info.graph_name},
      {"inputs", inputs},
      {"outputs", outputs},
      {"node_count", info.node_count},
      {"op_census", info.op_census},
      {"parameter_count", info.parameter_count},
      {"macs", info.macs},
      {"macs_unknown_nodes", info.macs_unknown_nodes},
  };
}

}  // namespace aifgen

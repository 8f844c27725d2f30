#include "core/passes/aifgen_ops.h"

#include <set>
#include <string>

#include "core/base/error.h"
#include "core/onnx_model.h"

namespace aifgen {
namespace {

onnx::AttributeProto float_attr(const std::string& name, float v) {
  onnx::AttributeProto a;
  a.set_name(name);
  a.set_type(onnx::AttributeProto::FLOAT);
  a.set_f(v);
  return a;
}

}  // namespace

std::optional<onnx::ModelProto> expand_aifgen_ops(const onnx::ModelProto& model) {
  bool any = false;
  for (const auto& n : model.graph().node()) any = any || n.domain() == kAifgenDomain;
  if (!any) return std::nullopt;
  auto out = model;
  auto* g = out.mutable_graph();
  const auto opset = default_opset(model);
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  int counter = 0;
  for (const auto& n : model.graph().node()) {
    if (n.domain() != kAifgenDomain) {
      *nodes.Add() = n;
      continue;
    }
    auto bad = [&](const std::string& why) {
      throw Error(ErrorCode::kInvalidModel, "aifgen-op-invalid", "node '" + n.name() + "' (" + n.domain() + "." + n.op_type() + "): " + why);
    };
    if (n.op_type() != "FusedConv") bad("unknown aifgen op");
    if (n.output_size() != 1) bad("must have one output");
    std::string activation;
    std::vector<float> params;
    onnx::NodeProto conv;
    conv.set_op_type("Conv");
    conv.set_name(n.name());
    for (const auto& in : n.input()) conv.add_input(in);
    const std::string mid = n.output(0) + "_conv" + std::to_string(counter++);
    conv.add_output(mid);
    for (const auto& a : n.attribute()) {
      if (a.name() == "activation") activation = a.s();
      else if (a.name() == "activation_params") params.assign(a.floats().begin(), a.floats().end());
      else *conv.add_attribute() = a;
    }
    static const std::set<std::string> known = {"Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish"};
    if (!known.count(activation)) bad("unknown activation '" + activation + "'");
    onnx::NodeProto act;
    act.set_op_type(activation);
    act.set_name(n.name() + "_" + activation);
    act.add_input(mid);
    act.add_output(n.output(0));
    const std::size_t want = activation == "LeakyRelu" ? 1 : activation == "Clip" || activation == "HardSigmoid" ? 2 : 0;
    if (params.size() != want) bad(activation + " needs " + std::to_string(want) + " activation_params");
    if (activation == "LeakyRelu") *act.add_attribute() = float_attr("alpha", params[0]);
    if (activation == "HardSigmoid") {
      *act.add_attribute() = float_attr("alpha", params[0]);
      *act.add_attribute() = float_attr("beta", params[1]);
    }
    if (activation == "Clip") {
      if (opset < 11) {
        *act.add_attribute() = float_attr("min", params[0]);
        *act.add_attribute() = float_attr("max", params[1]);
      } else {
        for (int k = 0; k < 2; ++k) {
          auto* t = g->add_initializer();
          t->set_name(mid + (k ? "_max" : "_min"));
          t->set_data_type(onnx::TensorProto::FLOAT);
          t->add_float_data(params[static_cast<std::size_t>(k)]);
          act.add_input(t->name());
        }
      }
    }
    *nodes.Add() = std::move(conv);
    *nodes.Add() = std::move(act);
  }
  g->mutable_node()->Swap(&nodes);
  return out;
}

}  // namespace aifgen

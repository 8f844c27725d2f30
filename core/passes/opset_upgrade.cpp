#include "core/passes/opset_upgrade.h"

#include <onnx/version_converter/convert.h>

#include "core/base/error.h"
#include "core/onnx_model.h"
#include "core/passes/graph_edit.h"

namespace aifgen {
namespace {

[[noreturn]] void fail(const std::string& why) {
  throw Error(ErrorCode::kUnprocessable, "opset-upgrade-failed", "cannot raise the model to opset 13: " + why);
}

bool is_default(const onnx::NodeProto& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

void erase_attr(onnx::NodeProto& n, const std::string& name) {
  auto* attrs = n.mutable_attribute();
  for (int i = 0; i < attrs->size(); ++i)
    if (attrs->Get(i).name() == name) {
      attrs->DeleteSubrange(i, 1);
      return;
    }
}

class Upgrader {
 public:
  explicit Upgrader(onnx::GraphProto& g) : g_(g) {}

  void run() {
    google::protobuf::RepeatedPtrField<onnx::NodeProto> out;
    for (auto node : g_.node()) {
      if (!is_default(node)) {
        *out.Add() = std::move(node);
        continue;
      }
      const auto& op = node.op_type();
      if (op == "Squeeze" || op == "Unsqueeze" || op == "ReduceSum") {
        attr_to_input(node, "axes", 1);
      } else if (op == "Split") {
        attr_to_input(node, "split", 1);
      } else if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
        if (coerced_softmax(node, out)) continue;
      } else if (op == "Resize") {
        if (const auto* m = find_attr(node, "coordinate_transformation_mode"); m && m->s() == "tf_half_pixel_for_nn")
          fail("Resize with tf_half_pixel_for_nn has no opset-13 equivalent");
      } else if (op == "If" || op == "Loop" || op == "Scan") {
        fail("control flow (" + op + ") is not upgraded");
      }
      *out.Add() = std::move(node);
    }
    g_.mutable_node()->Swap(&out);
  }

 private:
  std::string fresh(const std::string& base) {
    std::string name;
    do name = base + "_op13_" + std::to_string(counter_++);
    while (find_initializer(g_, name) >= 0);
    return name;
  }

  // An ints attribute becomes an int64 initializer at input `index` (absent attribute: input
  // left out, which keeps the old default meaning for these ops).
  void attr_to_input(onnx::NodeProto& n, const std::string& attr, int index) {
    const auto* a = find_attr(n, attr);
    if (!a) return;
    onnx::TensorProto t;
    t.set_name(fresh(n.name().empty() ? n.op_type() : n.name()));
    t.set_data_type(onnx::TensorProto::INT64);
    t.add_dims(a->ints_size());
    for (auto v : a->ints()) t.add_int64_data(v);
    while (n.input_size() < index) n.add_input("");
    if (n.input_size() == index) n.add_input(t.name());
    else n.set_input(index, t.name());
    *g_.add_initializer() = std::move(t);
    erase_attr(n, attr);
  }

  // Before 13 these ops flatten the input to 2-D at `axis` (default 1) and normalize each row.
  // The last axis means the same in both versions; otherwise keep the old meaning explicitly.
  bool coerced_softmax(onnx::NodeProto& n, google::protobuf::RepeatedPtrField<onnx::NodeProto>& out) {
    const auto* a = find_attr(n, "axis");
    const std::int64_t axis = a ? a->i() : 1;
    if (axis == -1) return false;
    auto dims = declared_dims(g_, n.input(0));
    if (dims && static_cast<std::int64_t>(dims->size()) == axis + 1) {
      erase_attr(n, "axis");  // the last axis: 13's default (-1)
      return false;
    }
    if (axis < 0) fail("node '" + n.name() + "': negative softmax axis other than -1 with unknown rank");
    const std::string x = n.input(0), y = n.output(0), base = fresh(n.name().empty() ? n.op_type() : n.name());
    onnx::NodeProto shape, flat, reshape;
    shape.set_op_type("Shape");
    shape.add_input(x);
    shape.add_output(base + "_shape");
    flat.set_op_type("Flatten");
    flat.add_input(x);
    flat.add_output(base + "_2d");
    auto* fa = flat.add_attribute();
    fa->set_name("axis");
    fa->set_type(onnx::AttributeProto::INT);
    fa->set_i(axis);
    n.set_input(0, base + "_2d");
    n.set_output(0, base + "_2d_out");
    erase_attr(n, "axis");
    reshape.set_op_type("Reshape");
    reshape.add_input(base + "_2d_out");
    reshape.add_input(base + "_shape");
    reshape.add_output(y);
    *out.Add() = std::move(shape);
    *out.Add() = std::move(flat);
    *out.Add() = n;
    *out.Add() = std::move(reshape);
    return true;
  }

  onnx::GraphProto& g_;
  int counter_ = 0;
};

}  // namespace

onnx::ModelProto upgrade_to_opset13(const onnx::ModelProto& model) {
  const auto from = default_opset(model);
  if (from >= 13) return model;
  onnx::ModelProto m;
  if (from < 12) {
    try {
      m = onnx::version_conversion::ConvertVersion(model, 12);
    } catch (const std::exception& e) {
      fail(std::string("ONNX's version converter (to 12): ") + e.what());
    }
  } else {
    m = model;
  }
  Upgrader(*m.mutable_graph()).run();
  for (auto& op : *m.mutable_opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") op.set_version(13);
  if (m.ir_version() < 7) m.set_ir_version(7);
  return m;
}

}  // namespace aifgen

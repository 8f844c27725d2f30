// libFuzzer target: If, Loop and Scan planning and running (core/engine/control_flow.cpp) on
// models the input bytes choose: the op; conditions and trip counts fed, constant or absent;
// loop-carried values, states and scan outputs (0-2 of each); Scan axes and directions, in range
// or not; bodies whose outputs keep or change their shape, conditions that pass through, stop
// early or are constant; values read from the enclosing graph. Each model must plan and run, or
// be refused with an aifgen::Error; nothing may crash, hang or touch memory it should not (ASan).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/engine/session.h"

namespace {

struct Bytes {
  const uint8_t* data;
  size_t size, at = 0;
  int next(int range) { return at < size ? data[at++] % range : 0; }
};

onnx::ValueInfoProto value(const std::string& name, int type, const std::vector<std::int64_t>& dims, bool with_shape = true) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  auto* tt = v.mutable_type()->mutable_tensor_type();
  tt->set_elem_type(type);
  if (with_shape) {
    auto* s = tt->mutable_shape();
    for (auto d : dims) s->add_dim()->set_dim_value(d);
  }
  return v;
}

onnx::NodeProto make_node(const std::string& op, const std::vector<std::string>& in, const std::vector<std::string>& out) {
  onnx::NodeProto n;
  n.set_op_type(op);
  for (const auto& i : in) n.add_input(i);
  for (const auto& o : out) n.add_output(o);
  return n;
}

void int_attr(onnx::NodeProto& n, const char* name, std::int64_t v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void ints_attr(onnx::NodeProto& n, const char* name, const std::vector<std::int64_t>& v) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

onnx::GraphProto* graph_attr(onnx::NodeProto& n, const char* name) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::GRAPH);
  a->mutable_g()->set_name(name);
  return a->mutable_g();
}

onnx::TensorProto scalar(const std::string& name, int type, std::int64_t v) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  if (type == onnx::TensorProto::INT64) t.add_int64_data(v);
  else t.add_int32_data(static_cast<std::int32_t>(v));
  return t;
}

// One carried value's update inside a body: kept shape (Add of the outer x) or grown (Concat).
onnx::NodeProto update(Bytes& b, const std::string& in, const std::string& out) {
  if (b.next(4) == 0) {
    auto n = make_node("Concat", {in, "x"}, {out});
    int_attr(n, "axis", 0);
    return n;
  }
  return make_node("Add", {in, "x"}, {out});
}

// A condition for the cond input: fed (graph input "c"), a constant, or absent.
std::string condition(Bytes& b, onnx::GraphProto* g) {
  switch (b.next(3)) {
    case 0:
      *g->add_input() = value("c", onnx::TensorProto::BOOL, {});
      return "c";
    case 1:
      *g->add_initializer() = scalar("c", onnx::TensorProto::BOOL, b.next(2));
      return "c";
    default:
      return "";
  }
}

onnx::ModelProto build(Bytes& b) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(b.next(3) == 0 ? 8 : 13);
  auto* g = m.mutable_graph();
  g->set_name("fuzz");
  const std::int64_t len = 1 + b.next(4);
  *g->add_input() = value("x", onnx::TensorProto::FLOAT, {len, 2});
  const int op = b.next(3);
  if (op == 0) {  // If
    std::string c = condition(b, g);
    if (c.empty()) c = "x";  // an If without a bool condition must be refused
    auto n = make_node("If", {c}, {"y"});
    for (const char* branch : {"then_branch", "else_branch"}) {
      auto* body = graph_attr(n, branch);
      *body->add_node() = b.next(3) == 0 ? make_node("ReduceSum", {"x"}, {"r"}) : make_node("Neg", {"x"}, {"r"});
      *body->add_output() = value("r", onnx::TensorProto::FLOAT, {}, false);
    }
    *g->add_node() = n;
    *g->add_output() = value("y", onnx::TensorProto::FLOAT, {}, false);
    return m;
  }
  if (op == 1) {  // Loop
    std::vector<std::string> in;
    const int m_mode = b.next(3);
    switch (m_mode) {
      case 0:
        *g->add_input() = value("M", onnx::TensorProto::INT64, {});
        in.push_back("M");
        break;
      case 1:
        *g->add_initializer() = scalar("M", onnx::TensorProto::INT64, b.next(9) - 2);
        in.push_back("M");
        break;
      default:
        in.push_back("");
    }
    in.push_back(condition(b, g));
    const int carried = b.next(3), scans = b.next(3);
    auto n = make_node("Loop", {}, {});
    auto* body = graph_attr(n, "body");
    *body->add_input() = value("i", onnx::TensorProto::INT64, {});
    *body->add_input() = value("cond_in", onnx::TensorProto::BOOL, {});
    // Without a trip count only a condition that turns false ends the loop; a condition that
    // never does is refused after 2^20 iterations, which is correct but too slow to fuzz.
    int cond_mode = b.next(3);
    if (m_mode == 2) cond_mode = 1;
    switch (cond_mode) {
      case 0:
        *body->add_node() = make_node("Identity", {"cond_in"}, {"cond_out"});
        break;
      case 1: {
        *body->add_initializer() = scalar("limit", onnx::TensorProto::INT64, b.next(5));
        *body->add_node() = make_node("Less", {"i", "limit"}, {"cond_out"});
        break;
      }
      default:
        *body->add_initializer() = scalar("cond_out", onnx::TensorProto::BOOL, b.next(2));
    }
    *body->add_output() = value("cond_out", onnx::TensorProto::BOOL, {}, false);
    for (int j = 0; j < carried; ++j) {
      const auto s = "s" + std::to_string(j);
      *g->add_initializer() = [&] {
        onnx::TensorProto t;
        t.set_name(s + "_0");
        t.set_data_type(onnx::TensorProto::FLOAT);
        t.add_dims(len);
        t.add_dims(2);
        for (std::int64_t k = 0; k < 2 * len; ++k) t.add_float_data(static_cast<float>(k));
        return t;
      }();
      in.push_back(s + "_0");
      *body->add_input() = value(s + "_in", onnx::TensorProto::FLOAT, {}, false);
      *body->add_node() = update(b, s + "_in", s + "_out");
      *body->add_output() = value(s + "_out", onnx::TensorProto::FLOAT, {}, false);
      n.add_output(s);
    }
    for (int k = 0; k < scans; ++k) {
      const auto o = "scan" + std::to_string(k);
      *body->add_node() = make_node("Mul", {"x", "x"}, {o + "_step"});
      *body->add_output() = value(o + "_step", onnx::TensorProto::FLOAT, {}, false);
      n.add_output(o);
    }
    for (const auto& i : in) n.add_input(i);
    for (const auto& o : n.output()) *g->add_output() = value(o, onnx::TensorProto::FLOAT, {}, false);
    *g->add_node() = n;
    return m;
  }
  // Scan over x (and a second scan input, x again), with 0-2 states.
  const int states = b.next(3), inputs = 1 + b.next(2), outputs = b.next(3);
  auto n = make_node("Scan", {}, {});
  auto* body = graph_attr(n, "body");
  for (int j = 0; j < states; ++j) {
    const auto s = "s" + std::to_string(j);
    *g->add_initializer() = [&] {
      onnx::TensorProto t;
      t.set_name(s + "_0");
      t.set_data_type(onnx::TensorProto::FLOAT);
      t.add_dims(2);
      t.add_float_data(1.f);
      t.add_float_data(2.f);
      return t;
    }();
    n.add_input(s + "_0");
    *body->add_input() = value(s + "_in", onnx::TensorProto::FLOAT, {}, false);
    *body->add_node() = b.next(4) == 0 ? make_node("Concat", {s + "_in", "step0"}, {s + "_out"}) : make_node("Add", {s + "_in", "step0"}, {s + "_out"});
    if (body->node(body->node_size() - 1).op_type() == "Concat") int_attr(*body->mutable_node(body->node_size() - 1), "axis", 0);
    *body->add_output() = value(s + "_out", onnx::TensorProto::FLOAT, {}, false);
    n.add_output(s);
  }
  std::vector<std::int64_t> in_axes, in_dirs, out_axes, out_dirs;
  for (int j = 0; j < inputs; ++j) {
    n.add_input("x");
    *body->add_input() = value("step" + std::to_string(j), onnx::TensorProto::FLOAT, {}, false);
    in_axes.push_back(b.next(5) - 2);
    in_dirs.push_back(b.next(2));
  }
  for (int k = 0; k < outputs; ++k) {
    const auto o = "out" + std::to_string(k);
    *body->add_node() = make_node("Neg", {"step0"}, {o + "_step"});
    *body->add_output() = value(o + "_step", onnx::TensorProto::FLOAT, {}, false);
    n.add_output(o);
    out_axes.push_back(b.next(5) - 2);
    out_dirs.push_back(b.next(2));
  }
  int_attr(n, "num_scan_inputs", b.next(5) == 0 ? inputs + 1 : inputs);
  if (b.next(2)) ints_attr(n, "scan_input_axes", in_axes);
  if (b.next(2)) ints_attr(n, "scan_input_directions", in_dirs);
  if (b.next(2)) ints_attr(n, "scan_output_axes", out_axes);
  if (b.next(2)) ints_attr(n, "scan_output_directions", out_dirs);
  for (const auto& o : n.output()) *g->add_output() = value(o, onnx::TensorProto::FLOAT, {}, false);
  *g->add_node() = n;
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Bytes b{data, size};
  auto m = build(b);
  try {
    aifgen::engine::Session s(m, {});
    std::vector<aifgen::engine::Tensor> inputs;
    for (const auto& io : s.inputs()) {
      auto t = aifgen::engine::Tensor::allocate(io.dtype, io.shape);
      for (std::size_t k = 0; k < t.bytes(); ++k) t.data[k] = std::byte{static_cast<unsigned char>(io.dtype == aifgen::engine::DType::kBool ? b.next(2) : b.next(8))};
      if (io.dtype == aifgen::engine::DType::kI64) *t.as<std::int64_t>() = b.next(12) - 2;
      inputs.push_back(std::move(t));
    }
    s.run(inputs);
  } catch (const aifgen::Error&) {
  }
  return 0;
}

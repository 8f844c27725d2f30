#include "core/engine/space_to_depth_stem.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "core/engine/pattern_match.h"
#include "core/engine/tensor.h"
#include "core/passes/graph_edit.h"

namespace aifgen::engine {
namespace {

onnx::TensorProto int64_constant(const std::string& name, const std::vector<std::int64_t>& v) {
  Tensor t = Tensor::allocate(DType::kI64, {static_cast<std::int64_t>(v.size())});
  for (std::size_t i = 0; i < v.size(); ++i) t.as<std::int64_t>()[i] = v[i];
  return tensor_to_proto(t, name);
}

onnx::NodeProto make_node(const std::string& op, std::vector<std::string> in, const std::string& out) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(out + "_node");
  for (auto& s : in) n.add_input(s);
  n.add_output(out);
  return n;
}

// Whether oneDNN's primitive for this float convolution (all layouts its choice) is a GEMM.
bool runs_as_gemm(const dnnl::engine& eng, const dnnl::memory::dims& src, const dnnl::memory::dims& weights, const dnnl::memory::dims& dst,
                  const dnnl::memory::dims& strides, const dnnl::memory::dims& pad_l, const dnnl::memory::dims& pad_r) {
  using dnnl::memory;
  const auto f32 = memory::data_type::f32;
  const auto any = memory::format_tag::any;
  dnnl::convolution_forward::primitive_desc pd(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, memory::desc(src, f32, any),
                                      memory::desc(weights, f32, any), memory::desc(dst, f32, any), strides, pad_l, pad_r),
      eng);
  return std::string(pd.impl_info_str()).find("gemm") != std::string::npos;
}

struct Stem {
  std::int64_t n, c, h, w, o, k, s, pad_top, pad_left, out_h, out_w, k2, h2, w2;
};

// The geometry when `conv` qualifies (see the header), else nullopt.
std::optional<Stem> qualifying_stem(const onnx::GraphProto& g, const onnx::NodeProto& conv, const dnnl::engine& eng, bool only_where_gemm) {
  if (!is_standard_op(conv) || conv.op_type() != "Conv" || conv.input_size() < 2 || !is_graph_input(g, conv.input(0))) return std::nullopt;
  for (const auto& a : conv.attribute())
    if (a.name() == "auto_pad" && a.s() != "NOTSET") return std::nullopt;
  if (attr_int(conv, "group", 1) != 1) return std::nullopt;
  const auto x = declared_dims(g, conv.input(0));
  const auto* wt = find_constant(g, conv.input(1));
  if (!x || x->size() != 4 || !wt || wt->dims_size() != 4 || wt->data_type() != onnx::TensorProto::FLOAT) return std::nullopt;
  for (auto d : *x)
    if (d <= 0) return std::nullopt;
  if (conv.input_size() >= 3 && !conv.input(2).empty() && !find_constant(g, conv.input(2))) return std::nullopt;
  const auto strides = attr_ints(conv, "strides", {1, 1}), dilations = attr_ints(conv, "dilations", {1, 1});
  const auto pads = attr_ints(conv, "pads", {0, 0, 0, 0});
  Stem st{(*x)[0], (*x)[1], (*x)[2], (*x)[3], wt->dims(0), wt->dims(2), strides.size() == 2 ? strides[0] : 0, 0, 0, 0, 0, 0, 0, 0};
  if (strides.size() != 2 || strides[1] != st.s || dilations != std::vector<std::int64_t>{1, 1} || pads.size() != 4) return std::nullopt;
  if (wt->dims(1) != st.c || wt->dims(3) != st.k || st.s < 2 || st.k <= st.s || st.c * st.s * st.s > 64) return std::nullopt;
  for (auto p : pads)
    if (p < 0) return std::nullopt;
  st.pad_top = pads[0], st.pad_left = pads[1];
  st.out_h = (st.h + pads[0] + pads[2] - st.k) / st.s + 1;
  st.out_w = (st.w + pads[1] + pads[3] - st.k) / st.s + 1;
  st.k2 = (st.k + st.s - 1) / st.s;
  st.h2 = st.out_h + st.k2 - 1, st.w2 = st.out_w + st.k2 - 1;
  // The regrouped input covers rows up to s*h2 of the padded input: pad the end up to there (a
  // negative pad, cropping rows no output reads, is left to the original kernel).
  if (st.out_h <= 0 || st.out_w <= 0 || st.s * st.h2 < st.h + st.pad_top || st.s * st.w2 < st.w + st.pad_left) return std::nullopt;
  if (!only_where_gemm) return st;
  try {
    if (!runs_as_gemm(eng, {st.n, st.c, st.h, st.w}, {st.o, st.c, st.k, st.k}, {st.n, st.o, st.out_h, st.out_w}, {st.s, st.s},
                      {pads[0], pads[1]}, {pads[2], pads[3]}))
      return std::nullopt;
    if (runs_as_gemm(eng, {st.n, st.c * st.s * st.s, st.h2, st.w2}, {st.o, st.c * st.s * st.s, st.k2, st.k2},
                     {st.n, st.o, st.out_h, st.out_w}, {1, 1}, {0, 0}, {0, 0}))
      return std::nullopt;
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
  return st;
}

// w[o, c, s*a + p, s*b + q] at [o, (c*s + p)*s + q, a, b], zero past the kernel.
Tensor regrouped_weights(const Tensor& w, const Stem& st) {
  const std::int64_t c2 = st.c * st.s * st.s;
  Tensor r = Tensor::allocate(DType::kF32, {st.o, c2, st.k2, st.k2});
  float* out = r.as<float>();
  const float* in = w.as<float>();
  for (std::int64_t o = 0; o < st.o; ++o)
    for (std::int64_t c = 0; c < st.c; ++c)
      for (std::int64_t p = 0; p < st.s; ++p)
        for (std::int64_t q = 0; q < st.s; ++q)
          for (std::int64_t a = 0; a < st.k2; ++a)
            for (std::int64_t b = 0; b < st.k2; ++b) {
              const std::int64_t u = st.s * a + p, v = st.s * b + q;
              out[((o * c2 + (c * st.s + p) * st.s + q) * st.k2 + a) * st.k2 + b] =
                  u < st.k && v < st.k ? in[((o * st.c + c) * st.k + u) * st.k + v] : 0.f;
            }
  return r;
}

}  // namespace

std::optional<onnx::ModelProto> stems_as_space_to_depth(const onnx::ModelProto& model, const dnnl::engine& eng, std::int64_t* rewritten,
                                                        bool only_where_gemm) {
  std::int64_t opset = 1;
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
  if (rewritten) *rewritten = 0;
  if (opset < 11) return std::nullopt;  // Pad's pads and Reshape's shape as inputs
  const auto& g = model.graph();
  std::unordered_map<int, std::vector<onnx::NodeProto>> replaced;
  std::vector<onnx::TensorProto> constants;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& conv = g.node(i);
    const auto st = qualifying_stem(g, conv, eng, only_where_gemm);
    if (!st) continue;
    const std::string base = conv.output(0) + "_s2d";
    const std::int64_t c2 = st->c * st->s * st->s;
    constants.push_back(int64_constant(base + "_pads", {0, 0, st->pad_top, st->pad_left, 0, 0, st->s * st->h2 - st->h - st->pad_top,
                                                        st->s * st->w2 - st->w - st->pad_left}));
    constants.push_back(int64_constant(base + "_blocks", {st->n, st->c, st->h2, st->s, st->w2, st->s}));
    constants.push_back(int64_constant(base + "_channels", {st->n, c2, st->h2, st->w2}));
    constants.push_back(tensor_to_proto(regrouped_weights(tensor_from_proto(*find_constant(g, conv.input(1))), *st), base + "_w"));
    std::vector<onnx::NodeProto> nodes;
    nodes.push_back(make_node("Pad", {conv.input(0), base + "_pads"}, base + "_padded"));
    nodes.push_back(make_node("Reshape", {base + "_padded", base + "_blocks"}, base + "_blocks6"));
    auto tr = make_node("Transpose", {base + "_blocks6"}, base + "_grouped");
    auto* perm = tr.add_attribute();
    perm->set_name("perm");
    perm->set_type(onnx::AttributeProto::INTS);
    for (std::int64_t d : {0, 1, 3, 5, 2, 4}) perm->add_ints(d);
    nodes.push_back(tr);
    nodes.push_back(make_node("Reshape", {base + "_grouped", base + "_channels"}, base + "_x"));
    onnx::NodeProto c;
    c.set_op_type("Conv");
    c.set_name(conv.name());
    c.add_input(base + "_x");
    c.add_input(base + "_w");
    if (conv.input_size() >= 3) c.add_input(conv.input(2));
    c.add_output(conv.output(0));
    nodes.push_back(c);
    replaced[i] = std::move(nodes);
  }
  if (rewritten) *rewritten = static_cast<std::int64_t>(replaced.size());
  if (replaced.empty()) return std::nullopt;
  auto out = with_nodes_replaced(model, {}, replaced);
  for (auto& t : constants) *out.mutable_graph()->add_initializer() = std::move(t);
  return out;
}

}  // namespace aifgen::engine

// Pad on the CPU engine against an index-by-index reference: every mode, cropping (negative
// pads), the constant value, axes (opset 18) and the errors a malformed node gets. (The ONNX node
// conformance cases test_constant_pad, test_edge_pad and test_reflect_pad run too.)
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>

#include "core/engine/session.h"
#include "core/base/error.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::tensor_value;

// x[2,3,4] -> Pad(mode, pads, constant 7.5, axes?) -> y, at `opset`.
onnx::ModelProto pad_model(const std::string& mode, const std::vector<std::int64_t>& pads, int opset,
                           const std::vector<std::int64_t>& axes = {}) {
  auto m = testing::empty_model();
  m.mutable_opset_import(0)->set_version(opset);
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"2", "3", "4"});
  *g->add_initializer() = testing::int64_tensor("pads", pads);
  *g->add_initializer() = testing::float_tensor("value", {}, {7.5f});
  std::vector<std::string> ins = {"x", "pads", "value"};
  if (!axes.empty()) {
    *g->add_initializer() = testing::int64_tensor("axes", axes);
    ins.push_back("axes");
  }
  auto n = node("Pad", ins, {"y"});
  auto* a = n.add_attribute();
  a->set_name("mode");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(mode);
  *g->add_node() = n;
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

Tensor input() {
  Tensor x = Tensor::allocate(DType::kF32, {2, 3, 4});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = static_cast<float>(i);
  return x;
}

// The value at output index `o` of axis with `n` elements and `begin` padding, per the ONNX spec
// written the long way (numpy's pad modes), or nullopt for the constant.
std::optional<std::int64_t> reference_index(std::int64_t o, std::int64_t begin, std::int64_t n, const std::string& mode) {
  std::int64_t s = o - begin;
  if (s >= 0 && s < n) return s;
  if (mode == "constant") return std::nullopt;
  if (mode == "edge") return std::clamp<std::int64_t>(s, 0, n - 1);
  if (mode == "wrap") {
    while (s < 0) s += n;
    return s % n;
  }
  while (s < 0 || s >= n) s = s < 0 ? -s : 2 * (n - 1) - s;  // reflect
  return s;
}

void expect_padded(const std::string& mode, const std::vector<std::int64_t>& begin, const std::vector<std::int64_t>& end,
                   const Tensor& y) {
  const Shape in = {2, 3, 4};
  ASSERT_EQ(y.shape.size(), 3u);
  for (std::size_t d = 0; d < 3; ++d) ASSERT_EQ(y.shape[d], in[d] + begin[d] + end[d]) << "axis " << d;
  const Tensor source = input();
  const float* x = source.as<float>();
  std::int64_t k = 0;
  for (std::int64_t a = 0; a < y.shape[0]; ++a)
    for (std::int64_t b = 0; b < y.shape[1]; ++b)
      for (std::int64_t c = 0; c < y.shape[2]; ++c, ++k) {
        auto i = reference_index(a, begin[0], 2, mode), j = reference_index(b, begin[1], 3, mode), l = reference_index(c, begin[2], 4, mode);
        const float want = (i && j && l) ? x[(*i * 3 + *j) * 4 + *l] : 7.5f;
        ASSERT_EQ(y.as<float>()[k], want) << mode << " at " << a << "," << b << "," << c;
      }
}

TEST(EnginePad, EveryModeMatchesTheReference) {
  for (const std::string mode : {"constant", "edge", "reflect"}) {
    Session s(pad_model(mode, {1, 2, 3, 0, 1, 2}, 13), {});
    expect_padded(mode, {1, 2, 3}, {0, 1, 2}, s.run({input()})[0]);
  }
  Session wrap(pad_model("wrap", {0, 2, 5, 1, 0, 6}, 19), {});
  expect_padded("wrap", {0, 2, 5}, {1, 0, 6}, wrap.run({input()})[0]);
}

TEST(EnginePad, NegativePadsCropAndAxesNameThePaddedAxes) {
  Session crop(pad_model("constant", {0, -1, 2, -1, 1, -3}, 13), {});
  expect_padded("constant", {0, -1, 2}, {-1, 1, -3}, crop.run({input()})[0]);
  // opset 18: pads for axes {-1, 1} only.
  Session axes(pad_model("edge", {2, 1, 0, 3}, 18, {-1, 1}), {});
  expect_padded("edge", {0, 1, 2}, {0, 3, 0}, axes.run({input()})[0]);
}

TEST(EnginePad, MalformedNodesAreRefusedAtPlanTime) {
  auto refused = [](const onnx::ModelProto& m) {
    try {
      Session s(m, {});
    } catch (const Error& e) {
      return e.type() == "engine-invalid-node" || e.type() == "engine-unsupported";
    }
    return false;
  };
  EXPECT_TRUE(refused(pad_model("constant", {1, 2, 3}, 13)));            // odd pads count
  EXPECT_TRUE(refused(pad_model("constant", {0, 0, -3, 0, 0, -2}, 13)));  // crops more than the axis
  EXPECT_TRUE(refused(pad_model("mirror", {1, 1, 1, 1, 1, 1}, 13)));      // unknown mode
  EXPECT_TRUE(refused(pad_model("wrap", {1, 1, 1, 1, 1, 1}, 13)));        // wrap only from opset 19
  EXPECT_TRUE(refused(pad_model("reflect", {0, 0, 4, 0, 0, 0}, 13)));     // reflect as wide as the axis
}

}  // namespace
}  // namespace aifgen::engine

// Einsum in float32: the attention forms MaxViT uses (batched matmul with a transposed operand),
// an output in another order, an implicit output and the direct form (a diagonal), each against
// sums written out here. (The ONNX conformance cases cover float64 through the direct form.)
#include <gtest/gtest.h>

#include <cmath>

#include "core/engine/session.h"
#include "core/base/error.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

onnx::ModelProto einsum_model(const std::string& eq, const std::vector<std::vector<std::string>>& shapes) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  std::vector<std::string> names;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    names.push_back("in" + std::to_string(i));
    *g->add_input() = testing::tensor_value(names.back(), onnx::TensorProto::FLOAT, shapes[i]);
  }
  auto n = testing::node("Einsum", names, {"y"});
  auto* a = n.add_attribute();
  a->set_name("equation");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(eq);
  *g->add_node() = n;
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

Tensor filled(const Shape& s, float f) {
  Tensor t = Tensor::allocate(DType::kF32, s);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.as<float>()[i] = std::sin(f * static_cast<float>(i + 1));
  return t;
}

TEST(EngineEinsum, AttentionFormsMatchTheirSums) {
  // q[b,g,i,d] . k[b,g,j,d] -> s[b,g,i,j]; then s . v[b,g,j,d] -> o[b,g,i,d]
  const std::int64_t B = 2, G = 3, I = 4, J = 5, D = 6;
  Session scores(einsum_model("B G H I D, B G H J D -> B G H I J", {{"2", "3", "1", "4", "6"}, {"2", "3", "1", "5", "6"}}), {});
  auto q = filled({B, G, 1, I, D}, 0.3f), k = filled({B, G, 1, J, D}, 0.7f);
  auto s = scores.run({q, k})[0];
  ASSERT_EQ(s.shape, (Shape{B, G, 1, I, J}));
  for (std::int64_t bg = 0; bg < B * G; ++bg)
    for (std::int64_t i = 0; i < I; ++i)
      for (std::int64_t j = 0; j < J; ++j) {
        double want = 0;
        for (std::int64_t d = 0; d < D; ++d) want += static_cast<double>(q.as<float>()[(bg * I + i) * D + d]) * k.as<float>()[(bg * J + j) * D + d];
        ASSERT_NEAR(s.as<float>()[(bg * I + i) * J + j], want, 1e-5) << bg << "," << i << "," << j;
      }
  // Output in another order than the batched product gives: ik,kj->ji.
  Session t(einsum_model("ik,kj->ji", {{"3", "4"}, {"4", "5"}}), {});
  auto a = filled({3, 4}, 0.2f), b = filled({4, 5}, 0.5f);
  auto y = t.run({a, b})[0];
  ASSERT_EQ(y.shape, (Shape{5, 3}));
  for (int j = 0; j < 5; ++j)
    for (int i = 0; i < 3; ++i) {
      double want = 0;
      for (int kk = 0; kk < 4; ++kk) want += static_cast<double>(a.as<float>()[i * 4 + kk]) * b.as<float>()[kk * 5 + j];
      ASSERT_NEAR(y.as<float>()[j * 3 + i], want, 1e-5);
    }
}

TEST(EngineEinsum, ImplicitOutputAndDiagonal) {
  // "ij,jk" has the implicit output "ik"; "ii->i" is the diagonal (direct form).
  Session mm(einsum_model("ij,jk", {{"2", "3"}, {"3", "2"}}), {});
  auto a = filled({2, 3}, 0.4f), b = filled({3, 2}, 0.9f);
  auto y = mm.run({a, b})[0];
  ASSERT_EQ(y.shape, (Shape{2, 2}));
  double want = 0;
  for (int j = 0; j < 3; ++j) want += static_cast<double>(a.as<float>()[1 * 3 + j]) * b.as<float>()[j * 2 + 0];
  EXPECT_NEAR(y.as<float>()[2], want, 1e-5);
  Session diag(einsum_model("ii->i", {{"3", "3"}}), {});
  auto m = filled({3, 3}, 0.6f);
  auto d = diag.run({m})[0];
  ASSERT_EQ(d.shape, (Shape{3}));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(d.as<float>()[i], m.as<float>()[i * 4]);
}

TEST(EngineEinsum, MalformedEquationsAreRefused) {
  auto refused = [](const std::string& eq) {
    try {
      Session s(einsum_model(eq, {{"2", "3"}, {"3", "2"}}), {});
    } catch (const Error& e) {
      return e.type() == "engine-invalid-node";
    }
    return false;
  };
  EXPECT_TRUE(refused("ij,jk->iz"));   // output letter in no input
  EXPECT_TRUE(refused("ijk,jk->ik"));  // term rank differs from the input's
  EXPECT_TRUE(refused("ij->ij"));      // fewer terms than inputs
  EXPECT_TRUE(refused("ij,jk->ii"));   // output letter repeats
}

}  // namespace
}  // namespace aifgen::engine

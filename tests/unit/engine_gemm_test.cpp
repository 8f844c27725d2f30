// Gemm on the engine against a reference computed here in double, for every form a model uses:
// A and B transposed or not, alpha and beta, C absent, a row bias (fused into the primitive) or a
// full [M, N] term (added after it), and B constant (reordered once into oneDNN's layout, as a
// classifier head's weights are) or a graph input (used as stored); and a Relu after it, fused
// into the product where nothing is added after the product (AlexNet's and VGG's classifiers);
// at 4 rows or fewer, the rows kernel (rows_product.h) in place of oneDNN's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/engine/kernels/product_choice.h"
#include "core/engine/session.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;

struct GemmCase {
  bool trans_a = false, trans_b = false, b_constant = true;
  float alpha = 1.f, beta = 1.f;
  std::string c = "row";  // "" | row | full
  bool relu = false;       // y = Relu(Gemm(...))
  std::int64_t m = 3, k = 37, n = 70;
  std::string name() const {
    return std::string("transA ") + (trans_a ? "1" : "0") + " transB " + (trans_b ? "1" : "0") + " B " +
           (b_constant ? "constant" : "input") + " alpha " + std::to_string(alpha) + " beta " + std::to_string(beta) + " C '" + c + "'" +
           (relu ? " + Relu" : "");
  }
};

std::vector<std::string> dims(std::initializer_list<std::int64_t> d) {
  std::vector<std::string> s;
  for (auto x : d) s.push_back(std::to_string(x));
  return s;
}

Tensor tensor_of(const onnx::TensorProto& t) {
  Shape shape(t.dims().begin(), t.dims().end());
  Tensor out = Tensor::allocate(DType::kF32, shape);
  std::memcpy(out.data, t.raw_data().empty() ? static_cast<const void*>(t.float_data().data()) : t.raw_data().data(),
              static_cast<std::size_t>(out.numel()) * sizeof(float));
  return out;
}

// Checks the product and returns how many steps ran as a 1x1 convolution (product_choice.h);
// `fused` (if given) tells whether the Relu ran inside the Gemm's step.
std::size_t expect_matches_reference(const GemmCase& g, bool* fused = nullptr, int threads = 1) {
  const Shape a_shape = g.trans_a ? Shape{g.k, g.m} : Shape{g.m, g.k};
  const Shape b_shape = g.trans_b ? Shape{g.n, g.k} : Shape{g.k, g.n};
  auto a_proto = testing::random_tensor("a", a_shape, 11, -1.f, 1.f);
  auto b_proto = testing::random_tensor("b", b_shape, 12, -1.f, 1.f);
  const Shape c_shape = g.c == "row" ? Shape{g.n} : Shape{g.m, g.n};
  auto c_proto = testing::random_tensor("c", c_shape, 13, -1.f, 1.f);

  auto model = testing::empty_model("gemm");
  auto* graph = model.mutable_graph();
  *graph->add_input() = testing::tensor_value("a", onnx::TensorProto::FLOAT, dims({a_shape[0], a_shape[1]}));
  if (g.b_constant) *graph->add_initializer() = b_proto;
  else *graph->add_input() = testing::tensor_value("b", onnx::TensorProto::FLOAT, dims({b_shape[0], b_shape[1]}));
  std::vector<std::string> ins = {"a", "b"};
  if (!g.c.empty()) {
    *graph->add_initializer() = c_proto;
    ins.push_back("c");
  }
  auto gemm = node("Gemm", ins, {g.relu ? "p" : "y"});
  testing::add_int_attr(gemm, "transA", g.trans_a);
  testing::add_int_attr(gemm, "transB", g.trans_b);
  testing::add_float_attr(gemm, "alpha", g.alpha);
  testing::add_float_attr(gemm, "beta", g.beta);
  *graph->add_node() = gemm;
  if (g.relu) *graph->add_node() = node("Relu", {"p"}, {"y"});
  *graph->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});

  SessionOptions options;
  options.profile = fused != nullptr;
  options.threads = threads;
  Session s(model, options);
  std::vector<Tensor> feed = {tensor_of(a_proto)};
  if (!g.b_constant) feed.push_back(tensor_of(b_proto));
  auto y = s.run(feed)[0];
  if (fused) {
    *fused = false;
    for (const auto& p : s.profile()) *fused = *fused || p.op == "Gemm+Relu";
  }
  EXPECT_EQ(y.shape, (Shape{g.m, g.n})) << g.name();
  if (y.shape != Shape{g.m, g.n}) return s.pointwise_products();

  const Tensor a = tensor_of(a_proto), b = tensor_of(b_proto), c = tensor_of(c_proto);
  for (std::int64_t i = 0; i < g.m; ++i)
    for (std::int64_t j = 0; j < g.n; ++j) {
      double sum = 0;
      for (std::int64_t p = 0; p < g.k; ++p) {
        const float av = g.trans_a ? a.as<float>()[p * g.m + i] : a.as<float>()[i * g.k + p];
        const float bv = g.trans_b ? b.as<float>()[j * g.k + p] : b.as<float>()[p * g.n + j];
        sum += static_cast<double>(av) * bv;
      }
      double want = g.alpha * sum;
      if (g.c == "row") want += g.beta * c.as<float>()[j];
      if (g.c == "full") want += g.beta * c.as<float>()[i * g.n + j];
      if (g.relu) want = std::max(want, 0.0);
      EXPECT_NEAR(y.as<float>()[i * g.n + j], want, 1e-4) << g.name() << " at (" << i << ", " << j << ")";
      if (std::abs(y.as<float>()[i * g.n + j] - want) > 1e-4) return s.pointwise_products();
    }
  return s.pointwise_products();
}

TEST(EngineGemm, EveryFormMatchesAReferenceComputedInDouble) {
  for (bool trans_a : {false, true})
    for (bool trans_b : {false, true})
      for (bool b_constant : {true, false})
        for (const char* c : {"", "row", "full"}) {
          GemmCase g;
          g.trans_a = trans_a, g.trans_b = trans_b, g.b_constant = b_constant, g.c = c;
          expect_matches_reference(g);
          g.alpha = 0.5f, g.beta = c[0] ? 0.25f : 1.f;
          expect_matches_reference(g);
        }
}

struct ForcePointwise {
  explicit ForcePointwise(bool on) { force_pointwise_products_for_testing(on); }
  ~ForcePointwise() { force_pointwise_products_for_testing(std::nullopt); }
};

// Forced to run as 1x1 convolutions over the rows (what the planning trial picks where it times
// faster: oneDNN's AVX2 GEMM repacks B on every call), the forms with a constant B read as stored
// and no alpha still match the reference; forced off, none runs so.
TEST(EngineGemm, AsPointwiseConvolutionsEveryFormStillMatches) {
  for (bool on : {true, false}) {
    ForcePointwise force(on);
    for (bool trans_a : {false, true})
      for (bool trans_b : {false, true})
        for (const char* c : {"", "row", "full"}) {
          GemmCase g;
          g.trans_a = trans_a, g.trans_b = trans_b, g.c = c, g.m = 9;
          EXPECT_EQ(expect_matches_reference(g), on && !trans_a ? 1u : 0u) << g.name();
          g.alpha = 0.5f;  // an output scale: always the matmul
          EXPECT_EQ(expect_matches_reference(g), 0u) << g.name();
        }
  }
}

// A Relu after the Gemm is one step with it where B is constant, alpha is 1 and C is absent or
// a row bias; with a full C (added after the product) or an alpha it stays a step of its own.
// Either way the values are Relu of the reference, with the product as oneDNN's matmul or as a
// 1x1 convolution, at 1 and 2 threads.
TEST(EngineGemm, AReluAfterIsFusedOnlyWhereNothingIsAddedAfterTheProduct) {
  for (bool pointwise : {true, false}) {
    ForcePointwise force(pointwise);
    for (int threads : {1, 2})
      for (bool trans_b : {false, true})
        for (bool b_constant : {true, false})
          for (const char* c : {"", "row", "full"})
            for (float alpha : {1.f, 0.5f}) {
              GemmCase g;
              g.trans_b = trans_b, g.b_constant = b_constant, g.c = c, g.alpha = alpha, g.relu = true, g.m = 9;
              bool fused = false;
              expect_matches_reference(g, &fused, threads);
              const bool fusable = b_constant && alpha == 1.f && g.c != "full";
              EXPECT_EQ(fused, fusable) << g.name() << " pointwise " << pointwise << " threads " << threads;
            }
  }
}

struct ForceRows {
  explicit ForceRows(bool on) { force_rows_products_for_testing(on); }
  ~ForceRows() { force_rows_products_for_testing(std::nullopt); }
};

// At 4 rows of A or fewer, with B constant, alpha 1, and C absent or a row bias, the product can
// run as dot products of B's rows (rows_product.h), which the planning trial picks where it
// times faster. Forced on, every such form still matches the reference, with a fused ReLU, at 1
// and 2 threads (70 outputs: a team shares blocks of 8 and one runs the 6 left; K 37: a masked
// tail) and replaces the pointwise convolution forced on under it; the forms it does not take
// (5 rows, transA over several rows, a full C over several rows) keep the convolution.
TEST(EngineGemm, AtFourRowsOrFewerTheRowsKernelMatchesEveryFormItTakes) {
  ForcePointwise pointwise(true);
  for (bool on : {true, false}) {
    ForceRows rows(on);
    for (std::int64_t m : {1, 2, 3, 4, 5})
      for (int threads : {1, 2})
        for (bool trans_a : {false, true})
          for (bool trans_b : {false, true})
            for (const char* c : {"", "row", "full"})
              for (bool relu : {false, true}) {
                GemmCase g;
                g.m = m, g.trans_a = trans_a, g.trans_b = trans_b, g.c = c, g.relu = relu;
                // (At one row a "full" C is a row bias, and A^T is A's bytes.)
                const bool takes = on && m <= 4 && (!trans_a || m == 1) && (g.c != "full" || m == 1);
                const std::size_t convolutions = expect_matches_reference(g, nullptr, threads);
                EXPECT_EQ(convolutions, !takes && (!trans_a || m == 1) ? 1u : 0u) << g.name() << " m " << m << " rows " << on << " threads " << threads;
              }
  }
}

// A MatMul by constant [K, N] weights with a bias Add after it (one step, the bias fused) at
// batch 1 and 3 gives the same values on the rows kernel as on oneDNN's.
TEST(EngineGemm, AMatMulWithABiasGivesTheSameValuesOnTheRowsKernel) {
  for (std::int64_t m : {1, 3}) {
    auto model = testing::empty_model("matmul_bias");
    auto* graph = model.mutable_graph();
    *graph->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, dims({m, 45}));
    *graph->add_initializer() = testing::random_tensor("w", {45, 19}, 21, -1.f, 1.f);
    *graph->add_initializer() = testing::random_tensor("bias", {19}, 22, -1.f, 1.f);
    *graph->add_node() = node("MatMul", {"x", "w"}, {"p"});
    *graph->add_node() = node("Add", {"p", "bias"}, {"y"});
    *graph->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
    const Tensor x = tensor_of(testing::random_tensor("x", {m, 45}, 23, -1.f, 1.f));
    const Tensor w = tensor_of(testing::random_tensor("w", {45, 19}, 21, -1.f, 1.f));
    const Tensor bias = tensor_of(testing::random_tensor("bias", {19}, 22, -1.f, 1.f));
    for (bool on : {true, false}) {
      ForceRows rows(on);
      Session s(model, SessionOptions{});
      const auto y = s.run({x})[0];
      ASSERT_EQ(y.shape, (Shape{m, 19}));
      for (std::int64_t i = 0; i < m; ++i)
        for (std::int64_t j = 0; j < 19; ++j) {
          double want = bias.as<float>()[j];
          for (std::int64_t q = 0; q < 45; ++q) want += static_cast<double>(x.as<float>()[i * 45 + q]) * w.as<float>()[q * 19 + j];
          EXPECT_NEAR(y.as<float>()[i * 19 + j], want, 1e-4) << "m " << m << " rows " << on << " at (" << i << ", " << j << ")";
        }
    }
  }
}

TEST(EngineGemm, AClassifierHeadAtBatchOne) {
  // torchvision's heads: [1, 1280] x [1000, 1280]^T + bias[1000], B constant.
  GemmCase head;
  head.trans_b = true, head.m = 1, head.k = 1280, head.n = 1000;
  expect_matches_reference(head);
}

}  // namespace
}  // namespace aifgen::engine

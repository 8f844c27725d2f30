// Reduce* over every set of axes of a 4-D tensor with a unit axis among them, keepdims on and
// off, against sums written out in the test. Adjacent axes run as [outer, reduced, inner]
// windows, the others through a table of offsets; both must give the definition's values.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::tensor_value;

struct ReduceCase {
  const char* op;
  double start;
  std::function<double(double, double)> step;
  std::function<double(double, std::int64_t)> finish;
};

const Shape kShape{3, 1, 4, 5};

onnx::ModelProto reduce_model(const char* op, const std::vector<std::int64_t>& axes, bool keep) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"3", "1", "4", "5"});
  auto n = node(op, {"x"}, {"y"});
  if (std::string(op) == "ReduceSum") {  // axes became an input at opset 13
    *g->add_initializer() = testing::int64_tensor("axes", axes);
    n.add_input("axes");
  } else {
    testing::add_ints_attr(n, "axes", axes);
  }
  testing::add_int_attr(n, "keepdims", keep ? 1 : 0);
  *g->add_node() = n;
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {});
  return m;
}

TEST(EngineReduce, EverySetOfAxesGivesTheDefinitionsValues) {
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> dist(0.2f, 1.5f);  // positive, so LogSum and Prod are defined
  std::vector<float> x(static_cast<std::size_t>(numel(kShape)));
  for (auto& v : x) v = dist(rng);
  const std::vector<ReduceCase> cases = {
      {"ReduceSum", 0, [](double a, double v) { return a + v; }, [](double a, std::int64_t) { return a; }},
      {"ReduceMean", 0, [](double a, double v) { return a + v; }, [](double a, std::int64_t n) { return a / static_cast<double>(n); }},
      {"ReduceMax", -INFINITY, [](double a, double v) { return std::max(a, v); }, [](double a, std::int64_t) { return a; }},
      {"ReduceMin", INFINITY, [](double a, double v) { return std::min(a, v); }, [](double a, std::int64_t) { return a; }},
      {"ReduceProd", 1, [](double a, double v) { return a * v; }, [](double a, std::int64_t) { return a; }},
      {"ReduceL1", 0, [](double a, double v) { return a + std::abs(v); }, [](double a, std::int64_t) { return a; }},
      {"ReduceL2", 0, [](double a, double v) { return a + v * v; }, [](double a, std::int64_t) { return std::sqrt(a); }},
      {"ReduceSumSquare", 0, [](double a, double v) { return a + v * v; }, [](double a, std::int64_t) { return a; }},
      {"ReduceLogSum", 0, [](double a, double v) { return a + v; }, [](double a, std::int64_t) { return std::log(a); }},
      {"ReduceLogSumExp", 0, [](double a, double v) { return a + std::exp(v); }, [](double a, std::int64_t) { return std::log(a); }},
  };
  int non_adjacent = 0;
  for (const auto& c : cases)
    for (int mask = 1; mask < 16; ++mask)
      for (bool keep : {true, false}) {
        std::vector<std::int64_t> axes;
        for (int d = 0; d < 4; ++d)
          if (mask & (1 << d)) axes.push_back(d - (d % 2) * 4);  // odd axes counted from the end
        // The definition: each output element folds the inputs whose kept coordinates match it.
        Shape out_shape;
        for (int d = 0; d < 4; ++d)
          if (!(mask & (1 << d)) || keep) out_shape.push_back(mask & (1 << d) ? 1 : kShape[static_cast<std::size_t>(d)]);
        std::vector<double> acc(static_cast<std::size_t>(numel(out_shape)), c.start);
        std::vector<std::int64_t> count(acc.size(), 0);
        for (std::int64_t a = 0; a < 3; ++a)
          for (std::int64_t b = 0; b < 1; ++b)
            for (std::int64_t h = 0; h < 4; ++h)
              for (std::int64_t w = 0; w < 5; ++w) {
                const std::int64_t at[4] = {a, b, h, w};
                std::int64_t o = 0;
                for (int d = 0; d < 4; ++d)
                  if (!(mask & (1 << d))) o = o * kShape[static_cast<std::size_t>(d)] + at[d];
                const auto oi = static_cast<std::size_t>(o);
                acc[oi] = c.step(acc[oi], x[static_cast<std::size_t>(((a * 1 + b) * 4 + h) * 5 + w)]);
                ++count[oi];
              }
        non_adjacent += (mask & 1) && (mask & 8) && !(mask & 4);  // axes 0 and 3 with axis 2 (of 4) kept
        Session s(reduce_model(c.op, axes, keep), {});
        const auto out = s.run({testing::float_tensor_of(kShape, x)});
        ASSERT_EQ(out[0].shape, out_shape) << c.op << " mask " << mask << " keep " << keep;
        for (std::size_t i = 0; i < acc.size(); ++i) {
          const double want = c.finish(acc[i], count[i]);
          EXPECT_NEAR(out[0].as<float>()[i], want, 1e-5 * std::max(1.0, std::abs(want))) << c.op << " mask " << mask << " at " << i;
        }
      }
  EXPECT_GT(non_adjacent, 0);  // the offsets path ran too
}

}  // namespace
}  // namespace aifgen::engine

// Depthwise 3-D convolutions (depthwise_volume.h), as mvit_v1_b pools its attention: every
// output against the definition summed in double, over strides, pads, kernel sizes, a bias or
// none, a channel count that is not a whole vector, two images, and 1 and 2 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/engine/session.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::tensor_value;

struct Case {
  Shape x;                 // N, C, D, H, W
  std::int64_t k[3], s[3], p[3];
  bool bias;
};

std::int64_t out_len(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p) { return (in + 2 * p - k) / s + 1; }

TEST(EngineDepthwiseVolume, EveryOutputIsTheDefinitionsSum) {
  const std::vector<Case> cases = {
      {{1, 96, 8, 14, 14}, {3, 3, 3}, {1, 2, 2}, {1, 1, 1}, false},  // mvit's pool_k/pool_v at stage 2
      {{2, 24, 5, 9, 10}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, true},
      {{1, 20, 4, 7, 6}, {1, 3, 3}, {2, 2, 1}, {0, 1, 1}, true},
      {{1, 17, 3, 5, 5}, {3, 1, 2}, {1, 1, 2}, {1, 0, 0}, false},
  };
  std::mt19937 rng(12);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (const auto& t : cases) {
    const std::int64_t n = t.x[0], c = t.x[1], d = t.x[2], h = t.x[3], w = t.x[4];
    const Shape y{n, c, out_len(d, t.k[0], t.s[0], t.p[0]), out_len(h, t.k[1], t.s[1], t.p[1]), out_len(w, t.k[2], t.s[2], t.p[2])};
    const std::int64_t taps = t.k[0] * t.k[1] * t.k[2];
    std::vector<float> x(static_cast<std::size_t>(numel(t.x))), wt(static_cast<std::size_t>(c * taps)), b(static_cast<std::size_t>(c));
    for (auto& v : x) v = dist(rng);
    for (auto& v : wt) v = dist(rng);
    for (auto& v : b) v = dist(rng);
    auto m = testing::empty_model();
    auto* g = m.mutable_graph();
    std::vector<std::string> xd, yd;
    for (auto v : t.x) xd.push_back(std::to_string(v));
    for (auto v : y) yd.push_back(std::to_string(v));
    *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, xd);
    *g->add_initializer() = testing::float_tensor("w", {c, 1, t.k[0], t.k[1], t.k[2]}, wt);
    std::vector<std::string> inputs = {"x", "w"};
    if (t.bias) {
      *g->add_initializer() = testing::float_tensor("b", {c}, b);
      inputs.push_back("b");
    }
    auto conv = node("Conv", inputs, {"y"});
    testing::add_int_attr(conv, "group", c);
    testing::add_ints_attr(conv, "kernel_shape", {t.k[0], t.k[1], t.k[2]});
    testing::add_ints_attr(conv, "strides", {t.s[0], t.s[1], t.s[2]});
    testing::add_ints_attr(conv, "pads", {t.p[0], t.p[1], t.p[2], t.p[0], t.p[1], t.p[2]});
    *g->add_node() = conv;
    *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, yd);
    for (int threads : {1, 2}) {
      SessionOptions options;
      options.threads = threads;
      Session s(m, options);
      const auto out = s.run({testing::float_tensor_of(t.x, x)});
      ASSERT_EQ(out[0].shape, y);
      const float* got = out[0].as<float>();
      for (std::int64_t in = 0; in < n; ++in)
        for (std::int64_t ch = 0; ch < c; ++ch)
          for (std::int64_t od = 0; od < y[2]; ++od)
            for (std::int64_t oh = 0; oh < y[3]; ++oh)
              for (std::int64_t ow = 0; ow < y[4]; ++ow) {
                double sum = t.bias ? b[static_cast<std::size_t>(ch)] : 0.0;
                for (std::int64_t kd = 0; kd < t.k[0]; ++kd)
                  for (std::int64_t kh = 0; kh < t.k[1]; ++kh)
                    for (std::int64_t kw = 0; kw < t.k[2]; ++kw) {
                      const std::int64_t id = od * t.s[0] + kd - t.p[0], ih = oh * t.s[1] + kh - t.p[1], iw = ow * t.s[2] + kw - t.p[2];
                      if (id < 0 || id >= d || ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                      sum += static_cast<double>(wt[static_cast<std::size_t>(ch * taps + (kd * t.k[1] + kh) * t.k[2] + kw)]) *
                             x[static_cast<std::size_t>((((in * c + ch) * d + id) * h + ih) * w + iw)];
                    }
                const float v = got[(((in * c + ch) * y[2] + od) * y[3] + oh) * y[4] + ow];
                ASSERT_NEAR(v, sum, 1e-4 * std::max(1.0, std::abs(sum)))
                    << shape_str(t.x) << " threads " << threads << " at " << in << "," << ch << "," << od << "," << oh << "," << ow;
              }
    }
  }
}

}  // namespace
}  // namespace aifgen::engine

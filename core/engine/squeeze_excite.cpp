#include "core/engine/squeeze_excite.h"

#include "core/engine/kernels/fast_math.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace aifgen::engine {
namespace {

bool is(const onnx::NodeProto& n, const char* op) { return n.op_type() == op && (n.domain().empty() || n.domain() == "ai.onnx"); }

float attr_f(const onnx::NodeProto& n, const char* name, float dflt) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.f();
  return dflt;
}

// A Conv that is a plain matrix-vector product on a [N, C, 1, 1] value: 1x1 kernel, stride 1,
// no padding, no dilation, one group, constant weights [out, in, 1, 1] with `in` == expected.
bool pointwise_conv(const GraphView& v, const onnx::NodeProto& n, std::int64_t in_channels, const Tensor** w, const Tensor** b) {
  if (!is(n, "Conv") || n.input_size() < 2 || n.output_size() != 1) return false;
  for (const auto& a : n.attribute()) {
    if (a.name() == "group" && a.i() != 1) return false;
    if (a.name() == "auto_pad" && a.s() != "NOTSET" && a.s() != "VALID") return false;
    if (a.name() == "pads" || a.name() == "strides" || a.name() == "dilations" || a.name() == "kernel_shape")
      for (auto x : a.ints())
        if (x != (a.name() == "pads" ? 0 : 1)) return false;
  }
  *w = v.constant(n.input(1));
  *b = n.input_size() > 2 && !n.input(2).empty() ? v.constant(n.input(2)) : nullptr;
  if (!*w || (*w)->dtype != DType::kF32 || (*w)->shape.size() != 4 || (*w)->shape[1] != in_channels || (*w)->shape[2] != 1 ||
      (*w)->shape[3] != 1)
    return false;
  if (n.input_size() > 2 && !n.input(2).empty() && (!*b || (*b)->dtype != DType::kF32 || (*b)->numel() != (*w)->shape[0])) return false;
  return true;
}

// Weights per excitation product (C x R) from which the step's threads share the products:
// 64K floats, 256 KiB, about 15 us of streaming on one core (thread_policy.h's threshold).
constexpr double kSharedExciteWeights = 65536;

class SqueezeExciteKernel final : public Kernel {
 public:
  SqueezeExciteKernel(const SqueezeExcite& se, const Shape& logical, std::int64_t channel_block)
      : n_(logical[0]), c_(logical[1]), hw_(logical[2] * logical[3]), r_(se.w1->shape[0]), block_(channel_block),
        activation_(se.activation), gate_(se.gate), alpha_(se.alpha), beta_(se.beta),
        w1_(se.w1->as<float>(), se.w1->as<float>() + se.w1->numel()), w2t_(transposed(se.w2->as<float>(), c_, r_)),
        b1_(se.b1 ? std::vector<float>(se.b1->as<float>(), se.b1->as<float>() + se.b1->numel()) : std::vector<float>(r_, 0.f)),
        b2_(se.b2 ? std::vector<float>(se.b2->as<float>(), se.b2->as<float>() + se.b2->numel()) : std::vector<float>(c_, 0.f)),
        zeros_(static_cast<std::size_t>(c_), 0.f) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) override {
    const auto c = static_cast<std::size_t>(c_), hw = static_cast<std::size_t>(hw_);
    // The two passes over x share the step's threads: the convolution before the block wrote x
    // on every core of the team, and one thread reading all of it pulls the other cores' cache
    // lines. The gain came with the thread policy's weighting (session.cpp), which gives the team
    // to the many mid-sized blocks that ran alone before; the excitation between is tiny.
    const int threads = std::max(1, omp_get_max_threads());
    // Each thread's channel sums start on a cache line of their own: NHWC sums are updated at
    // every pixel, and with C not a multiple of 16 (24, 40, 72, 120 in MobileNetV3/EfficientNet)
    // two threads' sums could share a line. A precaution: EfficientNet-B7 at 2 threads showed no
    // measurable change with it.
    const std::size_t stride = (c + 15) / 16 * 16;
    std::vector<float> storage(static_cast<std::size_t>(threads) * stride + 16), scale(c);
    float* partial = storage.data() + (16 - (reinterpret_cast<std::uintptr_t>(storage.data()) / sizeof(float)) % 16) % 16;
    for (std::int64_t img = 0; img < n_; ++img) {
      const float* x = in[0]->as<float>() + static_cast<std::size_t>(img) * c * hw;
      float* y = out[0]->as<float>() + static_cast<std::size_t>(img) * c * hw;
      // Squeeze: each channel's sum (NHWC: per-thread sums over a share of the pixels, added up
      // after; NCHW: whole channels per thread).
      std::fill(partial, partial + static_cast<std::size_t>(threads) * stride, 0.f);
      const auto b = static_cast<std::size_t>(block_);
      if (block_ != 1 && block_ != c_) {
        // nChw{b}c: c/b blocks of [hw][b], one block per thread at a time.
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
        for (std::size_t j = 0; j < c / b; ++j)
          block_channel_sums(x + j * hw * b, static_cast<std::int64_t>(hw), block_, partial + j * b);
      } else if (block_ == c_) {
#pragma omp parallel num_threads(threads) if (threads > 1)
        {
          float* sum = partial + static_cast<std::size_t>(omp_get_thread_num()) * stride;
#pragma omp for schedule(static)
          for (std::size_t p = 0; p < hw; ++p) {
            const float* px = x + p * c;
#pragma omp simd
            for (std::size_t k = 0; k < c; ++k) sum[k] += px[k];
          }
        }
        for (int t = 1; t < threads; ++t)
          for (std::size_t k = 0; k < c; ++k) partial[k] += partial[static_cast<std::size_t>(t) * stride + k];
      } else {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
        for (std::size_t k = 0; k < c; ++k) {
          float s = 0;
#pragma omp simd reduction(+ : s)
          for (std::size_t p = 0; p < hw; ++p) s += x[k * hw + p];
          partial[k] = s;
        }
      }
      excite(partial, scale.data(), threads);
      // Scale every pixel of each channel.
      if (block_ != 1 && block_ != c_) {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
        for (std::size_t j = 0; j < c / b; ++j)
          block_affine_relu(x + j * hw * b, y + j * hw * b, static_cast<std::int64_t>(hw), block_, scale.data() + j * b, zeros_.data(),
                            false);
      } else if (block_ == c_) {
#pragma omp parallel num_threads(threads) if (threads > 1)
        {
          const auto t = static_cast<std::size_t>(omp_get_thread_num()), team = static_cast<std::size_t>(omp_get_num_threads());
          const std::size_t begin = hw * t / team, end = hw * (t + 1) / team;
          channel_affine_rows(x + begin * c, y + begin * c, static_cast<std::int64_t>(end - begin), c_, scale.data(), zeros_.data());
        }
      } else {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
        for (std::size_t k = 0; k < c; ++k)
          channel_affine_relu(x + k * hw, y + k * hw, 1, hw_, scale.data() + k, zeros_.data(), false);
      }
    }
  }

 private:
  // From the channel sums to the per-channel gate: the mean, two small products, the
  // activation and the gate. The products read 2 x C x R weights, which in wide late stages are
  // megabytes (EfficientNet-B7's 2304-channel blocks: 1.8 MB for a 7x7 map, regnet_y_16gf's
  // 3024-channel one 7.4 MB): from kSharedExciteWeights the step's threads share the rows.
  void excite(const float* sums, float* scale, int threads) const {
    const auto c = static_cast<std::size_t>(c_), r = static_cast<std::size_t>(r_);
    const float inv = 1.f / static_cast<float>(hw_);
    std::vector<float> mean(c), hidden(r);
    for (std::size_t k = 0; k < c; ++k) mean[k] = sums[k] * inv;
    const bool shared = threads > 1 && static_cast<double>(c) * static_cast<double>(r) >= kSharedExciteWeights;
    if (!shared) {
      reduce_rows(mean.data(), hidden.data(), 0, r);
      expand_rows(hidden.data(), scale, 0, c);
      return;
    }
    // Whole row ranges per thread, through the same functions as the serial path (an OpenMP
    // loop around the dot products compiled them 2.3x slower per thread).
#pragma omp parallel num_threads(threads)
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num()), team = static_cast<std::size_t>(omp_get_num_threads());
      reduce_rows(mean.data(), hidden.data(), r * t / team, r * (t + 1) / team);
#pragma omp barrier
      expand_rows(hidden.data(), scale, c * t / team, c * (t + 1) / team);
    }
  }

  // hidden[j] = activation(b1[j] + w1[j, :] . mean) for j in [begin, end).
  void reduce_rows(const float* mean, float* hidden, std::size_t begin, std::size_t end) const {
    const auto c = static_cast<std::size_t>(c_);
    for (std::size_t j = begin; j < end; ++j) {
      float s = b1_[j] + dot_f32(w1_.data() + j * c, mean, c_);
      switch (activation_) {
        case SqueezeExcite::Activation::kRelu: s = std::max(s, 0.f); break;
        case SqueezeExcite::Activation::kSilu: s = s / (1.f + std::exp(-s)); break;
        case SqueezeExcite::Activation::kHardSwish: s = s * std::clamp(s / 6.f + 0.5f, 0.f, 1.f); break;
      }
      hidden[j] = s;
    }
  }

  // scale[k] = gate(b2[k] + w2[k, :] . hidden) for k in [begin, end), as R scaled adds of
  // w2's columns: the rows are only R long (C/4 to C/24), too short for vector dot products.
  void expand_rows(const float* hidden, float* scale, std::size_t begin, std::size_t end) const {
    const auto c = static_cast<std::size_t>(c_), r = static_cast<std::size_t>(r_);
    std::copy(b2_.begin() + static_cast<std::ptrdiff_t>(begin), b2_.begin() + static_cast<std::ptrdiff_t>(end), scale + begin);
    for (std::size_t j = 0; j < r; ++j) axpy_f32(hidden[j], w2t_.data() + j * c + begin, scale + begin, static_cast<std::int64_t>(end - begin));
    for (std::size_t k = begin; k < end; ++k) {
      const float s = scale[k];
      scale[k] = gate_ == SqueezeExcite::Gate::kSigmoid ? 1.f / (1.f + std::exp(-s)) : std::clamp(alpha_ * s + beta_, 0.f, 1.f);
    }
  }

  // [rows, cols] -> [cols, rows].
  static std::vector<float> transposed(const float* w, std::int64_t rows, std::int64_t cols) {
    std::vector<float> t(static_cast<std::size_t>(rows * cols));
    for (std::int64_t i = 0; i < rows; ++i)
      for (std::int64_t j = 0; j < cols; ++j) t[static_cast<std::size_t>(j * rows + i)] = w[i * cols + j];
    return t;
  }

  std::int64_t n_, c_, hw_, r_;
  std::int64_t block_;  // channels stored together per pixel: 1 NCHW, c_ NHWC, else nChw{block_}c
  SqueezeExcite::Activation activation_;
  SqueezeExcite::Gate gate_;
  float alpha_, beta_;
  std::vector<float> w1_, w2t_, b1_, b2_;  // w2t_: w2 transposed, [R, C]
  std::vector<float> zeros_;                // the scale pass's shift: the shared affine loops with none
};

}  // namespace

std::optional<SqueezeExcite> match_squeeze_excite(const GraphView& v, int gap) {
  const auto& g = v.graph;
  auto only_reader = [&](const std::string& name) {
    auto it = v.readers.find(name);
    return v.is_graph_output(name) || it == v.readers.end() || it->second.size() != 1 ? -1 : it->second[0];
  };
  const auto& pool = g.node(gap);
  if (!is(pool, "GlobalAveragePool") || pool.input_size() != 1 || pool.output_size() != 1) return std::nullopt;
  SqueezeExcite se;
  se.input = pool.input(0);
  se.nodes.push_back(gap);
  auto x_readers = v.readers.find(se.input);
  if (x_readers == v.readers.end() || x_readers->second.size() != 2) return std::nullopt;
  // First product: C -> R.
  const int c1 = only_reader(pool.output(0));
  if (c1 < 0) return std::nullopt;
  const Tensor* w1 = nullptr;
  const Tensor* b1 = nullptr;
  const Tensor* w1_probe = v.constant(g.node(c1).input_size() > 1 ? g.node(c1).input(1) : "");
  if (!w1_probe || w1_probe->shape.size() != 4) return std::nullopt;
  const std::int64_t channels = w1_probe->shape[1];
  if (!pointwise_conv(v, g.node(c1), channels, &w1, &b1)) return std::nullopt;
  se.nodes.push_back(c1);
  // Activation: Relu, HardSwish, or SiLU written as x * Sigmoid(x).
  const std::string& h = g.node(c1).output(0);
  std::string activated;
  if (int a = only_reader(h); a >= 0 && (is(g.node(a), "Relu") || is(g.node(a), "HardSwish"))) {
    se.activation = is(g.node(a), "Relu") ? SqueezeExcite::Activation::kRelu : SqueezeExcite::Activation::kHardSwish;
    se.nodes.push_back(a);
    activated = g.node(a).output(0);
  } else {
    auto hr = v.readers.find(h);
    if (v.is_graph_output(h) || hr == v.readers.end() || hr->second.size() != 2) return std::nullopt;
    int sig = -1, mul = -1;
    for (int k : hr->second) {
      if (is(g.node(k), "Sigmoid")) sig = k;
      if (is(g.node(k), "Mul")) mul = k;
    }
    if (sig < 0 || mul < 0 || only_reader(g.node(sig).output(0)) != mul) return std::nullopt;
    const auto& m = g.node(mul);
    if (m.input_size() != 2 || !((m.input(0) == h && m.input(1) == g.node(sig).output(0)) || (m.input(1) == h && m.input(0) == g.node(sig).output(0))))
      return std::nullopt;
    se.activation = SqueezeExcite::Activation::kSilu;
    se.nodes.push_back(sig);
    se.nodes.push_back(mul);
    activated = m.output(0);
  }
  // Second product: R -> C.
  const int c2 = only_reader(activated);
  const Tensor* w2 = nullptr;
  const Tensor* b2 = nullptr;
  if (c2 < 0 || !pointwise_conv(v, g.node(c2), w1->shape[0], &w2, &b2) || w2->shape[0] != channels) return std::nullopt;
  se.nodes.push_back(c2);
  // Gate, then the scaling Mul of x.
  const int gate = only_reader(g.node(c2).output(0));
  if (gate < 0 || !(is(g.node(gate), "Sigmoid") || is(g.node(gate), "HardSigmoid"))) return std::nullopt;
  if (is(g.node(gate), "HardSigmoid")) {
    se.gate = SqueezeExcite::Gate::kHardSigmoid;
    se.alpha = attr_f(g.node(gate), "alpha", 0.2f);
    se.beta = attr_f(g.node(gate), "beta", 0.5f);
  }
  se.nodes.push_back(gate);
  const int scale = only_reader(g.node(gate).output(0));
  if (scale < 0 || !is(g.node(scale), "Mul") || g.node(scale).input_size() != 2) return std::nullopt;
  const auto& s = g.node(scale);
  const std::string& gv = g.node(gate).output(0);
  if (!((s.input(0) == se.input && s.input(1) == gv) || (s.input(1) == se.input && s.input(0) == gv))) return std::nullopt;
  if (std::find(x_readers->second.begin(), x_readers->second.end(), scale) == x_readers->second.end()) return std::nullopt;
  se.nodes.push_back(scale);
  se.output = s.output(0);
  se.w1 = w1;
  se.b1 = b1;
  se.w2 = w2;
  se.b2 = b2;
  return se;
}

std::unique_ptr<Kernel> make_squeeze_excite(const SqueezeExcite& se, const Shape& logical, std::int64_t channel_block) {
  return std::make_unique<SqueezeExciteKernel>(se, logical, channel_block);
}

}  // namespace aifgen::engine

// RNN, LSTM and GRU on the engine (core/engine/kernels/recurrent.cpp, oneDNN's recurrent
// primitives) against a direct evaluation of the ONNX operator definitions written here, gate by
// gate, time step by time step; and the attributes oneDNN cannot express refused clearly.
// bench/recurrent_vs_ort.sh compares the same operators against ONNX Runtime.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <dnnl.hpp>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include <omp.h>

#include "core/base/error.h"
#include "core/engine/kernels/recurrent_rows.h"
#include "core/engine/kernels/rnn_recurrence.h"
#include "core/engine/session.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using namespace aifgen::testing;

constexpr std::int64_t T = 6, N = 2, I = 3, H = 4;

struct Case {
  std::string op;  // RNN | LSTM | GRU
  std::string direction = "forward";
  bool initial_state = false;
  bool peephole = false;
  bool linear_before_reset = false;
  std::string activation;  // RNN only; empty: Tanh
  std::int64_t steps = T;
  std::int64_t hidden = H;
  bool constant_lens = false;  // a sequence_lens initializer of `steps` for every batch row
};

int gates(const std::string& op) { return op == "LSTM" ? 4 : op == "GRU" ? 3 : 1; }
std::int64_t directions(const Case& c) { return c.direction == "bidirectional" ? 2 : 1; }

onnx::ModelProto recurrent_model(const Case& c) {
  const std::int64_t D = directions(c), G = gates(c.op), H = c.hidden;
  auto m = empty_model("recurrent");
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("X", onnx::TensorProto::FLOAT, {std::to_string(c.steps), std::to_string(N), std::to_string(I)});
  *g->add_initializer() = random_tensor("W", {D, G * H, I}, 11, -0.7f, 0.7f);
  *g->add_initializer() = random_tensor("R", {D, G * H, H}, 12, -0.7f, 0.7f);
  *g->add_initializer() = random_tensor("B", {D, 2 * G * H}, 13, -0.4f, 0.4f);
  std::vector<std::string> in = {"X", "W", "R", "B", "", "", "", ""};
  if (c.constant_lens) {
    onnx::TensorProto lens;
    lens.set_name("lens");
    lens.set_data_type(onnx::TensorProto::INT32);
    lens.add_dims(N);
    for (std::int64_t k = 0; k < N; ++k) lens.add_int32_data(static_cast<std::int32_t>(c.steps));
    *g->add_initializer() = lens;
    in[4] = "lens";
  }
  if (c.initial_state) {
    *g->add_initializer() = random_tensor("h0", {D, N, H}, 14, -0.5f, 0.5f);
    in[5] = "h0";
    if (c.op == "LSTM") {
      *g->add_initializer() = random_tensor("c0", {D, N, H}, 15, -0.5f, 0.5f);
      in[6] = "c0";
    }
  }
  if (c.peephole) {
    *g->add_initializer() = random_tensor("P", {D, 3 * H}, 16, -0.5f, 0.5f);
    in[7] = "P";
  }
  while (!in.empty() && in.back().empty()) in.pop_back();
  std::vector<std::string> out = {"Y", "Y_h"};
  if (c.op == "LSTM") out.push_back("Y_c");
  for (const auto& o : out) *g->add_output() = tensor_value(o, onnx::TensorProto::FLOAT, {});
  auto n = node(c.op, in, out, "cell");
  add_int_attr(n, "hidden_size", H);
  auto* dir = n.add_attribute();
  dir->set_name("direction");
  dir->set_type(onnx::AttributeProto::STRING);
  dir->set_s(c.direction);
  if (c.linear_before_reset) add_int_attr(n, "linear_before_reset", 1);
  if (!c.activation.empty()) {
    auto* a = n.add_attribute();
    a->set_name("activations");
    a->set_type(onnx::AttributeProto::STRINGS);
    for (std::int64_t d = 0; d < D; ++d) a->add_strings(c.activation);
  }
  *g->add_node() = n;
  return m;
}

std::vector<float> values_of(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) {
      auto v = engine::tensor_from_proto(t);
      return {v.as<float>(), v.as<float>() + v.numel()};
    }
  return {};
}

float sigmoid(float x) { return 1.f / (1.f + std::exp(-x)); }

// The ONNX definitions (onnx/docs/Operators.md, RNN / LSTM / GRU), evaluated directly. Gate
// blocks in W, R, B as ONNX orders them: LSTM i, o, f, c; GRU z, r, h; peepholes i, o, f.
struct Reference {
  std::vector<float> y, y_h, y_c;  // [T, D, N, H], [D, N, H], [D, N, H]
};

Reference evaluate(const Case& c, const onnx::ModelProto& m, const std::vector<float>& x) {
  const std::int64_t D = directions(c), G = gates(c.op), H = c.hidden;
  const auto W = values_of(m, "W"), R = values_of(m, "R"), B = values_of(m, "B"), h0 = values_of(m, "h0"), c0 = values_of(m, "c0"),
             P = values_of(m, "P");
  Reference ref;
  const std::int64_t T = c.steps;
  ref.y.assign(static_cast<std::size_t>(T * D * N * H), 0.f);
  ref.y_h.assign(static_cast<std::size_t>(D * N * H), 0.f);
  ref.y_c.assign(static_cast<std::size_t>(D * N * H), 0.f);
  auto act = [&](float v) {
    if (c.activation == "Relu") return std::max(v, 0.f);
    if (c.activation == "Sigmoid") return sigmoid(v);
    return std::tanh(v);
  };
  for (std::int64_t d = 0; d < D; ++d) {
    const bool backward = c.direction == "reverse" || d == 1;
    const float* w = W.data() + d * G * H * I;
    const float* r = R.data() + d * G * H * H;
    const float* wb = B.data() + d * 2 * G * H;
    const float* rb = wb + G * H;
    for (std::int64_t n = 0; n < N; ++n) {
      std::vector<float> h(static_cast<std::size_t>(H), 0.f), cell(static_cast<std::size_t>(H), 0.f);
      if (!h0.empty())
        for (std::int64_t k = 0; k < H; ++k) h[k] = h0[(d * N + n) * H + k];
      if (!c0.empty())
        for (std::int64_t k = 0; k < H; ++k) cell[k] = c0[(d * N + n) * H + k];
      for (std::int64_t s = 0; s < T; ++s) {
        const std::int64_t t = backward ? T - 1 - s : s;
        const float* xt = x.data() + (t * N + n) * I;
        // gate g, unit k: x.W^T + Wb and h.R^T + Rb, apart (linear_before_reset needs them apart)
        auto xw = [&](std::int64_t g, std::int64_t k) {
          float v = wb[g * H + k];
          for (std::int64_t i = 0; i < I; ++i) v += xt[i] * w[(g * H + k) * I + i];
          return v;
        };
        auto hr = [&](std::int64_t g, std::int64_t k, const std::vector<float>& hv) {
          float v = rb[g * H + k];
          for (std::int64_t j = 0; j < H; ++j) v += hv[j] * r[(g * H + k) * H + j];
          return v;
        };
        std::vector<float> next(static_cast<std::size_t>(H)), next_c(static_cast<std::size_t>(H));
        for (std::int64_t k = 0; k < H; ++k) {
          if (c.op == "RNN") {
            next[k] = act(xw(0, k) + hr(0, k, h));
          } else if (c.op == "LSTM") {
            const float pi = P.empty() ? 0.f : P[d * 3 * H + k], po = P.empty() ? 0.f : P[d * 3 * H + H + k],
                        pf = P.empty() ? 0.f : P[d * 3 * H + 2 * H + k];
            const float i_g = sigmoid(xw(0, k) + hr(0, k, h) + pi * cell[k]);
            const float f_g = sigmoid(xw(2, k) + hr(2, k, h) + pf * cell[k]);
            const float c_g = std::tanh(xw(3, k) + hr(3, k, h));
            next_c[k] = f_g * cell[k] + i_g * c_g;
            const float o_g = sigmoid(xw(1, k) + hr(1, k, h) + po * next_c[k]);
            next[k] = o_g * std::tanh(next_c[k]);
          } else {
            const float z = sigmoid(xw(0, k) + hr(0, k, h));
            float cand;
            if (c.linear_before_reset) {
              const float rg = sigmoid(xw(1, k) + hr(1, k, h));
              cand = std::tanh(xw(2, k) + rg * hr(2, k, h));
            } else {
              std::vector<float> rh(static_cast<std::size_t>(H));
              for (std::int64_t j = 0; j < H; ++j) rh[j] = sigmoid(xw(1, j) + hr(1, j, h)) * h[j];
              cand = std::tanh(xw(2, k) + hr(2, k, rh));
            }
            next[k] = (1 - z) * cand + z * h[k];
          }
        }
        h = next;
        if (c.op == "LSTM") cell = next_c;
        for (std::int64_t k = 0; k < H; ++k) ref.y[((t * D + d) * N + n) * H + k] = h[k];
      }
      for (std::int64_t k = 0; k < H; ++k) {
        ref.y_h[(d * N + n) * H + k] = h[k];
        ref.y_c[(d * N + n) * H + k] = cell[k];
      }
    }
  }
  return ref;
}

double max_diff(const engine::Tensor& got, const std::vector<float>& want) {
  EXPECT_EQ(static_cast<std::size_t>(got.numel()), want.size());
  double d = 0;
  for (std::size_t i = 0; i < want.size() && i < static_cast<std::size_t>(got.numel()); ++i)
    d = std::max(d, std::abs(static_cast<double>(got.as<float>()[i]) - want[i]));
  return d;
}

TEST(EngineRecurrent, EveryCellAndDirectionMatchesTheOnnxDefinition) {
  const std::vector<Case> cases = {
      {"RNN"},
      {"RNN", "reverse", true, false, false, "Relu"},
      {"RNN", "bidirectional", false, false, false, "Sigmoid"},
      {"LSTM"},
      {"LSTM", "reverse", true},
      {"LSTM", "bidirectional", true, true},
      {"GRU"},
      {"GRU", "forward", true, false, true},
      {"GRU", "bidirectional", true, false, false},
      {"GRU", "bidirectional", false, false, true},
  };
  // Both kernels, forced (GRU without linear_before_reset stays on oneDNN either way), and the
  // one that times faster at planning.
  using engine::RecurrenceKernel;
  for (const auto kernel : {RecurrenceKernel::kEngine, RecurrenceKernel::kOneDnn, RecurrenceKernel::kMeasured})
  for (const auto& c : cases) {
    const std::string what = std::string(kernel == RecurrenceKernel::kMeasured ? "timed choice: "
                                         : kernel == RecurrenceKernel::kEngine ? "engine's recurrence: "
                                                                               : "oneDNN: ") + c.op + " " + c.direction + (c.initial_state ? " h0" : "") +
                             (c.peephole ? " peephole" : "") + (c.linear_before_reset ? " lbr" : "") + (c.activation.empty() ? "" : " " + c.activation);
    const auto m = recurrent_model(c);
    auto x = engine::Tensor::allocate(engine::DType::kF32, {T, N, I});
    for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.9f * static_cast<float>(i)) * 1.5f;
    engine::SessionOptions o;
    o.recurrence = kernel;
    engine::Session s(m, o);
    if (kernel != RecurrenceKernel::kMeasured) {
      EXPECT_EQ(s.engine_recurrences(), kernel == RecurrenceKernel::kEngine && (c.op != "GRU" || c.linear_before_reset) ? 1u : 0u) << what;
    }
    const auto out = s.run({x});
    const auto ref = evaluate(c, m, std::vector<float>(x.as<float>(), x.as<float>() + x.numel()));
    ASSERT_EQ(out.size(), c.op == "LSTM" ? 3u : 2u) << what;
    EXPECT_EQ(out[0].shape, (engine::Shape{T, directions(c), N, H})) << what;
    EXPECT_LT(max_diff(out[0], ref.y), 1e-5) << what << ": Y";
    EXPECT_LT(max_diff(out[1], ref.y_h), 1e-5) << what << ": Y_h";
    if (c.op == "LSTM") {
      EXPECT_LT(max_diff(out[2], ref.y_c), 1e-5) << what << ": Y_c";
    }
  }
}

// A layer longer than the planning trial's kTrialSteps (32) is timed on shortened copies of both
// kernels and the winner built again for the whole sequence: every one of its steps must be
// computed, whichever kernel won, and a constant sequence_lens (the whole length) must not
// trip the shortened copies.
TEST(EngineRecurrent, ALayerLongerThanTheTimingTrialRunsEveryStep) {
  for (const std::string op : {"LSTM", "GRU", "RNN"}) {
    Case c{op, "bidirectional", true, op == "LSTM", op == "GRU"};
    c.steps = 45;
    c.constant_lens = true;
    const auto m = recurrent_model(c);
    auto x = engine::Tensor::allocate(engine::DType::kF32, {c.steps, N, I});
    for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::cos(0.7f * static_cast<float>(i));
    engine::SessionOptions o;
    o.recurrence = engine::RecurrenceKernel::kMeasured;
    engine::Session s(m, o);
    const auto out = s.run({x});
    const auto ref = evaluate(c, m, std::vector<float>(x.as<float>(), x.as<float>() + x.numel()));
    ASSERT_EQ(out[0].shape, (engine::Shape{c.steps, 2, N, H})) << op;
    EXPECT_LT(max_diff(out[0], ref.y), 1e-5) << op << ": Y";
    EXPECT_LT(max_diff(out[1], ref.y_h), 1e-5) << op << ": Y_h";
  }
}

// On a team of two, a bidirectional layer on the engine's recurrence runs its two directions
// side by side, one per thread. Each direction's arithmetic is the same as on one thread, so the
// values must be exactly the 1-thread session's, and the LSTM's and GRU's the ONNX definition's within 1e-4. (A
// MatMul of 201M multiply-adds beside the layer, above worth_a_thread_team's bound, makes the
// session keep its team without racing it against one thread; hidden 256, 512 for the RNN, gives the layer's step enough work for the team.)
TEST(EngineRecurrent, ABidirectionalLayerOnTwoThreadsGivesTheOneThreadValues) {
  if (omp_get_num_procs() < 2) GTEST_SKIP() << "one CPU available to this process: a 2-thread session is not kept";
  for (const std::string op : {"LSTM", "GRU", "RNN"}) {
    Case c{op, "bidirectional", true, op == "LSTM", op == "GRU"};
    c.hidden = op == "RNN" ? 512 : 256;  // one gate: twice the hidden units for the same work a step
    c.steps = 9;
    auto m = recurrent_model(c);
    auto* g = m.mutable_graph();
    *g->add_input() = tensor_value("Z", onnx::TensorProto::FLOAT, {"96", "1024"});
    *g->add_initializer() = random_tensor("Wz", {1024, 2048}, 31, -0.1f, 0.1f);
    *g->add_node() = node("MatMul", {"Z", "Wz"}, {"Yz"});
    *g->add_output() = tensor_value("Yz", onnx::TensorProto::FLOAT, {});
    auto x = engine::Tensor::allocate(engine::DType::kF32, {c.steps, N, I});
    for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.3f * static_cast<float>(i));
    auto z = engine::Tensor::allocate(engine::DType::kF32, {96, 1024});
    std::vector<std::vector<engine::Tensor>> outs;
    std::vector<int> layer_threads;
    for (int threads : {1, 2}) {
      engine::SessionOptions o;
      o.threads = threads;
      o.profile = true;
      o.recurrence = engine::RecurrenceKernel::kEngine;
      engine::Session s(m, o);
      outs.push_back(s.run({x, z}));
      for (const auto& step : s.step_profile())
        if (step.op == op) layer_threads.push_back(step.threads);
    }
    ASSERT_EQ(layer_threads, (std::vector<int>{1, 2})) << op;
    const auto ref = evaluate(c, m, std::vector<float>(x.as<float>(), x.as<float>() + x.numel()));
    // (The RNN's 512 tanh units over R in [-0.7, 0.7] saturate and amplify float rounding, 4e-3
    // in 9 steps, so only its equality with one thread is asked.)
    if (op != "RNN") {
      EXPECT_LT(max_diff(outs[1][0], ref.y), 1e-4) << op << ": Y";  // 256-term float sums
    }
    for (std::size_t k = 0; k + 1 < outs[0].size(); ++k) {  // Y, Y_h (and Y_c), not the MatMul's
      ASSERT_EQ(outs[0][k].numel(), outs[1][k].numel()) << op;
      EXPECT_EQ(std::memcmp(outs[0][k].data, outs[1][k].data, outs[0][k].bytes()), 0) << op << ": output " << k;
    }
  }
}

// layout = 1 (batch-major X [N, T, I], Y [N, T, D, H], states [N, D, H]) gives the transposes of
// layout 0's results for the transposed input and states.
TEST(EngineRecurrent, BatchMajorLayoutIsTheTransposeOfSequenceMajor) {
  for (const bool own : {true, false})
  for (const std::string op : {"LSTM", "GRU", "RNN"}) {
    engine::SessionOptions o;
    o.recurrence = own ? engine::RecurrenceKernel::kEngine : engine::RecurrenceKernel::kOneDnn;
    Case c{op, "bidirectional", true, op == "LSTM", op == "GRU"};
    const auto seq = recurrent_model(c);
    auto batch = seq;
    auto* g = batch.mutable_graph();
    add_int_attr(*g->mutable_node(0), "layout", 1);
    *g->mutable_input(0) = tensor_value("X", onnx::TensorProto::FLOAT, {std::to_string(N), std::to_string(T), std::to_string(I)});
    for (auto& t : *g->mutable_initializer()) {
      if (t.name() != "h0" && t.name() != "c0") continue;
      auto v = engine::tensor_from_proto(t);  // [D, N, H] -> [N, D, H]
      std::vector<float> tr(static_cast<std::size_t>(v.numel()));
      for (std::int64_t d = 0; d < 2; ++d)
        for (std::int64_t n = 0; n < N; ++n)
          for (std::int64_t k = 0; k < H; ++k) tr[(n * 2 + d) * H + k] = v.as<float>()[(d * N + n) * H + k];
      t = float_tensor(t.name(), {N, 2, H}, tr);
    }
    auto x = engine::Tensor::allocate(engine::DType::kF32, {T, N, I});
    for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::cos(0.7f * static_cast<float>(i));
    auto xb = engine::Tensor::allocate(engine::DType::kF32, {N, T, I});
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t i = 0; i < I; ++i) xb.as<float>()[(n * T + t) * I + i] = x.as<float>()[(t * N + n) * I + i];
    engine::Session s_seq(seq, o), s_batch(batch, o);
    const auto a = s_seq.run({x}), b = s_batch.run({xb});
    ASSERT_EQ(b[0].shape, (engine::Shape{N, T, 2, H})) << op;
    double worst = 0;
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t d = 0; d < 2; ++d)
        for (std::int64_t n = 0; n < N; ++n)
          for (std::int64_t k = 0; k < H; ++k)
            worst = std::max(worst, std::abs(static_cast<double>(a[0].as<float>()[((t * 2 + d) * N + n) * H + k]) -
                                             b[0].as<float>()[((n * T + t) * 2 + d) * H + k]));
    for (std::size_t o_ = 1; o_ < a.size(); ++o_) {
      ASSERT_EQ(b[o_].shape, (engine::Shape{N, 2, H})) << op;
      for (std::int64_t d = 0; d < 2; ++d)
        for (std::int64_t n = 0; n < N; ++n)
          for (std::int64_t k = 0; k < H; ++k)
            worst = std::max(worst, std::abs(static_cast<double>(a[o_].as<float>()[(d * N + n) * H + k]) - b[o_].as<float>()[(n * 2 + d) * H + k]));
    }
    EXPECT_LT(worst, 1e-6) << op << (own ? " (engine's recurrence)" : " (oneDNN)");
  }
}

// A vanilla RNN of a batch of at most 4 with constant weights can run on the engine's own
// recurrence (X W^T for every step as one matmul, each step's R h as dot products split over the
// threads); a larger batch runs on oneDNN's RNN primitive. DeepSpeech's shape, smaller: both
// directions, ReLU, an initial state; each row of a batch of 5 (oneDNN) against the same row
// alone (the engine's recurrence at 1 and at 2 threads, its rows shared by the threads).
TEST(EngineRecurrent, TheSmallBatchRecurrenceMatchesOneDnnsOnTheSameRows) {
  constexpr std::int64_t steps = 7, inputs = 16, hidden = 320, batch = 5;
  auto model = [&](std::int64_t n) {
    auto m = empty_model("rnn");
    auto* g = m.mutable_graph();
    *g->add_input() = tensor_value("X", onnx::TensorProto::FLOAT, {std::to_string(steps), std::to_string(n), std::to_string(inputs)});
    *g->add_input() = tensor_value("h0", onnx::TensorProto::FLOAT, {"2", std::to_string(n), std::to_string(hidden)});
    *g->add_initializer() = random_tensor("W", {2, hidden, inputs}, 21, -0.3f, 0.3f);
    *g->add_initializer() = random_tensor("R", {2, hidden, hidden}, 22, -0.08f, 0.08f);
    *g->add_initializer() = random_tensor("B", {2, 2 * hidden}, 23, -0.2f, 0.2f);
    auto r = node("RNN", {"X", "W", "R", "B", "", "h0"}, {"Y", "Y_h"}, "cell");
    add_int_attr(r, "hidden_size", hidden);
    auto* dir = r.add_attribute();
    dir->set_name("direction");
    dir->set_type(onnx::AttributeProto::STRING);
    dir->set_s("bidirectional");
    auto* act = r.add_attribute();
    act->set_name("activations");
    act->set_type(onnx::AttributeProto::STRINGS);
    act->add_strings("Relu");
    act->add_strings("Relu");
    *g->add_node() = r;
    *g->add_output() = tensor_value("Y", onnx::TensorProto::FLOAT, {});
    *g->add_output() = tensor_value("Y_h", onnx::TensorProto::FLOAT, {});
    return m;
  };
  auto x = engine::Tensor::allocate(engine::DType::kF32, {steps, batch, inputs});
  for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin(0.37f * static_cast<float>(i)) * 2.f;
  auto h0 = engine::Tensor::allocate(engine::DType::kF32, {2, batch, hidden});
  for (std::int64_t i = 0; i < h0.numel(); ++i) h0.as<float>()[i] = std::cos(0.11f * static_cast<float>(i));
  engine::Session whole(model(batch), {});
  const auto all = whole.run({x, h0});
  ASSERT_EQ(all[0].shape, (engine::Shape{steps, 2, batch, hidden}));
  for (const int threads : {1, 2}) {
    engine::SessionOptions o;
    o.threads = threads;
    o.recurrence = engine::RecurrenceKernel::kEngine;  // not left to timing: this test is about that kernel
    engine::Session one(model(1), o);
    ASSERT_EQ(one.engine_recurrences(), 1u);
    double worst = 0, scale = 0;
    std::int64_t positive = 0;
    for (std::int64_t n = 0; n < batch; ++n) {
      auto xn = engine::Tensor::allocate(engine::DType::kF32, {steps, 1, inputs});
      for (std::int64_t t = 0; t < steps; ++t)
        for (std::int64_t i = 0; i < inputs; ++i) xn.as<float>()[t * inputs + i] = x.as<float>()[(t * batch + n) * inputs + i];
      auto hn = engine::Tensor::allocate(engine::DType::kF32, {2, 1, hidden});
      for (std::int64_t d = 0; d < 2; ++d)
        for (std::int64_t k = 0; k < hidden; ++k) hn.as<float>()[d * hidden + k] = h0.as<float>()[(d * batch + n) * hidden + k];
      const auto row = one.run({xn, hn});
      for (std::int64_t t = 0; t < steps; ++t)
        for (std::int64_t d = 0; d < 2; ++d)
          for (std::int64_t k = 0; k < hidden; ++k) {
            const float want = all[0].as<float>()[((t * 2 + d) * batch + n) * hidden + k];
            worst = std::max(worst, std::abs(static_cast<double>(row[0].as<float>()[(t * 2 + d) * hidden + k]) - want));
            scale = std::max(scale, std::abs(static_cast<double>(want)));
            positive += want > 0;
          }
      for (std::int64_t d = 0; d < 2; ++d)
        for (std::int64_t k = 0; k < hidden; ++k)
          worst = std::max(worst, std::abs(static_cast<double>(row[1].as<float>()[d * hidden + k]) - all[1].as<float>()[(d * batch + n) * hidden + k]));
    }
    EXPECT_GT(positive, steps * 2 * hidden);  // the ReLU passes much and stops much: not a trivial run
    EXPECT_GT(scale, 0.5);
    EXPECT_LT(worst, 1e-5 * scale) << threads << " threads";
  }
}

// Session::run may be called from several threads at once: two threads running a layer on the
// engine's recurrence (an LSTM with an initial state, batch 2) with different inputs each get
// exactly what a run alone gives for theirs.
TEST(EngineRecurrent, ConcurrentRunsOfTheEnginesRecurrenceKeepTheirOwnRows) {
  Case c{"LSTM", "bidirectional", true, true};
  engine::SessionOptions o;
  o.recurrence = engine::RecurrenceKernel::kEngine;
  engine::Session s(recurrent_model(c), o);
  ASSERT_EQ(s.engine_recurrences(), 1u);
  std::vector<engine::Tensor> inputs;
  std::vector<std::vector<engine::Tensor>> alone;
  for (int k = 0; k < 2; ++k) {
    auto x = engine::Tensor::allocate(engine::DType::kF32, {T, N, I});
    for (std::int64_t i = 0; i < x.numel(); ++i) x.as<float>()[i] = std::sin((0.9f + 0.4f * static_cast<float>(k)) * static_cast<float>(i));
    alone.push_back(s.run({x}));
    inputs.push_back(std::move(x));
  }
  std::vector<int> mismatches(2, 0);
  std::vector<std::thread> runners;
  for (int k = 0; k < 2; ++k)
    runners.emplace_back([&, k] {
      for (int rep = 0; rep < 200; ++rep) {
        const auto out = s.run({inputs[static_cast<std::size_t>(k)]});
        for (std::size_t o = 0; o < out.size(); ++o)
          if (std::memcmp(out[o].data, alone[static_cast<std::size_t>(k)][o].data, out[o].bytes()) != 0) ++mismatches[static_cast<std::size_t>(k)];
      }
    });
  for (auto& r : runners) r.join();
  EXPECT_EQ(mismatches[0], 0);
  EXPECT_EQ(mismatches[1], 0);
}

// The recurrence on a team of two (a session this small keeps one thread, so it is called
// directly), for each cell: every unit of every step, each thread's share and the tail that is
// not a multiple of four units included, against the cell equations computed here in double.
TEST(EngineRecurrent, TheRecurrenceSharedByTwoThreadsComputesEveryUnitOfEveryStep) {
  using engine::RecurrenceCell;
  using engine::RecurrentActivation;
  constexpr std::int64_t hidden = 203, batch = 3, steps = 5;
  struct Variant {
    RecurrenceCell cell;
    RecurrentActivation activation;
  };
  for (const Variant v : {Variant{RecurrenceCell::kRnn, RecurrentActivation::kTanh}, Variant{RecurrenceCell::kRnn, RecurrentActivation::kRelu},
                          Variant{RecurrenceCell::kRnn, RecurrentActivation::kSigmoid}, Variant{RecurrenceCell::kLstm, RecurrentActivation::kTanh},
                          Variant{RecurrenceCell::kGru, RecurrentActivation::kTanh}}) {
    const std::int64_t G = engine::gates_of(v.cell), GH = G * hidden;
    std::vector<float> r(static_cast<std::size_t>(GH * hidden)), products(static_cast<std::size_t>(steps * batch * GH));
    std::vector<float> extras(static_cast<std::size_t>(3 * hidden)), gates(static_cast<std::size_t>(batch * GH), NAN);
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = 0.1f * std::sin(0.37f * static_cast<float>(i));
    for (std::size_t i = 0; i < products.size(); ++i) products[i] = std::cos(0.23f * static_cast<float>(i));
    for (std::size_t i = 0; i < extras.size(); ++i) extras[i] = 0.3f * std::sin(0.61f * static_cast<float>(i) + 1.f);
    std::vector<float> out(static_cast<std::size_t>(steps * batch * hidden), NAN), h(static_cast<std::size_t>(batch * hidden)),
        spare(h.size(), NAN), c(h.size());
    for (std::size_t i = 0; i < h.size(); ++i) h[i] = 0.5f * std::sin(static_cast<float>(i)), c[i] = 0.8f * std::cos(static_cast<float>(i));
    std::vector<double> want(h.begin(), h.end()), want_c(c.begin(), c.end());
    std::vector<const float*> in_rows;
    std::vector<float*> out_rows;
    for (std::int64_t k = 0; k < steps * batch; ++k) {
      in_rows.push_back(products.data() + k * GH);
      out_rows.push_back(out.data() + k * hidden);
    }
    engine::RnnRecurrence rnn;
    rnn.cell = v.cell;
    rnn.r = r.data();
    rnn.hidden = hidden, rnn.batch = batch, rnn.steps = steps;
    rnn.products = in_rows.data();
    rnn.outputs = out_rows.data();
    rnn.activation = v.activation;
    rnn.peepholes = extras.data();
    rnn.candidate_bias = extras.data();
    rnn.cell_state = c.data();
    rnn.gates = gates.data();
    const int before = omp_get_max_threads();
    omp_set_num_threads(2);
    const float* last = engine::run_rnn_recurrence(rnn, h.data(), spare.data(), true);
    omp_set_num_threads(before);

    auto sigmoid = [](double x) { return 1 / (1 + std::exp(-x)); };
    double worst = 0;
    for (std::int64_t s = 0; s < steps; ++s) {
      std::vector<double> next(want.size());
      for (std::int64_t n = 0; n < batch; ++n) {
        const float* p = products.data() + (s * batch + n) * GH;
        auto rh = [&](std::int64_t row) {  // (R h_{t-1})[row]
          double acc = 0;
          for (std::int64_t i = 0; i < hidden; ++i) acc += static_cast<double>(r[static_cast<std::size_t>(row * hidden + i)]) * want[static_cast<std::size_t>(n * hidden + i)];
          return acc;
        };
        for (std::int64_t o = 0; o < hidden; ++o) {
          const auto k = static_cast<std::size_t>(n * hidden + o);
          double value = 0;
          if (v.cell == RecurrenceCell::kRnn) {
            const double x = p[o] + rh(o);
            value = v.activation == RecurrentActivation::kRelu ? std::max(0.0, x) : v.activation == RecurrentActivation::kSigmoid ? sigmoid(x) : std::tanh(x);
          } else if (v.cell == RecurrenceCell::kLstm) {  // gates i, o, f, c; peepholes i, o, f
            const double prev_c = want_c[k];
            const double i = sigmoid(p[o] + rh(o) + extras[static_cast<std::size_t>(o)] * prev_c);
            const double f = sigmoid(p[2 * hidden + o] + rh(2 * hidden + o) + extras[static_cast<std::size_t>(2 * hidden + o)] * prev_c);
            const double cell = f * prev_c + i * std::tanh(p[3 * hidden + o] + rh(3 * hidden + o));
            const double og = sigmoid(p[hidden + o] + rh(hidden + o) + extras[static_cast<std::size_t>(hidden + o)] * cell);
            want_c[k] = cell;
            value = og * std::tanh(cell);
          } else {  // GRU, linear before reset: gates z, r, h; R's candidate bias in extras
            const double z = sigmoid(p[o] + rh(o)), reset = sigmoid(p[hidden + o] + rh(hidden + o));
            const double candidate = std::tanh(p[2 * hidden + o] + reset * (rh(2 * hidden + o) + extras[static_cast<std::size_t>(o)]));
            value = (1 - z) * candidate + z * want[k];
          }
          next[k] = value;
          worst = std::max(worst, std::abs(out[static_cast<std::size_t>((s * batch + n) * hidden + o)] - value));  // NaN fails too
        }
      }
      want = next;
    }
    for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(last[i] - want[i]));
    if (v.cell == RecurrenceCell::kLstm)
      for (std::size_t i = 0; i < want_c.size(); ++i) worst = std::max(worst, std::abs(c[i] - want_c[i]));
    EXPECT_LT(worst, 1e-5) << "cell " << static_cast<int>(v.cell) << ", activation " << static_cast<int>(v.activation);
  }
}

// The rows' vector versions: every row count around the row blocks, every column count around
// the 8- and 16-wide loops and their masked or scalar tails, and every batch from 1 to 5 (a
// group of four and one more), from weights that start off a cache line, against the definition
// in double. Also run under DNNL_MAX_CPU_ISA=AVX2 (the engine_avx2 test), which selects the AVX2
// version.
TEST(EngineRecurrent, TheRecurrentRowsMatchDoubleAtEveryTailLength) {
  const auto cap = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto has = [&](dnnl::cpu_isa level) { return (cap & static_cast<unsigned>(level)) == static_cast<unsigned>(level); };
  const std::string isa = engine::recurrent_rows_isa();
#if defined(__x86_64__)
  EXPECT_EQ(isa, has(dnnl::cpu_isa::avx512_core) ? "avx512" : has(dnnl::cpu_isa::avx2) ? "avx2" : "scalar");
#endif
  using engine::RecurrentActivation;
  double worst = 0;
  std::string where;
  for (std::int64_t batch = 1; batch <= 5; ++batch)
    for (std::int64_t k = 1; k <= 40; ++k)
      for (std::int64_t rows = 1; rows <= 17; ++rows) {
        std::vector<float> storage(static_cast<std::size_t>(rows * k + 1)), x(static_cast<std::size_t>(batch * k)),
            add(static_cast<std::size_t>(batch * rows));
        const float* w = storage.data() + 1;  // off the allocation's alignment
        for (std::size_t i = 0; i < storage.size(); ++i) storage[i] = std::sin(0.71f * static_cast<float>(i) + static_cast<float>(k));
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.37f * static_cast<float>(i));
        for (std::size_t i = 0; i < add.size(); ++i) add[i] = 0.25f * static_cast<float>(i % 9) - 1.f;
        for (const auto act : {RecurrentActivation::kTanh, RecurrentActivation::kRelu, RecurrentActivation::kSigmoid, RecurrentActivation::kNone}) {
          std::vector<float> y(add.size(), NAN);
          std::vector<const float*> adds;
          std::vector<float*> ys;
          for (std::int64_t n = 0; n < batch; ++n) {
            adds.push_back(add.data() + n * rows);
            ys.push_back(y.data() + n * rows);
          }
          engine::recurrent_rows(w, k, rows, x.data(), batch, adds.data(), ys.data(), act);
          for (std::int64_t n = 0; n < batch; ++n)
            for (std::int64_t r = 0; r < rows; ++r) {
              double v = add[static_cast<std::size_t>(n * rows + r)];
              for (std::int64_t i = 0; i < k; ++i) v += static_cast<double>(w[r * k + i]) * x[static_cast<std::size_t>(n * k + i)];
              v = act == RecurrentActivation::kRelu      ? std::max(0.0, v)
                  : act == RecurrentActivation::kSigmoid ? 1 / (1 + std::exp(-v))
                  : act == RecurrentActivation::kTanh    ? std::tanh(v)
                                                         : v;
              const double err = std::abs(y[static_cast<std::size_t>(n * rows + r)] - v) / (1 + std::abs(v));
              if (!(err <= worst)) {  // NaN (a row never written) is kept too
                worst = err;
                where = "batch " + std::to_string(batch) + ", k " + std::to_string(k) + ", rows " + std::to_string(rows) + ", row " +
                        std::to_string(r) + " of batch row " + std::to_string(n);
              }
            }
        }
      }
  EXPECT_LT(worst, 1e-5) << where << " (" << isa << ")";
}

TEST(EngineRecurrent, WhatOneDnnCannotComputeIsRefusedByName) {
  auto refused = [](const std::function<void(onnx::ModelProto&)>& edit, const std::string& mentions) {
    auto m = recurrent_model({"LSTM"});
    edit(m);
    try {
      engine::Session s(m, {});
      ADD_FAILURE() << "planned: " << mentions;
    } catch (const Error& e) {
      EXPECT_EQ(e.type(), "engine-unsupported") << e.what();
      EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
    }
  };
  refused([](onnx::ModelProto& m) { add_float_attr(*m.mutable_graph()->mutable_node(0), "clip", 3.f); }, "clip");
  refused([](onnx::ModelProto& m) { add_int_attr(*m.mutable_graph()->mutable_node(0), "input_forget", 1); }, "input_forget");
  refused(
      [](onnx::ModelProto& m) {
        auto* a = m.mutable_graph()->mutable_node(0)->add_attribute();
        a->set_name("activations");
        a->set_type(onnx::AttributeProto::STRINGS);
        for (const char* s : {"HardSigmoid", "Tanh", "Tanh"}) a->add_strings(s);
      },
      "activations");
  refused(
      [](onnx::ModelProto& m) {
        auto* g = m.mutable_graph();
        onnx::TensorProto lens;
        lens.set_name("lens");
        lens.set_data_type(onnx::TensorProto::INT32);
        lens.add_dims(N);
        for (std::int64_t k = 0; k < N; ++k) lens.add_int32_data(static_cast<std::int32_t>(T - k));
        *g->add_initializer() = lens;
        auto* n = g->mutable_node(0);
        while (n->input_size() < 5) n->add_input("");
        n->set_input(4, "lens");
      },
      "sequence_lens");
}

}  // namespace
}  // namespace aifgen

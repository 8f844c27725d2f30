// RNN, LSTM and GRU (ONNX opset 7 and 14, float32) on oneDNN's recurrent primitives
// (vanilla_rnn_forward, lstm_forward, gru_forward, lbr_gru_forward; oneDNN v2.6 developer guide,
// "RNN"). ONNX and oneDNN agree on the cell equations; they differ in where things are:
//   - gate order: ONNX LSTM i,o,f,c against oneDNN i,f,c,o; LSTM peepholes i,o,f against i,f,o;
//     GRU z,r,h against u,r,o (the same order);
//   - weights: ONNX W [D, G*H, I] and R [D, G*H, H] against oneDNN ldigo [1, D, I|H, G, H];
//   - bias: ONNX [D, 2*G*H] (W's then R's) against oneDNN's one [1, D, G, H], the two summed,
//     except linear-before-reset GRU, whose fourth oneDNN gate is R's candidate bias alone;
//   - Y: ONNX [T, D, N, H] against oneDNN's [T, N, D*H] (copied apart for two directions).
// Constant weights are reordered once at plan time into the layout oneDNN picks; weights given
// at run time (the ONNX conformance cases) go through oneDNN's plain layout in the run's
// scratchpad. layout = 1 (batch-major) is oneDNN's ntc for X and Y, the states transposed.
// A batch of at most 4 with constant weights (the vanilla RNN, the LSTM and the
// linear-before-reset GRU) can run the engine's own recurrence instead (SmallBatchRecurrentKernel
// below: oneDNN 2.6's primitives ran DeepSpeech's RNN at half speed and an LSTM at 2x ONNX
// Runtime); which of the two runs such a layer is timed at planning.
// What oneDNN cannot express is refused (engine-unsupported): activations other than the
// defaults (RNN: one of Tanh, Relu, Sigmoid for both directions), clip, input_forget, and
// sequence_lens shorter than seq_length (at plan time when constant, else when run).
#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <omp.h>

#include <functional>

#include "core/base/error.h"

#include "core/engine/aligned_floats.h"
#include "core/engine/kernels/onednn_util.h"
#include "core/engine/kernels/remembered_choices.h"
#include "core/engine/kernels/trial_timing.h"
#include "core/engine/kernels/rnn_recurrence.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;

enum class Cell { kRnn, kLstm, kGru };

int gates_of(Cell c) { return c == Cell::kLstm ? 4 : c == Cell::kGru ? 3 : 1; }

// oneDNN gate position for ONNX gate g.
int onednn_gate(Cell c, int g) {
  if (c != Cell::kLstm) return g;
  static const int lstm[4] = {0, 3, 1, 2};  // ONNX i, o, f, c -> oneDNN i, f, c, o
  return lstm[g];
}

struct Dims {
  std::int64_t T, N, I, H, D;
};

// ONNX [D, G*H, K] -> plain ldigo [1, D, K, G, H], gates in oneDNN's order.
void to_ldigo(Cell cell, const float* src, std::int64_t D, std::int64_t G, std::int64_t H, std::int64_t K, float* out) {
  for (std::int64_t d = 0; d < D; ++d)
    for (std::int64_t g = 0; g < G; ++g)
      for (std::int64_t h = 0; h < H; ++h)
        for (std::int64_t k = 0; k < K; ++k)
          out[((d * K + k) * G + onednn_gate(cell, static_cast<int>(g))) * H + h] = src[(d * G * H + g * H + h) * K + k];
}

// ONNX B [D, 2*G*H] (or none) -> ldgo [1, D, bias_gates, H].
void to_bias(Cell cell, bool lbr, const float* src, std::int64_t D, std::int64_t G, std::int64_t H, float* dst) {
  const std::int64_t bias_gates = lbr ? 4 : G;
  std::fill(dst, dst + D * bias_gates * H, 0.f);
  if (!src) return;
  for (std::int64_t d = 0; d < D; ++d)
    for (std::int64_t g = 0; g < G; ++g)
      for (std::int64_t h = 0; h < H; ++h) {
        const float wb = src[d * 2 * G * H + g * H + h], rb = src[d * 2 * G * H + G * H + g * H + h];
        if (lbr && g == 2) {  // the candidate: W's bias outside the reset, R's inside (gate u')
          dst[(d * bias_gates + 2) * H + h] = wb;
          dst[(d * bias_gates + 3) * H + h] = rb;
        } else {
          dst[(d * bias_gates + onednn_gate(cell, static_cast<int>(g))) * H + h] = wb + rb;
        }
      }
}

// ONNX P [D, 3*H] (i, o, f) -> ldgo [1, D, 3, H] (i, f, o).
void to_peephole(const float* src, std::int64_t D, std::int64_t H, float* dst) {
  static const int order[3] = {0, 2, 1};
  for (std::int64_t d = 0; d < D; ++d)
    for (int g = 0; g < 3; ++g)
      for (std::int64_t h = 0; h < H; ++h) dst[(d * 3 + order[g]) * H + h] = src[(d * 3 + g) * H + h];
}

// [A, B, H] -> [B, A, H]
void swap_leading(const float* src, std::int64_t a, std::int64_t b, std::int64_t h, float* dst) {
  for (std::int64_t i = 0; i < a; ++i)
    for (std::int64_t j = 0; j < b; ++j) std::memcpy(dst + (j * a + i) * h, src + (i * b + j) * h, static_cast<std::size_t>(h) * sizeof(float));
}

// Where each run's temporaries live in its scratchpad: oneDNN's own first, then ours.
struct ScratchLayout {
  std::size_t total = 0;
  std::size_t take(std::size_t bytes) {
    const std::size_t at = total;
    total += (bytes + 63) / 64 * 64;
    return at;
  }
};

struct Layout {
  Cell cell;
  Dims d;
  std::int64_t G, bias_gates;
  bool lbr, batch_major, peephole, packed;
  std::string node;
  // byte offsets into the run's scratchpad (npos: unused)
  std::size_t concat, h0, c0, h_end, c_end, wl, wi, bias, peep;
};

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

class RecurrentKernel final : public Kernel {
 public:
  RecurrentKernel(const dnnl::engine& eng, dnnl::primitive prim, Layout l, memory::desc src_layer, memory::desc iter,
                  memory::desc dst_layer, memory::desc wl, memory::desc wi, memory::desc bias, memory::desc peep,
                  memory::desc scratchpad, std::unordered_map<int, memory> packed)
      : eng_(eng),
        prim_(std::move(prim)),
        l_(std::move(l)),
        src_layer_(src_layer),
        iter_(iter),
        dst_layer_(dst_layer),
        wl_(wl),
        wi_(wi),
        bias_(bias),
        peep_(peep),
        scratchpad_(scratchpad),
        packed_(std::move(packed)) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    const auto& d = l_.d;
    auto at = [&](std::size_t off) { return reinterpret_cast<float*>(ctx.scratchpad + off); };
    auto input = [&](std::size_t k) -> const Tensor* { return k < in.size() ? in[k] : nullptr; };
    if (const Tensor* lens = input(4))
      for (std::int64_t k = 0; k < lens->numel(); ++k)
        if (lens->as<std::int32_t>()[k] != d.T)
          throw Error(ErrorCode::kUnprocessable, "engine-unsupported",
                      "node '" + l_.node + "': sequence_lens shorter than seq_length (padded batches) is not supported");
    std::unordered_map<int, memory> args = packed_;
    if (!l_.packed) {  // weights given at run time: into oneDNN's plain layout in the scratchpad
      to_ldigo(l_.cell, in[1]->as<float>(), d.D, l_.G, d.H, d.I, at(l_.wl));
      to_ldigo(l_.cell, in[2]->as<float>(), d.D, l_.G, d.H, d.H, at(l_.wi));
      to_bias(l_.cell, l_.lbr, input(3) ? input(3)->as<float>() : nullptr, d.D, l_.G, d.H, at(l_.bias));
      args.emplace(DNNL_ARG_WEIGHTS_LAYER, wrap(wl_, eng_, at(l_.wl)));
      args.emplace(DNNL_ARG_WEIGHTS_ITER, wrap(wi_, eng_, at(l_.wi)));
      args.emplace(DNNL_ARG_BIAS, wrap(bias_, eng_, at(l_.bias)));
      if (l_.peephole) {
        to_peephole(in[7]->as<float>(), d.D, d.H, at(l_.peep));
        args.emplace(DNNL_ARG_WEIGHTS_PEEPHOLE, wrap(peep_, eng_, at(l_.peep)));
      }
    }
    args.emplace(DNNL_ARG_SRC_LAYER, wrap(src_layer_, eng_, in[0]->data));
    // States: ONNX [D, N, H] is oneDNN's ldnc; batch-major [N, D, H] goes through the scratchpad.
    auto state_in = [&](std::size_t k, std::size_t off, int arg) {
      const Tensor* t = input(k);
      if (!t) return;
      const float* p = t->as<float>();
      if (l_.batch_major) {
        swap_leading(p, d.N, d.D, d.H, at(off));
        p = at(off);
      }
      args.emplace(arg, wrap(iter_, eng_, p));
    };
    state_in(5, l_.h0, DNNL_ARG_SRC_ITER);
    if (l_.cell == Cell::kLstm) state_in(6, l_.c0, DNNL_ARG_SRC_ITER_C);
    float* y = out[0]->as<float>();
    // Y: batch-major [N, T, D, H] is oneDNN's ntc [N, T, D*H]; sequence-major [T, D, N, H] is
    // oneDNN's tnc [T, N, D*H] only for one direction.
    float* layer = !l_.batch_major && d.D == 2 ? at(l_.concat) : y;
    args.emplace(DNNL_ARG_DST_LAYER, wrap(dst_layer_, eng_, layer));
    float* h_end = l_.batch_major ? at(l_.h_end) : out[1]->as<float>();
    float* c_end = l_.cell == Cell::kLstm ? (l_.batch_major ? at(l_.c_end) : out[2]->as<float>()) : nullptr;
    args.emplace(DNNL_ARG_DST_ITER, wrap(iter_, eng_, h_end));
    if (c_end) args.emplace(DNNL_ARG_DST_ITER_C, wrap(iter_, eng_, c_end));
    add_scratchpad(args, scratchpad_, eng_, ctx);
    prim_.execute(*ctx.stream, args);
    ctx.stream->wait();
    if (layer != y) {  // [T, N, 2H] -> [T, 2, N, H]
      const std::size_t row = static_cast<std::size_t>(d.H) * sizeof(float);
      for (std::int64_t t = 0; t < d.T; ++t)
        for (std::int64_t dir = 0; dir < 2; ++dir)
          for (std::int64_t n = 0; n < d.N; ++n)
            std::memcpy(y + ((t * 2 + dir) * d.N + n) * d.H, layer + (t * d.N + n) * 2 * d.H + dir * d.H, row);
    }
    if (l_.batch_major) {
      swap_leading(h_end, d.D, d.N, d.H, out[1]->as<float>());
      if (c_end) swap_leading(c_end, d.D, d.N, d.H, out[2]->as<float>());
    }
  }

 private:
  dnnl::engine eng_;
  dnnl::primitive prim_;
  Layout l_;
  memory::desc src_layer_, iter_, dst_layer_, wl_, wi_, bias_, peep_, scratchpad_;
  std::unordered_map<int, memory> packed_;  // weights, bias and peepholes prepacked at plan time
};

std::string direction_of(const NodeCtx& ctx) { return ctx.attr_s("direction", "forward"); }

// A recurrent layer of a small batch with constant weights: the vanilla RNN, the LSTM and the
// linear-before-reset GRU (PyTorch's). oneDNN 2.6's primitives run a batch of 1 at a fraction of
// what the CPU allows: DeepSpeech's bidirectional ReLU RNN (200 steps, hidden 2048) took 332 ms
// a run at 1 thread, 1.8x ONNX Runtime, while 200 products of the 2048x2048 R with a vector take
// about 60 ms per direction; a 3-layer bidirectional LSTM (hidden 512) ran at 2.0x ONNX Runtime.
// Here X W^T + biases for every step, gate and direction is one oneDNN matmul, and each step's
// R h_{t-1} runs as dot products of R's rows (recurrent_rows) followed by the cell's update
// (run_rnn_recurrence), the hidden units split over the threads.
constexpr std::int64_t kSmallBatch = kMaxRecurrenceBatch;

// Which of the two kernels runs a layer both can run is timed at planning (RecurrenceTrial below),
// as matmul.cpp times its weight layouts: neither wins everywhere. Measured on a 2-core Zen 5 VM,
// batch 1, p50 of the engine's recurrence against oneDNN's primitive on the same model:
//   nn.GRU, hidden 256, 100 steps (R 768 KiB):        1.16-1.22 ms against 0.60 (1 thread);
//   nn.LSTM bidirectional, hidden 256 (R 1 MiB):      4.0 against 3.4 ms at 1 thread, 2.3 against 2.9 at 2;
//   nn.GRU x3 bidirectional, hidden 512 (R 3 MiB):    73-81 ms against 79-87;
//   nn.LSTM x3 bidirectional, hidden 512 (R 4 MiB):   88 ms against 144;
//   DeepSpeech's RNN, hidden 2048 (R 16 MiB):         130 ms against 332.
// Where R stays near the core oneDNN 2.6's kernels (brgemm over its packed R) are the faster ones;
// where it streams from L3 the engine's rows are. The size where that turns depends on the CPU's
// caches, so it is measured rather than fixed.
RememberedChoices recurrence_choices;  // true: the engine's recurrence; per layer shape and threads
RememberedChoices apart_choices;       // true: a bidirectional layer's directions side by side on a team of two
// Steps the planning trial times of a longer layer (below, in make_recurrent).
constexpr std::int64_t kTrialSteps = 32;


class SmallBatchRecurrentKernel final : public Kernel {
 public:
  struct Plan {
    Dims d;
    RecurrenceCell cell = RecurrenceCell::kRnn;
    bool batch_major = false, reverse_only = false;
    RecurrentActivation act = RecurrentActivation::kTanh;
    std::size_t products = 0, h_prev = 0, h_next = 0, gates = 0, c = 0, rows_in = 0, rows_out = 0;  // scratchpad offsets, direction 0's
    std::size_t state_stride = 0, gates_stride = 0;  // bytes from one direction's state (gates) to the next's
    bool directions_apart = false;  // on a team of two, a bidirectional layer's directions side by side
  };
  // r: R [D, G*H, H] as given; extras: per direction the LSTM's peepholes [3H] or the GRU's
  // candidate bias of R [H] (zeros where the node has none), empty for the RNN.
  SmallBatchRecurrentKernel(const dnnl::engine& eng, dnnl::matmul prim, memory::desc src, memory::desc dst, memory weights, memory bias,
                            memory::desc matmul_scratch, AlignedFloats r, std::vector<float> extras, Plan p, std::string node)
      : eng_(eng),
        prim_(std::move(prim)),
        src_(src),
        dst_(dst),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        matmul_scratch_(matmul_scratch),
        r_(std::move(r)),
        extras_(std::move(extras)),
        p_(p),
        node_(std::move(node)) {}

  void set_directions_apart(bool apart) { p_.directions_apart = apart; }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    const auto& d = p_.d;
    if (in.size() > 4 && in[4])
      for (std::int64_t k = 0; k < in[4]->numel(); ++k)
        if (in[4]->as<std::int32_t>()[k] != d.T)
          throw Error(ErrorCode::kUnprocessable, "engine-unsupported",
                      "node '" + node_ + "': sequence_lens shorter than seq_length (padded batches) is not supported");
    auto at = [&](std::size_t off) { return reinterpret_cast<float*>(ctx.scratchpad + off); };
    float* products = at(p_.products);  // [rows of X, D * G * H]
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(src_, eng_, in[0]->data)},
                                         {DNNL_ARG_WEIGHTS, weights_},
                                         {DNNL_ARG_BIAS, bias_},
                                         {DNNL_ARG_DST, wrap(dst_, eng_, products)}};
    add_scratchpad(args, matmul_scratch_, eng_, ctx);
    prim_.execute(*ctx.stream, args);
    ctx.stream->wait();

    const std::int64_t T = d.T, N = d.N, H = d.H, D = d.D, G = gates_of(p_.cell);
    const Tensor* h0 = in.size() > 5 ? in[5] : nullptr;
    const Tensor* c0 = p_.cell == RecurrenceCell::kLstm && in.size() > 6 ? in[6] : nullptr;
    float* y = out[0]->as<float>();
    float* y_h = out[1]->as<float>();
    float* y_c = p_.cell == RecurrenceCell::kLstm ? out[2]->as<float>() : nullptr;  // Y_c: the LSTM's only
    // X's row, Y's row and a state's row for (step t, batch n, direction dir) in either layout.
    auto x_row = [&](std::int64_t t, std::int64_t n) { return p_.batch_major ? n * T + t : t * N + n; };
    auto y_row = [&](std::int64_t t, std::int64_t dir, std::int64_t n) { return p_.batch_major ? (n * T + t) * D + dir : (t * D + dir) * N + n; };
    auto state_row = [&](std::int64_t dir, std::int64_t n) { return p_.batch_major ? n * D + dir : dir * N + n; };
    const std::size_t row_bytes = static_cast<std::size_t>(H) * sizeof(float);
    // Per step and batch row, in the order the steps run: where p_t is and where h_t goes. In the
    // run's scratchpad, as run() may be called by several threads at once.
    auto** rows_in = reinterpret_cast<const float**>(ctx.scratchpad + p_.rows_in);
    auto** rows_out = reinterpret_cast<float**>(ctx.scratchpad + p_.rows_out);
    auto load_state = [&](const Tensor* given, std::int64_t dir, float* dst) {
      for (std::int64_t n = 0; n < N; ++n) {
        if (given) std::memcpy(dst + n * H, given->as<float>() + state_row(dir, n) * H, row_bytes);
        else std::fill(dst + n * H, dst + (n + 1) * H, 0.f);
      }
    };
    // One direction's time loop, in its own scratchpad pieces (each direction has a set, so the
    // two can run at once).
    auto run_direction = [&](std::int64_t dir, bool team) {
      const bool reverse = dir == 1 || p_.reverse_only;
      const float** in_rows = rows_in + dir * T * N;
      float** out_rows = rows_out + dir * T * N;
      for (std::int64_t s = 0; s < T; ++s)
        for (std::int64_t n = 0; n < N; ++n) {
          const std::int64_t t = reverse ? T - 1 - s : s;
          in_rows[s * N + n] = products + x_row(t, n) * D * G * H + dir * G * H;
          out_rows[s * N + n] = y + y_row(t, dir, n) * H;
        }
      float* h = at(p_.h_prev + dir * p_.state_stride);
      load_state(h0, dir, h);
      float* c = p_.cell == RecurrenceCell::kLstm ? at(p_.c + dir * p_.state_stride) : nullptr;
      if (c) load_state(c0, dir, c);
      RnnRecurrence rnn;
      rnn.cell = p_.cell;
      rnn.r = r_.data() + dir * G * H * H;
      rnn.hidden = H, rnn.batch = N, rnn.steps = T;
      rnn.products = in_rows;
      rnn.outputs = out_rows;
      rnn.activation = p_.act;
      const std::int64_t extra = p_.cell == RecurrenceCell::kLstm ? 3 * H : H;
      if (p_.cell == RecurrenceCell::kLstm) rnn.peepholes = extras_.data() + dir * extra;
      if (p_.cell == RecurrenceCell::kGru) rnn.candidate_bias = extras_.data() + dir * extra;
      rnn.cell_state = c;
      rnn.gates = p_.cell == RecurrenceCell::kRnn ? nullptr : at(p_.gates + dir * p_.gates_stride);
      const float* last = run_rnn_recurrence(rnn, h, at(p_.h_next + dir * p_.state_stride), team);
      for (std::int64_t n = 0; n < N; ++n) {
        std::memcpy(y_h + state_row(dir, n) * H, last + n * H, row_bytes);
        if (y_c) std::memcpy(y_c + state_row(dir, n) * H, c + n * H, row_bytes);
      }
    };
    // On a team of two a bidirectional layer may run its directions side by side, one per
    // thread: no step then waits at a barrier (sharing one direction's units, the two threads
    // meet at one every step, 400 a layer of 200 steps), but both directions' R stream at once.
    // Timed at planning (make_recurrent): on a Zen 5 VM at 2 threads the 3-layer LSTM encoder
    // (R 4 MiB a direction) ran 62-63 ms shared and 52-54 apart, the GRU encoder 52 and 44, and
    // DeepSpeech's RNN (R 16 MiB a direction, both more than the core's share of L3) 77-84 shared
    // and 87-91 apart. Otherwise the directions run in turn, each on the team where a step has
    // enough products to share (below, the barriers cost more).
    if (p_.directions_apart && D == 2 && omp_get_max_threads() == 2) {
#pragma omp parallel num_threads(2)
      run_direction(omp_get_thread_num(), false);
    } else {
      for (std::int64_t dir = 0; dir < D; ++dir) run_direction(dir, G * H * H >= 64 * 1024);
    }
  }

 private:
  dnnl::engine eng_;
  dnnl::matmul prim_;
  memory::desc src_, dst_;
  memory weights_, bias_;
  memory::desc matmul_scratch_;
  AlignedFloats r_;             // R as given: [D, G*H, H], each output's H weights contiguous
  std::vector<float> extras_;  // per direction: peepholes [3H] (LSTM) or R's candidate bias [H] (GRU)
  Plan p_;
  std::string node_;
};

std::unique_ptr<SmallBatchRecurrentKernel> make_small_batch_recurrent(const NodeCtx& ctx, std::vector<TensorDesc>& outs, const Dims& d,
                                                                     Cell cell, bool batch_major, dnnl::algorithm act, bool directions_apart) {
  const auto f32 = memory::data_type::f32;
  const auto& eng = ctx.dnnl_engine();
  const std::int64_t G = gates_of(cell), H = d.H, rows = d.T * d.N, cols = d.D * G * H;
  // W [D, G*H, I] is the [I, D * G * H] matrix in column-major order (tag ba).
  const memory::desc src({rows, d.I}, f32, tag::ab), dst({rows, cols}, f32, tag::ab), bias_md({1, cols}, f32, tag::ab);
  const memory::desc w_plain({d.I, cols}, f32, tag::ba), w_any({d.I, cols}, f32, tag::any);
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, w_any, bias_md, dst), scratchpad_attr(), eng);
  memory weights(pd.weights_desc(), eng), bias(bias_md, eng);
  reorder_now(eng, w_plain, ctx.constant_input(1, "W").as<float>(), weights);
  // Each gate's W and R biases go into the products, but a GRU candidate's R bias: the reset
  // gate scales R_h h + R's bias, so that one stays with the recurrence.
  auto* b = static_cast<float*>(bias.get_data_handle());
  const float* given = ctx.has_input(3) ? ctx.constant_input(3, "B").as<float>() : nullptr;
  const std::int64_t extra = cell == Cell::kLstm ? 3 * H : cell == Cell::kGru ? H : 0;
  std::vector<float> extras(static_cast<std::size_t>(d.D * extra), 0.f);
  for (std::int64_t dir = 0; dir < d.D; ++dir)
    for (std::int64_t g = 0; g < G; ++g)
      for (std::int64_t h = 0; h < H; ++h) {
        const float wb = given ? given[dir * 2 * G * H + g * H + h] : 0.f, rb = given ? given[dir * 2 * G * H + G * H + g * H + h] : 0.f;
        const bool candidate = cell == Cell::kGru && g == 2;
        b[(dir * G + g) * H + h] = candidate ? wb : wb + rb;
        if (candidate) extras[static_cast<std::size_t>(dir * extra + h)] = rb;
      }
  if (cell == Cell::kLstm && ctx.has_input(7)) {
    const float* p = ctx.constant_input(7, "P").as<float>();
    std::copy(p, p + d.D * 3 * H, extras.begin());
  }
  AlignedFloats r(ctx.constant_input(2, "R").as<float>(), static_cast<std::size_t>(d.D * G * H * H));

  SmallBatchRecurrentKernel::Plan p;
  p.d = d;
  p.cell = cell == Cell::kLstm ? RecurrenceCell::kLstm : cell == Cell::kGru ? RecurrenceCell::kGru : RecurrenceCell::kRnn;
  p.batch_major = batch_major;
  p.reverse_only = direction_of(ctx) == "reverse";
  p.directions_apart = directions_apart;
  p.act = act == dnnl::algorithm::eltwise_relu       ? RecurrentActivation::kRelu
          : act == dnnl::algorithm::eltwise_logistic ? RecurrentActivation::kSigmoid
                                                     : RecurrentActivation::kTanh;
  ScratchLayout sl;
  sl.take(pd.scratchpad_desc().get_size());
  // Per direction, on whole cache lines: the two directions may run on two threads at once.
  auto lines = [](std::size_t bytes) { return (bytes + 63) / 64 * 64; };
  const auto D = static_cast<std::size_t>(d.D);
  p.state_stride = lines(static_cast<std::size_t>(d.N * H) * sizeof(float));
  p.gates_stride = lines(static_cast<std::size_t>(G * d.N * H) * sizeof(float));
  p.products = sl.take(static_cast<std::size_t>(rows * cols) * sizeof(float));
  p.h_prev = sl.take(D * p.state_stride);
  p.h_next = sl.take(D * p.state_stride);
  if (cell != Cell::kRnn) p.gates = sl.take(D * p.gates_stride);
  if (cell == Cell::kLstm) p.c = sl.take(D * p.state_stride);
  p.rows_in = sl.take(D * static_cast<std::size_t>(rows) * sizeof(const float*));
  p.rows_out = sl.take(D * static_cast<std::size_t>(rows) * sizeof(float*));
  const int max_outputs = cell == Cell::kLstm ? 3 : 2;
  if (ctx.node().output_size() > max_outputs) ctx.invalid("too many outputs");
  outs.clear();
  outs.push_back({DType::kF32, batch_major ? Shape{d.N, d.T, d.D, H} : Shape{d.T, d.D, d.N, H}});
  for (int k = 1; k < max_outputs; ++k) outs.push_back({DType::kF32, batch_major ? Shape{d.N, d.D, H} : Shape{d.D, d.N, H}});
  ctx.need_scratchpad(memory::desc({static_cast<memory::dim>(sl.total)}, memory::data_type::u8, tag::a));
  ctx.engine_recurrence = true;
  return std::make_unique<SmallBatchRecurrentKernel>(eng, dnnl::matmul(pd), src, dst, std::move(weights), std::move(bias),
                                                     pd.scratchpad_desc(), std::move(r), std::move(extras), p, ctx.node().name());
}

// Checks the activations attribute against what oneDNN computes; returns the RNN cell's one.
dnnl::algorithm check_activations(const NodeCtx& ctx, Cell cell, std::int64_t D) {
  if (ctx.has_attr("clip")) ctx.unsupported("clip (oneDNN's recurrent cells do not clip)");
  if (cell == Cell::kLstm && ctx.attr_i("input_forget", 0) != 0) ctx.unsupported("input_forget = 1");
  std::vector<std::string> acts;
  if (ctx.has_attr("activations"))
    for (const auto& a : ctx.attr("activations")->strings()) acts.push_back(a);
  const std::vector<std::string> defaults = cell == Cell::kLstm  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                            : cell == Cell::kGru ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                                 : std::vector<std::string>{"Tanh"};
  if (cell != Cell::kRnn) {
    for (std::size_t k = 0; k < acts.size(); ++k)
      if (acts[k] != defaults[k % defaults.size()])
        ctx.unsupported("activations other than the defaults (" + acts[k] + "; oneDNN's cells are fixed)");
    if (!acts.empty() && acts.size() != defaults.size() * static_cast<std::size_t>(D)) ctx.invalid("activations needs one list per direction");
    return dnnl::algorithm::undef;
  }
  const std::string a = acts.empty() ? "Tanh" : acts[0];
  for (const auto& x : acts)
    if (x != a) ctx.unsupported("different activations per direction");
  if (a == "Tanh") return dnnl::algorithm::eltwise_tanh;
  if (a == "Relu") return dnnl::algorithm::eltwise_relu;
  if (a == "Sigmoid") return dnnl::algorithm::eltwise_logistic;
  ctx.unsupported("activation " + a + " (oneDNN's RNN cell runs Tanh, Relu or Sigmoid)");
}

// What make_recurrent checked and decided, for the oneDNN kernel's factory.
struct RecurrentSpec {
  Cell cell;
  Dims d;
  bool batch_major, lbr, peephole, packed;
  dnnl::algorithm act;
  std::string dir;
  Shape state;
};

std::unique_ptr<Kernel> make_onednn_recurrent(const NodeCtx& ctx, std::vector<TensorDesc>& outs, const RecurrentSpec& spec);

// Runs a recurrent kernel at planning on the node's constants, zeros for X and the states given
// at run time, and sequence lengths of T, with buffers of its own.
class RecurrenceTrial {
 public:
  // Every buffer is zero-filled, so touched before the first timed run: neither kernel pays the
  // page faults.
  RecurrenceTrial(const NodeCtx& ctx, const std::vector<TensorDesc>& outs, std::int64_t steps, std::size_t scratch_bytes)
      : stream_(ctx.dnnl_engine()), scratch_((scratch_bytes + sizeof(float) - 1) / sizeof(float) + 1) {
    for (std::size_t k = 0; k < ctx.num_inputs(); ++k) {
      if (!ctx.has_input(k)) {
        in_.push_back(nullptr);
      } else if (const Tensor* known = ctx.maybe_constant(k); known && k != 4) {  // a shortened trial's own sequence_lens
        in_.push_back(known);
      } else {
        owned_.push_back(std::make_unique<Tensor>(Tensor::allocate(ctx.in(k).dtype, ctx.in(k).shape)));
        if (k == 4)  // sequence_lens: every sequence whole
          for (std::int64_t n = 0; n < owned_.back()->numel(); ++n) owned_.back()->as<std::int32_t>()[n] = static_cast<std::int32_t>(steps);
        in_.push_back(owned_.back().get());
      }
    }
    for (const auto& o : outs) {
      owned_.push_back(std::make_unique<Tensor>(Tensor::allocate(o.dtype, o.shape)));
      out_.push_back(owned_.back().get());
    }
  }

  // The fastest of 2 alternating runs of each, after one warm-up each: true when `b` beat `a`.
  static constexpr TrialRounds kRounds{2, 2, 0};
  bool second_is_faster(Kernel& a, Kernel& b) { return second_is_faster([&] { return run_ms(a); }, [&] { return run_ms(b); }); }
  bool second_is_faster(const std::function<double()>& a, const std::function<double()>& b) {
    return engine::second_is_faster(a, b, 1.0, kRounds);
  }

  double run_ms(Kernel& k) {
    RunContext rc{&stream_, reinterpret_cast<std::byte*>(scratch_.data()), nullptr};
    return milliseconds_of([&] {
      k.run(in_, out_, rc);
      stream_.wait();
    });
  }

 private:
  dnnl::stream stream_;
  AlignedFloats scratch_;  // the larger kernel's scratchpad, on 64-byte lines like a run's
  std::vector<std::unique_ptr<Tensor>> owned_;
  std::vector<const Tensor*> in_;
  std::vector<Tensor*> out_;
};

std::unique_ptr<Kernel> make_recurrent(const NodeCtx& ctx, std::vector<TensorDesc>& outs, Cell cell) {
  const std::int64_t layout = ctx.attr_i("layout", 0);
  if (layout != 0 && layout != 1) ctx.invalid("layout must be 0 or 1");
  const bool batch_major = layout == 1;
  for (std::size_t k = 0; k < ctx.num_inputs() && k < 8; ++k)
    if (ctx.has_input(k)) ctx.require_dtype(k, {k == 4 ? DType::kI32 : DType::kF32});
  const auto& x = ctx.in(0).shape;
  if (x.size() != 3) ctx.invalid(batch_major ? "X must be [batch_size, seq_length, input_size]" : "X must be [seq_length, batch_size, input_size]");
  const std::string dir = direction_of(ctx);
  if (dir != "forward" && dir != "reverse" && dir != "bidirectional") ctx.invalid("direction must be forward, reverse or bidirectional");
  const std::int64_t D = dir == "bidirectional" ? 2 : 1, G = gates_of(cell);
  const auto& w = ctx.in(1).shape;
  if (w.size() != 3 || w[0] != D || w[1] % G != 0 || w[2] != x[2]) ctx.invalid("W must be [num_directions, gates * hidden_size, input_size]");
  const std::int64_t H = w[1] / G;
  if (ctx.attr_i("hidden_size", H) != H) ctx.invalid("hidden_size disagrees with W");
  if (ctx.in(2).shape != Shape{D, G * H, H}) ctx.invalid("R must be [num_directions, gates * hidden_size, hidden_size]");
  if (ctx.has_input(3) && ctx.in(3).shape != Shape{D, 2 * G * H}) ctx.invalid("B must be [num_directions, 2 * gates * hidden_size]");
  const Dims d{batch_major ? x[1] : x[0], batch_major ? x[0] : x[1], x[2], H, D};
  const auto act = check_activations(ctx, cell, D);
  const bool lbr = cell == Cell::kGru && ctx.attr_i("linear_before_reset", 0) != 0;
  if (ctx.has_input(4)) {
    if (ctx.in(4).shape != Shape{d.N}) ctx.invalid("sequence_lens must be [batch_size]");
    if (const Tensor* lens = ctx.maybe_constant(4))
      for (std::int64_t k = 0; k < lens->numel(); ++k)
        if (lens->as<std::int32_t>()[k] != d.T) ctx.unsupported("sequence_lens shorter than seq_length (padded batches)");
  }
  const Shape state = batch_major ? Shape{d.N, D, H} : Shape{D, d.N, H};
  for (std::size_t k : {std::size_t{5}, std::size_t{6}})
    if (ctx.has_input(k) && (cell == Cell::kLstm || k == 5) && ctx.in(k).shape != state)
      ctx.invalid(k == 5 ? "initial_h must be [num_directions, batch_size, hidden_size] ([batch_size, num_directions, hidden_size] with layout 1)"
                         : "initial_c must be [num_directions, batch_size, hidden_size] ([batch_size, num_directions, hidden_size] with layout 1)");
  const bool peephole = cell == Cell::kLstm && ctx.has_input(7);
  if (peephole && ctx.in(7).shape != Shape{D, 3 * H}) ctx.invalid("P must be [num_directions, 3 * hidden_size]");
  const bool packed = ctx.maybe_constant(1) && ctx.maybe_constant(2) && (!ctx.has_input(3) || ctx.maybe_constant(3)) &&
                      (!peephole || ctx.maybe_constant(7));
  const RecurrentSpec spec{cell, d, batch_major, lbr, peephole, packed, act, dir, state};
  const bool eligible = packed && d.N >= 1 && d.N <= kSmallBatch && (cell != Cell::kGru || lbr);
  if (!eligible || ctx.recurrence == RecurrenceKernel::kOneDnn || ctx.describe_only) return make_onednn_recurrent(ctx, outs, spec);
  // A bidirectional layer on a team of two: its directions side by side, or in turn on the team.
  const bool apart_possible = d.D == 2 && omp_get_max_threads() == 2;
  // Fixed to the engine's recurrence, directions apart wherever they can be (no timing).
  if (ctx.recurrence == RecurrenceKernel::kEngine) return make_small_batch_recurrent(ctx, outs, d, cell, batch_major, act, apart_possible);
  // "cell,T,N,I,H,D,layout,states;tT": what the two kernels' speeds depend on.
  const std::string key = std::to_string(static_cast<int>(cell)) + "," + std::to_string(d.T) + "," + std::to_string(d.N) + "," +
                          std::to_string(d.I) + "," + std::to_string(H) + "," + std::to_string(D) + "," + (batch_major ? "n" : "t") +
                          (ctx.has_input(5) ? "h" : "") + (ctx.has_input(6) ? "c" : "") + (peephole ? "p" : "") + ";t" +
                          std::to_string(omp_get_max_threads());
  auto build = [&](bool own) -> std::unique_ptr<Kernel> {
    if (!own) return make_onednn_recurrent(ctx, outs, spec);
    return make_small_batch_recurrent(ctx, outs, d, cell, batch_major, act, apart_possible && apart_choices.find(key).value_or(false));
  };
  if (const auto known = recurrence_choices.find(key)) return build(*known);
  // The trial runs both kernels over at most kTrialSteps steps: what sets them apart is the cost
  // of a step, and a long layer timed whole made planning slow (DeepSpeech's 200 steps took 3.8 s
  // to plan, four runs of oneDNN's 332 ms among it). A shortened layer's kernels are built
  // for the trial alone and the winner is built again for the whole sequence.
  Dims trial_dims = d;
  trial_dims.T = std::min(d.T, kTrialSteps);
  const bool shortened = trial_dims.T < d.T;
  RecurrentSpec trial_spec = spec;
  trial_spec.d = trial_dims;
  // Both kernels, each with the scratchpad it needs; the loser's need is forgotten.
  const std::size_t before = ctx.scratchpad_bytes;
  std::vector<TensorDesc> own_outs, onednn_outs;
  auto own = make_small_batch_recurrent(ctx, own_outs, trial_dims, cell, batch_major, act, false);
  const std::size_t own_need = ctx.scratchpad_bytes;
  ctx.scratchpad_bytes = before;
  std::unique_ptr<Kernel> onednn;
  try {
    onednn = make_onednn_recurrent(ctx, onednn_outs, trial_spec);
  } catch (const Error&) {  // no oneDNN primitive for this layer: the engine's recurrence it is
    ctx.scratchpad_bytes = before;
    return build(true);
  }
  const std::size_t onednn_need = ctx.scratchpad_bytes;
  RecurrenceTrial trial(ctx, own_outs, trial_dims.T, std::max(own_need, onednn_need));
  // The engine's recurrence with its directions in turn or apart (where it can), the faster
  // against oneDNN's.
  bool apart = false;
  if (apart_possible) {
    apart = trial.second_is_faster(
        [&] {
          own->set_directions_apart(false);
          return trial.run_ms(*own);
        },
        [&] {
          own->set_directions_apart(true);
          return trial.run_ms(*own);
        });
    own->set_directions_apart(apart);
    apart_choices.remember(key, apart);
  }
  const bool own_faster = trial.second_is_faster(*onednn, *own);
  recurrence_choices.remember(key, own_faster);
  ctx.engine_recurrence = own_faster;
  if (shortened) {
    ctx.scratchpad_bytes = before;
    return build(own_faster);
  }
  ctx.scratchpad_bytes = own_faster ? own_need : onednn_need;
  outs = own_faster ? own_outs : onednn_outs;
  if (own_faster) return own;
  return onednn;
}

std::unique_ptr<Kernel> make_onednn_recurrent(const NodeCtx& ctx, std::vector<TensorDesc>& outs, const RecurrentSpec& spec) {
  const auto [cell, d, batch_major, lbr, peephole, packed, act, dir, state] = spec;
  const std::int64_t D = d.D, H = d.H, G = gates_of(cell);
  const auto f32 = memory::data_type::f32;
  const auto seq_tag = batch_major ? tag::ntc : tag::tnc;
  const memory::desc src_layer({d.T, d.N, d.I}, f32, seq_tag);
  const memory::desc iter({1, D, d.N, H}, f32, tag::ldnc);
  const memory::desc src_iter = ctx.has_input(5) ? iter : memory::desc();
  const memory::desc src_iter_c = cell == Cell::kLstm && ctx.has_input(6) ? iter : memory::desc();
  const memory::desc wl_plain({1, D, d.I, G, H}, f32, tag::ldigo), wi_plain({1, D, H, G, H}, f32, tag::ldigo);
  const memory::desc wl_want = packed ? memory::desc({1, D, d.I, G, H}, f32, tag::any) : wl_plain;
  const memory::desc wi_want = packed ? memory::desc({1, D, H, G, H}, f32, tag::any) : wi_plain;
  const std::int64_t bias_gates = lbr ? 4 : G;
  const memory::desc bias({1, D, bias_gates, H}, f32, tag::ldgo);
  const memory::desc dst_layer({d.T, d.N, D * H}, f32, seq_tag);
  const memory::desc dst_iter_c = cell == Cell::kLstm ? iter : memory::desc();
  const memory::desc peep = peephole ? memory::desc({1, D, 3, H}, f32, tag::ldgo) : memory::desc();
  const auto direction = dir == "forward"   ? dnnl::rnn_direction::unidirectional_left2right
                         : dir == "reverse" ? dnnl::rnn_direction::unidirectional_right2left
                                            : dnnl::rnn_direction::bidirectional_concat;
  const auto prop = dnnl::prop_kind::forward_inference;
  const auto attr = scratchpad_attr();
  const auto& eng = ctx.dnnl_engine();
  dnnl::primitive prim;
  memory::desc wl_md, wi_md, onednn_scratch;
  auto take = [&](const auto& pd) {
    wl_md = pd.weights_layer_desc();
    wi_md = pd.weights_iter_desc();
    onednn_scratch = pd.scratchpad_desc();
  };
  try {
    if (cell == Cell::kLstm) {
      dnnl::lstm_forward::primitive_desc pd(dnnl::lstm_forward::desc(prop, direction, src_layer, src_iter, src_iter_c, wl_want, wi_want, peep,
                                                                     bias, dst_layer, iter, dst_iter_c),
                                            attr, eng);
      take(pd);
      prim = dnnl::lstm_forward(pd);
    } else if (cell == Cell::kGru && lbr) {
      dnnl::lbr_gru_forward::primitive_desc pd(
          dnnl::lbr_gru_forward::desc(prop, direction, src_layer, src_iter, wl_want, wi_want, bias, dst_layer, iter), attr, eng);
      take(pd);
      prim = dnnl::lbr_gru_forward(pd);
    } else if (cell == Cell::kGru) {
      dnnl::gru_forward::primitive_desc pd(
          dnnl::gru_forward::desc(prop, direction, src_layer, src_iter, wl_want, wi_want, bias, dst_layer, iter), attr, eng);
      take(pd);
      prim = dnnl::gru_forward(pd);
    } else {
      dnnl::vanilla_rnn_forward::primitive_desc pd(
          dnnl::vanilla_rnn_forward::desc(prop, act, direction, src_layer, src_iter, wl_want, wi_want, bias, dst_layer, iter), attr, eng);
      take(pd);
      prim = dnnl::vanilla_rnn_forward(pd);
    }
  } catch (const dnnl::error& e) {
    ctx.unsupported(std::string("oneDNN has no recurrent primitive for it (") + e.what() + ")");
  }

  Layout l{cell, d, G, bias_gates, lbr, batch_major, peephole, packed, ctx.node().name(), kNone, kNone, kNone, kNone, kNone, kNone, kNone, kNone, kNone};
  ScratchLayout sl;
  sl.take(onednn_scratch.get_size());
  const std::size_t state_bytes = static_cast<std::size_t>(D * d.N * H) * sizeof(float);
  if (!batch_major && D == 2) l.concat = sl.take(static_cast<std::size_t>(d.T * d.N * 2 * H) * sizeof(float));
  if (batch_major) {
    l.h0 = sl.take(state_bytes);
    l.c0 = sl.take(state_bytes);
    l.h_end = sl.take(state_bytes);
    l.c_end = sl.take(state_bytes);
  }
  std::unordered_map<int, memory> prepacked;
  if (packed) {  // weights into oneDNN's chosen layout, once
    std::vector<float> wl_v(static_cast<std::size_t>(D * d.I * G * H)), wi_v(static_cast<std::size_t>(D * H * G * H));
    to_ldigo(cell, ctx.constant_input(1, "W").as<float>(), D, G, H, d.I, wl_v.data());
    to_ldigo(cell, ctx.constant_input(2, "R").as<float>(), D, G, H, H, wi_v.data());
    memory wl(wl_md, eng), wi(wi_md, eng), b(bias, eng);
    reorder_now(eng, wl_plain, wl_v.data(), wl);
    reorder_now(eng, wi_plain, wi_v.data(), wi);
    to_bias(cell, lbr, ctx.has_input(3) ? ctx.constant_input(3, "B").as<float>() : nullptr, D, G, H, static_cast<float*>(b.get_data_handle()));
    prepacked.emplace(DNNL_ARG_WEIGHTS_LAYER, wl);
    prepacked.emplace(DNNL_ARG_WEIGHTS_ITER, wi);
    prepacked.emplace(DNNL_ARG_BIAS, b);
    if (peephole) {
      memory pm(peep, eng);
      to_peephole(ctx.constant_input(7, "P").as<float>(), D, H, static_cast<float*>(pm.get_data_handle()));
      prepacked.emplace(DNNL_ARG_WEIGHTS_PEEPHOLE, pm);
    }
  } else {
    l.wl = sl.take(wl_plain.get_size());
    l.wi = sl.take(wi_plain.get_size());
    l.bias = sl.take(bias.get_size());
    if (peephole) l.peep = sl.take(peep.get_size());
  }

  const int n_out = cell == Cell::kLstm ? 3 : 2;
  if (ctx.node().output_size() > n_out) ctx.invalid("too many outputs");
  outs.clear();
  outs.push_back({DType::kF32, batch_major ? Shape{d.N, d.T, D, H} : Shape{d.T, D, d.N, H}});
  for (int k = 1; k < n_out; ++k) outs.push_back({DType::kF32, state});  // Y_h (and Y_c) always: the kernel writes them
  ctx.need_scratchpad(memory::desc({static_cast<memory::dim>(std::max<std::size_t>(sl.total, 1))}, memory::data_type::u8, tag::a));
  return std::make_unique<RecurrentKernel>(eng, std::move(prim), std::move(l), src_layer, iter, dst_layer, wl_plain, wi_plain, bias, peep,
                                           onednn_scratch, std::move(prepacked));
}

}  // namespace

void register_recurrent_kernels(KernelTable& t) {
  t["RNN"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_recurrent(c, o, Cell::kRnn); };
  t["LSTM"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_recurrent(c, o, Cell::kLstm); };
  t["GRU"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_recurrent(c, o, Cell::kGru); };
}

}  // namespace aifgen::engine

#include "core/engine/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/kernels/fast_math.h"
#include "core/engine/kernels/onednn_util.h"

namespace aifgen::engine {
namespace {

bool is(const onnx::NodeProto& n, const char* op) { return n.op_type() == op && (n.domain().empty() || n.domain() == "ai.onnx"); }

// The value of a constant float32 scalar (any shape of one element), or nullopt.
std::optional<float> scalar_constant(const GraphView& v, const std::string& name) {
  const Tensor* t = v.constant(name);
  if (!t || t->dtype != DType::kF32 || t->numel() != 1) return std::nullopt;
  return *t->as<float>();
}

class AttentionKernel final : public Kernel {
 public:
  AttentionKernel(const dnnl::engine& eng, float scale, const std::vector<std::int64_t>& k_strides, const Shape& q, const Shape& k,
                  const Shape& v, const Shape* mask)
      : eng_(eng) {
    const std::size_t r = q.size();
    for (std::size_t i = 0; i + 2 < r; ++i) batches_ *= q[i];
    l_ = q[r - 2];
    d_ = q[r - 1];
    m_ = k[r - 1];
    e_ = v[r - 1];
    // Batch-heads go through in groups: each group's two products are one batched oneDNN matmul
    // call apiece (its brgemm kernels: ~4x the speed of dnnl_sgemm at 128x64x128, which packs its
    // operands on every call), the scale folded into the first as an output scale. One head at a
    // time paid a call's fixed cost per head: Swin's 49x49 windows (192 batch-heads a step) ran
    // 2.3 ms fused against 1.6 ms unfused. A group's scores stay within kGroupScoreBytes, so they
    // are still in cache when the softmax and the second product read them.
    group_ = group_size(batches_, l_ * m_);
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    q_md_ = dnnl::memory::desc({group_, l_, d_}, dt::f32, tag::abc);
    if (k_strides.empty()) {
      k_md_ = dnnl::memory::desc({group_, d_, m_}, dt::f32, tag::abc);
      k_head_stride_ = d_ * m_;
    } else {
      k_head_stride_ = k_strides[0];
      k_md_ = dnnl::memory::desc({group_, d_, m_}, dt::f32, dnnl::memory::dims{k_head_stride_, k_strides[1], k_strides[2]});
    }
    s_md_ = dnnl::memory::desc({group_, l_, m_}, dt::f32, tag::abc);
    v_md_ = dnnl::memory::desc({group_, m_, e_}, dt::f32, tag::abc);
    o_md_ = dnnl::memory::desc({group_, l_, e_}, dt::f32, tag::abc);
    // User-mode scratchpads: groups run these primitives on several threads at once, and
    // the library-mode scratchpad is one buffer shared by every primitive of the process
    // (oneDNN is built without ONEDNN_ENABLE_CONCURRENT_EXEC), so concurrent runs would
    // overwrite each other's packed operands. Each thread brings its own instead.
    dnnl::primitive_attr scaled = scratchpad_attr();
    if (scale != 1.f) scaled.set_output_scales(0, {scale});
    const dnnl::matmul::primitive_desc scores_pd(dnnl::matmul::desc(q_md_, k_md_, s_md_), scaled, eng);
    const dnnl::matmul::primitive_desc context_pd(dnnl::matmul::desc(s_md_, v_md_, o_md_), scratchpad_attr(), eng);
    scores_scratch_md_ = scores_pd.scratchpad_desc();
    context_scratch_md_ = context_pd.scratchpad_desc();
    scores_ = dnnl::matmul(scores_pd);
    context_ = dnnl::matmul(context_pd);
    if (!mask) return;
    // Strides of the mask over the score shape [lead..., L, M], 0 where it broadcasts.
    Shape scores(q.begin(), q.end() - 1);
    scores.push_back(m_);
    std::vector<std::int64_t> stride(r, 0);
    std::int64_t s = 1;
    for (std::size_t i = 0; i < mask->size(); ++i) {
      const std::size_t mi = mask->size() - 1 - i, si = r - 1 - i;
      stride[si] = (*mask)[mi] == 1 ? 0 : s;
      s *= (*mask)[mi];
    }
    mask_row_stride_ = stride[r - 2];
    mask_col_stride_ = stride[r - 1];
    mask_base_.resize(static_cast<std::size_t>(batches_));
    for (std::int64_t b = 0; b < batches_; ++b) {
      std::int64_t rest = b, off = 0;
      for (std::size_t i = r - 2; i-- > 0;) {
        off += (rest % scores[i]) * stride[i];
        rest /= scores[i];
      }
      mask_base_[static_cast<std::size_t>(b)] = off;
    }
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    const float* q = in[0]->as<float>();
    const float* k = in[1]->as<float>();
    const float* v = in[2]->as<float>();
    const float* mask = in.size() > 3 && in[3] ? in[3]->as<float>() : nullptr;
    float* o = out[0]->as<float>();
    const std::int64_t groups = batches_ / group_;
    // Groups spread over the step's threads, each thread with its own stream (a oneDNN stream
    // is not to be shared between threads); with one group, or one thread, the primitives get
    // the threads themselves.
    if (groups > 1 && omp_get_max_threads() > 1) {
#pragma omp parallel
      {
        dnnl::stream own(eng_);
#pragma omp for schedule(static)
        for (std::int64_t g = 0; g < groups; ++g) one_group(own, g * group_, q, k, v, mask, o);
      }
    } else {
      for (std::int64_t g = 0; g < groups; ++g) one_group(*ctx.stream, g * group_, q, k, v, mask, o);
    }
  }

  // The most batch-heads a group takes: the largest divisor of `batches` whose scores fit in
  // kGroupScoreBytes (at least one head, however large its scores).
  static std::int64_t group_size(std::int64_t batches, std::int64_t scores_per_head) {
    const std::int64_t most = std::max<std::int64_t>(1, kGroupScoreBytes / (scores_per_head * static_cast<std::int64_t>(sizeof(float))));
    for (std::int64_t g = std::min(most, batches); g > 1; --g)
      if (batches % g == 0) return g;
    return 1;
  }

 private:
  // About half a core's L2 on the machines measured (512 KiB-2 MiB); a group of Swin's 49x49
  // heads is 12 of them (113 KiB).
  static constexpr std::int64_t kGroupScoreBytes = 128 << 10;

  // The primitives take const handles as void*; they only read SRC and WEIGHTS.
  static void* ptr(const float* p) { return const_cast<float*>(p); }

  // Batch-heads [b0, b0 + group_).
  void one_group(dnnl::stream& st, std::int64_t b0, const float* q, const float* k, const float* v, const float* mask, float* o) const {
    thread_local std::vector<float> scores;
    thread_local std::vector<std::byte> scratch;
    // 64-byte aligned, as the arena's tensors are: oneDNN's AVX2 GEMM takes slower paths for
    // some operand alignments (see zeroed_trial_memory).
    const auto score_count = static_cast<std::size_t>(group_ * l_ * m_) + 16;
    if (scores.size() < score_count) scores.resize(score_count);
    const std::size_t scratch_bytes = std::max(scores_scratch_md_.get_size(), context_scratch_md_.get_size());
    if (scratch.size() < scratch_bytes) scratch.resize(scratch_bytes);
    float* s = reinterpret_cast<float*>((reinterpret_cast<std::uintptr_t>(scores.data()) + 63) / 64 * 64);
    dnnl::memory sm(s_md_, eng_, s);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(q_md_, eng_, ptr(q + b0 * l_ * d_))},
                                               {DNNL_ARG_WEIGHTS, dnnl::memory(k_md_, eng_, ptr(k + b0 * k_head_stride_))},
                                               {DNNL_ARG_DST, sm}};
    if (scores_scratch_md_.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(scores_scratch_md_, eng_, scratch.data()));
    scores_.execute(st, args);
    for (std::int64_t h = 0; h < group_; ++h) {
      const std::int64_t b = b0 + h;
      for (std::int64_t i = 0; i < l_; ++i) {
        float* row = s + (h * l_ + i) * m_;
        if (mask) {
          const float* mrow = mask + mask_base_[static_cast<std::size_t>(b)] + i * mask_row_stride_;
          if (mask_col_stride_ == 1) {
#pragma omp simd
            for (std::int64_t j = 0; j < m_; ++j) row[j] += mrow[j];
          } else {
            for (std::int64_t j = 0; j < m_; ++j) row[j] += mrow[0];
          }
        }
        softmax_row(row, row, m_);  // the Softmax kernel's own row function: fused and unfused agree
      }
    }
    args = {{DNNL_ARG_SRC, sm},
            {DNNL_ARG_WEIGHTS, dnnl::memory(v_md_, eng_, ptr(v + b0 * m_ * e_))},
            {DNNL_ARG_DST, dnnl::memory(o_md_, eng_, o + b0 * l_ * e_)}};
    if (context_scratch_md_.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(context_scratch_md_, eng_, scratch.data()));
    context_.execute(st, args);
  }

  dnnl::engine eng_;
  dnnl::memory::desc q_md_, k_md_, s_md_, v_md_, o_md_, scores_scratch_md_, context_scratch_md_;
  dnnl::matmul scores_, context_;
  std::int64_t k_head_stride_ = 0;  // elements from one batch-head's K to the next
  std::int64_t batches_ = 1, group_ = 1, l_ = 0, d_ = 0, m_ = 0, e_ = 0;
  std::vector<std::int64_t> mask_base_;
  std::int64_t mask_row_stride_ = 0, mask_col_stride_ = 0;
};

// The node producing `value`, or -1 (a linear scan: only run for chains that matched).
int producer(const onnx::GraphProto& g, const std::string& value) {
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& o : g.node(i).output())
      if (o == value) return i;
  return -1;
}

// Fills the optional producers of `a` (see Attention::k_transpose): each read once, by the
// chain's first MatMul, and not a graph output.
void find_operand_producers(const GraphView& view, Attention& a) {
  const auto& g = view.graph;
  auto read_once = [&](const std::string& value) {
    auto it = view.readers.find(value);
    return it != view.readers.end() && it->second.size() == 1 && !view.is_graph_output(value);
  };
  if (a.k != a.q && read_once(a.k))
    if (int t = producer(g, a.k); t >= 0 && is(g.node(t), "Transpose") && g.node(t).input_size() == 1) {
      std::vector<std::int64_t> perm;
      for (const auto& at : g.node(t).attribute())
        if (at.name() == "perm") perm.assign(at.ints().begin(), at.ints().end());
      if (!perm.empty()) {  // without one it reverses every axis: not worth a case of its own
        a.k_transpose = t;
        a.k_untransposed = g.node(t).input(0);
        a.k_perm = std::move(perm);
      }
    }
  if (a.q != a.k && read_once(a.q))
    if (int s = producer(g, a.q); s >= 0 && (is(g.node(s), "Mul") || is(g.node(s), "Div")) && g.node(s).input_size() == 2) {
      const auto& n = g.node(s);
      const bool div = is(n, "Div");
      // Div: only Q / c; Mul: either side.
      for (int side = 0; side < (div ? 1 : 2); ++side) {
        auto c = scalar_constant(view, n.input(1 - side));
        if (!c || *c == 0.f || !std::isfinite(*c) || view.constant(n.input(side))) continue;
        a.q_scale_node = s;
        a.q_unscaled = n.input(side);
        a.q_scale = div ? 1.f / *c : *c;
        break;
      }
    }
}

}  // namespace

std::optional<Attention> match_attention(const GraphView& view, int first) {
  const auto& g = view.graph;
  const auto& n0 = g.node(first);
  if (!is(n0, "MatMul") || n0.input_size() != 2 || n0.output_size() != 1) return std::nullopt;
  // The one node reading `value`, or -1 when there are several readers or it is a graph output.
  auto only_reader = [&](const std::string& value) {
    auto it = view.readers.find(value);
    if (it == view.readers.end() || it->second.size() != 1 || view.is_graph_output(value)) return -1;
    return it->second[0];
  };
  Attention a;
  a.q = n0.input(0);
  a.k = n0.input(1);
  a.nodes = {first};
  std::string cur = n0.output(0);
  int next = only_reader(cur);
  if (next < 0) return std::nullopt;
  // Optional scale: Mul by a constant scalar (either side) or Div of the scores by one.
  if (const auto& n = g.node(next); (is(n, "Mul") || is(n, "Div")) && n.input_size() == 2 && n.output_size() == 1) {
    const bool div = is(n, "Div");
    if (div && n.input(0) != cur) return std::nullopt;
    const std::string& other = n.input(0) == cur ? n.input(1) : n.input(0);
    auto c = scalar_constant(view, other);
    if (!c || *c == 0.f) return std::nullopt;
    a.scale = div ? 1.f / *c : *c;
    a.nodes.push_back(next);
    cur = n.output(0);
    if ((next = only_reader(cur)) < 0) return std::nullopt;
  }
  // Optional additive mask (either side; any value that broadcasts, checked with the shapes).
  if (const auto& n = g.node(next); is(n, "Add") && n.input_size() == 2 && n.output_size() == 1) {
    if (n.input(0) == n.input(1)) return std::nullopt;
    a.mask = n.input(0) == cur ? n.input(1) : n.input(0);
    a.nodes.push_back(next);
    cur = n.output(0);
    if ((next = only_reader(cur)) < 0) return std::nullopt;
    // Swin's shifted windows: Reshape -> Add(window mask) -> Reshape back (Attention::window_mask).
    auto plain_reshape = [&](const onnx::NodeProto& r) {
      if (!is(r, "Reshape") || r.input_size() != 2 || r.output_size() != 1 || r.input(0) != cur) return false;
      for (const auto& at : r.attribute())
        if (at.name() == "allowzero" && at.i() != 0) return false;
      return true;
    };
    if (plain_reshape(g.node(next))) {
      const auto& view_node = g.node(next);
      a.window_view_shape = view_node.input(1);
      a.nodes.push_back(next);
      cur = view_node.output(0);
      if ((next = only_reader(cur)) < 0) return std::nullopt;
      const auto& add = g.node(next);
      if (!is(add, "Add") || add.input_size() != 2 || add.output_size() != 1 || add.input(0) == add.input(1)) return std::nullopt;
      a.window_mask = add.input(0) == cur ? add.input(1) : add.input(0);
      a.nodes.push_back(next);
      cur = add.output(0);
      if ((next = only_reader(cur)) < 0 || !plain_reshape(g.node(next))) return std::nullopt;
      a.back_view_shape = g.node(next).input(1);
      a.nodes.push_back(next);
      cur = g.node(next).output(0);
      if ((next = only_reader(cur)) < 0) return std::nullopt;
    }
  }
  if (const auto& n = g.node(next); !is(n, "Softmax") || n.input_size() != 1 || n.output_size() != 1) return std::nullopt;
  a.softmax = next;
  a.nodes.push_back(next);
  cur = g.node(next).output(0);
  if ((next = only_reader(cur)) < 0) return std::nullopt;
  const auto& last = g.node(next);
  if (!is(last, "MatMul") || last.input_size() != 2 || last.input(0) != cur || last.input(1) == cur || last.output_size() != 1)
    return std::nullopt;
  a.v = last.input(1);
  a.output = last.output(0);
  a.nodes.push_back(next);
  find_operand_producers(view, a);
  return a;
}

std::vector<int> order_for_attention(const GraphView& view) {
  const auto& g = view.graph;
  const int n = g.node_size();
  std::unordered_map<std::string, int> producer_of;
  for (int i = 0; i < n; ++i)
    for (const auto& o : g.node(i).output())
      if (!o.empty()) producer_of[o] = i;
  std::vector<bool> moved(static_cast<std::size_t>(n), false);
  std::unordered_map<int, std::vector<int>> before;  // first MatMul -> the nodes moved ahead of it
  for (int first = 0; first < n; ++first) {
    if (!is(g.node(first), "MatMul")) continue;
    auto a = match_attention(view, first);
    if (!a || a->window_mask.empty()) continue;
    const std::vector<int> chain = a->nodes;
    auto in_chain = [&](int i) { return std::find(chain.begin(), chain.end(), i) != chain.end(); };
    // Producers after `first` of the mask operands, and theirs, transitively.
    std::vector<int> closure, pending;
    std::vector<bool> in_closure(static_cast<std::size_t>(n), false);
    bool ok = true;
    for (const auto* value : {&a->mask, &a->window_mask, &a->window_view_shape, &a->back_view_shape})
      if (auto it = producer_of.find(*value); it != producer_of.end() && it->second > first) pending.push_back(it->second);
    while (ok && !pending.empty()) {
      const int p = pending.back();
      pending.pop_back();
      if (in_closure[static_cast<std::size_t>(p)]) continue;
      if (in_chain(p) || moved[static_cast<std::size_t>(p)] || closure.size() >= kMaxHoistedNodes) {
        ok = false;
        break;
      }
      in_closure[static_cast<std::size_t>(p)] = true;
      closure.push_back(p);
      for (const auto& input : g.node(p).input())
        if (auto it = producer_of.find(input); !input.empty() && it != producer_of.end() && it->second > first) pending.push_back(it->second);
    }
    if (!ok || closure.empty()) continue;
    std::sort(closure.begin(), closure.end());
    for (int p : closure) moved[static_cast<std::size_t>(p)] = true;
    before[first] = std::move(closure);
  }
  std::vector<int> order;
  order.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    if (auto it = before.find(i); it != before.end()) order.insert(order.end(), it->second.begin(), it->second.end());
    if (!moved[static_cast<std::size_t>(i)]) order.push_back(i);
  }
  return order;
}

namespace {

// y (row-major, shape `to`) += x broadcast to `to` (numpy rules); false when x does not
// broadcast to exactly `to`.
bool add_broadcast(const Tensor& x, const Shape& to, float* y) {
  Shape out;
  if (!broadcast_shape({x.shape, to}, out) || out != to) return false;
  const auto plan = plan_broadcast({x.shape}, to);
  const float* xs = x.as<float>();
  for (std::int64_t r = 0; r < plan.rows; ++r) {
    const float* xr = xs + plan.row_offset[0][static_cast<std::size_t>(r)];
    float* yr = y + r * plan.inner;
    for (std::int64_t i = 0; i < plan.inner; ++i) yr[i] += xr[i * plan.inner_stride[0]];
  }
  return true;
}

}  // namespace

std::optional<Tensor> combined_window_mask(const Tensor& first, const Tensor& second, const Shape& scores, const Tensor& window_view,
                                           const Tensor& back_view) {
  if (first.dtype != DType::kF32 || second.dtype != DType::kF32) return std::nullopt;
  if (window_view.dtype != DType::kI64 || back_view.dtype != DType::kI64) return std::nullopt;
  Shape windowed, back;
  std::string why;
  if (!reshape_target(scores, to_int64_vector(window_view), false, windowed, why) ||
      !reshape_target(windowed, to_int64_vector(back_view), false, back, why) || back != scores)
    return std::nullopt;
  Tensor mask = Tensor::allocate(DType::kF32, scores);
  std::fill(mask.as<float>(), mask.as<float>() + mask.numel(), 0.f);
  if (!add_broadcast(first, scores, mask.as<float>()) || !add_broadcast(second, windowed, mask.as<float>())) return std::nullopt;
  return mask;
}

bool attention_shapes_fit(const Attention& a, const onnx::NodeProto& softmax, std::int64_t opset, const Shape& q, const Shape& k,
                          const Shape& v, const Shape* mask) {
  const std::size_t r = q.size();
  if (r < 2 || k.size() != r || v.size() != r) return false;
  for (std::size_t i = 0; i + 2 < r; ++i)
    if (k[i] != q[i] || v[i] != q[i]) return false;
  if (q[r - 1] != k[r - 2] || v[r - 2] != k[r - 1]) return false;
  for (auto d : {q[r - 2], q[r - 1], k[r - 1], v[r - 1]})
    if (d < 1) return false;
  if (a.mask.empty() != (mask == nullptr)) return false;
  if (mask) {
    if (mask->size() > r) return false;
    Shape scores(q.begin(), q.end() - 1);
    scores.push_back(k[r - 1]);
    for (std::size_t i = 0; i < mask->size(); ++i) {
      const auto md = (*mask)[mask->size() - 1 - i], sd = scores[r - 1 - i];
      if (md != sd && md != 1) return false;
    }
  }
  // Before opset 13 Softmax flattens at `axis` (default 1); from 13 it runs along `axis`
  // (default -1). Either way the fused kernel is right only when that is the last axis alone.
  std::int64_t axis = opset < 13 ? 1 : -1;
  for (const auto& at : softmax.attribute())
    if (at.name() == "axis") axis = at.i();
  if (axis < 0) axis += static_cast<std::int64_t>(r);
  return axis == static_cast<std::int64_t>(r) - 1;
}

std::optional<std::vector<std::int64_t>> permuted_k_strides(const Shape& stored, const std::vector<std::int64_t>& perm) {
  const std::size_t r = stored.size();
  if (perm.size() != r || r < 2) return std::nullopt;
  std::vector<std::int64_t> row_major(r, 1), strides(r);
  for (std::size_t i = r - 1; i-- > 0;) row_major[i] = row_major[i + 1] * stored[i + 1];
  Shape logical(r);
  for (std::size_t i = 0; i < r; ++i) {
    if (perm[i] < 0 || perm[i] >= static_cast<std::int64_t>(r)) return std::nullopt;
    strides[i] = row_major[static_cast<std::size_t>(perm[i])];
    logical[i] = stored[static_cast<std::size_t>(perm[i])];
  }
  if (strides[r - 1] != 1 && strides[r - 2] != 1) return std::nullopt;
  // The batch-head axes of more than one element, innermost first, must nest: each one's
  // stride the next one's stride times its size. Axes of one element take no part.
  std::int64_t head = logical[r - 2] * logical[r - 1], next = -1;
  for (std::size_t i = r - 2; i-- > 0;) {
    if (logical[i] == 1) continue;
    if (next < 0) head = strides[i];
    else if (strides[i] != next) return std::nullopt;
    next = strides[i] * logical[i];
  }
  return std::vector<std::int64_t>{head, strides[r - 2], strides[r - 1]};
}

std::unique_ptr<Kernel> make_attention(const dnnl::engine& eng, float scale, const std::vector<std::int64_t>& k_strides, const Shape& q,
                                       const Shape& k, const Shape& v, const Shape* mask) {
  return std::make_unique<AttentionKernel>(eng, scale, k_strides, q, k, v, mask);
}

}  // namespace aifgen::engine

#include "core/engine/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

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
  AttentionKernel(const dnnl::engine& eng, float scale, const Shape& q, const Shape& k, const Shape& v, const Shape* mask)
      : eng_(eng) {
    const std::size_t r = q.size();
    for (std::size_t i = 0; i + 2 < r; ++i) batches_ *= q[i];
    l_ = q[r - 2];
    d_ = q[r - 1];
    m_ = k[r - 1];
    e_ = v[r - 1];
    // One batch-head's two products as oneDNN matmul primitives (its brgemm kernels: ~4x the
    // speed of dnnl_sgemm at 128x64x128, which packs its operands on every call), the scale
    // folded into the first as an output scale.
    using dt = dnnl::memory::data_type;
    using tag = dnnl::memory::format_tag;
    q_md_ = dnnl::memory::desc({l_, d_}, dt::f32, tag::ab);
    k_md_ = dnnl::memory::desc({d_, m_}, dt::f32, tag::ab);
    s_md_ = dnnl::memory::desc({l_, m_}, dt::f32, tag::ab);
    v_md_ = dnnl::memory::desc({m_, e_}, dt::f32, tag::ab);
    o_md_ = dnnl::memory::desc({l_, e_}, dt::f32, tag::ab);
    // User-mode scratchpads: batch-heads run these primitives on several threads at once, and
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
    const std::int64_t batches = batches_;
    // Batch-heads spread over the step's threads, each thread with its own stream (a oneDNN
    // stream is not to be shared between threads); with one batch-head, or one thread, the
    // primitives get the threads themselves.
    if (batches > 1 && omp_get_max_threads() > 1) {
#pragma omp parallel
      {
        dnnl::stream own(eng_);
#pragma omp for schedule(static)
        for (std::int64_t b = 0; b < batches; ++b) one_batch(own, b, q, k, v, mask, o);
      }
    } else {
      for (std::int64_t b = 0; b < batches; ++b) one_batch(*ctx.stream, b, q, k, v, mask, o);
    }
  }

 private:
  // The primitives take const handles as void*; they only read SRC and WEIGHTS.
  static void* ptr(const float* p) { return const_cast<float*>(p); }

  void one_batch(dnnl::stream& st, std::int64_t b, const float* q, const float* k, const float* v, const float* mask, float* o) const {
    thread_local std::vector<float> scores;
    thread_local std::vector<std::byte> scratch;
    if (scores.size() < static_cast<std::size_t>(l_ * m_)) scores.resize(static_cast<std::size_t>(l_ * m_));
    const std::size_t scratch_bytes = std::max(scores_scratch_md_.get_size(), context_scratch_md_.get_size());
    if (scratch.size() < scratch_bytes) scratch.resize(scratch_bytes);
    float* s = scores.data();
    dnnl::memory sm(s_md_, eng_, s);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(q_md_, eng_, ptr(q + b * l_ * d_))},
                                               {DNNL_ARG_WEIGHTS, dnnl::memory(k_md_, eng_, ptr(k + b * d_ * m_))},
                                               {DNNL_ARG_DST, sm}};
    if (scores_scratch_md_.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(scores_scratch_md_, eng_, scratch.data()));
    scores_.execute(st, args);
    for (std::int64_t i = 0; i < l_; ++i) {
      float* row = s + i * m_;
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
    args = {{DNNL_ARG_SRC, sm},
            {DNNL_ARG_WEIGHTS, dnnl::memory(v_md_, eng_, ptr(v + b * m_ * e_))},
            {DNNL_ARG_DST, dnnl::memory(o_md_, eng_, o + b * l_ * e_)}};
    if (context_scratch_md_.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(context_scratch_md_, eng_, scratch.data()));
    context_.execute(st, args);
  }

  dnnl::engine eng_;
  dnnl::memory::desc q_md_, k_md_, s_md_, v_md_, o_md_, scores_scratch_md_, context_scratch_md_;
  dnnl::matmul scores_, context_;
  std::int64_t batches_ = 1, l_ = 0, d_ = 0, m_ = 0, e_ = 0;
  std::vector<std::int64_t> mask_base_;
  std::int64_t mask_row_stride_ = 0, mask_col_stride_ = 0;
};

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
  return a;
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

std::unique_ptr<Kernel> make_attention(const dnnl::engine& eng, const Attention& a, const Shape& q, const Shape& k, const Shape& v,
                                       const Shape* mask) {
  return std::make_unique<AttentionKernel>(eng, a.scale, q, k, v, mask);
}

}  // namespace aifgen::engine

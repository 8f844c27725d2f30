// Conv and ConvTranspose on oneDNN (float32, 1-D to 3-D, groups, dilations, asymmetric and
// automatic padding). Primitives are created at plan time; constant weights are reordered once
// into the layout the chosen oneDNN implementation prefers.
#include <omp.h>

#include <optional>

#include "core/engine/kernels/depthwise_volume.h"
#include "core/engine/kernels/group_merge.h"
#include "core/engine/kernels/onednn_util.h"
#include "core/engine/kernels/post_ops.h"
#include "core/engine/kernels/silu.h"
#include "core/engine/kernels/winograd_choice.h"
#include "core/engine/nhwc_passthrough.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

using dnnl::memory;

struct Geometry {
  std::size_t spatial = 0;
  std::int64_t group = 1;
  memory::dims kernel, strides, dilations, pad_l, pad_r;
};

// Reads kernel/strides/dilations/pads/auto_pad for a forward convolution and returns the output
// spatial sizes.
Geometry conv_geometry(const NodeCtx& ctx, const Shape& x, const Shape& w, Shape& out_spatial) {
  Geometry g;
  g.spatial = x.size() - 2;
  g.group = ctx.attr_i("group", 1);
  auto ks = ctx.attr_ints("kernel_shape", Shape(w.begin() + 2, w.end()));
  auto st = ctx.attr_ints("strides", Shape(g.spatial, 1));
  auto dl = ctx.attr_ints("dilations", Shape(g.spatial, 1));
  auto pads = ctx.attr_ints("pads", Shape(2 * g.spatial, 0));
  if (ks.size() != g.spatial || st.size() != g.spatial || dl.size() != g.spatial || pads.size() != 2 * g.spatial)
    ctx.invalid("kernel_shape/strides/dilations/pads do not match the input rank");
  auto auto_pad = ctx.attr_s("auto_pad", "NOTSET");
  out_spatial.clear();
  for (std::size_t i = 0; i < g.spatial; ++i) {
    std::int64_t in = x[i + 2], eff = (ks[i] - 1) * dl[i] + 1, pb = pads[i], pe = pads[i + g.spatial];
    if (auto_pad == "VALID") {
      pb = pe = 0;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      std::int64_t out = (in + st[i] - 1) / st[i];
      std::int64_t total = std::max<std::int64_t>(0, (out - 1) * st[i] + eff - in);
      pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pe = total - pb;
    } else if (auto_pad != "NOTSET") {
      ctx.invalid("unknown auto_pad " + auto_pad);
    }
    std::int64_t out = (in + pb + pe - eff) / st[i] + 1;
    if (out < 1) ctx.invalid("the kernel is larger than the padded input");
    out_spatial.push_back(out);
    g.kernel.push_back(ks[i]);
    g.strides.push_back(st[i]);
    g.dilations.push_back(dl[i] - 1);  // oneDNN counts dilation from 0
    g.pad_l.push_back(pb);
    g.pad_r.push_back(pe);
  }
  return g;
}

class ConvKernel final : public Kernel {
 public:
  ConvKernel(dnnl::primitive prim, memory::desc src, memory::desc w, memory::desc b, memory::desc dst,
             std::shared_ptr<dnnl::memory> const_w, bool has_bias, const dnnl::engine& eng, memory::desc scratch)
      : prim_(std::move(prim)), src_(src), w_(w), b_(b), dst_(dst), const_w_(std::move(const_w)), has_bias_(has_bias), eng_(eng),
        scratch_(scratch) {}

  // Residual input copied into the output before the convolution accumulates onto it.
  void set_sum_input(int index, memory::desc md) {
    sum_input_ = index;
    sum_md_ = md;
    dnnl::reorder::primitive_desc pd(eng_, md, eng_, dst_, scratchpad_attr());
    sum_scratch_ = pd.scratchpad_desc();
    sum_reorder_ = dnnl::reorder(pd);
  }

  const memory::desc& sum_scratchpad() const { return sum_scratch_; }
  bool reads_input_at_run(std::size_t i) const override { return i != 1 || (!const_w_ && group_weights_.empty()); }
  void set_post_ops(std::shared_ptr<const PostOpChain> chain) { post_ops_ = std::move(chain); }
  // The chain's trailing SiLU, left out of it and applied by silu_inplace after the convolution.
  void set_trailing_silu() { trailing_silu_ = true; }
  // Run the primitive once per group (grouped_winograd_instead, winograd_choice.h): group k reads
  // the k-th `src_group`-sized slice of the source and writes the k-th `dst_group`-sized slice of
  // the destination (whole 16-channel blocks of nChw16c tensors of a batch of one), with its own
  // prepacked weights and its slice of the bias.
  // With `spread_threads` > 1 the groups are dealt out to up to that many threads
  // (run_groups_spread), each with its own `scratch_stride`-byte slice of the scratchpad.
  // With `shared_src` every group reads the whole source (the output channels split over the
  // threads, split_outputs_instead).
  void set_group_split(memory::desc src_group, memory::desc dst_group, memory::desc bias_group,
                       std::vector<std::shared_ptr<dnnl::memory>> weights, int spread_threads, std::size_t scratch_stride,
                       bool shared_src) {
    shared_src_ = shared_src;
    src_group_ = src_group;
    dst_group_ = dst_group;
    bias_group_ = bias_group;
    group_weights_ = std::move(weights);
    spread_threads_ = spread_threads;
    scratch_stride_ = scratch_stride;
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    BoundArgs local_conv, local_sum;
    if (sum_input_ >= 0 && in[sum_input_]->data != out[0]->data) {  // the same bytes when the planner shared them
      BoundArgs& r = bound_args(ctx, local_sum, 1);
      r.bind(DNNL_ARG_FROM, sum_md_, eng_, in[sum_input_]->data);
      r.bind(DNNL_ARG_TO, dst_, eng_, out[0]->data);
      if (sum_scratch_.get_size() > 0) r.bind(DNNL_ARG_SCRATCHPAD, sum_scratch_, eng_, ctx.scratchpad);
      sum_reorder_.execute(*ctx.stream, r.args());
    }
    if (!group_weights_.empty()) {
      run_group_by_group(in, out, ctx);
    } else {
      BoundArgs& a = bound_args(ctx, local_conv, 0);
      a.bind(DNNL_ARG_SRC, src_, eng_, in[0]->data);
      a.bind(DNNL_ARG_DST, dst_, eng_, out[0]->data);
      if (const_w_) a.bind(DNNL_ARG_WEIGHTS, *const_w_);
      else a.bind(DNNL_ARG_WEIGHTS, w_, eng_, in[1]->data);
      if (has_bias_) a.bind(DNNL_ARG_BIAS, b_, eng_, in[2]->data);
      if (post_ops_) post_ops_->add_args(a.mutable_args());
      if (scratch_.get_size() > 0) a.bind(DNNL_ARG_SCRATCHPAD, scratch_, eng_, ctx.scratchpad);
      prim_.execute(*ctx.stream, a.args());
    }
    // Every element of the destination, padding of a blocked layout included (SiLU(0) = 0).
    if (trailing_silu_) silu_inplace(out[0]->as<float>(), static_cast<std::int64_t>(dst_.get_size() / sizeof(float)));
  }

 private:
  void run_group_by_group(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) {
    const auto* src = static_cast<const std::byte*>(in[0]->data);
    auto* dst = static_cast<std::byte*>(out[0]->data);
    const auto* bias = has_bias_ ? static_cast<const std::byte*>(in[2]->data) : nullptr;
    const std::size_t src_step = shared_src_ ? 0 : src_group_.get_size(), dst_step = dst_group_.get_size(), bias_step = bias_group_.get_size();
    const std::size_t groups = group_weights_.size();
    // Every group's arguments bound here, on the calling thread: the run state's set of them may
    // grow, which the threads must not race on. Each thread then re-points only its own groups'
    // scratchpads.
    std::vector<BoundArgs> local(ctx.state ? 0 : groups);
    std::vector<BoundArgs*> args(groups);
    BoundArgs unused;
    if (ctx.state) bound_args(ctx, unused, 1 + groups);  // the set at its full size first: it must not move below
    for (std::size_t k = 0; k < groups; ++k) {
      BoundArgs& a = ctx.state ? bound_args(ctx, unused, 2 + k) : local[k];  // 0: the whole convolution, 1: the sum's reorder
      a.bind(DNNL_ARG_SRC, src_group_, eng_, src + k * src_step);
      a.bind(DNNL_ARG_DST, dst_group_, eng_, dst + k * dst_step);
      a.bind(DNNL_ARG_WEIGHTS, *group_weights_[k]);
      if (bias) a.bind(DNNL_ARG_BIAS, bias_group_, eng_, bias + k * bias_step);
      if (post_ops_) post_ops_->add_args(a.mutable_args());
      args[k] = &a;
    }
    const int threads = spread_threads_ > 1 ? std::min(spread_threads_, omp_get_max_threads()) : 1;
    run_groups_spread(static_cast<int>(groups), threads, *ctx.stream, [&](int k, int thread, dnnl::stream& s) {
      BoundArgs& a = *args[static_cast<std::size_t>(k)];
      if (scratch_.get_size() > 0) a.bind(DNNL_ARG_SCRATCHPAD, scratch_, eng_, ctx.scratchpad + thread * scratch_stride_);
      prim_.execute(s, a.args());
    });
  }

  std::shared_ptr<const PostOpChain> post_ops_;
  bool trailing_silu_ = false;
  dnnl::primitive prim_;
  memory::desc src_, w_, b_, dst_;
  std::shared_ptr<dnnl::memory> const_w_;
  bool has_bias_;
  dnnl::engine eng_;
  memory::desc scratch_;
  int sum_input_ = -1;
  memory::desc sum_md_, sum_scratch_;
  dnnl::reorder sum_reorder_;
  memory::desc src_group_, dst_group_, bias_group_;
  std::vector<std::shared_ptr<dnnl::memory>> group_weights_;  // empty: one call for the whole convolution
  int spread_threads_ = 1;
  std::size_t scratch_stride_ = 0;
  bool shared_src_ = false;
};

// Output channels are split over the threads only for maps of at most this many pixels: on larger
// ones oneDNN's own split was as fast (28x28 and 56x56 within 2%), and each timing costs plan time.
constexpr std::int64_t kSplitOutputsMaxPixels = 256;

// How good a oneDNN implementation is, from its name: reference < generic (gemm, uni) < AVX2 <
// AVX-512 (brgemm kernels are AVX-512 only). Only used to compare two choices for one op.
int kernel_rank(const std::string& impl) {
  if (impl.rfind("ref", 0) == 0) return 0;
  if (impl.find("avx512") != std::string::npos || impl.find("amx") != std::string::npos) return 3;
  if (impl.find("avx2") != std::string::npos) return 2;
  return 1;
}

memory::desc layout_or_plain(const TensorDesc& d) { return d.layout ? *d.layout : plain_f32(to_dims(d.shape)); }

dnnl::primitive_attr post_op_attr(const PostOpChain& chain) {
  dnnl::primitive_attr attr = scratchpad_attr();
  attr.set_post_ops(chain.post_ops());
  return attr;
}

// Reorders a constant plain weight tensor into the layout `want` (kept alive by the kernel),
// shared through `shared` when given (packed_constant).
std::shared_ptr<memory> prepack(PackedWeights* shared, const NodeCtx& ctx, const memory::desc& plain, const memory::desc& want,
                                const Tensor& w) {
  return packed_constant(shared, ctx.dnnl_engine(), plain, w.data, want);
}

// Whether `x` convolved by weights `w` in groups/`factor` groups (group_merge.h) gets a oneDNN
// kernel of a better instruction set than in its own groups, each in the layouts oneDNN prefers.
bool merged_groups_get_a_better_kernel(const Shape& x, const Shape& w, const Geometry& g, std::int64_t factor,
                                       const memory::desc& bias, const memory::desc& dst, const dnnl::primitive_attr& attr,
                                       const dnnl::engine& eng) {
  auto kernel_for = [&](std::int64_t groups) {
    memory::dims wdims = to_dims(w);
    wdims[0] /= groups;
    wdims[1] = x[1] / groups;
    wdims.insert(wdims.begin(), groups);
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                      memory::desc(to_dims(x), memory::data_type::f32, memory::format_tag::any),
                                      memory::desc(wdims, memory::data_type::f32, memory::format_tag::any), bias, dst, g.strides,
                                      g.dilations, g.pad_l, g.pad_r);
    dnnl::convolution_forward::primitive_desc pd(d, attr, eng, true);
    return pd ? kernel_rank(pd.impl_info_str()) : -1;
  };
  return kernel_for(g.group / factor) > kernel_for(g.group);
}

// The input a fused sum post-op adds (the residual), or -1.
int sum_input_of(const std::vector<PostOp>& ops) {
  for (const auto& p : ops)
    if (p.kind == PostOp::Kind::kSum) return p.sum_input;
  return -1;
}

// A 3x3 convolution on the engine's own Winograd F(4x4, 3x3) (winograd_f4x3.h), in the direct
// kernel's channel-blocked layouts; the residual of a fused sum is read where it lies.
class OwnWinogradKernel final : public Kernel {
 public:
  OwnWinogradKernel(std::shared_ptr<const WinogradF4x3> winograd, int residual_input)
      : winograd_(std::move(winograd)), residual_input_(residual_input) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    const float* residual = residual_input_ >= 0 ? in[static_cast<std::size_t>(residual_input_)]->as<float>() : nullptr;
    winograd_->run(in[0]->as<float>(), out[0]->as<float>(), residual, ctx.scratchpad, *ctx.stream);
  }
  // The weights and bias live transformed in winograd_.
  bool reads_input_at_run(std::size_t i) const override { return i != 1 && i != 2; }

 private:
  std::shared_ptr<const WinogradF4x3> winograd_;
  int residual_input_;
};

// The engine's own Winograd for this convolution when oneDNN has none here (below AVX-512) and
// the policy (measured: timed against `direct`) picks it: a 3x3 stride-1 convolution in `groups`
// groups (each of whole vector blocks) with constant weights and bias, whose direct kernel reads
// and writes the same nChw8c/nChw16c layout, and whose fused tail is at most a residual sum (in
// that layout) and a ReLU. nullptr to keep `direct`. Its transformed weights are shared through
// `shared_weights` when given (packed_constant).
std::shared_ptr<const WinogradF4x3> own_winograd(const NodeCtx& ctx, const dnnl::convolution_forward::primitive_desc& direct,
                                                 const PostOpChain& chain, const std::vector<PostOp>& fused, const Shape& x,
                                                 const Shape& y, const Geometry& g, std::int64_t groups, const Tensor& weights,
                                                 PackedWeights* shared_weights) {
  if (ctx.conv_algorithm == ConvAlgorithm::kDirect) return nullptr;
  const auto epilogue = winograd_epilogue_for(fused);
  const Tensor* bias = ctx.has_input(2) ? ctx.maybe_constant(2) : nullptr;
  if (!epilogue || (ctx.has_input(2) && !bias)) return nullptr;
  std::int64_t block = 0;
  for (auto [tag, b] : {std::pair{memory::format_tag::nChw8c, 8}, std::pair{memory::format_tag::nChw16c, 16}})
    if (direct.src_desc() == memory::desc(to_dims(x), memory::data_type::f32, tag) &&
        direct.dst_desc() == memory::desc(to_dims(y), memory::data_type::f32, tag))
      block = b;
  if (block == 0) return nullptr;
  if (epilogue->residual && layout_or_plain(ctx.in(static_cast<std::size_t>(sum_input_of(fused)))) != direct.dst_desc()) return nullptr;
  const WinogradF4x3Shape shape{x[0], x[1] / groups, x[2], x[3], y[1] / groups, y[2], y[3], g.pad_l[0], g.pad_l[1], block, groups};
  if (!winograd_f4x3_supports(shape)) return nullptr;
  return own_winograd_instead(
      ctx.conv_algorithm, direct, chain, shape, *epilogue,
      [&] {
        return std::make_shared<const WinogradF4x3>(shape, weights.as<float>(), bias ? bias->as<float>() : nullptr, *epilogue,
                                                    ctx.dnnl_engine(), kWinogradChunkBytes, shared_weights);
      },
      ctx.dnnl_engine());
}

void check_float_inputs(const NodeCtx& ctx) {
  for (std::size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i)) ctx.require_dtype(i, {DType::kF32});
  auto rank = ctx.in(0).shape.size();
  if (rank < 3 || rank > 5) ctx.unsupported("only 1-D, 2-D and 3-D convolutions");
  if (ctx.in(1).shape.size() != rank) ctx.invalid("weight rank differs from input rank");
}

// A depthwise 1-D convolution with constant weights, on plain [N, C, W] values: each channel's
// row convolved with its own taps, one vector pass over the row per tap. oneDNN 2.6 has no jit
// kernel for long depthwise 1-D filters and runs them as im2col + GEMM per channel: Conformer's
// 31-tap convolution module (144 channels x 200 frames) took 1.1 ms a layer, 30% of the model
// at 1 thread. Used where oneDNN's pick ranks no better than that (kernel_rank <= 1), with no
// fused operation but a trailing SiLU.
class DepthwiseRowsKernel final : public Kernel {
 public:
  DepthwiseRowsKernel(std::vector<float> taps, std::vector<float> bias, std::int64_t k, std::int64_t stride, std::int64_t dilation,
                      std::int64_t pad, bool silu)
      : taps_(std::move(taps)), bias_(std::move(bias)), k_(k), stride_(stride), dilation_(dilation), pad_(pad), silu_(silu) {}

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) override {
    const auto& xs = in[0]->shape;
    const std::int64_t rows = xs[0] * xs[1], c = xs[1], wi = xs[2], wo = out[0]->shape[2];
    const float* x = in[0]->as<float>();
    float* y = out[0]->as<float>();
#pragma omp parallel for if (rows >= 2 && rows * wo * k_ > (1 << 19)) schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) convolve_row(x + r * wi, wi, taps_.data() + (r % c) * k_, bias_[static_cast<std::size_t>(r % c)], y + r * wo, wo);
    if (silu_) silu_inplace(y, rows * wo);
  }

 private:
  void convolve_row(const float* x, std::int64_t wi, const float* taps, float bias, float* y, std::int64_t wo) const {
    std::fill(y, y + wo, bias);
    for (std::int64_t j = 0; j < k_; ++j) {
      // Outputs t whose input t * stride + j * dilation - pad lies inside the row.
      const std::int64_t offset = j * dilation_ - pad_;
      const std::int64_t first = offset >= 0 ? 0 : (-offset + stride_ - 1) / stride_;
      const std::int64_t last = wi - 1 - offset < 0 ? -1 : std::min(wo - 1, (wi - 1 - offset) / stride_);
      const float tap = taps[j];
      if (stride_ == 1) {
        const float* xs = x + offset;
#pragma omp simd
        for (std::int64_t t = first; t <= last; ++t) y[t] += tap * xs[t];
      } else {
        for (std::int64_t t = first; t <= last; ++t) y[t] += tap * x[t * stride_ + offset];
      }
    }
  }

  std::vector<float> taps_, bias_;
  std::int64_t k_, stride_, dilation_, pad_;
  bool silu_;
};

std::unique_ptr<Kernel> make_conv(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  check_float_inputs(ctx);
  const auto& x = ctx.in(0).shape;
  const auto& w = ctx.in(1).shape;
  Shape out_spatial;
  auto g = conv_geometry(ctx, x, w, out_spatial);
  const std::int64_t n = x[0], c = x[1], m = w[0];
  if (g.group < 1 || c % g.group != 0 || m % g.group != 0 || w[1] != c / g.group)
    ctx.invalid("channels do not match weights and groups");
  Shape y = {n, m};
  y.insert(y.end(), out_spatial.begin(), out_spatial.end());
  outs = {{DType::kF32, y}};
  if (ctx.describe_only) return nullptr;

  // A SiLU at the end of the chain runs as a separate vector pass, cheaper than oneDNN's post-op
  // (silu.h); elsewhere in the chain it stays a post-op.
  std::vector<PostOp> fused = ctx.post_ops;
  const bool trailing_silu = silu_vectorized() && !fused.empty() && fused.back().kind == PostOp::Kind::kEltwise &&
                             fused.back().alg == dnnl::algorithm::eltwise_swish && fused.back().alpha == 1.f;
  if (trailing_silu) fused.pop_back();
  auto chain = std::make_shared<const PostOpChain>(fused, std::nullopt, static_cast<int>(y.size()), ctx.dnnl_engine());
  bool has_bias = ctx.has_input(2);
  auto bias = has_bias ? plain_f32({m}) : memory::desc();
  const Tensor* wconst = ctx.maybe_constant(1);
  auto dst_any = ctx.blocked_output_ok ? memory::desc(to_dims(y), memory::data_type::f32, memory::format_tag::any)
                                       : plain_f32(to_dims(y));
  // Narrow groups (ResNeXt's 4 channels) joined into groups of whole vector blocks where that gets
  // oneDNN's blocked direct kernel instead of its generic one (group_merge.h).
  std::int64_t groups = g.group;
  Tensor merged_weights;
  // Weights packed from the constant input's own bytes may be shared with the node's other
  // plans; merged ones are a copy made here, whose address means nothing to them.
  PackedWeights* shared_weights = ctx.packed_weights;
  if (wconst && ctx.blocked_output_ok && x.size() == 4)
    if (const std::int64_t f = group_merge_factor(g.group, c / g.group, m / g.group);
        f > 0 && merged_groups_get_a_better_kernel(x, w, g, f, bias, dst_any, post_op_attr(*chain), ctx.dnnl_engine())) {
      merged_weights = block_diagonal_weights(*wconst, g.group, f);
      wconst = &merged_weights;
      shared_weights = nullptr;
      groups = g.group / f;
      ctx.merged_groups = true;
    }
  memory::dims wdims = to_dims(w);
  wdims[1] = c / groups;
  if (groups > 1) {
    wdims[0] = m / groups;
    wdims.insert(wdims.begin(), groups);
  }
  // Source in whatever layout the producer left it; destination in the layout oneDNN prefers
  // (blocked, e.g. nChw8c) when the planner allows it, so chains of convolutions never reorder.
  const bool choose_src = ctx.blocked_output_ok && !ctx.in(0).layout;
  auto src = choose_src ? memory::desc(to_dims(x), memory::data_type::f32, memory::format_tag::any) : layout_or_plain(ctx.in(0));
  auto wplain = plain_f32(wdims);
  auto wmd = wconst ? memory::desc(wdims, memory::data_type::f32, memory::format_tag::any) : wplain;
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, wmd,
                                    bias, dst_any, g.strides, g.dilations, g.pad_l, g.pad_r);
  dnnl::convolution_forward::primitive_desc pd(d, post_op_attr(*chain), ctx.dnnl_engine());
  // oneDNN 2.6 picks an `any` destination from its own kernels' preferences: a depthwise
  // convolution reading NHWC with an `any` destination got the reference kernel, and with NHWC
  // named for the destination too it gets its jit one (convnext_tiny's 7x7 depthwise layers).
  // Where naming it ranks better the value stays NHWC: no reorder into the convolution, and the
  // channels-last Transpose ConvNeXt applies after it reads the bytes as they are.
  if (!choose_src && ctx.blocked_output_ok && y.size() == 4 && is_nhwc(ctx.in(0))) {
    dnnl::convolution_forward::desc dn(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, wmd, bias,
                                       *nhwc_layout(y), g.strides, g.dilations, g.pad_l, g.pad_r);
    dnnl::convolution_forward::primitive_desc same(dn, post_op_attr(*chain), ctx.dnnl_engine(), true);
    if (same && kernel_rank(same.impl_info_str()) > kernel_rank(pd.impl_info_str())) pd = same;
  }
  // Started blocked (activation_layout.h): this convolution writing the channel-blocked layout of
  // the widest vectors oneDNN has a kernel for here, as long as that kernel ranks as well as
  // `rival`; nullopt where none does. With `reorder`, it reads that layout too (its input is
  // reordered into it), otherwise it reads `src`.
  auto widest_blocked = [&](bool reorder, const dnnl::convolution_forward::primitive_desc& rival)
      -> std::optional<dnnl::convolution_forward::primitive_desc> {
    if (!ctx.blocked_activations || y.size() != 4) return std::nullopt;
    for (auto tag : {memory::format_tag::nChw16c, memory::format_tag::nChw8c}) {
      const std::int64_t block = tag == memory::format_tag::nChw16c ? 16 : 8;
      const auto read = reorder ? memory::desc(to_dims(x), memory::data_type::f32, tag) : src;
      if (m % block != 0 || (reorder && (c % block != 0 || read == src))) continue;
      dnnl::convolution_forward::desc db(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, read, wmd,
                                         bias, memory::desc(to_dims(y), memory::data_type::f32, tag), g.strides, g.dilations,
                                         g.pad_l, g.pad_r);
      dnnl::convolution_forward::primitive_desc blocked(db, post_op_attr(*chain), ctx.dnnl_engine(), true);
      if (blocked && kernel_rank(blocked.impl_info_str()) >= kernel_rank(rival.impl_info_str())) return blocked;
    }
    return std::nullopt;
  };
  if (choose_src)
    if (auto blocked = widest_blocked(false, pd)) pd = *blocked;
  // The producer's layout can cost the convolution its best kernel: an int8 convolution's nhwc
  // output read by a float convolution on AVX2 chose the reference kernel (100x slower), and a
  // grouped convolution's nChw8c output (group width 8) made every following 1x1 convolution
  // take oneDNN's AVX2 kernel instead of the AVX-512 one (resnext50: 1.5x ORT's time). When a
  // source layout of oneDNN's own choosing gets a kernel of a better instruction set, reorder the
  // input into it once; the reorder costs far less than the slower kernel.
  bool reorder_src = false;
  if (!choose_src && ctx.in(0).layout) {
    auto any_src = memory::desc(to_dims(x), memory::data_type::f32, memory::format_tag::any);
    dnnl::convolution_forward::desc d2(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, any_src, wmd,
                                       bias, dst_any, g.strides, g.dilations, g.pad_l, g.pad_r);
    dnnl::convolution_forward::primitive_desc pd2(d2, post_op_attr(*chain), ctx.dnnl_engine());
    // Started blocked, the reorder goes into the widest channel-blocked layout with a kernel as
    // good as oneDNN's pick, so the chain stays blocked after it: left to oneDNN, a 1x1
    // convolution reading ResNeXt-101's nChw8c stage-1 output reorders it to NHWC, and every
    // later grouped convolution then runs oneDNN's NHWC kernel, 30% slower than its nChw16c one
    // (32-channel groups at 14x14 on AVX-512: 0.90 against 0.63 ms).
    if (auto blocked = widest_blocked(true, pd2)) pd2 = *blocked;
    if (pd2.src_desc() != src && kernel_rank(pd2.impl_info_str()) > kernel_rank(pd.impl_info_str())) {
      pd = pd2;
      reorder_src = true;
    }
  }
  // A bias known only at run time stays with oneDNN's kernel, which reads it.
  const Tensor* bias_const = has_bias ? ctx.maybe_constant(2) : nullptr;
  if (wconst && x.size() == 3 && groups == c && groups == m && w[1] == 1 && fused.empty() && !ctx.in(0).layout &&
      (!has_bias || bias_const) && kernel_rank(pd.impl_info_str()) <= 1) {
    std::vector<float> taps(wconst->as<float>(), wconst->as<float>() + m * w[2]), b(static_cast<std::size_t>(m), 0.f);
    if (bias_const) std::copy(bias_const->as<float>(), bias_const->as<float>() + m, b.begin());
    return std::make_unique<DepthwiseRowsKernel>(std::move(taps), std::move(b), w[2], g.strides[0], g.dilations[0] + 1, g.pad_l[0],
                                                 trailing_silu);
  }
  // A depthwise 3-D convolution, which oneDNN runs as im2col + GEMM per channel
  // (depthwise_volume.h).
  if (wconst && x.size() == 5 && groups == c && groups == m && w[1] == 1 && fused.empty() && !trailing_silu && !ctx.in(0).layout &&
      (!has_bias || bias_const) && g.dilations == memory::dims{0, 0, 0} && kernel_rank(pd.impl_info_str()) <= 1) {
    VolumeWindow window{};
    for (int d = 0; d < 3; ++d) {
      window.kernel[d] = w[static_cast<std::size_t>(2 + d)];
      window.stride[d] = g.strides[static_cast<std::size_t>(d)];
      window.pad[d] = g.pad_l[static_cast<std::size_t>(d)];
    }
    std::vector<float> b;
    if (bias_const) b.assign(bias_const->as<float>(), bias_const->as<float>() + m);
    ctx.scratchpad_bytes = std::max(ctx.scratchpad_bytes, DepthwiseVolumeKernel::scratch_bytes(x, y));
    return std::make_unique<DepthwiseVolumeKernel>(*wconst, std::move(b), window, x, y, ctx.dnnl_engine());
  }
  // 3x3 stride-1 convolutions may run as Winograd (winograd_choice.h); it picks its own source
  // layout (nChw16c), reordered into once like the case above.
  if (wconst && g.group == 1 && x.size() == 4 && w[2] == 3 && w[3] == 3 && g.strides == memory::dims{1, 1} &&
      g.dilations == memory::dims{0, 0}) {
    auto any_src = memory::desc(to_dims(x), memory::data_type::f32, memory::format_tag::any);
    dnnl::convolution_forward::desc dw(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd, any_src, wmd,
                                       bias, dst_any, g.strides, g.dilations, g.pad_l, g.pad_r);
    if (auto wino = winograd_instead(ctx.conv_algorithm, pd, dw, post_op_attr(*chain), *chain, ctx.dnnl_engine())) {
      pd = *wino;
      ctx.winograd = true;
      if (!choose_src) reorder_src = pd.src_desc() != src;
    }
  }
  // A grouped one (RegNet's 3x3 layers) may run group by group as Winograd when its groups are
  // whole 16-channel blocks and the batch is one: group k's channels of an nChw16c tensor are then
  // one dense nChw16c tensor at an offset, so no group needs copying in or out.
  std::optional<memory::desc> whole_src, whole_dst;  // set when run group by group
  int spread_threads = 1;                            // > 1: the groups spread over that many threads
  const std::int64_t cg = c / groups, mg = m / groups;
  if (!ctx.winograd && wconst && groups > 1 && n == 1 && x.size() == 4 && w[2] == 3 && w[3] == 3 && cg % 16 == 0 &&
      mg % 16 == 0 && ctx.blocked_output_ok && g.strides == memory::dims{1, 1} && g.dilations == memory::dims{0, 0}) {
    using tag = memory::format_tag;
    const memory::dims gsrc = {1, cg, x[2], x[3]}, gdst = {1, mg, y[2], y[3]};
    const auto ws = memory::desc(to_dims(x), memory::data_type::f32, tag::nChw16c);
    const auto wd = memory::desc(to_dims(y), memory::data_type::f32, tag::nChw16c);
    dnnl::convolution_forward::desc dg(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
        memory::desc(gsrc, memory::data_type::f32, tag::any), memory::desc({mg, cg, 3, 3}, memory::data_type::f32, tag::any),
        has_bias ? plain_f32({mg}) : memory::desc(), memory::desc(gdst, memory::data_type::f32, tag::any), g.strides,
        g.dilations, g.pad_l, g.pad_r);
    spread_threads = spread_groups_over(static_cast<int>(groups), omp_get_max_threads()) ? omp_get_max_threads() : 1;
    auto wino = grouped_winograd_instead(ctx.conv_algorithm, pd, dg, static_cast<int>(groups), spread_threads > 1, ws, wd,
                                         post_op_attr(*chain), *chain, ctx.dnnl_engine());
    if (wino && wino->src_desc() == memory::desc(gsrc, memory::data_type::f32, tag::nChw16c) &&
        wino->dst_desc() == memory::desc(gdst, memory::data_type::f32, tag::nChw16c)) {
      pd = *wino;
      whole_src = ws;
      whole_dst = wd;
      ctx.winograd = true;
      reorder_src = !choose_src && src != ws;
    }
  }
  // Below AVX-512 oneDNN has no Winograd kernel: the engine's own may take the convolution over,
  // grouped ones too (RegNet's, ResNeXt's once joined: one product per group and point) where
  // oneDNN's did not take them group by group above.
  if (!ctx.winograd && !whole_src && wconst && !trailing_silu && x.size() == 4 && w[2] == 3 && w[3] == 3 && g.strides == memory::dims{1, 1} &&
      g.dilations == memory::dims{0, 0} && ctx.blocked_output_ok)
    if (auto own = own_winograd(ctx, pd, *chain, fused, x, y, g, groups, *wconst, shared_weights)) {
      ctx.winograd = true;
      if (reorder_src || choose_src) ctx.wanted_input_layout = std::make_shared<const memory::desc>(pd.src_desc());
      outs[0].layout = std::make_shared<const memory::desc>(pd.dst_desc());
      ctx.need_scratchpad(memory::desc({static_cast<memory::dim>(own->scratch_bytes())}, memory::data_type::u8, memory::format_tag::x));
      const int residual = own->epilogue().residual ? sum_input_of(fused) : -1;
      if (residual >= 0) ctx.inplace_input = residual;
      return std::make_unique<OwnWinogradKernel>(std::move(own), residual);
    }
  // At 2+ threads a 1x1 convolution on a small map may run as one part of its output channels per
  // thread (split_outputs_instead, winograd_choice.h): with a batch of one, a share of the channels
  // of an NCHW or channel-blocked destination is one dense tensor at an offset.
  std::int64_t parts = 1;
  if (!whole_src && !ctx.winograd && wconst && groups == 1 && n == 1 && x.size() == 4 && w[2] == 1 && w[3] == 1 &&
      y[2] * y[3] <= kSplitOutputsMaxPixels && ctx.blocked_output_ok && omp_get_max_threads() > 1) {
    using tag = memory::format_tag;
    const int team = omp_get_max_threads();
    for (const auto& [t, block] : {std::pair{tag::nChw8c, 8}, std::pair{tag::nChw16c, 16}, std::pair{tag::nchw, 1}}) {
      if (pd.dst_desc() != memory::desc(to_dims(y), memory::data_type::f32, t) || m % (team * block) != 0) continue;
      const memory::dims part_dst = {1, m / team, y[2], y[3]};
      const auto part_md = memory::desc(part_dst, memory::data_type::f32, t);
      dnnl::convolution_forward::desc dp(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, pd.src_desc(),
                                         memory::desc({m / team, c, 1, 1}, memory::data_type::f32, tag::any),
                                         has_bias ? plain_f32({m / team}) : memory::desc(), part_md, g.strides, g.dilations,
                                         g.pad_l, g.pad_r);
      auto part = split_outputs_instead(pd, dp, team, post_op_attr(*chain), *chain, ctx.dnnl_engine());
      if (part && part->dst_desc() == part_md && part->src_desc() == pd.src_desc()) {
        whole_src = pd.src_desc();
        whole_dst = pd.dst_desc();
        pd = *part;
        parts = team;
        spread_threads = team;
        ctx.split_outputs = true;
      }
      break;
    }
  }
  auto dst = whole_dst.value_or(pd.dst_desc());
  if (dst != plain_f32(to_dims(y))) outs[0].layout = std::make_shared<const memory::desc>(dst);
  if (reorder_src) {
    src = whole_src.value_or(pd.src_desc());
    ctx.wanted_input_layout = std::make_shared<const memory::desc>(src);
  }
  if (choose_src) {
    src = whole_src.value_or(pd.src_desc());
    if (src != plain_f32(to_dims(x))) ctx.wanted_input_layout = std::make_shared<const memory::desc>(src);
  }
  if (groups > 1 && groups < c && x.size() == 4 && src == *nhwc_layout(x)) ctx.grouped_channels_last = true;
  std::shared_ptr<memory> packed;
  std::vector<std::shared_ptr<memory>> group_weights;
  // Per group (or per part of the output channels): its rows of the plain [M, C/G, kh, kw] weights.
  const std::int64_t runs = parts > 1 ? parts : groups, rows = m / runs, cols = c / groups;
  if (wconst && whole_src) {
    const auto plain_group = plain_f32({rows, cols, w[2], w[3]});
    for (std::int64_t k = 0; k < runs; ++k) {
      group_weights.push_back(packed_constant(shared_weights, ctx.dnnl_engine(), plain_group, wconst->as<float>() + k * rows * cols * w[2] * w[3], pd.weights_desc()));
    }
  } else if (wconst) {
    packed = prepack(shared_weights, ctx, wplain, pd.weights_desc(), *wconst);
  }
  if (!whole_src) spread_threads = 1;
  // One scratchpad slice per thread when the groups are spread, each on its own cache lines.
  const std::size_t scratch_stride = (pd.scratchpad_desc().get_size() + 63) / 64 * 64;
  ctx.need_scratchpad(spread_threads > 1 ? memory::desc({static_cast<memory::dim>(scratch_stride) * spread_threads},
                                                        memory::data_type::u8, memory::format_tag::x)
                                         : pd.scratchpad_desc());
  std::optional<OneThreadScope> one_thread;  // the spread groups' primitive is made for one thread
  if (spread_threads > 1) one_thread.emplace();
  auto kernel = std::make_unique<ConvKernel>(dnnl::convolution_forward(pd), src, wplain, bias, dst, packed, has_bias,
                                             ctx.dnnl_engine(), pd.scratchpad_desc());
  one_thread.reset();
  kernel->set_post_ops(chain);
  if (trailing_silu) kernel->set_trailing_silu();
  if (whole_src)
    kernel->set_group_split(pd.src_desc(), pd.dst_desc(), has_bias ? plain_f32({rows}) : memory::desc(), std::move(group_weights),
                            spread_threads, scratch_stride, parts > 1);
  for (const auto& p : ctx.post_ops)
    if (p.kind == PostOp::Kind::kSum) {
      const auto sum_md = layout_or_plain(ctx.in(static_cast<std::size_t>(p.sum_input)));
      kernel->set_sum_input(p.sum_input, sum_md);
      ctx.need_scratchpad(kernel->sum_scratchpad());
      if (sum_md == dst) ctx.inplace_input = p.sum_input;
    }
  return kernel;
}

// "ConvInt8" (engine-internal, planned from QuantizeLinear -> DequantizeLinear -> Conv with a
// DequantizeLinear'd int8 weight; see session.cpp). Input 0 is either the float activation
// before its QuantizeLinear, which one oneDNN reorder quantizes (scale, zero point, saturation,
// round-to-nearest-even like QuantizeLinear) into the layout the convolution wants, or, when the
// producer already requantized it, the uint8/int8 tensor itself. The convolution accumulates
// u8/s8 x s8 in s32, scales per output channel by x_scale * w_scale[m], applies the fused
// post-ops in float and writes float, or (attributes y_scale/y_zero_point) the next
// QuantizeLinear's integers directly. Results equal the QDQ graph's up to float rounding.
class ConvInt8Kernel final : public Kernel {
 public:
  ConvInt8Kernel(const dnnl::engine& eng, dnnl::convolution_forward::primitive_desc pd, std::shared_ptr<memory> w,
                 std::shared_ptr<memory> bias, std::int32_t x_zp, std::shared_ptr<const PostOpChain> post_ops)
      : eng_(eng), pd_(pd), conv_(pd), w_(std::move(w)), bias_(std::move(bias)), zp_(x_zp), post_ops_(std::move(post_ops)) {}

  // Input 0 arrives as `from` and must first become the convolution's source layout (with the
  // quantizing scale/zero point in `attr` when it is float).
  void set_input_reorder(const memory::desc& from, const dnnl::primitive_attr& attr, bool with_zero_point) {
    in_md_ = from;
    in_pd_ = dnnl::reorder::primitive_desc(eng_, from, eng_, pd_.src_desc(), attr);
    in_reorder_ = dnnl::reorder(in_pd_);
    reorder_zp_ = with_zero_point;
    has_in_reorder_ = true;
  }

  void set_sum_input(int index, memory::desc md) {
    sum_input_ = index;
    sum_md_ = md;
    dnnl::reorder::primitive_desc pd(eng_, md, eng_, pd_.dst_desc(), scratchpad_attr());
    sum_scratch_ = pd.scratchpad_desc();
    sum_reorder_ = dnnl::reorder(pd);
  }

  // The reordered input lives at the start of the run's scratchpad; oneDNN's own scratchpads after it.
  std::size_t scratch_offset() const { return has_in_reorder_ ? (pd_.src_desc().get_size() + 63) / 64 * 64 : 0; }
  // The int8 weights and the bias live prepacked in w_ and bias_.
  bool reads_input_at_run(std::size_t i) const override { return i != 1 && i != 2; }
  std::size_t scratch_bytes() const {
    return scratch_offset() + std::max({has_in_reorder_ ? in_pd_.scratchpad_desc().get_size() : 0, pd_.scratchpad_desc().get_size(),
                                        sum_scratch_.get_size()});
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    RunContext inner = ctx;
    inner.scratchpad = ctx.scratchpad + scratch_offset();
    memory zp_mem(memory::desc({1}, memory::data_type::s32, memory::format_tag::x), eng_, &zp_);
    memory src;
    if (has_in_reorder_) {
      src = wrap(pd_.src_desc(), eng_, ctx.scratchpad);
      std::unordered_map<int, memory> args{{DNNL_ARG_FROM, wrap(in_md_, eng_, in[0]->data)}, {DNNL_ARG_TO, src}};
      if (reorder_zp_) args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, zp_mem);
      add_scratchpad(args, in_pd_.scratchpad_desc(), eng_, inner);
      in_reorder_.execute(*ctx.stream, args);
    } else {
      src = wrap(pd_.src_desc(), eng_, in[0]->data);
    }
    auto dst = wrap(pd_.dst_desc(), eng_, out[0]->data);
    if (sum_input_ >= 0) {
      std::unordered_map<int, memory> rargs{{DNNL_ARG_FROM, wrap(sum_md_, eng_, in[sum_input_]->data)}, {DNNL_ARG_TO, dst}};
      add_scratchpad(rargs, sum_scratch_, eng_, inner);
      sum_reorder_.execute(*ctx.stream, rargs);
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, *w_}, {DNNL_ARG_DST, dst}};
    if (bias_) args.emplace(DNNL_ARG_BIAS, *bias_);
    if (zp_ != 0) args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zp_mem);
    post_ops_->add_args(args);
    add_scratchpad(args, pd_.scratchpad_desc(), eng_, inner);
    conv_.execute(*ctx.stream, args);
  }

 private:
  dnnl::engine eng_;
  dnnl::convolution_forward::primitive_desc pd_;
  dnnl::convolution_forward conv_;
  std::shared_ptr<memory> w_, bias_;
  std::int32_t zp_;
  std::shared_ptr<const PostOpChain> post_ops_;
  bool has_in_reorder_ = false, reorder_zp_ = false;
  memory::desc in_md_;
  dnnl::reorder::primitive_desc in_pd_;
  dnnl::reorder in_reorder_;
  int sum_input_ = -1;
  memory::desc sum_md_, sum_scratch_;
  dnnl::reorder sum_reorder_;
};

memory::data_type onednn_type(DType t) {
  switch (t) {
    case DType::kU8: return memory::data_type::u8;
    case DType::kI8: return memory::data_type::s8;
    default: return memory::data_type::f32;
  }
}

// The layout a tensor is in: its oneDNN layout or plain row-major of its type.
memory::desc layout_of(const TensorDesc& d) {
  if (d.layout) return *d.layout;
  return memory::desc(to_dims(d.shape), onednn_type(d.dtype), row_major(to_dims(d.shape)));
}

std::unique_ptr<Kernel> make_conv_int8(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kF32, DType::kU8, DType::kI8});
  ctx.require_dtype(1, {DType::kI8});
  if (ctx.has_input(2)) ctx.require_dtype(2, {DType::kF32});
  const auto& x = ctx.in(0).shape;
  const auto& w = ctx.in(1).shape;
  if (x.size() < 3 || x.size() > 5 || w.size() != x.size()) ctx.unsupported("only 1-D to 3-D convolutions");
  const Tensor& wq = ctx.constant_input(1, "int8 weights");
  const Tensor* bias_const = ctx.has_input(2) ? &ctx.constant_input(2, "bias") : nullptr;
  Shape out_spatial;
  auto g = conv_geometry(ctx, x, w, out_spatial);
  const std::int64_t n = x[0], c = x[1], m = w[0];
  if (g.group < 1 || c % g.group != 0 || m % g.group != 0 || w[1] != c / g.group)
    ctx.invalid("channels do not match weights and groups");
  Shape y = {n, m};
  y.insert(y.end(), out_spatial.begin(), out_spatial.end());

  const float x_scale = ctx.attr_f("x_scale", 0);
  const auto x_zp = static_cast<std::int32_t>(ctx.attr_i("x_zero_point", 0));
  const bool x_signed = ctx.attr_i("x_signed", 0) != 0;
  auto w_scales = ctx.attr_floats("w_scales");
  if (!(x_scale > 0) || (w_scales.size() != 1 && static_cast<std::int64_t>(w_scales.size()) != m)) ctx.invalid("bad quantization parameters");
  if (w_scales.size() == 1) w_scales.assign(static_cast<std::size_t>(m), w_scales[0]);
  std::vector<float> out_scales(static_cast<std::size_t>(m));
  for (std::int64_t k = 0; k < m; ++k) out_scales[static_cast<std::size_t>(k)] = x_scale * w_scales[static_cast<std::size_t>(k)];
  const DType in_type = ctx.in(0).dtype;
  if (in_type != DType::kF32 && (in_type == DType::kI8) != x_signed) ctx.invalid("quantized input type differs from its zero point's");
  // Requantized output: float result -> * (1 / y_scale) + y_zero_point, rounded and saturated
  // by oneDNN's conversion to the integer destination.
  const bool requant = ctx.has_attr("y_scale");
  const float y_scale = ctx.attr_f("y_scale", 1);
  const auto y_zp = ctx.attr_i("y_zero_point", 0);
  const DType out_type = !requant ? DType::kF32 : ctx.attr_i("y_signed", 0) ? DType::kI8 : DType::kU8;
  if (requant && !(y_scale > 0)) ctx.invalid("bad requantization scale");
  outs = {{out_type, y}};
  if (ctx.describe_only) return nullptr;

  memory::dims wdims = to_dims(w);
  if (g.group > 1) {
    wdims[0] = m / g.group;
    wdims.insert(wdims.begin(), g.group);
  }
  const auto qtype = x_signed ? memory::data_type::s8 : memory::data_type::u8;
  memory::desc xq_any(to_dims(x), qtype, memory::format_tag::any);
  memory::desc w_any(wdims, memory::data_type::s8, memory::format_tag::any);
  memory::desc bias_md = bias_const ? plain_f32({m}) : memory::desc();
  const auto dst_type = onednn_type(out_type);
  auto dst_any = ctx.blocked_output_ok ? memory::desc(to_dims(y), dst_type, memory::format_tag::any)
                                       : memory::desc(to_dims(y), dst_type, row_major(to_dims(y)));
  std::optional<std::pair<float, float>> requantize;
  if (requant) requantize = std::pair{1.0f / y_scale, static_cast<float>(y_zp)};
  auto chain = std::make_shared<const PostOpChain>(ctx.post_ops, requantize, static_cast<int>(y.size()), ctx.dnnl_engine());
  dnnl::primitive_attr attr = scratchpad_attr();
  attr.set_post_ops(chain->post_ops());
  attr.set_output_scales(1 << 1, out_scales);
  if (x_zp != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
  // An already-quantized input is used in its own layout when the convolution accepts it.
  dnnl::convolution_forward::primitive_desc pd;
  auto make_pd = [&](const memory::desc& src) {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, w_any,
                                      bias_md, dst_any, g.strides, g.dilations, g.pad_l, g.pad_r);
    return dnnl::convolution_forward::primitive_desc(d, attr, ctx.dnnl_engine());
  };
  bool direct = false;
  try {
    if (in_type != DType::kF32) {
      try {
        pd = make_pd(layout_of(ctx.in(0)));
        direct = true;
      } catch (const dnnl::error&) {
        pd = make_pd(xq_any);
      }
    } else {
      pd = make_pd(xq_any);
    }
  } catch (const dnnl::error& e) {
    ctx.unsupported(std::string("oneDNN has no int8 convolution for this case: ") + e.what());
  }
  auto dst = pd.dst_desc();
  if (dst != memory::desc(to_dims(y), dst_type, row_major(to_dims(y)))) outs[0].layout = std::make_shared<const memory::desc>(dst);
  // Weights: int8 row-major -> the implementation's layout, once.
  memory::desc w_plain(wdims, memory::data_type::s8, row_major(wdims));
  auto w_packed = std::make_shared<memory>(pd.weights_desc(), ctx.dnnl_engine());
  reorder_now(ctx.dnnl_engine(), w_plain, wq.data, *w_packed);
  // oneDNN 2.x adds the bias to the s32 accumulator before the output scale, so the float bias
  // is divided by each channel's scale here.
  std::shared_ptr<memory> bias;
  if (bias_const) {
    bias = std::make_shared<memory>(bias_md, ctx.dnnl_engine());
    auto* b = static_cast<float*>(bias->get_data_handle());
    for (std::int64_t k = 0; k < m; ++k) b[k] = bias_const->as<float>()[k] / out_scales[static_cast<std::size_t>(k)];
  }
  auto kernel = std::make_unique<ConvInt8Kernel>(ctx.dnnl_engine(), pd, w_packed, bias, x_zp, chain);
  try {
    if (in_type == DType::kF32) {
      dnnl::primitive_attr qattr = scratchpad_attr();
      qattr.set_output_scales(0, {1.0f / x_scale});
      if (x_zp != 0) qattr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
      kernel->set_input_reorder(layout_of(ctx.in(0)), qattr, x_zp != 0);
    } else if (!direct) {
      kernel->set_input_reorder(layout_of(ctx.in(0)), scratchpad_attr(), false);
    }
  } catch (const dnnl::error& e) {
    ctx.unsupported(std::string("oneDNN cannot bring this input into the convolution's layout: ") + e.what());
  }
  for (const auto& p : ctx.post_ops)
    if (p.kind == PostOp::Kind::kSum) kernel->set_sum_input(p.sum_input, layout_or_plain(ctx.in(static_cast<std::size_t>(p.sum_input))));
  ctx.scratchpad_bytes = std::max(ctx.scratchpad_bytes, kernel->scratch_bytes());
  return kernel;
}

std::unique_ptr<Kernel> make_conv_transpose(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  check_float_inputs(ctx);
  const auto& x = ctx.in(0).shape;
  const auto& w = ctx.in(1).shape;  // [C, M/group, k...]
  const std::size_t sp = x.size() - 2;
  const std::int64_t group = ctx.attr_i("group", 1), n = x[0], c = x[1], m = w[1] * group;
  if (group < 1 || w[0] != c || c % group != 0) ctx.invalid("channels do not match weights and groups");
  auto ks = ctx.attr_ints("kernel_shape", Shape(w.begin() + 2, w.end()));
  auto st = ctx.attr_ints("strides", Shape(sp, 1));
  auto dl = ctx.attr_ints("dilations", Shape(sp, 1));
  auto pads = ctx.attr_ints("pads", Shape(2 * sp, 0));
  auto opad = ctx.attr_ints("output_padding", Shape(sp, 0));
  auto oshape = ctx.attr_ints("output_shape");
  auto auto_pad = ctx.attr_s("auto_pad", "NOTSET");
  if (ks.size() != sp || st.size() != sp || dl.size() != sp || pads.size() != 2 * sp || opad.size() != sp)
    ctx.invalid("attribute lengths do not match the input rank");
  if (oshape.size() == sp + 2) oshape.erase(oshape.begin(), oshape.begin() + 2);
  memory::dims strides, dil, pl, pr;
  Shape y = {n, m};
  for (std::size_t i = 0; i < sp; ++i) {
    std::int64_t eff = (ks[i] - 1) * dl[i] + 1, full = st[i] * (x[i + 2] - 1) + opad[i] + eff;
    std::int64_t pb = pads[i], pe = pads[i + sp];
    if (!oshape.empty() || auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      std::int64_t target = !oshape.empty() ? oshape[i] : x[i + 2] * st[i];
      std::int64_t total = full - target;
      if (auto_pad == "SAME_UPPER") {
        pb = total / 2;
        pe = total - pb;
      } else {
        pe = total / 2;
        pb = total - pe;
      }
    } else if (auto_pad == "VALID") {
      pb = pe = 0;
    }
    std::int64_t out = full - pb - pe;
    if (out < 1) ctx.invalid("non-positive output size");
    y.push_back(out);
    strides.push_back(st[i]);
    dil.push_back(dl[i] - 1);
    pl.push_back(pb);
    pr.push_back(pe - opad[i]);  // oneDNN has no output_padding: it is a smaller right pad
  }
  outs = {{DType::kF32, y}};
  // oneDNN deconvolution weights: {g, OC/g, IC/g, k...}; ONNX stores {IC, OC/g, k...}.
  memory::dims wdims = {group, m / group, c / group};
  wdims.insert(wdims.end(), ks.begin(), ks.end());
  std::int64_t kvol = 1;
  for (auto k : ks) kvol *= k;
  memory::dims wstrides = {(c / group) * (m / group) * kvol, kvol, (m / group) * kvol};
  auto kst = row_major(memory::dims(ks.begin(), ks.end()));
  wstrides.insert(wstrides.end(), kst.begin(), kst.end());
  memory::desc wplain(wdims, memory::data_type::f32, wstrides);
  auto src = plain_f32(to_dims(x)), dst = plain_f32(to_dims(y));
  bool has_bias = ctx.has_input(2);
  auto bias = has_bias ? plain_f32({m}) : memory::desc();
  const Tensor* wconst = ctx.maybe_constant(1);
  auto wmd = wconst ? memory::desc(wdims, memory::data_type::f32, memory::format_tag::any) : wplain;
  auto plan = [&](const memory::desc& s, const memory::desc& t) {
    dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, s, wmd, bias, t,
                                        strides, dil, pl, pr);
    return dnnl::deconvolution_forward::primitive_desc(d, scratchpad_attr(), ctx.dnnl_engine());
  };
  dnnl::deconvolution_forward::primitive_desc pd;
  try {
    pd = plan(src, dst);
  } catch (const dnnl::error& e) {
    ctx.unsupported(std::string("oneDNN has no deconvolution for this geometry: ") + e.what());
  }
  // Where the caller takes layouts of oneDNN's choosing (a node planned alone, evaluate.h), the
  // blocked ones get its direct kernel instead of the gemm it runs on plain layouts (Mask R-CNN's
  // 256-channel 2x upsampling of 100 ROIs: see plan_node); kept when it ranks better.
  if (ctx.blocked_output_ok && x.size() == 4) {
    const auto any_x = memory::desc(to_dims(x), memory::data_type::f32, memory::format_tag::any);
    const auto any_y = memory::desc(to_dims(y), memory::data_type::f32, memory::format_tag::any);
    try {
      auto chosen = plan(any_x, any_y);
      if (kernel_rank(chosen.impl_info_str()) > kernel_rank(pd.impl_info_str())) {
        pd = chosen;
        src = pd.src_desc();
        dst = pd.dst_desc();
        if (src != plain_f32(to_dims(x))) ctx.wanted_input_layout = std::make_shared<const memory::desc>(src);
        if (dst != plain_f32(to_dims(y))) outs[0].layout = std::make_shared<const memory::desc>(dst);
      }
    } catch (const dnnl::error&) {
      // no kernel for oneDNN's own layouts: the plain one stays
    }
  }
  std::shared_ptr<memory> packed;
  if (wconst) packed = prepack(ctx.packed_weights, ctx, wplain, pd.weights_desc(), *wconst);
  ctx.need_scratchpad(pd.scratchpad_desc());
  return std::make_unique<ConvKernel>(dnnl::deconvolution_forward(pd), src, wplain, bias, dst, packed, has_bias, ctx.dnnl_engine(),
                                      pd.scratchpad_desc());
}

}  // namespace

void register_conv_kernels(KernelTable& t) {
  t["Conv"] = make_conv;
  t["ConvTranspose"] = make_conv_transpose;
  t["ConvInt8"] = make_conv_int8;  // engine-internal, see session.cpp
}

}  // namespace aifgen::engine

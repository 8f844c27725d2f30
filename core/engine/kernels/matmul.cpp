// MatMul (numpy semantics, batched with broadcasting) and Gemm on oneDNN's matmul primitive,
// float32. Gemm's transposes are strides, alpha an output scale, and a row-vector C with
// beta = 1 the primitive's bias; any other C is added after the product.
#include <omp.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/kernels/fast_math.h"
#include "core/engine/kernels/onednn_util.h"
#include "core/engine/kernels/post_ops.h"
#include "core/engine/kernels/product_choice.h"
#include "core/engine/kernels/remembered_choices.h"
#include "core/engine/kernels/trial_timing.h"
#include "core/engine/kernels/rows_product.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

using dnnl::memory;

// A oneDNN product: a matmul primitive, or a 1x1 convolution whose NHWC source and destination
// are the same bytes as the row-major [M, K] and [M, N] (as_pointwise_convolution).
class MatMulKernel final : public Kernel {
 public:
  MatMulKernel(const NodeCtx& ctx, const dnnl::matmul::primitive_desc& pd, memory::desc a, memory::desc b, memory::desc bias,
               memory::desc c)
      : MatMulKernel(ctx, dnnl::matmul(pd), pd.scratchpad_desc(), a, b, bias, c) {}
  MatMulKernel(const NodeCtx& ctx, dnnl::primitive prim, memory::desc scratch, memory::desc a, memory::desc b, memory::desc bias,
               memory::desc c)
      : prim_(std::move(prim)), a_(a), b_(b), bias_(bias), c_(c), scratch_(scratch), eng_(ctx.dnnl_engine()) {
    ctx.need_scratchpad(scratch_);
  }
  // Extra step after the primitive (Gemm's general C term).
  std::function<void(const std::vector<const Tensor*>&, Tensor&)> epilogue;
  int bias_input = -1;
  std::shared_ptr<memory> packed_weights;  // constant B, already in the primitive's layout
  std::shared_ptr<const PostOpChain> post_ops;
  bool reads_input_at_run(std::size_t i) const override { return i != 1 || !packed_weights; }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(a_, eng_, in[0]->data)},
                                         {DNNL_ARG_WEIGHTS, packed_weights ? *packed_weights : wrap(b_, eng_, in[1]->data)},
                                         {DNNL_ARG_DST, wrap(c_, eng_, out[0]->data)}};
    if (bias_input >= 0) args.emplace(DNNL_ARG_BIAS, wrap(bias_, eng_, in[bias_input]->data));
    if (post_ops) post_ops->add_args(args);
    add_scratchpad(args, scratch_, eng_, ctx);
    prim_.execute(*ctx.stream, args);
    if (epilogue) {
      ctx.stream->wait();
      epilogue(in, *out[0]);
    }
  }

 private:
  dnnl::primitive prim_;
  memory::desc a_, b_, bias_, c_, scratch_;
  dnnl::engine eng_;
};

// One run of a product primitive on zero-filled buffers of its own, in ms.
class ProductTrial {
 public:
  ProductTrial(dnnl::primitive prim, const std::vector<std::pair<int, memory::desc>>& bound, const PostOpChain& chain,
               const dnnl::engine& eng)
      : prim_(std::move(prim)), stream_(eng) {
    for (const auto& [arg, md] : bound) bind(arg, md, eng);
    chain.add_args(args_);
  }
  ProductTrial(const dnnl::matmul::primitive_desc& pd, const PostOpChain& chain, const dnnl::engine& eng)
      : ProductTrial(dnnl::matmul(pd), product_args(pd.src_desc(), pd.weights_desc(), pd.bias_desc(), pd.dst_desc(), pd.scratchpad_desc()),
                     chain, eng) {}
  static std::vector<std::pair<int, memory::desc>> product_args(const memory::desc& src, const memory::desc& weights,
                                                                const memory::desc& bias, const memory::desc& dst,
                                                                const memory::desc& scratch) {
    return {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch}};
  }
  double run_ms() {
    return milliseconds_of([&] {
      prim_.execute(stream_, args_);
      stream_.wait();
    });
  }

 private:
  // Aligned like the arena and packed weights the kernel runs on (zeroed_trial_memory): with
  // malloc'd buffers, 49x768 by a [K, N] 768x3072 timed 3.2 ms here and runs 6.2 ms in the
  // model, so [K, N] was kept where the transposed layout takes 3.0.
  void bind(int arg, const memory::desc& md, const dnnl::engine& eng) {
    if (md.get_size() > 0) args_.emplace(arg, zeroed_trial_memory(md, eng));
  }
  dnnl::primitive prim_;
  dnnl::stream stream_;
  std::unordered_map<int, memory> args_;
};

// The fastest of 3 alternating runs of each, after one warm-up: true when `b` beat `a` by
// `must_win` (b's time below must_win x a's).
bool trial_is_faster(ProductTrial& a, ProductTrial& b, double must_win) {
  return second_is_faster([&] { return a.run_ms(); }, [&] { return b.run_ms(); }, must_win);
}

// The pointwise convolution is kept when it beats the matmul by this much (below).
constexpr double kPointwiseMustWin = 0.98;

// Timed choices per product shape and thread count (remembered_choices.h).
RememberedChoices transposed_choices, pointwise_choices, rows_choices;

// "M,K,N,[b];tT": a product's shape, whether it adds a bias, and the threads it runs on.
std::string product_key(memory::dim m, memory::dim k, memory::dim n, bool bias) {
  return std::to_string(m) + "," + std::to_string(k) + "," + std::to_string(n) + (bias ? "b;t" : ";t") +
         std::to_string(omp_get_max_threads());
}

// The primitive for constant 2-D weights [K, N]: in the layout oneDNN picks, or stored transposed
// (each output's K weights contiguous), whichever runs faster here (fastest of 3 alternating runs
// each, after one warm-up; remembered per shape). oneDNN 2.6's AVX2 GEMM picks [K, N] rows and
// was 2-4x slower with them on a transformer's layers (128 x 256 by 256 x 1024: 3.3 ms,
// transposed 0.83 ms; ONNX Runtime 0.80).
dnnl::matmul::primitive_desc with_packed_weights(const memory::desc& a, const memory::dims& b_dims, const memory::desc& bias,
                                                 const memory::desc& c, const dnnl::primitive_attr& attr, const PostOpChain& chain,
                                                 const dnnl::engine& eng) {
  auto make = [&](memory::format_tag tag) {
    memory::desc w(b_dims, memory::data_type::f32, tag);
    return dnnl::matmul::primitive_desc(bias.get_size() > 0 ? dnnl::matmul::desc(a, w, bias, c) : dnnl::matmul::desc(a, w, c), attr, eng);
  };
  auto chosen = make(memory::format_tag::any);
  if (chosen.weights_desc() == memory::desc(b_dims, memory::data_type::f32, memory::format_tag::ba)) return chosen;
  auto transposed = make(memory::format_tag::ba);
  // (a is [M, K] here: constant weights are planned on 2-D products, Gemm's transA as strides.)
  const std::string key = product_key(a.dims()[0], b_dims[0], b_dims[1], bias.get_size() > 0);
  if (auto known = transposed_choices.find(key)) return *known ? transposed : chosen;
  ProductTrial as_picked(chosen, chain, eng), as_transposed(transposed, chain, eng);
  const bool faster = trial_is_faster(as_picked, as_transposed, 1.0);
  transposed_choices.remember(key, faster);
  return faster ? transposed : chosen;
}

// The product by constant weights as a 1x1 convolution over the M rows as the pixels of one NHWC
// image: source [1, K, M, 1] in NHWC is the bytes of the row-major [M, K], destination
// [1, N, M, 1] those of [M, N], and the weights are packed once in the layout the convolution
// picks. oneDNN 2.6's AVX2 GEMM repacks B on every call; its 1x1 convolution kernel does not and
// ran 3-10% faster than the matmul with either weight layout on the transformer shapes of the
// zoo (one thread, AVX2 EPYC: ViT's 197x768 by 768x3072 10.8 against 11.8 ms, 197x3072 by
// 3072x768 10.7 against 11.5, ConvNeXt's 49x768 by 768x3072 2.7 against 3.0; ONNX Runtime's
// MLAS packs its weights once too). Kept where it times faster than the matmul chosen above
// (remembered per shape and thread count like the weight layout), so where oneDNN's matmul is
// the better kernel (its AVX-512 brgemm) it stays.
struct PointwiseProduct {
  dnnl::convolution_forward::primitive_desc pd;
  std::shared_ptr<const PostOpChain> chain;
  memory::desc src, bias, dst;
};

std::optional<bool> forced_pointwise;  // force_pointwise_products_for_testing

// The [N, K, 1, 1] weights view of a 2-D [K, N] B with its strides (plain or transB's).
memory::desc pointwise_weights_view(const memory::desc& b) {
  const auto& st = b.data.format_desc.blocking.strides;
  const auto dims = b.dims();
  return memory::desc({dims[1], dims[0], 1, 1}, memory::data_type::f32, memory::dims{st[1], st[0], 1, 1});
}

std::optional<PointwiseProduct> pointwise_if_faster(const dnnl::matmul::primitive_desc& chosen, const PostOpChain& chain,
                                                    const memory::desc& a, const memory::dims& b_dims, bool has_bias,
                                                    const std::vector<PostOp>& ops, const dnnl::engine& eng) {
  const auto a_dims = a.dims();
  if (a_dims.size() != 2 || a != plain_f32(a_dims)) return std::nullopt;  // Gemm's transA: not NHWC bytes
  const memory::dim m = a_dims[0], k = a_dims[1], n = b_dims[1];
  const std::string key = product_key(m, k, n, has_bias);
  const std::optional<bool> known = forced_pointwise ? forced_pointwise : pointwise_choices.find(key);
  if (known == false) return std::nullopt;
  using tag = memory::format_tag;
  PointwiseProduct p{{}, std::make_shared<const PostOpChain>(ops, std::nullopt, 4, eng), memory::desc({1, k, m, 1}, memory::data_type::f32, tag::nhwc),
                     has_bias ? memory::desc({n}, memory::data_type::f32, tag::a) : memory::desc(),
                     memory::desc({1, n, m, 1}, memory::data_type::f32, tag::nhwc)};
  dnnl::primitive_attr attr = scratchpad_attr();
  attr.set_post_ops(p.chain->post_ops());
  const memory::desc weights({n, k, 1, 1}, memory::data_type::f32, tag::any);
  try {
    p.pd = dnnl::convolution_forward::primitive_desc(
        has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, p.src, weights,
                                                   p.bias, p.dst, {1, 1}, {0, 0}, {0, 0})
                 : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, p.src, weights,
                                                   p.dst, {1, 1}, {0, 0}, {0, 0}),
        attr, eng);
  } catch (const dnnl::error&) {
    return std::nullopt;  // no such convolution here (post-ops it cannot fuse)
  }
  if (known) return p;
  ProductTrial as_matmul(chosen, chain, eng);
  ProductTrial as_conv(dnnl::convolution_forward(p.pd),
                       ProductTrial::product_args(p.pd.src_desc(), p.pd.weights_desc(), p.pd.bias_desc(), p.pd.dst_desc(), p.pd.scratchpad_desc()),
                       *p.chain, eng);
  const bool faster = trial_is_faster(as_matmul, as_conv, kPointwiseMustWin);
  pointwise_choices.remember(key, faster);
  return faster ? std::optional(p) : std::nullopt;
}

void gelu_epilogue(const std::vector<const Tensor*>&, Tensor& y) {
  float* v = y.as<float>();
  parallel_chunks(y.numel(), [&](std::int64_t b, std::int64_t e) { gelu_loop(v + b, v + b, e - b); });
}

// The rows kernel is kept where it beats oneDNN's by this much. Timed alone with its weights
// hot, oneDNN's packed GEMV was the faster on a Zen 5 core (1280x1000: 65 against 69-98 us;
// 4096x4096: 1.41 against 1.55 ms); in a network, where other layers evict the weights between
// runs as the trial's alternating runs do, the rows kernel was (AlexNet's 9216x4096 and
// 4096x4096 heads with ReLU 6.5 against 7.8-8.1 ms; the 1024- and 1280-wide heads of DenseNet
// and MNASNet 0.14-0.16 against 0.17-0.21 ms), and the trial said so by 6-15%. Within 5% the
// trial cannot tell them apart.
constexpr double kRowsMustWin = 0.95;
std::optional<bool> forced_rows;  // force_rows_products_for_testing

// How a product's A, bias and fused activations fit the rows kernel (rows_product.h): where they
// do, make_rows_product builds it.
struct RowsFit {
  bool fits = false;
  RecurrentActivation act = RecurrentActivation::kNone;
};

RowsFit rows_product_fit(const NodeCtx& ctx, const memory::desc& a, int bias_input, const std::vector<PostOp>& ops) {
  RowsFit f;
  const auto dims = a.dims();
  if (dims.size() != 2 || dims[0] > kMaxRowsProductRows) return f;
  if (dims[0] > 1 && a != plain_f32(dims)) return f;  // Gemm's transA over several rows
  if (bias_input >= 0 && !ctx.maybe_constant(static_cast<std::size_t>(bias_input))) return f;
  if (ops.size() > 1) return f;
  if (ops.size() == 1) {
    const auto& op = ops[0];
    if (op.kind != PostOp::Kind::kEltwise || op.alg != dnnl::algorithm::eltwise_relu || op.alpha != 0.f) return f;
    f.act = RecurrentActivation::kRelu;
  }
  f.fits = true;
  return f;
}

std::unique_ptr<RowsProductKernel> make_rows_product(const NodeCtx& ctx, const memory::desc& a, const memory::desc& b, const void* weights,
                                                     int bias_input, RecurrentActivation act) {
  const auto& st = b.data.format_desc.blocking.strides;
  const std::int64_t m = a.dims()[0], k = b.dims()[0], n = b.dims()[1];
  AlignedFloats bias;
  if (bias_input >= 0) bias = AlignedFloats(ctx.maybe_constant(static_cast<std::size_t>(bias_input))->as<float>(), static_cast<std::size_t>(n));
  return std::make_unique<RowsProductKernel>(m, k, n, weight_rows(static_cast<const float*>(weights), k, n, st[0], st[1]), std::move(bias), act);
}

// A product by constant weights `b` (2-D [K, N], its bytes at `weights`) as the matmul `pd`
// or, where faster, the pointwise convolution, with the weights packed once; with_trial: also
// a trial of the chosen primitive, for the rows kernel's race. bias_input: the kernel input of
// a row bias (-1: none); trailing_gelu: a GELU after the rest.
struct PackedProduct {
  std::unique_ptr<MatMulKernel> kernel;
  std::unique_ptr<ProductTrial> trial;
};
PackedProduct packed_weights_product(const NodeCtx& ctx, const dnnl::matmul::primitive_desc& pd, std::shared_ptr<const PostOpChain> chain,
                                     const memory::desc& a, const memory::desc& b, const void* weights, const memory::desc& bias,
                                     const memory::desc& c, const std::vector<PostOp>& ops, int bias_input, bool trailing_gelu,
                                     bool with_trial) {
  const auto& eng = ctx.dnnl_engine();
  PackedProduct p;
  std::shared_ptr<memory> packed;
  if (auto conv = pointwise_if_faster(pd, *chain, a, b.dims(), bias.get_size() > 0, ops, eng)) {
    packed = packed_constant(ctx.packed_weights, eng, pointwise_weights_view(b), weights, conv->pd.weights_desc());
    p.kernel = std::make_unique<MatMulKernel>(ctx, dnnl::convolution_forward(conv->pd), conv->pd.scratchpad_desc(), conv->src,
                                              conv->pd.weights_desc(), conv->bias, conv->dst);
    p.kernel->post_ops = conv->chain;
    ctx.pointwise_product = true;
    if (with_trial)
      p.trial = std::make_unique<ProductTrial>(
          dnnl::convolution_forward(conv->pd),
          ProductTrial::product_args(conv->pd.src_desc(), conv->pd.weights_desc(), conv->pd.bias_desc(), conv->pd.dst_desc(), conv->pd.scratchpad_desc()),
          *conv->chain, eng);
  } else {
    packed = packed_constant(ctx.packed_weights, eng, b, weights, pd.weights_desc());
    p.kernel = std::make_unique<MatMulKernel>(ctx, pd, a, pd.weights_desc(), bias, c);
    if (with_trial) p.trial = std::make_unique<ProductTrial>(pd, *chain, eng);
    p.kernel->post_ops = std::move(chain);
  }
  p.kernel->packed_weights = std::move(packed);
  p.kernel->bias_input = bias_input;
  if (trailing_gelu) p.kernel->epilogue = gelu_epilogue;
  return p;
}

// packed_weights_product, or at a batch of at most kMaxRowsProductRows rows the rows kernel
// where it times faster still.
std::unique_ptr<Kernel> constant_weights_kernel(const NodeCtx& ctx, const dnnl::matmul::primitive_desc& pd,
                                                std::shared_ptr<const PostOpChain> chain, const memory::desc& a, const memory::desc& b,
                                                const void* weights, const memory::desc& bias, const memory::desc& c,
                                                const std::vector<PostOp>& ops, int bias_input, bool trailing_gelu) {
  const RowsFit rows = rows_product_fit(ctx, a, bias_input, ops);
  const std::string rows_key = product_key(a.dims()[0], b.dims()[0], b.dims()[1], bias.get_size() > 0) + (rows.act == RecurrentActivation::kRelu ? "r" : "");
  const std::optional<bool> rows_known = !rows.fits ? std::optional<bool>(false) : forced_rows ? forced_rows : rows_choices.find(rows_key);
  if (rows_known == true) {
    auto r = make_rows_product(ctx, a, b, weights, bias_input, rows.act);
    if (trailing_gelu) r->epilogue = gelu_epilogue;
    return r;
  }
  auto [k, trial] = packed_weights_product(ctx, pd, std::move(chain), a, b, weights, bias, c, ops, bias_input, trailing_gelu, !rows_known);
  if (!trial) return std::move(k);
  // Timed on zeros like the primitive: the rows kernel against oneDNN's choice.
  auto r = make_rows_product(ctx, a, b, weights, bias_input, rows.act);
  const std::int64_t m = a.dims()[0], n = b.dims()[1];
  AlignedFloats x(static_cast<std::size_t>(m * b.dims()[0])), y(static_cast<std::size_t>(m * n));
  const bool faster = second_is_faster([&] { return trial->run_ms(); }, [&] { return milliseconds_of([&] { r->multiply(x.data(), y.data()); }); },
                                       kRowsMustWin);
  rows_choices.remember(rows_key, faster);
  if (!faster) return std::move(k);
  ctx.pointwise_product = false;
  if (trailing_gelu) r->epilogue = gelu_epilogue;
  return r;
}

// The element-wise post-ops the session fused into a product by constant weights, with a GELU
// at the end of the chain taken out: it runs as a vector pass after the product (gelu_loop),
// cheaper than oneDNN 2.6's post-op on its AVX2 GEMM matmul (a transformer's four 256->1024
// feed-forward layers, 128 rows, one thread on an AVX2 EPYC: 4.3-4.4 ms per run apart, 4.8-4.9
// ms fused; alternating binaries).
struct ProductPostOps {
  std::vector<PostOp> fused;
  bool trailing_gelu = false;
};

ProductPostOps split_post_ops(const NodeCtx& ctx) {
  ProductPostOps split{ctx.post_ops};
  for (const auto& p : split.fused)
    if (p.kind != PostOp::Kind::kEltwise) ctx.unsupported("a fused sum");
  split.trailing_gelu = !split.fused.empty() && split.fused.back().alg == dnnl::algorithm::eltwise_gelu_erf;
  if (split.trailing_gelu) split.fused.pop_back();
  return split;
}

std::unique_ptr<Kernel> make_matmul(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kF32});
  ctx.require_dtype(1, {DType::kF32});
  Shape a = ctx.in(0).shape, b = ctx.in(1).shape;
  if (a.empty() || b.empty()) ctx.invalid("scalar operand");
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  if (a.back() != b[b.size() - 2]) ctx.invalid("inner dimensions differ: " + shape_str(ctx.in(0).shape) + " x " + shape_str(ctx.in(1).shape));
  const std::size_t rank = std::max(a.size(), b.size());
  while (a.size() < rank) a.insert(a.begin(), 1);
  while (b.size() < rank) b.insert(b.begin(), 1);
  Shape c(rank);
  for (std::size_t i = 0; i + 2 < rank; ++i) {
    if (a[i] != b[i] && a[i] != 1 && b[i] != 1) ctx.invalid("batch dimensions do not broadcast");
    c[i] = std::max(a[i], b[i]);
  }
  c[rank - 2] = a[rank - 2];
  c[rank - 1] = b[rank - 1];
  Shape y(c.begin(), c.end() - 2);
  if (!a_vec) y.push_back(c[rank - 2]);
  if (!b_vec) y.push_back(c[rank - 1]);
  outs = {{DType::kF32, y}};
  if (ctx.describe_only) return nullptr;
  // When B has no batch dims of its own, A's batch dims are just more rows: one large GEMM
  // instead of many small ones (e.g. [128,1,256] x [256,768] is 128 GEMVs otherwise).
  bool b_batched = false;
  for (std::size_t i = 0; i + 2 < rank; ++i) b_batched = b_batched || b[i] != 1;
  if (!b_batched && rank > 2) {
    std::int64_t rows = 1;
    for (std::size_t i = 0; i + 1 < rank; ++i) rows *= a[i];
    a = {rows, a[rank - 1]};
    b = {b[rank - 2], b[rank - 1]};
    c = {rows, c[rank - 1]};
  }
  auto amd = plain_f32(to_dims(a)), bmd = plain_f32(to_dims(b)), cmd = plain_f32(to_dims(c));
  const Tensor* bconst = ctx.maybe_constant(1);
  if (bconst && b.size() == 2) {
    // Constant weights: let oneDNN choose their layout and reorder them once now. A fused row
    // bias (input 2, planned by the session from a following Add) and element-wise post-ops
    // ride along.
    const bool has_bias = ctx.has_input(2);
    memory::dims bias_dims(c.size(), 1);
    bias_dims.back() = c.back();
    auto bias_md = has_bias ? plain_f32(bias_dims) : memory::desc();
    const ProductPostOps split = split_post_ops(ctx);
    auto chain = std::make_shared<const PostOpChain>(split.fused, std::nullopt, static_cast<int>(c.size()), ctx.dnnl_engine());
    dnnl::primitive_attr attr = scratchpad_attr();
    attr.set_post_ops(chain->post_ops());
    auto pd = with_packed_weights(amd, to_dims(b), bias_md, cmd, attr, *chain, ctx.dnnl_engine());
    return constant_weights_kernel(ctx, pd, chain, amd, bmd, bconst->data, bias_md, cmd, split.fused, has_bias ? 2 : -1,
                                   split.trailing_gelu);
  }
  if (ctx.has_input(2) || !ctx.post_ops.empty()) ctx.unsupported("fused bias or post-ops without constant 2-D weights");
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(amd, bmd, cmd), scratchpad_attr(), ctx.dnnl_engine());
  return std::make_unique<MatMulKernel>(ctx, pd, amd, bmd, memory::desc(), cmd);
}

std::unique_ptr<Kernel> make_gemm(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  for (std::size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i)) ctx.require_dtype(i, {DType::kF32});
  const auto& a = ctx.in(0).shape;
  const auto& b = ctx.in(1).shape;
  if (a.size() != 2 || b.size() != 2) ctx.invalid("A and B must be 2-D");
  const bool ta = ctx.attr_i("transA", 0) != 0, tb = ctx.attr_i("transB", 0) != 0;
  const float alpha = ctx.attr_f("alpha", 1.f), beta = ctx.attr_f("beta", 1.f);
  const std::int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1], n = tb ? b[0] : b[1];
  if ((tb ? b[1] : b[0]) != k) ctx.invalid("inner dimensions differ");
  outs = {{DType::kF32, {m, n}}};
  if (ctx.describe_only) return nullptr;
  memory::desc amd({m, k}, memory::data_type::f32, ta ? memory::dims{1, m} : memory::dims{k, 1});
  memory::desc bmd({k, n}, memory::data_type::f32, tb ? memory::dims{1, k} : memory::dims{n, 1});
  auto cmd = plain_f32({m, n});
  Shape cshape = ctx.has_input(2) ? ctx.in(2).shape : Shape{};
  Shape bc;
  if (ctx.has_input(2) && !broadcast_shape({cshape, {m, n}}, bc)) ctx.invalid("C does not broadcast to (M, N)");
  // (oneDNN scales the bias with the product by an output scale, so with alpha != 1 C is added
  // after it: alpha 0.5 with a row C gave 0.5 * (A*B + C).)
  const bool row_bias = ctx.has_input(2) && beta == 1.f && alpha == 1.f && numel(cshape) == n &&
                        (cshape.size() == 1 || (cshape.size() == 2 && cshape[0] == 1));
  dnnl::primitive_attr attr = scratchpad_attr();
  if (alpha != 1.f) attr.set_output_scales(0, {alpha});
  auto bias_md = row_bias ? plain_f32({1, n}) : memory::desc();
  // Constant B (a classifier head's weights): oneDNN chooses its layout and B is reordered into
  // it once now. Given B as it is stored (transB's "ba" strides, as every torchvision head has),
  // the brgemm matmul re-packed all of it on every run: 1280x1000 took 0.3-0.5 ms at batch 1.
  const Tensor* bconst = ctx.maybe_constant(1);
  // Activations the session fused into the product (gemm_takes_post_ops in session.cpp): only
  // where nothing is added after it.
  if (!ctx.post_ops.empty() && !(bconst && alpha == 1.f && (!ctx.has_input(2) || row_bias)))
    ctx.unsupported("activations fused into a Gemm whose B is not constant, whose alpha is not 1 or whose C is not a row bias");
  const ProductPostOps split = split_post_ops(ctx);
  auto chain = std::make_shared<const PostOpChain>(split.fused, std::nullopt, 2, ctx.dnnl_engine());
  attr.set_post_ops(chain->post_ops());
  auto pd = bconst ? with_packed_weights(amd, {k, n}, bias_md, cmd, attr, *chain, ctx.dnnl_engine())
                   : dnnl::matmul::primitive_desc(row_bias ? dnnl::matmul::desc(amd, bmd, bias_md, cmd) : dnnl::matmul::desc(amd, bmd, cmd),
                                                  attr, ctx.dnnl_engine());
  // (With alpha an output scale the convolution is not tried: its oneDNN 2.6 AVX2 kernel has
  // no output scales for float32.)
  // A C added after the product (not a row bias) needs the oneDNN kernel's epilogue below.
  const bool c_after = !row_bias && ctx.has_input(2) && beta != 0.f;
  if (bconst && alpha == 1.f && !c_after)
    return constant_weights_kernel(ctx, pd, chain, amd, bmd, bconst->data, bias_md, cmd, split.fused, row_bias ? 2 : -1,
                                   split.trailing_gelu);
  std::unique_ptr<MatMulKernel> kernel;
  if (!bconst) {
    kernel = std::make_unique<MatMulKernel>(ctx, pd, amd, bmd, bias_md, cmd);
  } else if (alpha == 1.f) {
    kernel = packed_weights_product(ctx, pd, chain, amd, bmd, bconst->data, bias_md, cmd, split.fused, -1, false, false).kernel;
  } else {
    kernel = std::make_unique<MatMulKernel>(ctx, pd, amd, pd.weights_desc(), bias_md, cmd);
    kernel->packed_weights = packed_constant(ctx.packed_weights, ctx.dnnl_engine(), bmd, bconst->data, pd.weights_desc());
  }
  if (split.trailing_gelu) kernel->epilogue = gelu_epilogue;
  if (row_bias) kernel->bias_input = 2;
  else if (c_after) {
    auto plan = plan_broadcast({cshape}, {m, n});
    kernel->epilogue = [plan, beta](const std::vector<const Tensor*>& in, Tensor& y) {
      const float* c = in[2]->as<float>();
      float* o = y.as<float>();
      for (std::int64_t r = 0; r < plan.rows; ++r)
        for (std::int64_t i = 0; i < plan.inner; ++i)
          o[r * plan.inner + i] += beta * c[plan.row_offset[0][r] + i * plan.inner_stride[0]];
    };
  }
  return kernel;
}

// "MatMulInt8" (engine-internal, planned from QuantizeLinear -> DequantizeLinear -> MatMul/Gemm
// with a DequantizeLinear'd constant int8 2-D weight; see session.cpp): the float activation
// [..., K] is quantized by one oneDNN reorder (scale, zero point, saturation) as [M, K] rows,
// multiplied u8/s8 x s8 with s32 accumulation, scaled per output column by x_scale * w_scale[n],
// plus Gemm's row-vector bias, written as float [..., N].
class MatMulInt8Kernel final : public Kernel {
 public:
  MatMulInt8Kernel(const dnnl::engine& eng, dnnl::matmul::primitive_desc pd, memory::desc x, memory::desc xq,
                   dnnl::primitive_attr qattr, std::shared_ptr<memory> w, std::shared_ptr<memory> bias, std::int32_t zp)
      : eng_(eng), pd_(pd), prim_(pd), x_(x), xq_(xq), qpd_(eng, x, eng, xq, qattr), quant_(qpd_), w_(std::move(w)),
        bias_(std::move(bias)), zp_(zp) {}
  std::size_t offset() const { return (xq_.get_size() + 63) / 64 * 64; }
  std::size_t scratch_bytes() const { return offset() + std::max(qpd_.scratchpad_desc().get_size(), pd_.scratchpad_desc().get_size()); }
  // The int8 weights and the bias live prepacked in w_ and bias_.
  bool reads_input_at_run(std::size_t i) const override { return i != 1 && i != 2; }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    RunContext inner = ctx;
    inner.scratchpad = ctx.scratchpad + offset();
    memory zp_mem(memory::desc({1}, memory::data_type::s32, memory::format_tag::x), eng_, &zp_);
    auto xq = wrap(xq_, eng_, ctx.scratchpad);
    std::unordered_map<int, memory> qargs{{DNNL_ARG_FROM, wrap(x_, eng_, in[0]->data)}, {DNNL_ARG_TO, xq}};
    if (zp_ != 0) qargs.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST, zp_mem);
    add_scratchpad(qargs, qpd_.scratchpad_desc(), eng_, inner);
    quant_.execute(*ctx.stream, qargs);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, xq}, {DNNL_ARG_WEIGHTS, *w_}, {DNNL_ARG_DST, wrap(pd_.dst_desc(), eng_, out[0]->data)}};
    if (bias_) args.emplace(DNNL_ARG_BIAS, *bias_);
    if (zp_ != 0) args.emplace(DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC, zp_mem);
    add_scratchpad(args, pd_.scratchpad_desc(), eng_, inner);
    prim_.execute(*ctx.stream, args);
  }

 private:
  dnnl::engine eng_;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul prim_;
  memory::desc x_, xq_;
  dnnl::reorder::primitive_desc qpd_;
  dnnl::reorder quant_;
  std::shared_ptr<memory> w_, bias_;
  std::int32_t zp_;
};

std::unique_ptr<Kernel> make_matmul_int8(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kF32});
  ctx.require_dtype(1, {DType::kI8});
  const auto& a = ctx.in(0).shape;
  const Tensor& wq = ctx.constant_input(1, "int8 weights");
  const bool tb = ctx.attr_i("w_transposed", 0) != 0;
  if (a.empty() || wq.shape.size() != 2) ctx.unsupported("int8 matmul needs a 2-D weight");
  const std::int64_t k = tb ? wq.shape[1] : wq.shape[0], n = tb ? wq.shape[0] : wq.shape[1];
  if (a.back() != k) ctx.invalid("inner dimensions differ");
  const std::int64_t m = numel(a) / k;
  Shape y(a.begin(), a.end() - 1);
  y.push_back(n);
  outs = {{DType::kF32, y}};
  const float x_scale = ctx.attr_f("x_scale", 0);
  const auto x_zp = static_cast<std::int32_t>(ctx.attr_i("x_zero_point", 0));
  const bool x_signed = ctx.attr_i("x_signed", 0) != 0;
  auto w_scales = ctx.attr_floats("w_scales");
  if (!(x_scale > 0) || (w_scales.size() != 1 && static_cast<std::int64_t>(w_scales.size()) != n)) ctx.invalid("bad quantization parameters");
  if (w_scales.size() == 1) w_scales.assign(static_cast<std::size_t>(n), w_scales[0]);
  std::vector<float> out_scales(static_cast<std::size_t>(n));
  for (std::int64_t j = 0; j < n; ++j) out_scales[static_cast<std::size_t>(j)] = x_scale * w_scales[static_cast<std::size_t>(j)];
  const Tensor* c = ctx.has_input(2) ? &ctx.constant_input(2, "bias") : nullptr;
  if (c && (c->dtype != DType::kF32 || c->numel() != n)) ctx.unsupported("bias other than a float row vector");
  const auto qtype = x_signed ? memory::data_type::s8 : memory::data_type::u8;
  memory::desc x_md = plain_f32({m, k});
  memory::desc xq_md({m, k}, qtype, memory::dims{k, 1});
  memory::desc w_any({k, n}, memory::data_type::s8, memory::format_tag::any);
  memory::desc w_plain({k, n}, memory::data_type::s8, tb ? memory::dims{1, k} : memory::dims{n, 1});
  memory::desc bias_md = c ? plain_f32({1, n}) : memory::desc();
  dnnl::primitive_attr attr = scratchpad_attr();
  attr.set_output_scales(1 << 1, out_scales);
  if (x_zp != 0) attr.set_zero_points(DNNL_ARG_SRC, 0, {DNNL_RUNTIME_S32_VAL});
  dnnl::matmul::primitive_desc pd;
  try {
    pd = dnnl::matmul::primitive_desc(c ? dnnl::matmul::desc(xq_md, w_any, bias_md, plain_f32({m, n})) : dnnl::matmul::desc(xq_md, w_any, plain_f32({m, n})),
                                      attr, ctx.dnnl_engine());
  } catch (const dnnl::error& e) {
    ctx.unsupported(std::string("oneDNN has no int8 matmul for this case: ") + e.what());
  }
  auto w = std::make_shared<memory>(pd.weights_desc(), ctx.dnnl_engine());
  reorder_now(ctx.dnnl_engine(), w_plain, wq.data, *w);
  std::shared_ptr<memory> bias;
  if (c) {
    // As for convolutions, oneDNN 2.x adds the bias before the output scale.
    bias = std::make_shared<memory>(bias_md, ctx.dnnl_engine());
    auto* b = static_cast<float*>(bias->get_data_handle());
    for (std::int64_t j = 0; j < n; ++j) b[j] = c->as<float>()[j] / out_scales[static_cast<std::size_t>(j)];
  }
  dnnl::primitive_attr qattr = scratchpad_attr();
  qattr.set_output_scales(0, {1.0f / x_scale});
  if (x_zp != 0) qattr.set_zero_points(DNNL_ARG_DST, 0, {DNNL_RUNTIME_S32_VAL});
  std::unique_ptr<MatMulInt8Kernel> kernel;
  try {
    kernel = std::make_unique<MatMulInt8Kernel>(ctx.dnnl_engine(), pd, x_md, xq_md, qattr, w, bias, x_zp);
  } catch (const dnnl::error& e) {
    ctx.unsupported(std::string("oneDNN cannot quantize this input: ") + e.what());
  }
  ctx.scratchpad_bytes = std::max(ctx.scratchpad_bytes, kernel->scratch_bytes());
  return kernel;
}

}  // namespace

void force_pointwise_products_for_testing(std::optional<bool> pointwise) { forced_pointwise = pointwise; }
void force_rows_products_for_testing(std::optional<bool> rows) { forced_rows = rows; }

void register_matmul_kernels(KernelTable& t) {
  t["MatMul"] = make_matmul;
  t["Gemm"] = make_gemm;
  t["MatMulInt8"] = make_matmul_int8;  // engine-internal, see session.cpp
}

}  // namespace aifgen::engine

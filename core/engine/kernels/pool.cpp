// MaxPool, AveragePool (N-d, pads, ceil_mode, dilations, count_include_pad) and the global
// pools, float32. Plain loops parallel over (batch, channel) planes.
#include <cmath>
#include <limits>

#include <string>

#include "core/engine/kernels/onednn_util.h"
#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

struct PoolGeometry {
  Shape in, out, kernel, stride, dilation, pad_begin;
};

PoolGeometry pool_geometry(const NodeCtx& ctx, bool allow_dilation) {
  PoolGeometry g;
  const auto& x = ctx.in(0).shape;
  if (x.size() < 3) ctx.invalid("input must be N x C x spatial");
  const std::size_t sp = x.size() - 2;
  g.in.assign(x.begin() + 2, x.end());
  g.kernel = ctx.attr_ints("kernel_shape");
  g.stride = ctx.attr_ints("strides", Shape(sp, 1));
  g.dilation = ctx.attr_ints("dilations", Shape(sp, 1));
  auto pads = ctx.attr_ints("pads", Shape(2 * sp, 0));
  if (g.kernel.size() != sp || g.stride.size() != sp || g.dilation.size() != sp || pads.size() != 2 * sp)
    ctx.invalid("kernel_shape/strides/dilations/pads do not match the input rank");
  if (!allow_dilation)
    for (auto d : g.dilation)
      if (d != 1) ctx.unsupported("dilations");
  const bool ceil_mode = ctx.attr_i("ceil_mode", 0) != 0;
  const auto auto_pad = ctx.attr_s("auto_pad", "NOTSET");
  for (std::size_t i = 0; i < sp; ++i) {
    std::int64_t eff = (g.kernel[i] - 1) * g.dilation[i] + 1, pb = pads[i], pe = pads[i + sp], out;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out = (g.in[i] + g.stride[i] - 1) / g.stride[i];
      std::int64_t total = std::max<std::int64_t>(0, (out - 1) * g.stride[i] + eff - g.in[i]);
      pb = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    } else if (auto_pad == "VALID") {
      pb = 0;
      out = (g.in[i] - eff) / g.stride[i] + 1;
    } else {
      double span = static_cast<double>(g.in[i] + pb + pe - eff) / static_cast<double>(g.stride[i]);
      out = static_cast<std::int64_t>(ceil_mode ? std::ceil(span) : std::floor(span)) + 1;
      // A window may not start in the right padding only.
      if (ceil_mode && (out - 1) * g.stride[i] >= g.in[i] + pb) --out;
    }
    if (out < 1) ctx.invalid("empty output");
    g.out.push_back(out);
    g.pad_begin.push_back(pb);
  }
  return g;
}

// Calls visit(out_index, in_index or -1 for padding) for every window element of every output.
template <typename Visit>
void for_each_window(const PoolGeometry& g, std::int64_t o, Visit&& visit) {
  const std::size_t sp = g.out.size();
  std::int64_t rem = o;
  std::int64_t opos[8];
  for (std::size_t d = sp; d-- > 0;) {
    opos[d] = rem % g.out[d];
    rem /= g.out[d];
  }
  std::int64_t kidx[8] = {0};
  std::int64_t kvol = numel(g.kernel);
  for (std::int64_t k = 0; k < kvol; ++k) {
    std::int64_t off = 0;
    bool inside = true;
    for (std::size_t d = 0; d < sp; ++d) {
      std::int64_t p = opos[d] * g.stride[d] - g.pad_begin[d] + kidx[d] * g.dilation[d];
      if (p < 0 || p >= g.in[d]) inside = false;
      off = off * g.in[d] + p;
    }
    visit(inside ? off : -1, kidx);
    for (std::size_t d = sp; d-- > 0;) {
      if (++kidx[d] < g.kernel[d]) break;
      kidx[d] = 0;
    }
  }
}

}  // namespace

bool pool_runs_on_onednn(const onnx::NodeProto& node) {
  std::int64_t ceil_mode = 0, include_pad = 0;
  for (const auto& a : node.attribute()) {
    if (a.name() == "ceil_mode") ceil_mode = a.i();
    if (a.name() == "count_include_pad") include_pad = a.i();
  }
  // ONNX counts explicit pads but not the ceil_mode overhang; oneDNN cannot express that mix.
  return !(ceil_mode && include_pad && node.op_type() == "AveragePool");
}

namespace {

// MaxPool/AveragePool on oneDNN; the input may arrive in a convolution's layout (NHWC or
// blocked) and the output keeps it.
std::unique_ptr<Kernel> make_onednn_pool(const NodeCtx& ctx, std::vector<TensorDesc>& outs, bool is_max,
                                         const PoolGeometry& g, const Shape& y) {
  using dnnl::memory;
  const auto& xd = ctx.in(0);
  memory::desc src = xd.layout ? *xd.layout : plain_f32(to_dims(xd.shape));
  memory::desc dst_any = ctx.blocked_output_ok && xd.layout ? memory::desc(to_dims(y), memory::data_type::f32, memory::format_tag::any)
                                                            : plain_f32(to_dims(y));
  memory::dims strides(g.stride.begin(), g.stride.end()), kernel(g.kernel.begin(), g.kernel.end()), dil, pl, pr;
  for (std::size_t d = 0; d < g.out.size(); ++d) {
    const std::int64_t eff = (g.kernel[d] - 1) * g.dilation[d] + 1;
    dil.push_back(g.dilation[d] - 1);
    pl.push_back(g.pad_begin[d]);
    pr.push_back(std::max<std::int64_t>(0, (g.out[d] - 1) * g.stride[d] + eff - g.in[d] - g.pad_begin[d]));
  }
  const bool include_pad = ctx.attr_i("count_include_pad", 0) != 0;
  auto alg = is_max ? dnnl::algorithm::pooling_max
                    : include_pad ? dnnl::algorithm::pooling_avg_include_padding : dnnl::algorithm::pooling_avg_exclude_padding;
  dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, alg, src, dst_any, strides, kernel, dil, pl, pr);
  dnnl::pooling_v2_forward::primitive_desc pd(d, scratchpad_attr(), ctx.dnnl_engine());
  // oneDNN's AVX2 pooling has jit kernels only for channel-blocked layouts: on NHWC or plain NCHW
  // it takes the reference or "simple" loops (GoogLeNet's 13 max pools: 56 of 94 ms under
  // DNNL_MAX_CPU_ISA=AVX2). Pooling cannot choose its source layout, so try the blocked ones and
  // have the input reordered into the first that gets a jit kernel.
  const std::string impl = pd.impl_info_str();
  // The same holds for 3-D pooling on AVX-512: mvit_v1_b's 1x3x3 max pool over [1,192,8,56,56]
  // took oneDNN's simple_nchw loop, 74 ms.
  const std::size_t rank = xd.shape.size();
  if (ctx.blocked_output_ok && rank >= 3 && rank <= 5 && (impl.rfind("ref", 0) == 0 || impl.rfind("simple", 0) == 0)) {
    using fmt = memory::format_tag;
    const fmt wide = rank == 3 ? fmt::nCw16c : rank == 4 ? fmt::nChw16c : fmt::nCdhw16c;
    const fmt narrow = rank == 3 ? fmt::nCw8c : rank == 4 ? fmt::nChw8c : fmt::nCdhw8c;
    const memory::desc dst_blocked(to_dims(y), memory::data_type::f32, memory::format_tag::any);
    for (auto tag : {wide, narrow}) {
      memory::desc blocked(to_dims(xd.shape), memory::data_type::f32, tag);
      dnnl::pooling_v2_forward::desc d2(dnnl::prop_kind::forward_inference, alg, blocked, dst_blocked, strides, kernel, dil, pl, pr);
      dnnl::pooling_v2_forward::primitive_desc pd2(d2, scratchpad_attr(), ctx.dnnl_engine());
      const std::string impl2 = pd2.impl_info_str();
      if (impl2.rfind("ref", 0) != 0 && impl2.rfind("simple", 0) != 0) {
        pd = pd2;
        src = blocked;
        ctx.wanted_input_layout = std::make_shared<const memory::desc>(blocked);
        break;
      }
    }
  }
  ctx.need_scratchpad(pd.scratchpad_desc());
  outs = {{DType::kF32, y}};
  if (pd.dst_desc() != plain_f32(to_dims(y))) outs[0].layout = std::make_shared<const memory::desc>(pd.dst_desc());
  return std::make_unique<SrcDstPrimitiveKernel<dnnl::pooling_v2_forward>>(pd, src, ctx.dnnl_engine());
}

std::unique_ptr<Kernel> make_pool(const NodeCtx& ctx, std::vector<TensorDesc>& outs, bool is_max) {
  ctx.require_dtype(0, {DType::kF32});
  if (is_max && ctx.node().output_size() > 1 && !ctx.node().output(1).empty()) ctx.unsupported("the Indices output");
  if (ctx.in(0).shape.size() - 2 > 8) ctx.unsupported("more than 8 spatial dims");
  auto g = pool_geometry(ctx, is_max);
  const bool include_pad = ctx.attr_i("count_include_pad", 0) != 0;
  const auto& x = ctx.in(0).shape;
  Shape y = {x[0], x[1]};
  y.insert(y.end(), g.out.begin(), g.out.end());
  if (x.size() >= 3 && x.size() <= 5 && pool_runs_on_onednn(ctx.node())) return make_onednn_pool(ctx, outs, is_max, g, y);
  outs = {{DType::kF32, y}};
  // With count_include_pad the divisor counts explicit pads but not ceil_mode overhang.
  Shape padded_end;
  auto pads = ctx.attr_ints("pads", Shape(2 * g.out.size(), 0));
  for (std::size_t d = 0; d < g.out.size(); ++d) padded_end.push_back(g.in[d] + pads[d + g.out.size()]);
  return make_kernel([g, is_max, include_pad, padded_end](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const std::int64_t planes = out[0]->shape[0] * out[0]->shape[1], in_plane = numel(g.in), out_plane = numel(g.out);
    const float* xs = in[0]->as<float>();
    float* ys = out[0]->as<float>();
#pragma omp parallel for if (planes >= 8) schedule(static)
    for (std::int64_t p = 0; p < planes; ++p) {
      const float* xp = xs + p * in_plane;
      for (std::int64_t o = 0; o < out_plane; ++o) {
        float acc = is_max ? -std::numeric_limits<float>::infinity() : 0.f;
        std::int64_t count = 0;
        for_each_window(g, o, [&](std::int64_t off, const std::int64_t* kidx) {
          if (off >= 0) {
            acc = is_max ? std::max(acc, xp[off]) : acc + xp[off];
            ++count;
          } else if (include_pad && !is_max) {
            // Count positions inside the explicitly padded extent only.
            std::int64_t rem = o;
            bool in_padded = true;
            for (std::size_t d = g.out.size(); d-- > 0;) {
              std::int64_t opos = rem % g.out[d];
              rem /= g.out[d];
              std::int64_t pos = opos * g.stride[d] - g.pad_begin[d] + kidx[d] * g.dilation[d];
              if (pos < -g.pad_begin[d] || pos >= padded_end[d]) in_padded = false;
            }
            count += in_padded;
          }
        });
        ys[p * out_plane + o] = is_max ? acc : (count ? acc / static_cast<float>(count) : 0.f);
      }
    }
  });
}

std::unique_ptr<Kernel> make_global_pool(const NodeCtx& ctx, std::vector<TensorDesc>& outs, bool is_max) {
  ctx.require_dtype(0, {DType::kF32});
  const auto& x = ctx.in(0).shape;
  if (x.size() < 3) ctx.invalid("input must be N x C x spatial");
  Shape y = {x[0], x[1]};
  y.resize(x.size(), 1);
  outs = {{DType::kF32, y}};
  return make_kernel([is_max](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const std::int64_t planes = out[0]->numel(), size = in[0]->numel() / std::max<std::int64_t>(planes, 1);
    const float* xs = in[0]->as<float>();
    float* ys = out[0]->as<float>();
#pragma omp parallel for if (planes >= 8 && planes * size > kParallelMinElements) schedule(static)
    for (std::int64_t p = 0; p < planes; ++p) {
      const float* xp = xs + p * size;
      // Vector lanes (omp simd): a one-accumulator loop waits on every add's latency (1000
      // planes of 13x13, SqueezeNet's classifier output, took ~0.1 ms that way).
      if (is_max) {
        float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
        for (std::int64_t i = 0; i < size; ++i) m = std::max(m, xp[i]);
        ys[p] = m;
      } else {
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (std::int64_t i = 0; i < size; ++i) s += xp[i];
        ys[p] = static_cast<float>(s / static_cast<double>(size));
      }
    }
  });
}

// Engine-internal: global average pool of an NHWC buffer viewed as [N, H, W, C]; the result
// [N, 1, 1, C] has the bytes of plain [N, C, 1, 1]. Channels are innermost, so the sum runs
// over contiguous rows.
std::unique_ptr<Kernel> make_gap_nhwc(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kF32});
  const auto& x = ctx.in(0).shape;
  if (x.size() != 4) ctx.invalid("expected [N, H, W, C]");
  outs = {{DType::kF32, {x[0], 1, 1, x[3]}}};
  const std::int64_t n = x[0], hw = x[1] * x[2], c = x[3];
  return make_kernel([n, hw, c](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const float* xs = in[0]->as<float>();
    float* ys = out[0]->as<float>();
    for (std::int64_t b = 0; b < n; ++b) {
      float* acc = ys + b * c;
      for (std::int64_t k = 0; k < c; ++k) acc[k] = 0.f;
      for (std::int64_t p = 0; p < hw; ++p) {
        const float* row = xs + (b * hw + p) * c;
#pragma omp simd
        for (std::int64_t k = 0; k < c; ++k) acc[k] += row[k];
      }
      const float inv = 1.f / static_cast<float>(hw);
      for (std::int64_t k = 0; k < c; ++k) acc[k] *= inv;
    }
  });
}

}  // namespace

void register_pool_kernels(KernelTable& t) {
  t["MaxPool"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_pool(c, o, true); };
  t["AveragePool"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_pool(c, o, false); };
  t["GlobalAveragePool"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_global_pool(c, o, false); };
  t["GlobalAveragePoolNHWC"] = make_gap_nhwc;
  t["GlobalMaxPool"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_global_pool(c, o, true); };
}

}  // namespace aifgen::engine

// Resize (opset 10+) and Upsample, modes nearest, (multi)linear and cubic, with every coordinate
// transformation mode except tf_crop_and_resize; float32.
//
// Linear resizes whose source coordinates follow half_pixel run on oneDNN's resampling
// primitive, in the producer's layout (segmentation heads upsample convolution outputs by 8-32x;
// the plain loop below took 35-39 ms of deeplabv3/lraspp/fcn's 45-260 ms). Everything else
// runs on the plain loops.
#include <cmath>

#include "core/base/error.h"
#include "core/engine/kernels/dispatch.h"
#include "core/engine/kernels/onednn_util.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

struct Axis {
  std::vector<std::int64_t> i0, i1;
  std::vector<float> w;  // weight of i1
};

// What a Resize or Upsample node does to its input, from its attributes and constant inputs.
struct ResizeGeometry {
  std::string mode, coord, nearest;
  float cubic_a = -0.75f;         // cubic_coeff_a
  bool exclude_outside = false;   // cubic: taps outside the input weigh 0, the rest renormalized
  std::vector<float> scales;
  bool from_sizes = false;
  Shape y;
};

ResizeGeometry resize_geometry(const NodeCtx& ctx, bool upsample) {
  ResizeGeometry g;
  const auto& x = ctx.in(0).shape;
  const std::size_t rank = x.size();
  g.mode = ctx.attr_s("mode", "nearest");
  g.coord = ctx.attr_s("coordinate_transformation_mode", "half_pixel");
  g.nearest = ctx.attr_s("nearest_mode", "round_prefer_floor");
  g.cubic_a = ctx.attr_f("cubic_coeff_a", -0.75f);
  g.exclude_outside = ctx.attr_i("exclude_outside", 0) != 0;
  if (upsample || ctx.opset() < 11) {  // Upsample and Resize-10: asymmetric, nearest rounds down
    g.coord = "asymmetric";
    g.nearest = "floor";
  }
  if (g.mode != "nearest" && g.mode != "linear" && g.mode != "cubic") ctx.unsupported("mode '" + g.mode + "'");
  // Resize-18's additions change the result; refused by name rather than ignored.
  if (ctx.attr_i("antialias", 0) != 0) ctx.unsupported("antialias");
  if (ctx.has_attr("axes")) ctx.unsupported("the axes attribute");
  if (ctx.attr_s("keep_aspect_ratio_policy", "stretch") != "stretch") ctx.unsupported("keep_aspect_ratio_policy other than stretch");
  if (g.coord == "tf_crop_and_resize") ctx.unsupported("coordinate_transformation_mode tf_crop_and_resize");
  g.y.resize(rank);
  const std::size_t scales_input = (upsample || ctx.opset() < 11) ? 1 : 2;
  const Tensor* sizes = ctx.opset() >= 11 && !upsample && ctx.has_input(3) ? &ctx.constant_input(3, "sizes") : nullptr;
  if (sizes && sizes->numel() > 0) {
    auto s = to_int64_vector(*sizes);
    if (s.size() != rank) ctx.invalid("sizes has the wrong length");
    g.from_sizes = true;
    for (std::size_t i = 0; i < rank; ++i) {
      if (s[i] < 0) ctx.invalid("sizes must not be negative");
      g.y[i] = s[i];
      g.scales.push_back(static_cast<float>(s[i]) / static_cast<float>(x[i]));
    }
  } else {
    if (upsample && ctx.opset() < 9) g.scales = ctx.attr_floats("scales");
    else {
      const auto& st = ctx.constant_input(scales_input, "scales");
      if (st.dtype != DType::kF32) ctx.invalid("scales must be float32");
      g.scales.assign(st.as<float>(), st.as<float>() + st.numel());
    }
    if (g.scales.size() != rank) ctx.invalid("scales has the wrong length");
    for (std::size_t i = 0; i < rank; ++i) {
      if (!(g.scales[i] > 0)) ctx.invalid("scales must be positive");
      g.y[i] = static_cast<std::int64_t>(std::floor(x[i] * g.scales[i]));
    }
  }
  return g;
}

// Whether oneDNN's linear resampling computes what ONNX asks. oneDNN maps output o to input
// (o + 0.5) * in / out - 0.5, clamped to the edges (v2.6 src/cpu/resampling_utils.hpp), which is
// ONNX's half_pixel with scale out/in; pytorch_half_pixel differs only for outputs of length 1.
// With given scales, ONNX uses them even where in * scale was floored, so they must equal
// out/in. N and C must be kept, and oneDNN takes 1 to 3 spatial dims.
bool onednn_computes(const NodeCtx& ctx, const ResizeGeometry& g) {
  const auto& x = ctx.in(0).shape;
  if (g.mode != "linear" || x.size() < 3 || x.size() > 5 || x[0] != g.y[0] || x[1] != g.y[1]) return false;
  if (g.coord != "half_pixel" && g.coord != "pytorch_half_pixel") return false;
  for (std::size_t d = 2; d < x.size(); ++d) {
    if (x[d] < 1 || g.y[d] < 1 || (g.coord == "pytorch_half_pixel" && g.y[d] == 1)) return false;
    const double exact = static_cast<double>(g.y[d]) / static_cast<double>(x[d]);
    if (!g.from_sizes && std::abs(exact - g.scales[d]) > 1e-7 * exact) return false;
  }
  return true;
}

// The input may arrive in a convolution's layout (NHWC or blocked); the output keeps it when the
// planner allows (oneDNN's jit kernel wants the same layout on both sides).
std::unique_ptr<Kernel> make_onednn_resize(const NodeCtx& ctx, std::vector<TensorDesc>& outs, const Shape& y) {
  using dnnl::memory;
  const auto& xd = ctx.in(0);
  const memory::desc src = xd.layout ? *xd.layout : plain_f32(to_dims(xd.shape));
  const memory::desc dst = ctx.blocked_output_ok && xd.layout ? memory::desc(to_dims(y), memory::data_type::f32, memory::format_tag::any)
                                                              : plain_f32(to_dims(y));
  dnnl::resampling_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::resampling_linear, src, dst);
  dnnl::resampling_forward::primitive_desc pd(d, scratchpad_attr(), ctx.dnnl_engine());
  ctx.need_scratchpad(pd.scratchpad_desc());
  outs = {{DType::kF32, y}};
  if (pd.dst_desc() != plain_f32(to_dims(y))) outs[0].layout = std::make_shared<const memory::desc>(pd.dst_desc());
  return std::make_unique<SrcDstPrimitiveKernel<dnnl::resampling_forward>>(pd, src, ctx.dnnl_engine());
}

// Where output position o of axis d reads the input, by the coordinate transformation mode.
float source_coordinate(const NodeCtx& ctx, const ResizeGeometry& g, std::int64_t in_len, std::size_t d, std::int64_t o) {
  const float scale = g.scales[d], xo = static_cast<float>(o);
  if (g.coord == "half_pixel") return (xo + 0.5f) / scale - 0.5f;
  if (g.coord == "pytorch_half_pixel") return g.y[d] > 1 ? (xo + 0.5f) / scale - 0.5f : 0.f;
  if (g.coord == "align_corners") {
    // With scales, the spec's "resized length" is in * scale before flooring.
    const float len = g.from_sizes ? static_cast<float>(g.y[d]) : static_cast<float>(in_len) * scale;
    return len <= 1.f ? 0.f : xo * static_cast<float>(in_len - 1) / (len - 1.f);
  }
  if (g.coord == "asymmetric") return xo / scale;
  if (g.coord == "tf_half_pixel_for_nn") return (xo + 0.5f) / scale;
  ctx.unsupported("coordinate_transformation_mode '" + g.coord + "'");
}

// Per output axis: the input indices and weights each output position reads (the ONNX
// coordinate transformation, then nearest rounding or the two linear neighbours).
std::vector<Axis> resize_axes(const NodeCtx& ctx, const ResizeGeometry& g) {
  const auto& x = ctx.in(0).shape;
  std::vector<Axis> axes(x.size());
  for (std::size_t d = 0; d < x.size(); ++d) {
    auto& a = axes[d];
    for (std::int64_t o = 0; o < g.y[d]; ++o) {
      float xi = source_coordinate(ctx, g, x[d], d, o);
      if (g.mode == "nearest") {
        float r;
        if (g.nearest == "round_prefer_floor") r = (xi - std::floor(xi) == 0.5f) ? std::floor(xi) : std::round(xi);
        else if (g.nearest == "round_prefer_ceil") r = std::round(xi);
        else if (g.nearest == "floor") r = std::floor(xi);
        else if (g.nearest == "ceil") r = std::ceil(xi);
        else ctx.unsupported("nearest_mode '" + g.nearest + "'");
        auto i = std::clamp<std::int64_t>(static_cast<std::int64_t>(r), 0, x[d] - 1);
        a.i0.push_back(i);
        a.i1.push_back(i);
        a.w.push_back(0.f);
      } else {
        xi = std::clamp(xi, 0.f, static_cast<float>(x[d] - 1));
        auto i0 = static_cast<std::int64_t>(std::floor(xi));
        a.i0.push_back(i0);
        a.i1.push_back(std::min(i0 + 1, x[d] - 1));
        a.w.push_back(xi - static_cast<float>(i0));
      }
    }
  }
  return axes;
}

// Cubic: per resized axis, each output position reads four input positions around its source
// coordinate x (floor(x) - 1 .. floor(x) + 2) with Keys' cubic weights for cubic_coeff_a.
// Taps past the edges read the edge, or with exclude_outside weigh 0 and the others are
// renormalized. Axes are resized one after another (the 4x4 kernel is the product of two
// 1-D ones). Keypoint R-CNN upsamples its heatmaps so.
struct CubicAxis {
  std::size_t axis;
  std::int64_t in_len, out_len;
  std::vector<std::int64_t> index;  // [out_len][4]
  std::vector<float> weight;        // [out_len][4]
};

std::vector<CubicAxis> cubic_axes(const NodeCtx& ctx, const ResizeGeometry& g) {
  const auto& x = ctx.in(0).shape;
  const float a = g.cubic_a;
  std::vector<CubicAxis> axes;
  for (std::size_t d = 0; d < x.size(); ++d) {
    CubicAxis c{d, x[d], g.y[d], {}, {}};
    bool identity = x[d] == g.y[d];
    for (std::int64_t o = 0; o < g.y[d]; ++o) {
      const float xi = source_coordinate(ctx, g, x[d], d, o), base = std::floor(xi), t = xi - base;
      identity = identity && t == 0.f && static_cast<std::int64_t>(base) == o;
      const float s = t + 1, u = 1 - t, v = 2 - t;
      float w[4] = {((a * s - 5 * a) * s + 8 * a) * s - 4 * a, ((a + 2) * t - (a + 3)) * t * t + 1,
                    ((a + 2) * u - (a + 3)) * u * u + 1, ((a * v - 5 * a) * v + 8 * a) * v - 4 * a};
      float total = 0;
      for (int k = 0; k < 4; ++k) {
        const auto i = static_cast<std::int64_t>(base) - 1 + k;
        const bool outside = i < 0 || i >= x[d];
        if (g.exclude_outside && outside) w[k] = 0;
        total += w[k];
        c.index.push_back(std::clamp<std::int64_t>(i, 0, x[d] - 1));
      }
      for (int k = 0; k < 4; ++k) c.weight.push_back(g.exclude_outside && total != 0 ? w[k] / total : w[k]);
    }
    if (!identity) axes.push_back(std::move(c));
  }
  return axes;
}

void resize_cubic(const std::vector<CubicAxis>& axes, const Shape& x, const float* xs, float* ys, std::int64_t out_count) {
  Shape cur = x;
  std::vector<float> a(xs, xs + numel(x)), b;
  for (const auto& c : axes) {
    std::int64_t outer = 1, inner = 1;
    for (std::size_t d = 0; d < c.axis; ++d) outer *= cur[d];
    for (std::size_t d = c.axis + 1; d < cur.size(); ++d) inner *= cur[d];
    b.assign(static_cast<std::size_t>(outer * c.out_len * inner), 0.f);
    for (std::int64_t r = 0; r < outer; ++r)
      for (std::int64_t o = 0; o < c.out_len; ++o) {
        float* dst = b.data() + (r * c.out_len + o) * inner;
        for (int k = 0; k < 4; ++k) {
          const float w = c.weight[static_cast<std::size_t>(o * 4 + k)];
          const float* src = a.data() + (r * c.in_len + c.index[static_cast<std::size_t>(o * 4 + k)]) * inner;
          for (std::int64_t i = 0; i < inner; ++i) dst[i] += w * src[i];
        }
      }
    cur[c.axis] = c.out_len;
    std::swap(a, b);
  }
  std::copy(a.begin(), a.begin() + out_count, ys);
}

// Whether output position o of every axis before the last two reads input position o alone.
bool resizes_last_two_axes_only(const std::vector<Axis>& axes) {
  for (std::size_t d = 0; d + 2 < axes.size(); ++d)
    for (std::size_t o = 0; o < axes[d].i0.size(); ++o)
      if (axes[d].i0[o] != static_cast<std::int64_t>(o) || axes[d].w[o] != 0.f) return false;
  return true;
}

// Nearest: every output row gathers from one input row through the last axis' index map.
void resize_nearest(const std::vector<Axis>& axes, const Shape& in_strides, const Shape& y, const float* xs, float* ys) {
  const std::size_t rank = y.size();
  const std::int64_t total = numel(y), inner = y.back(), rows = total / std::max<std::int64_t>(inner, 1);
  std::vector<std::int64_t> col(static_cast<std::size_t>(inner));
  for (std::int64_t w = 0; w < inner; ++w) col[static_cast<std::size_t>(w)] = axes.back().i0[static_cast<std::size_t>(w)] * in_strides.back();
#pragma omp parallel for if (rows >= 8 && total > kParallelMinElements) schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    std::int64_t rem = r, off = 0;
    for (std::size_t d = rank - 1; d-- > 0;) {
      off += axes[d].i0[static_cast<std::size_t>(rem % y[d])] * in_strides[d];
      rem /= y[d];
    }
    const float* src = xs + off;
    float* dst = ys + r * inner;
    for (std::int64_t w = 0; w < inner; ++w) dst[w] = src[col[static_cast<std::size_t>(w)]];
  }
}

// Bilinear over the last two axes, one output row at a time: blend the two input rows it reads
// along the last axis, then the two results (the per-element corner loop below re-derived every
// index for each of its 2^rank corners).
void resize_linear_2d(const std::vector<Axis>& axes, const Shape& x, const Shape& y, const float* xs, float* ys) {
  const std::size_t rank = y.size();
  const Axis& ah = axes[rank - 2];
  const Axis& aw = axes[rank - 1];
  const std::int64_t ih = x[rank - 2], iw = x[rank - 1], oh = y[rank - 2], ow = y[rank - 1];
  const std::int64_t rows = numel(y) / std::max<std::int64_t>(ow, 1);
#pragma omp parallel for if (numel(y) > kParallelMinElements) schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t plane = r / oh, h = r % oh;
    const float* top = xs + (plane * ih + ah.i0[static_cast<std::size_t>(h)]) * iw;
    const float* bottom = xs + (plane * ih + ah.i1[static_cast<std::size_t>(h)]) * iw;
    const float wh = ah.w[static_cast<std::size_t>(h)];
    float* dst = ys + r * ow;
    for (std::int64_t w = 0; w < ow; ++w) {
      const auto k = static_cast<std::size_t>(w);
      const float ww = aw.w[k];
      const float t = top[aw.i0[k]] + ww * (top[aw.i1[k]] - top[aw.i0[k]]);
      const float b = bottom[aw.i0[k]] + ww * (bottom[aw.i1[k]] - bottom[aw.i0[k]]);
      dst[w] = t + wh * (b - t);
    }
  }
}

// Any linear resize: each output sums its 2^rank corners' weighted inputs.
void resize_linear_any(const std::vector<Axis>& axes, const Shape& in_strides, const Shape& y, const float* xs, float* ys) {
  const std::size_t rank = y.size();
  const std::int64_t total = numel(y);
#pragma omp parallel for if (total > kParallelMinElements) schedule(static)
  for (std::int64_t o = 0; o < total; ++o) {
    std::int64_t rem = o, idx[8];
    for (std::size_t d = rank; d-- > 0;) {
      idx[d] = rem % y[d];
      rem /= y[d];
    }
    float acc = 0;
    for (std::int64_t corner = 0; corner < (std::int64_t(1) << rank); ++corner) {
      float w = 1;
      std::int64_t off = 0;
      for (std::size_t d = 0; d < rank && w != 0; ++d) {
        const auto& a = axes[d];
        auto i = static_cast<std::size_t>(idx[d]);
        bool hi = (corner >> d) & 1;
        w *= hi ? a.w[i] : 1 - a.w[i];
        off += (hi ? a.i1[i] : a.i0[i]) * in_strides[d];
      }
      if (w != 0) acc += w * xs[off];
    }
    ys[o] = acc;
  }
}

std::unique_ptr<Kernel> make_resize(const NodeCtx& ctx, std::vector<TensorDesc>& outs, bool upsample) {
  ctx.require_dtype(0, {DType::kF32});
  const ResizeGeometry g = resize_geometry(ctx, upsample);
  if (!upsample && onednn_computes(ctx, g)) return make_onednn_resize(ctx, outs, g.y);
  if (ctx.in(0).layout) ctx.invalid("a resize on the plain loops was handed a laid-out input (planner bug)");
  const Shape& x = ctx.in(0).shape;
  const Shape y = g.y;
  outs = {{DType::kF32, y}};
  const std::vector<Axis> axes = resize_axes(ctx, g);
  Shape in_strides(x.size(), 1);
  for (std::size_t i = x.size(); i-- > 1;) in_strides[i - 1] = in_strides[i] * x[i];
  if (numel(y) == 0) return make_kernel([](const std::vector<const Tensor*>&, const std::vector<Tensor*>&, RunContext&) {});
  if (g.mode == "cubic") {
    auto cubic = cubic_axes(ctx, g);
    return make_kernel([cubic = std::move(cubic), x, y](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
      resize_cubic(cubic, x, in[0]->as<float>(), out[0]->as<float>(), numel(y));
    });
  }
  if (g.mode == "nearest" && !y.empty())
    return make_kernel([axes, in_strides, y](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
      resize_nearest(axes, in_strides, y, in[0]->as<float>(), out[0]->as<float>());
    });
  if (y.size() >= 2 && resizes_last_two_axes_only(axes))
    return make_kernel([axes, x, y](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
      resize_linear_2d(axes, x, y, in[0]->as<float>(), out[0]->as<float>());
    });
  return make_kernel([axes, in_strides, y](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    resize_linear_any(axes, in_strides, y, in[0]->as<float>(), out[0]->as<float>());
  });
}

}  // namespace

bool resize_runs_on_onednn(const NodeCtx& ctx) {
  if (ctx.node().op_type() != "Resize" || !ctx.has_input(0) || ctx.in(0).dtype != DType::kF32) return false;
  try {
    return onednn_computes(ctx, resize_geometry(ctx, false));
  } catch (const Error&) {
    return false;  // the factory reports it
  }
}

void register_resize_kernels(KernelTable& t) {
  t["Resize"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) {
    if (c.in(0).shape.size() > 8) c.unsupported("rank > 8");
    return make_resize(c, o, false);
  };
  t["Upsample"] = [](const NodeCtx& c, std::vector<TensorDesc>& o) { return make_resize(c, o, true); };
}

}  // namespace aifgen::engine

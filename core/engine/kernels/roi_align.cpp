// RoiAlign-10/16 (average mode): each box of `rois` [R, 4] (x1, y1, x2, y2, in input pixels times
// 1/spatial_scale) cut from the feature map of its batch entry and pooled to output_height x
// output_width bins, each bin the mean of grid_h x grid_w bilinear samples (sampling_ratio, or
// ceil(box size / bins) when 0). Opset 16's default coordinate_transformation_mode half_pixel
// shifts boxes by -0.5 pixel and lets them be smaller than one pixel; output_half_pixel (opset
// 10's only behaviour) does neither. Samples more than one pixel outside the map count as 0.
// The R-CNNs' box and mask heads pool their proposals so (torchvision's MultiScaleRoIAlign,
// sampling_ratio 2). Max mode is refused: ONNX Runtime takes the largest weighted corner
// rather than the largest sample, and torchvision never exports it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/base/error.h"
#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

struct RoiGeometry {
  std::int64_t channels, height, width, out_h, out_w, sampling;
  float scale;
  bool half_pixel;
};

// One bilinear sample of a box, by RoiAlign's edge rules: four offsets into a channel plane and
// their weights. The same for every channel, so each box's samples are worked out once and then
// applied plane by plane (ONNX Runtime precomputes them so too): computed per channel, they were
// most of the R-CNN box head's RoiAlign time (150 boxes of 256 channels: 75 against ORT's 27 ms).
struct Tap {
  std::int64_t offset[4];
  float weight[4];
};

// The tap of a sample at (y, x); false for one more than a pixel outside the map (it adds 0).
bool tap_at(std::int64_t h, std::int64_t w, float y, float x, Tap& t) {
  if (y < -1.f || y > static_cast<float>(h) || x < -1.f || x > static_cast<float>(w)) return false;
  y = std::max(y, 0.f);
  x = std::max(x, 0.f);
  auto y0 = static_cast<std::int64_t>(y), x0 = static_cast<std::int64_t>(x);
  std::int64_t y1 = y0 + 1, x1 = x0 + 1;
  if (y0 >= h - 1) y0 = y1 = h - 1, y = static_cast<float>(y0);
  if (x0 >= w - 1) x0 = x1 = w - 1, x = static_cast<float>(x0);
  const float ly = y - static_cast<float>(y0), lx = x - static_cast<float>(x0), hy = 1.f - ly, hx = 1.f - lx;
  t = {{y0 * w + x0, y0 * w + x1, y1 * w + x0, y1 * w + x1}, {hy * hx, hy * lx, ly * hx, ly * lx}};
  return true;
}

void pool_roi(const RoiGeometry& g, const float* image, const float* box, float* out) {
  const float offset = g.half_pixel ? 0.5f : 0.f;
  const float x0 = box[0] * g.scale - offset, y0 = box[1] * g.scale - offset;
  float roi_w = box[2] * g.scale - offset - x0, roi_h = box[3] * g.scale - offset - y0;
  if (!g.half_pixel) roi_w = std::max(roi_w, 1.f), roi_h = std::max(roi_h, 1.f);
  const float bin_h = roi_h / static_cast<float>(g.out_h), bin_w = roi_w / static_cast<float>(g.out_w);
  const std::int64_t grid_h = g.sampling > 0 ? g.sampling : static_cast<std::int64_t>(std::ceil(roi_h / static_cast<float>(g.out_h)));
  const std::int64_t grid_w = g.sampling > 0 ? g.sampling : static_cast<std::int64_t>(std::ceil(roi_w / static_cast<float>(g.out_w)));
  const float count = static_cast<float>(std::max<std::int64_t>(grid_h * grid_w, 1));
  // Each bin's taps in sample order (rows of the grid, then columns), the ones outside left out;
  // bin k's are taps[first[k]] to taps[first[k + 1]].
  thread_local std::vector<Tap> taps;
  thread_local std::vector<std::size_t> first;
  taps.clear();
  first.assign(1, 0);
  for (std::int64_t ph = 0; ph < g.out_h; ++ph)
    for (std::int64_t pw = 0; pw < g.out_w; ++pw) {
      for (std::int64_t iy = 0; iy < grid_h; ++iy) {
        const float y = y0 + static_cast<float>(ph) * bin_h + (static_cast<float>(iy) + .5f) * bin_h / static_cast<float>(grid_h);
        for (std::int64_t ix = 0; ix < grid_w; ++ix) {
          const float x = x0 + static_cast<float>(pw) * bin_w + (static_cast<float>(ix) + .5f) * bin_w / static_cast<float>(grid_w);
          Tap t;
          if (tap_at(g.height, g.width, y, x, t)) taps.push_back(t);
        }
      }
      first.push_back(taps.size());
    }
  const std::int64_t bins = g.out_h * g.out_w;
  for (std::int64_t c = 0; c < g.channels; ++c) {
    const float* plane = image + c * g.height * g.width;
    for (std::int64_t k = 0; k < bins; ++k) {
      float sum = 0;
      for (std::size_t i = first[static_cast<std::size_t>(k)]; i < first[static_cast<std::size_t>(k) + 1]; ++i) {
        const Tap& t = taps[i];
        sum += t.weight[0] * plane[t.offset[0]] + t.weight[1] * plane[t.offset[1]] + t.weight[2] * plane[t.offset[2]] +
               t.weight[3] * plane[t.offset[3]];
      }
      out[c * bins + k] = sum / count;
    }
  }
}

std::unique_ptr<Kernel> make_roi_align(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kF32});
  ctx.require_dtype(1, {DType::kF32});
  ctx.require_dtype(2, {DType::kI64});
  const auto& x = ctx.in(0).shape;
  const auto& rois = ctx.in(1).shape;
  if (x.size() != 4) ctx.invalid("X must be [N, C, H, W]");
  if (rois.size() != 2 || rois[1] != 4) ctx.invalid("rois must be [num_rois, 4]");
  if (ctx.in(2).shape != Shape{rois[0]}) ctx.invalid("batch_indices must be [num_rois]");
  if (ctx.attr_s("mode", "avg") != "avg") ctx.unsupported("mode " + ctx.attr_s("mode", "avg") + " (only avg)");
  const std::string coords = ctx.opset() >= 16 ? ctx.attr_s("coordinate_transformation_mode", "half_pixel") : "output_half_pixel";
  if (coords != "half_pixel" && coords != "output_half_pixel") ctx.invalid("unknown coordinate_transformation_mode " + coords);
  RoiGeometry g{x[1], x[2], x[3], ctx.attr_i("output_height", 1), ctx.attr_i("output_width", 1), ctx.attr_i("sampling_ratio", 0),
                ctx.attr_f("spatial_scale", 1.f), coords == "half_pixel"};
  if (g.out_h < 1 || g.out_w < 1) ctx.invalid("output_height and output_width must be positive");
  if (g.sampling < 0) ctx.invalid("sampling_ratio must not be negative");
  outs = {{DType::kF32, {rois[0], g.channels, g.out_h, g.out_w}}};
  const std::int64_t batches = x[0];
  const std::string name = ctx.node().name();
  return make_kernel([g, batches, name](const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) {
    const std::int64_t n = in[1]->shape[0], image = g.channels * g.height * g.width, pooled = g.channels * g.out_h * g.out_w;
    const auto* batch = in[2]->as<std::int64_t>();
    for (std::int64_t r = 0; r < n; ++r)
      if (batch[r] < 0 || batch[r] >= batches)
        throw Error(ErrorCode::kInvalidArgument, "engine-bad-input",
                    "node '" + name + "' (RoiAlign): batch index " + std::to_string(batch[r]) + " of box " + std::to_string(r) +
                        " is outside the " + std::to_string(batches) + " images");
#pragma omp parallel for if (n >= 2 && n * pooled > kParallelMinElements) schedule(dynamic, 4)
    for (std::int64_t r = 0; r < n; ++r)
      pool_roi(g, in[0]->as<float>() + batch[r] * image, in[1]->as<float>() + r * 4, out[0]->as<float>() + r * pooled);
  });
}

}  // namespace

void register_roi_kernels(KernelTable& t) { t["RoiAlign"] = make_roi_align; }

}  // namespace aifgen::engine

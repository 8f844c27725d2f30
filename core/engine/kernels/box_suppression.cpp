#include "core/engine/kernels/box_suppression.h"

#include <algorithm>
#include <cmath>

#include "core/engine/kernels/fast_math.h"

namespace aifgen::engine {

void BoxEdges::push(const float* box, bool center_point) {
  float a, b, c, d;  // y0, x0, y1, x1
  if (center_point) {
    b = box[0] - box[2] / 2, d = box[0] + box[2] / 2;
    a = box[1] - box[3] / 2, c = box[1] + box[3] / 2;
  } else {
    a = std::min(box[0], box[2]), c = std::max(box[0], box[2]);
    b = std::min(box[1], box[3]), d = std::max(box[1], box[3]);
  }
  y0.push_back(a), x0.push_back(b), y1.push_back(c), x1.push_back(d), area.push_back((c - a) * (d - b));
}

void BoxEdges::push_copy(const BoxEdges& from, std::size_t i) {
  y0.push_back(from.y0[i]), x0.push_back(from.x0[i]), y1.push_back(from.y1[i]), x1.push_back(from.x1[i]);
  area.push_back(from.area[i]);
}

void BoxEdges::clear() { y0.clear(), x0.clear(), y1.clear(), x1.clear(), area.clear(); }

namespace {

// Whether box i of `all` overlaps by more than `threshold` IoU any box of `kept`, or the boxes
// of `kept` listed in `only` when it is given. Boxes without area never overlap; the IoU is
// intersection / union in float, as ONNX Runtime computes it, so both keep the same boxes at a
// tie with the threshold. Checked 16 kept boxes at a time: most candidates that are suppressed
// are stopped by one of the first kept boxes, and every test in a chunk is evaluated without a
// branch so that the compiler can vectorize it.
AIFGEN_MULTIVERSION bool overlaps_any(const BoxEdges& all, std::size_t i, const BoxEdges& kept, const std::uint32_t* only,
                                      std::size_t n, float threshold) {
  const float y0 = all.y0[i], x0 = all.x0[i], y1 = all.y1[i], x1 = all.x1[i], area = all.area[i];
  const float *ky0 = kept.y0.data(), *kx0 = kept.x0.data(), *ky1 = kept.y1.data(), *kx1 = kept.x1.data(), *ka = kept.area.data();
  for (std::size_t base = 0; base < n; base += 16) {
    const std::size_t end = std::min(n, base + 16);
    int hits = 0;
    for (std::size_t t = base; t < end; ++t) {
      const std::size_t j = only ? only[t] : t;
      const float ih = std::min(y1, ky1[j]) - std::max(y0, ky0[j]);
      const float iw = std::min(x1, kx1[j]) - std::max(x0, kx0[j]);
      const float inter = ih * iw;
      const float uni = area + ka[j] - inter;
      const float iou = inter / uni;  // not read unless uni > 0
      hits += static_cast<int>(ih > 0) & static_cast<int>(iw > 0) & static_cast<int>(ka[j] > 0) & static_cast<int>(uni > 0) &
              static_cast<int>(iou > threshold);
    }
    if (hits) return true;
  }
  return false;
}

bool finite_box(const BoxEdges& b, std::size_t i) {
  return std::isfinite(b.y0[i]) && std::isfinite(b.x0[i]) && std::isfinite(b.y1[i]) && std::isfinite(b.x1[i]);
}

// One axis of the grid: cells of equal width from the candidates' lowest edge to their highest.
// A cell is at least as wide as the median candidate, so that a typical box spans one or two
// cells, and there are at most kMaxCells of them.
class GridAxis {
 public:
  static constexpr int kMaxCells = 128;

  GridAxis(std::vector<float> sizes, float lo, float hi) {
    const float extent = hi - lo;
    if (sizes.empty() || !(extent > 0) || !std::isfinite(extent)) return;
    auto mid = sizes.begin() + static_cast<std::ptrdiff_t>(sizes.size() / 2);
    std::nth_element(sizes.begin(), mid, sizes.end());
    const float width = std::max(extent / kMaxCells, *mid);
    cells_ = static_cast<int>(std::clamp(std::ceil(extent / width), 1.f, static_cast<float>(kMaxCells)));
    origin_ = lo;
    scale_ = static_cast<float>(cells_) / extent;
  }

  int cells() const { return cells_; }

  // The cell holding coordinate v (finite). Each step is monotonic in v, so a box whose edges
  // fall in cells a and b covers exactly the cells a..b, and two boxes that overlap share one.
  int cell(float v) const {
    const float t = std::floor((v - origin_) * scale_);
    return static_cast<int>(std::clamp(t, 0.f, static_cast<float>(cells_ - 1)));
  }

 private:
  int cells_ = 1;
  float origin_ = 0, scale_ = 0;
};

GridAxis axis_over(const BoxEdges& boxes, const std::vector<std::int64_t>& order, bool x) {
  std::vector<float> sizes;
  sizes.reserve(order.size());
  float lo = INFINITY, hi = -INFINITY;
  for (std::int64_t c : order) {
    const auto i = static_cast<std::size_t>(c);
    if (!finite_box(boxes, i)) continue;
    const float a = x ? boxes.x0[i] : boxes.y0[i], b = x ? boxes.x1[i] : boxes.y1[i];
    lo = std::min(lo, a), hi = std::max(hi, b);
    sizes.push_back(b - a);
  }
  return GridAxis(std::move(sizes), lo, hi);
}

// The boxes kept so far, filed by the grid cells they touch. A box that touches more than
// kMaxCellsPerBox cells, or has an edge that is not finite, goes on a list every candidate
// checks instead; a candidate that touches more than that many cells checks every kept box.
class KeptGrid {
 public:
  static constexpr int kMaxCellsPerBox = 16;

  KeptGrid(const BoxEdges& boxes, const std::vector<std::int64_t>& order)
      : boxes_(boxes), x_(axis_over(boxes, order, true)), y_(axis_over(boxes, order, false)) {
    cells_.resize(static_cast<std::size_t>(x_.cells()) * static_cast<std::size_t>(y_.cells()));
  }

  bool overlaps(std::size_t i, float threshold) const {
    Span s;
    if (!span_of(i, s)) return overlaps_any(boxes_, i, kept_, nullptr, kept_.size(), threshold);
    if (overlaps_any(boxes_, i, kept_, everywhere_.data(), everywhere_.size(), threshold)) return true;
    for (int gy = s.y0; gy <= s.y1; ++gy)
      for (int gx = s.x0; gx <= s.x1; ++gx) {
        const auto& cell = cells_[cell_index(gx, gy)];
        if (overlaps_any(boxes_, i, kept_, cell.data(), cell.size(), threshold)) return true;
      }
    return false;
  }

  void add(std::size_t i) {
    const auto k = static_cast<std::uint32_t>(kept_.size());
    kept_.push_copy(boxes_, i);
    Span s;
    if (!span_of(i, s)) {
      everywhere_.push_back(k);
      return;
    }
    for (int gy = s.y0; gy <= s.y1; ++gy)
      for (int gx = s.x0; gx <= s.x1; ++gx) cells_[cell_index(gx, gy)].push_back(k);
  }

 private:
  struct Span {
    int x0, x1, y0, y1;
  };

  bool span_of(std::size_t i, Span& s) const {
    if (!finite_box(boxes_, i)) return false;
    s = {x_.cell(boxes_.x0[i]), x_.cell(boxes_.x1[i]), y_.cell(boxes_.y0[i]), y_.cell(boxes_.y1[i])};
    return (s.x1 - s.x0 + 1) * (s.y1 - s.y0 + 1) <= kMaxCellsPerBox;
  }

  std::size_t cell_index(int gx, int gy) const {
    return static_cast<std::size_t>(gy) * static_cast<std::size_t>(x_.cells()) + static_cast<std::size_t>(gx);
  }

  const BoxEdges& boxes_;
  GridAxis x_, y_;
  BoxEdges kept_;
  std::vector<std::vector<std::uint32_t>> cells_;
  std::vector<std::uint32_t> everywhere_;
};

}  // namespace

std::vector<std::int64_t> greedy_suppress(const BoxEdges& boxes, const std::vector<std::int64_t>& order, float iou_threshold,
                                          std::int64_t max_keep, bool use_grid) {
  std::vector<std::int64_t> kept;
  if (max_keep <= 0) return kept;
  if (use_grid && order.size() >= kMinCandidatesForGrid) {
    KeptGrid grid(boxes, order);
    for (std::int64_t c : order) {
      if (static_cast<std::int64_t>(kept.size()) == max_keep) break;
      const auto i = static_cast<std::size_t>(c);
      if (!(boxes.area[i] > 0) || !grid.overlaps(i, iou_threshold)) {
        grid.add(i);
        kept.push_back(c);
      }
    }
    return kept;
  }
  BoxEdges kept_edges;
  for (std::int64_t c : order) {
    if (static_cast<std::int64_t>(kept.size()) == max_keep) break;
    const auto i = static_cast<std::size_t>(c);
    if (boxes.area[i] > 0 && overlaps_any(boxes, i, kept_edges, nullptr, kept_edges.size(), iou_threshold)) continue;
    kept_edges.push_copy(boxes, i);
    kept.push_back(c);
  }
  return kept;
}

}  // namespace aifgen::engine

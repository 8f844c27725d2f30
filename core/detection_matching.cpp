#include "core/detection_matching.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace aifgen {

double box_iou(const float* a, const float* b) {
  const double ax1 = std::min(a[0], a[2]), ax2 = std::max(a[0], a[2]), ay1 = std::min(a[1], a[3]), ay2 = std::max(a[1], a[3]);
  const double bx1 = std::min(b[0], b[2]), bx2 = std::max(b[0], b[2]), by1 = std::min(b[1], b[3]), by2 = std::max(b[1], b[3]);
  const double iw = std::min(ax2, bx2) - std::max(ax1, bx1), ih = std::min(ay2, by2) - std::max(ay1, by1);
  const double inter = iw > 0 && ih > 0 ? iw * ih : 0;
  const double uni = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  if (!(uni > 0)) {
    // Two empty boxes (zero width or height, or NaN) are the same only if they are equal.
    return std::equal(a, a + 4, b) ? 1.0 : 0.0;
  }
  return inter / uni;
}

std::vector<std::pair<std::int64_t, std::int64_t>> match_detections(const DetectionRows& source, const DetectionRows& variant,
                                                                    double min_iou) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(source.count));
  std::iota(order.begin(), order.end(), 0);
  if (source.scores) {
    // NaN scores go last, so the order stays a strict weak one.
    const auto key = [&](std::int64_t i) { return std::isnan(source.scores[i]) ? -INFINITY : source.scores[i]; };
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return key(a) > key(b); });
  }
  std::vector<char> taken(static_cast<std::size_t>(variant.count), 0);
  std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
  for (const auto s : order) {
    std::int64_t best = -1;
    double best_iou = min_iou;
    for (std::int64_t v = 0; v < variant.count; ++v) {
      if (taken[static_cast<std::size_t>(v)]) continue;
      if (source.labels && variant.labels && source.labels[s] != variant.labels[v]) continue;
      const double iou = box_iou(source.boxes + 4 * s, variant.boxes + 4 * v);
      if (iou > best_iou || (best < 0 && iou >= min_iou)) {
        best = v;
        best_iou = iou;
      }
    }
    if (best >= 0) {
      taken[static_cast<std::size_t>(best)] = 1;
      pairs.emplace_back(s, best);
    }
  }
  return pairs;
}

}  // namespace aifgen

// Greedy box suppression (box_suppression.h): the grid of kept boxes must keep exactly the boxes
// that checking every kept box keeps, on the layouts that stress it: torchvision's shifted
// classes, boxes wider than the grid lets one box be filed under, boxes without area, boxes
// with edges that are not finite, and all boxes in one cell. The plain loop is itself checked
// against the ONNX definition written out pair by pair.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/engine/kernels/box_suppression.h"

namespace aifgen::engine {
namespace {

struct Candidates {
  BoxEdges boxes;
  std::vector<std::int64_t> order;  // best first
};

// The ONNX definition for boxes given as (y0, x0, y1, x1) with y0 <= y1 and x0 <= x1: every
// kept box compared, no early exit.
std::vector<std::int64_t> definition(const Candidates& c, float iou_max, std::int64_t limit) {
  const BoxEdges& b = c.boxes;
  auto iou = [&](std::size_t p, std::size_t q) {
    const float ih = std::min(b.y1[p], b.y1[q]) - std::max(b.y0[p], b.y0[q]);
    const float iw = std::min(b.x1[p], b.x1[q]) - std::max(b.x0[p], b.x0[q]);
    if (!(ih > 0) || !(iw > 0) || !(b.area[p] > 0) || !(b.area[q] > 0)) return 0.f;
    return ih * iw / (b.area[p] + b.area[q] - ih * iw);
  };
  std::vector<std::int64_t> kept;
  for (auto i : c.order) {
    if (static_cast<std::int64_t>(kept.size()) == limit) break;
    bool overlap = false;
    for (auto j : kept) overlap = overlap || iou(static_cast<std::size_t>(i), static_cast<std::size_t>(j)) > iou_max;
    if (!overlap) kept.push_back(i);
  }
  return kept;
}

void add_box(Candidates& c, float y0, float x0, float y1, float x1) {
  const float box[4] = {y0, x0, y1, x1};
  c.order.push_back(static_cast<std::int64_t>(c.boxes.size()));
  c.boxes.push(box, false);
}

// Boxes around SSD-style anchors of a 320x320 image, each class shifted by 321 on both axes
// as torchvision's batched_nms does before one NonMaxSuppression over all classes.
Candidates shifted_classes(std::mt19937& rng, int classes, int per_class) {
  std::uniform_real_distribution<float> centre(0.f, 320.f), size(4.f, 300.f), jitter(-12.f, 12.f);
  Candidates c;
  for (int k = 0; k < classes; ++k) {
    const float shift = 321.f * static_cast<float>(k);
    for (int a = 0; a < per_class; ++a) {
      const float cy = centre(rng), cx = centre(rng), h = size(rng), w = size(rng);
      const float y0 = std::max(0.f, cy - h / 2 + jitter(rng)), x0 = std::max(0.f, cx - w / 2 + jitter(rng));
      add_box(c, y0 + shift, x0 + shift, std::min(320.f, y0 + h) + shift, std::min(320.f, x0 + w) + shift);
    }
  }
  std::shuffle(c.order.begin(), c.order.end(), rng);  // score order interleaves the classes
  return c;
}

TEST(EngineBoxSuppression, ShiftedClassesKeepWhatEveryPairCheckKeeps) {
  std::mt19937 rng(11);
  for (float iou : {0.55f, 0.3f, 0.9f}) {
    const Candidates c = shifted_classes(rng, 60, 120);
    const auto want = definition(c, iou, 1 << 30);
    EXPECT_EQ(greedy_suppress(c.boxes, c.order, iou, 1 << 30, false), want) << iou;
    EXPECT_EQ(greedy_suppress(c.boxes, c.order, iou, 1 << 30, true), want) << iou;
    EXPECT_GT(want.size(), 1000u);                // many kept, across many cells
    if (iou < 0.6f) {
      EXPECT_LT(want.size(), c.order.size() - 500);  // and many suppressed
    }
    // The limit stops both at the same box.
    EXPECT_EQ(greedy_suppress(c.boxes, c.order, iou, 300, true), std::vector<std::int64_t>(want.begin(), want.begin() + 300));
  }
}

TEST(EngineBoxSuppression, WideEmptyAndNonFiniteBoxesAreCheckedLikeAnyOther) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> pos(0.f, 1000.f), size(1.f, 40.f), unit(0.f, 1.f);
  for (int trial = 0; trial < 4; ++trial) {
    Candidates c;
    for (int i = 0; i < 3000; ++i) {
      const float y = pos(rng), x = pos(rng), r = unit(rng);
      if (r < 0.02f)  // wider than a box may be filed under: every candidate checks it
        add_box(c, y / 4, x / 4, y / 4 + 600, x / 4 + 700);
      else if (r < 0.04f)  // no area
        add_box(c, y, x, y, x + size(rng));
      else if (r < 0.05f)  // an edge that is not finite
        add_box(c, y, x, i % 2 ? INFINITY : NAN, x + 5);
      else if (r < 0.06f)  // the same box again
        add_box(c, 500, 500, 520, 530);
      else
        add_box(c, y, x, y + size(rng), x + size(rng));
    }
    std::shuffle(c.order.begin(), c.order.end(), rng);
    for (float iou : {0.0f, 0.5f}) {
      const auto want = definition(c, iou, 1 << 30);
      EXPECT_EQ(greedy_suppress(c.boxes, c.order, iou, 1 << 30, false), want) << trial << " " << iou;
      EXPECT_EQ(greedy_suppress(c.boxes, c.order, iou, 1 << 30, true), want) << trial << " " << iou;
    }
  }
}

TEST(EngineBoxSuppression, BoxesAllInOneCellAndBoxesOnCellEdges) {
  // Every candidate over the same spot: a grid of a cell or two per axis, each holding most
  // kept boxes.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> unit(0.f, 1.f);
  Candidates same;
  for (int i = 0; i < 600; ++i) add_box(same, unit(rng), unit(rng), 1 + unit(rng), 1 + unit(rng));
  EXPECT_EQ(greedy_suppress(same.boxes, same.order, 0.4f, 1 << 30, true), definition(same, 0.4f, 1 << 30));

  // Integer boxes on a lattice whose edges fall exactly on cell boundaries, touching and
  // overlapping their neighbours by one unit.
  Candidates lattice;
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 40; ++x) {
      const float y0 = static_cast<float>(y * 10), x0 = static_cast<float>(x * 10);
      add_box(lattice, y0, x0, y0 + 10 + static_cast<float>((x + y) % 2), x0 + 10 + static_cast<float>(x % 3 == 0));
    }
  std::shuffle(lattice.order.begin(), lattice.order.end(), rng);
  for (float iou : {0.0f, 0.05f}) {
    const auto want = definition(lattice, iou, 1 << 30);
    EXPECT_EQ(greedy_suppress(lattice.boxes, lattice.order, iou, 1 << 30, true), want) << iou;
    if (iou == 0.0f) {
      EXPECT_LT(want.size(), lattice.order.size());  // overlapping by one unit suppresses
    }
  }
}

}  // namespace
}  // namespace aifgen::engine

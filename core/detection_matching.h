// Pairs a variant's detections with its source's, so that a detector's outputs can be compared
// row by row. A detector's rows come out of NonMaxSuppression and a score cut: a variant that
// rounds differently may keep a detection more or less, or two near-equal scores in the other
// order, and comparing the outputs element by element would then compare different objects.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace aifgen {

// One sample's detections, as views into the model's outputs: `count` boxes of four
// coordinates (x1, y1, x2, y2: torchvision's and ONNX NonMaxSuppression's default corner form),
// with optional per-row scores and class labels.
struct DetectionRows {
  const float* boxes = nullptr;
  std::int64_t count = 0;
  const float* scores = nullptr;      // null: rows are taken in their order
  const std::int64_t* labels = nullptr;  // null: any row may pair with any
};

// Intersection over union of two boxes given by opposite corners (in either order, so a box
// format with another corner convention still pairs near-equal boxes with each other).
double box_iou(const float* a, const float* b);

// The boxes of a detection need this much overlap to be the same object: the PASCAL VOC / COCO
// AP@0.5 criterion.
constexpr double kDetectionMinIou = 0.5;

// Greedy matching as COCO's evaluation does it: the source's detections in decreasing score
// (ties: lower index first), each paired with the unpaired variant detection of the same label
// that overlaps it most, if by at least `min_iou`. Returns (source row, variant row) pairs in
// the source's score order.
std::vector<std::pair<std::int64_t, std::int64_t>> match_detections(const DetectionRows& source, const DetectionRows& variant,
                                                                    double min_iou = kDetectionMinIou);

}  // namespace aifgen

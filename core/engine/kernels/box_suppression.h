// Greedy box suppression, the loop inside NonMaxSuppression: candidates in score order, each
// kept unless its IoU with a box kept before it exceeds the threshold.
//
// Checking every candidate against every kept box costs candidates x kept pairs. Detection
// models exported from torchvision run all classes through one NonMaxSuppression with each
// class's boxes shifted far from the others' (batched_nms' coordinate trick), so SSDlite's
// 27,000 candidates were checked against thousands of kept boxes of other classes that can
// never overlap them: 22 ms of its 47 at one thread. The kept boxes are therefore filed in a
// uniform grid over the candidates' extent, and a candidate is checked only against the boxes
// filed in the cells it touches. Every pair that overlaps shares a cell, and each pair that is
// checked is checked exactly as before, so the boxes kept are the same as the plain loop's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace aifgen::engine {

// Boxes as NonMaxSuppression-11 reads them (two opposite corners in any order for
// center_point_box 0, centre and size for 1), turned once into edges and areas, one array per
// field so that a candidate is checked against many kept boxes in one vector loop.
struct BoxEdges {
  std::vector<float> y0, x0, y1, x1, area;

  void push(const float* box, bool center_point);
  void push_copy(const BoxEdges& from, std::size_t i);
  std::size_t size() const { return area.size(); }
  void clear();
};

// Below this many candidates the grid costs more than it saves; the plain loop runs.
inline constexpr std::size_t kMinCandidatesForGrid = 256;

// Indices of `boxes` kept from `order` (candidates, best first), at most `max_keep` of them,
// in the order they were kept. `use_grid` false forces the plain loop (tests compare the two).
std::vector<std::int64_t> greedy_suppress(const BoxEdges& boxes, const std::vector<std::int64_t>& order, float iou_threshold,
                                          std::int64_t max_keep, bool use_grid = true);

}  // namespace aifgen::engine

// Pairing a variant's detections with its source's (core/detection_matching.h): overlap as the
// definition gives it, the source's best detections paired first, labels respected.
#include "core/detection_matching.h"

#include <gtest/gtest.h>

#include <vector>

namespace aifgen {
namespace {

TEST(DetectionMatching, OverlapIsIntersectionOverUnionWhicheverCornersComeFirst) {
  const std::vector<float> a{0, 0, 2, 2}, b{1, 1, 3, 3}, b_flipped{3, 3, 1, 1}, far{5, 5, 6, 6};
  EXPECT_DOUBLE_EQ(box_iou(a.data(), b.data()), 1.0 / 7.0);  // 1 shared of 4 + 4 - 1
  EXPECT_DOUBLE_EQ(box_iou(a.data(), b_flipped.data()), 1.0 / 7.0);
  EXPECT_DOUBLE_EQ(box_iou(a.data(), a.data()), 1.0);
  EXPECT_DOUBLE_EQ(box_iou(a.data(), far.data()), 0.0);
  const std::vector<float> flat{1, 1, 1, 3};  // no width: only an equal box is the same
  EXPECT_DOUBLE_EQ(box_iou(flat.data(), flat.data()), 1.0);
  EXPECT_DOUBLE_EQ(box_iou(flat.data(), a.data()), 0.0);
}

TEST(DetectionMatching, RowsInAnotherOrderPairWithTheirOwnBoxes) {
  // Three objects; the variant lists them in reverse, with coordinates off by rounding.
  const std::vector<float> source_boxes{0, 0, 10, 10, 20, 20, 30, 30, 40, 0, 50, 10};
  const std::vector<float> variant_boxes{40.01f, 0, 50, 10, 20, 20, 30.02f, 30, 0, 0, 10, 9.99f};
  const std::vector<float> source_scores{0.9f, 0.8f, 0.7f}, variant_scores{0.7f, 0.8f, 0.9f};
  const auto pairs = match_detections({source_boxes.data(), 3, source_scores.data()}, {variant_boxes.data(), 3, variant_scores.data()});
  const std::vector<std::pair<std::int64_t, std::int64_t>> expected{{0, 2}, {1, 1}, {2, 0}};
  EXPECT_EQ(pairs, expected);
}

TEST(DetectionMatching, LabelsMustAgreeAndTooLittleOverlapIsNoPair) {
  const std::vector<float> source_boxes{0, 0, 10, 10, 20, 20, 30, 30};
  // The first overlaps the source's first by 50 / 150 = 1/3 only; the second is the source's
  // second box but of another class.
  const std::vector<float> variant_boxes{5, 0, 15, 10, 20, 20, 30, 30};
  const std::vector<std::int64_t> source_labels{1, 2}, variant_labels{1, 3};
  const auto pairs = match_detections({source_boxes.data(), 2, nullptr, source_labels.data()},
                                      {variant_boxes.data(), 2, nullptr, variant_labels.data()});
  EXPECT_TRUE(pairs.empty());
  // Without labels the second pairs.
  const auto unlabelled = match_detections({source_boxes.data(), 2}, {variant_boxes.data(), 2});
  ASSERT_EQ(unlabelled.size(), 1u);
  EXPECT_EQ(unlabelled[0], std::make_pair(std::int64_t{1}, std::int64_t{1}));
}

TEST(DetectionMatching, TheSourcesBestDetectionIsPairedFirst) {
  // Both source boxes overlap the variant's first box most; the higher-scored source box (the
  // second) takes it, and the first then pairs with the variant's second box (IoU 7/13). Taken
  // in row order instead, the first would take it, and the second would overlap the remaining
  // box by 6/14 only, too little: one pair instead of two.
  const std::vector<float> source_boxes{1, 0, 11, 10, 0, 0, 10, 10};
  const std::vector<float> source_scores{0.5f, 0.9f};
  const std::vector<float> variant_boxes{0, 0, 10, 10, 4, 0, 14, 10};
  const auto pairs = match_detections({source_boxes.data(), 2, source_scores.data()}, {variant_boxes.data(), 2});
  const std::vector<std::pair<std::int64_t, std::int64_t>> expected{{1, 0}, {0, 1}};
  EXPECT_EQ(pairs, expected);
}

}  // namespace
}  // namespace aifgen

// Models whose last nodes have shapes that depend on values (dynamic_tail.h): the filter, top-k
// and NonMaxSuppression steps that end detection models. Each test computes what the model must
// give in the test itself and runs it on inputs that give different output lengths, so a tail
// that kept the lengths of its first run, or planned them statically, fails. (The ONNX node
// conformance cases of TopK, NonZero, NonMaxSuppression, GatherND and Tile run too.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "core/base/error.h"
#include "core/engine/dynamic_tail.h"
#include "core/engine/packed_weights.h"
#include "core/engine/session.h"
#include "core/engine/timing.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"
#include "tests/support/reference_conv.h"

namespace aifgen::engine {
namespace {

using testing::node;
using testing::tensor_value;
constexpr auto floats = testing::float_tensor_of;
constexpr auto values_of = testing::floats_in;
constexpr auto ints_of = testing::int64s_in;

// x[8] -> s = 2x -> the positive entries of s (NonZero, Squeeze, Gather) -> the largest
// min(3, count) of them (TopK by a k computed from the filtered length). Outputs: s (made
// before the tail), the positives and the top values.
onnx::ModelProto filter_then_topk_model() {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"8"});
  *g->add_initializer() = testing::float_tensor("two", {}, {2.f});
  *g->add_initializer() = testing::float_tensor("zero", {}, {0.f});
  *g->add_initializer() = testing::int64_tensor("axis0", {0});
  *g->add_initializer() = testing::int64_tensor("three", {3});
  *g->add_node() = node("Mul", {"x", "two"}, {"s"});
  *g->add_node() = node("Greater", {"s", "zero"}, {"positive"});
  *g->add_node() = node("NonZero", {"positive"}, {"where"});
  *g->add_node() = node("Squeeze", {"where", "axis0"}, {"index"});
  *g->add_node() = node("Gather", {"s", "index"}, {"kept"});
  *g->add_node() = node("Shape", {"kept"}, {"count"});
  *g->add_node() = node("Concat", {"count", "three"}, {"both"});
  auto& cat = *g->mutable_node(g->node_size() - 1);
  testing::add_int_attr(cat, "axis", 0);
  auto reduce = node("ReduceMin", {"both"}, {"k"});
  testing::add_int_attr(reduce, "keepdims", 1);
  *g->add_node() = reduce;
  *g->add_node() = node("TopK", {"kept", "k"}, {"top", "top_index"});
  *g->add_output() = tensor_value("s", onnx::TensorProto::FLOAT, {"8"});
  *g->add_output() = tensor_value("kept", onnx::TensorProto::FLOAT, {"n"});
  *g->add_output() = tensor_value("top", onnx::TensorProto::FLOAT, {"k"});
  return m;
}

TEST(EngineDynamicTail, FilteredAndTopKOutputsTakeTheirLengthFromEachRun) {
  Session s(filter_then_topk_model(), {});
  ASSERT_EQ(s.outputs().size(), 3u);
  EXPECT_EQ(s.outputs()[0].shape, Shape{8});       // planned before the tail
  EXPECT_EQ(s.outputs()[1].shape, Shape{-1});      // known only once a run has made it
  EXPECT_EQ(s.outputs()[2].shape, Shape{-1});
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  // Repeated counts run on the plans the tail kept for their shapes; new ones are planned.
  for (int positives : {5, 1, 0, 8, 2, 5, 5, 1, 8}) {
    std::vector<float> x(8);
    for (int i = 0; i < 8; ++i) x[static_cast<std::size_t>(i)] = (i < positives ? 0.05f : -1.05f) + std::abs(u(rng));
    std::shuffle(x.begin(), x.end(), rng);
    std::vector<float> want_kept, want_s;
    for (float v : x) {
      want_s.push_back(2 * v);
      if (2 * v > 0) want_kept.push_back(2 * v);
    }
    std::vector<float> want_top = want_kept;
    std::sort(want_top.begin(), want_top.end(), std::greater<>());
    want_top.resize(std::min<std::size_t>(3, want_top.size()));
    auto out = s.run({floats({8}, x)});
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(values_of(out[0]), want_s) << positives;
    EXPECT_EQ(out[1].shape, Shape{static_cast<std::int64_t>(want_kept.size())}) << positives;
    EXPECT_EQ(values_of(out[1]), want_kept) << positives;
    EXPECT_EQ(values_of(out[2]), want_top) << positives;
  }
}

// Boxes [n, 4] as (y0, x0, y1, x1) and their scores: NonMaxSuppression as ONNX defines it,
// written out plainly (every pair, no early exit), for many more boxes than the conformance
// cases hold, so the kernel's 16-box vector chunks and their tails are all exercised.
std::vector<std::int64_t> reference_nms(const std::vector<float>& boxes, const std::vector<float>& scores, float iou_max,
                                        float score_min, std::int64_t limit) {
  const std::size_t n = scores.size();
  std::vector<std::int64_t> order;
  for (std::size_t i = 0; i < n; ++i)
    if (scores[i] > score_min) order.push_back(static_cast<std::int64_t>(i));
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return scores[a] > scores[b]; });
  auto iou = [&](std::int64_t a, std::int64_t b) {
    const float* p = &boxes[static_cast<std::size_t>(a) * 4];
    const float* q = &boxes[static_cast<std::size_t>(b) * 4];
    const float ih = std::min(p[2], q[2]) - std::max(p[0], q[0]), iw = std::min(p[3], q[3]) - std::max(p[1], q[1]);
    const float ap = (p[2] - p[0]) * (p[3] - p[1]), aq = (q[2] - q[0]) * (q[3] - q[1]);
    if (ih <= 0 || iw <= 0 || ap <= 0 || aq <= 0) return 0.f;
    return ih * iw / (ap + aq - ih * iw);
  };
  std::vector<std::int64_t> kept;
  for (auto i : order) {
    if (static_cast<std::int64_t>(kept.size()) == limit) break;
    bool overlap = false;
    for (auto j : kept) overlap = overlap || iou(i, j) > iou_max;
    if (!overlap) kept.push_back(i);
  }
  return kept;
}

// boxes [1, n, 4], scores [1, 1, n] as inputs -> NonMaxSuppression(limit, iou, score) -> [k, 3].
onnx::ModelProto nms_model(std::int64_t n, std::int64_t limit, float iou, float score) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("boxes", onnx::TensorProto::FLOAT, {"1", std::to_string(n), "4"});
  *g->add_input() = tensor_value("scores", onnx::TensorProto::FLOAT, {"1", "1", std::to_string(n)});
  *g->add_initializer() = testing::int64_tensor("limit", {limit});
  *g->add_initializer() = testing::float_tensor("iou", {1}, {iou});
  *g->add_initializer() = testing::float_tensor("score", {1}, {score});
  *g->add_node() = node("NonMaxSuppression", {"boxes", "scores", "limit", "iou", "score"}, {"selected"});
  *g->add_output() = tensor_value("selected", onnx::TensorProto::INT64, {"k", "3"});
  return m;
}

TEST(EngineDynamicTail, NonMaxSuppressionOverHundredsOfBoxesMatchesTheDefinition) {
  const std::int64_t n = 300;
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> pos(0.f, 20.f), size(0.5f, 6.f), sc(0.f, 1.f);
  for (auto [limit, iou, score] : {std::tuple{1000L, 0.5f, 0.f}, {1000L, 0.2f, 0.3f}, {40L, 0.7f, 0.1f}, {1000L, 0.95f, 0.f}}) {
    Session s(nms_model(n, limit, iou, score), {});
    for (int trial = 0; trial < 3; ++trial) {
      std::vector<float> boxes, scores;
      for (std::int64_t i = 0; i < n; ++i) {
        const float y = pos(rng), x = pos(rng);
        boxes.insert(boxes.end(), {y, x, y + size(rng), x + size(rng)});
        scores.push_back(sc(rng));
      }
      const auto want = reference_nms(boxes, scores, iou, score, limit);
      auto out = s.run({floats({1, n, 4}, boxes), floats({1, 1, n}, scores)});
      ASSERT_EQ(out[0].shape, (Shape{static_cast<std::int64_t>(want.size()), 3})) << iou << " " << score;
      const auto got = ints_of(out[0]);
      for (std::size_t r = 0; r < want.size(); ++r) {
        EXPECT_EQ(got[r * 3], 0);
        EXPECT_EQ(got[r * 3 + 1], 0);
        EXPECT_EQ(got[r * 3 + 2], want[r]) << "row " << r << " iou " << iou;
      }
      EXPECT_GT(want.size(), 16u);  // more kept boxes than one vector chunk
    }
  }
}

// x[3] -> cond = ReduceSum(x) > 0 -> If: then NonMaxSuppression over three fixed boxes (two
// overlapping by IoU 0.6), else a constant empty [0, 3]. The If's outputs have no fixed length,
// so it runs in the tail, by the branch each run's condition picks.
TEST(EngineDynamicTail, AnIfWhoseBranchEndsInNonMaxSuppressionRunsTheBranchItsConditionPicks) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"3"});
  *g->add_initializer() = testing::float_tensor("zero", {}, {0.f});
  auto sum = node("ReduceSum", {"x"}, {"total"});
  testing::add_int_attr(sum, "keepdims", 0);
  *g->add_node() = sum;
  *g->add_node() = node("Greater", {"total", "zero"}, {"cond"});
  // Boxes 0 and 1 overlap by IoU 6/8; box 2 is apart. Box 1 scores above box 0.
  *g->add_initializer() = testing::float_tensor("boxes", {1, 3, 4}, {0, 0, 1, 8, 0, 0, 1, 6.f, 5, 5, 6, 6});
  onnx::GraphProto then_g;
  then_g.set_name("then");
  *then_g.add_initializer() = testing::float_tensor("scores", {1, 1, 3}, {0.5f, 0.9f, 0.7f});
  *then_g.add_initializer() = testing::int64_tensor("limit", {10});
  *then_g.add_initializer() = testing::float_tensor("iou", {1}, {0.5f});
  *then_g.add_node() = node("NonMaxSuppression", {"boxes", "scores", "limit", "iou"}, {"picked"});
  *then_g.add_output() = tensor_value("picked", onnx::TensorProto::INT64, {"k", "3"});
  onnx::GraphProto else_g;
  else_g.set_name("else");
  auto empty = node("Constant", {}, {"none"});
  auto* v = empty.add_attribute();
  v->set_name("value");
  v->set_type(onnx::AttributeProto::TENSOR);
  v->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  v->mutable_t()->add_dims(0);
  v->mutable_t()->add_dims(3);
  *else_g.add_node() = empty;
  *else_g.add_output() = tensor_value("none", onnx::TensorProto::INT64, {"0", "3"});
  auto branch = node("If", {"cond"}, {"selected"});
  for (auto [name, body] : {std::pair{"then_branch", &then_g}, {"else_branch", &else_g}}) {
    auto* a = branch.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::GRAPH);
    *a->mutable_g() = *body;
  }
  *g->add_node() = branch;
  *g->add_output() = tensor_value("selected", onnx::TensorProto::INT64, {"k", "3"});
  Session s(m, {});
  EXPECT_EQ(s.outputs()[0].shape, (Shape{-1, 3}));
  auto taken = s.run({floats({3}, {1, 1, 1})});
  EXPECT_EQ(taken[0].shape, (Shape{2, 3}));
  EXPECT_EQ(ints_of(taken[0]), (std::vector<std::int64_t>{0, 0, 1, 0, 0, 2}));  // box 1, then box 2; box 0 suppressed
  auto other = s.run({floats({3}, {-1, -1, -1})});
  EXPECT_EQ(other[0].shape, (Shape{0, 3}));
}

TEST(EngineDynamicTail, WhatTheTailCannotRunIsRefusedWhenTheModelIsPlanned) {
  // An op without a kernel after NonZero: refused by name at planning, not on the first run.
  auto m = filter_then_topk_model();
  m.mutable_graph()->mutable_node(4)->set_op_type("NotAnOnnxOp");
  try {
    Session s(m, {});
    ADD_FAILURE() << "planned";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "engine-unsupported");
    EXPECT_NE(std::string(e.what()).find("NotAnOnnxOp"), std::string::npos) << e.what();
  }
  // A Scan reading a filtered value: the tail runs If and Loop, not Scan.
  auto scan_model = filter_then_topk_model();
  auto* g = scan_model.mutable_graph();
  onnx::GraphProto body;
  body.set_name("body");
  *body.add_input() = tensor_value("e", onnx::TensorProto::FLOAT, {});
  *body.add_node() = node("Identity", {"e"}, {"e_out"});
  *body.add_output() = tensor_value("e_out", onnx::TensorProto::FLOAT, {});
  auto scan = node("Scan", {"kept"}, {"scanned"});
  testing::add_int_attr(scan, "num_scan_inputs", 1);
  auto* a = scan.add_attribute();
  a->set_name("body");
  a->set_type(onnx::AttributeProto::GRAPH);
  *a->mutable_g() = body;
  *g->add_node() = scan;
  try {
    Session s(scan_model, {});
    ADD_FAILURE() << "planned";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "engine-unsupported");
    EXPECT_NE(std::string(e.what()).find("Scan"), std::string::npos) << e.what();
  }
}

// A Loop body over filter_then_topk_model's kept values: inputs i, c and `carried`; the
// condition passed on as c_out, and v = kept[i].
onnx::GraphProto body_picking_kept_values(onnx::ValueInfoProto carried) {
  onnx::GraphProto body;
  body.set_name("body");
  *body.add_input() = tensor_value("i", onnx::TensorProto::INT64, {});
  *body.add_input() = tensor_value("c", onnx::TensorProto::BOOL, {});
  *body.add_input() = std::move(carried);
  *body.add_node() = node("Identity", {"c"}, {"c_out"});
  auto pick = node("Gather", {"kept", "i"}, {"v"});
  testing::add_int_attr(pick, "axis", 0);
  *body.add_node() = pick;
  return body;
}

onnx::NodeProto loop_node(const onnx::GraphProto& body, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs) {
  auto loop = node("Loop", inputs, outputs);
  auto* a = loop.add_attribute();
  a->set_name("body");
  a->set_type(onnx::AttributeProto::GRAPH);
  *a->mutable_g() = body;
  return loop;
}

// A Loop over the filtered values, as Mask R-CNN pastes one mask per detection: its trip count
// is the filtered length, it carries a running sum and stacks each value times 10.
TEST(EngineDynamicTail, ALoopOverFilteredValuesRunsOncePerValue) {
  auto m = filter_then_topk_model();
  auto* g = m.mutable_graph();
  *g->add_initializer() = testing::float_tensor("ten", {}, {10.f});
  *g->add_initializer() = testing::float_tensor("start", {}, {0.f});
  auto body = body_picking_kept_values(tensor_value("acc", onnx::TensorProto::FLOAT, {}));
  *body.add_node() = node("Add", {"acc", "v"}, {"acc_out"});
  *body.add_node() = node("Mul", {"v", "ten"}, {"v10"});
  *body.add_output() = tensor_value("c_out", onnx::TensorProto::BOOL, {});
  *body.add_output() = tensor_value("acc_out", onnx::TensorProto::FLOAT, {});
  *body.add_output() = tensor_value("v10", onnx::TensorProto::FLOAT, {});
  *g->add_node() = loop_node(body, {"count", "", "start"}, {"total", "tens"});
  *g->add_output() = tensor_value("total", onnx::TensorProto::FLOAT, {});
  *g->add_output() = tensor_value("tens", onnx::TensorProto::FLOAT, {"n"});
  Session s(m, {});
  for (const auto& x : {std::vector<float>{1, -2, 3, 4, -5, 0.5f, -1, 2}, std::vector<float>{-1, -1, -1, 7, -1, -1, -1, -1},
                        std::vector<float>(8, -1.f)}) {
    float total = 0;
    std::vector<float> tens;
    for (float v : x)
      if (2 * v > 0) total += 2 * v, tens.push_back(20 * v);
    auto out = s.run({floats({8}, x)});
    ASSERT_EQ(out.size(), 5u);
    EXPECT_FLOAT_EQ(out[3].as<float>()[0], total);
    EXPECT_EQ(out[4].shape, Shape{static_cast<std::int64_t>(tens.size())});
    EXPECT_EQ(values_of(out[4]), tens);
  }
}

// A Loop that grows a carried value by one Concat along axis 0 per iteration, as Mask R-CNN
// pastes its masks (res = cat(res, mask)): the rows come out in order, each run starts from the
// initial value again, and the body reading the carried value after appending to it (the sum of
// the rows before this iteration, stacked) still sees the rows it had, not the appended one.
TEST(EngineDynamicTail, ALoopAppendingRowsToACarriedValueKeepsEveryRowAndEveryEarlierView) {
  auto m = filter_then_topk_model();
  auto* g = m.mutable_graph();
  // 40 initial rows: more bytes than the buffer's smallest size, so the first append must make
  // room for them as well as for the new row.
  std::vector<float> first_rows;
  for (int r = 0; r < 40; ++r) first_rows.insert(first_rows.end(), {0.5f + r, -0.5f});
  *g->add_initializer() = testing::float_tensor("first_rows", {40, 2}, first_rows);
  *g->add_initializer() = testing::float_tensor("pair", {1, 2}, {1.f, 10.f});
  auto body = body_picking_kept_values(tensor_value("rows", onnx::TensorProto::FLOAT, {"r", "2"}));
  *body.add_node() = node("Mul", {"pair", "v"}, {"row"});
  auto append = node("Concat", {"rows", "row"}, {"rows_out"});
  testing::add_int_attr(append, "axis", 0);
  *body.add_node() = append;
  auto before = node("ReduceSum", {"rows"}, {"sum_before"});
  testing::add_int_attr(before, "keepdims", 0);
  *body.add_node() = before;
  *body.add_output() = tensor_value("c_out", onnx::TensorProto::BOOL, {});
  *body.add_output() = tensor_value("rows_out", onnx::TensorProto::FLOAT, {"r2", "2"});
  *body.add_output() = tensor_value("sum_before", onnx::TensorProto::FLOAT, {});
  *g->add_node() = loop_node(body, {"count", "", "first_rows"}, {"all_rows", "sums_before"});
  *g->add_output() = tensor_value("all_rows", onnx::TensorProto::FLOAT, {"n", "2"});
  *g->add_output() = tensor_value("sums_before", onnx::TensorProto::FLOAT, {"n"});
  Session s(m, {});
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int run = 0; run < 6; ++run) {
    std::vector<float> x(8);
    for (auto& v : x) v = u(rng);
    std::vector<float> rows = first_rows, sums;
    for (float v : x)
      if (2 * v > 0) {
        float sum = 0;
        for (float r : rows) sum += r;
        sums.push_back(sum);
        rows.push_back(2 * v);
        rows.push_back(20 * v);
      }
    auto out = s.run({floats({8}, x)});
    ASSERT_EQ(out.size(), 5u);
    EXPECT_EQ(out[3].shape, (Shape{static_cast<std::int64_t>(rows.size() / 2), 2})) << run;
    EXPECT_EQ(values_of(out[3]), rows) << run;
    const auto got_sums = values_of(out[4]);
    ASSERT_EQ(got_sums.size(), sums.size()) << run;
    for (std::size_t k = 0; k < sums.size(); ++k) EXPECT_NEAR(got_sums[k], sums[k], 1e-5f * std::max(1.f, std::abs(sums[k]))) << run << " " << k;
  }
}

// TopK-11's order: NaN above every number (as NumPy and PyTorch sort), the lower index first
// among equal values, and the smallest first when largest=0.
// NonZero over inputs of rank 1 to 4, an axis of length 0 among them: the coordinates of every
// element that is not zero (-0 is zero, NaN is not), row-major, one row per axis. The want
// side unravels each flat index by division, the kernel steps its coordinates as a counter.
TEST(EngineDynamicTail, NonZeroOfEveryRankListsCoordinatesInRowMajorOrder) {
  std::mt19937 rng(6);
  std::uniform_int_distribution<int> pick(0, 5);
  for (const Shape& shape : {Shape{7}, Shape{3, 5}, Shape{2, 3, 4}, Shape{2, 1, 3, 5}, Shape{4, 3, 1, 2}, Shape{2, 0, 3}}) {
    auto m = testing::empty_model();
    auto* g = m.mutable_graph();
    std::vector<std::string> dims;
    for (auto d : shape) dims.push_back(std::to_string(d));
    *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, dims);
    *g->add_node() = node("NonZero", {"x"}, {"where"});
    *g->add_output() = tensor_value("where", onnx::TensorProto::INT64, {"r", "n"});
    Session s(m, {});
    std::vector<float> x(static_cast<std::size_t>(numel(shape)));
    std::vector<std::int64_t> hits;  // flat indices of the elements that are not zero
    for (std::size_t i = 0; i < x.size(); ++i) {
      const int p = pick(rng);
      x[i] = p == 0 ? 0.f : p == 1 ? -0.f : p == 2 ? NAN : static_cast<float>(p - 4);  // -1, 0, 1 among them
      if (x[i] != 0.f || std::isnan(x[i])) hits.push_back(static_cast<std::int64_t>(i));
    }
    const auto out = s.run({floats(shape, x)});
    const auto rank = static_cast<std::int64_t>(shape.size()), n = static_cast<std::int64_t>(hits.size());
    ASSERT_EQ(out[0].shape, (Shape{rank, n})) << shape_str(shape);
    const auto got = ints_of(out[0]);
    for (std::int64_t j = 0; j < n; ++j) {
      std::int64_t rest = hits[static_cast<std::size_t>(j)];
      for (std::int64_t d = rank - 1; d >= 0; --d) {
        const std::int64_t len = shape[static_cast<std::size_t>(d)];
        EXPECT_EQ(got[static_cast<std::size_t>(d * n + j)], rest % len) << shape_str(shape) << " hit " << j << " axis " << d;
        rest /= len;
      }
    }
    if (numel(shape) > 0) {
      EXPECT_GT(n, 0) << shape_str(shape);
    }
  }
}

TEST(EngineDynamicTail, TopKOrdersNanFirstAndTiesByIndex) {
  for (bool largest : {true, false}) {
    auto m = testing::empty_model();
    auto* g = m.mutable_graph();
    *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"2", "6"});
    *g->add_initializer() = testing::int64_tensor("k", {4});
    auto topk = node("TopK", {"x", "k"}, {"v", "i"});
    testing::add_int_attr(topk, "largest", largest ? 1 : 0);
    *g->add_node() = topk;
    *g->add_output() = tensor_value("v", onnx::TensorProto::FLOAT, {"2", "4"});
    *g->add_output() = tensor_value("i", onnx::TensorProto::INT64, {"2", "4"});
    Session s(m, {});
    const float nan = std::nanf("");
    auto out = s.run({floats({2, 6}, {1, nan, 3, 3, 2, 0, 5, 5, 5, -1, 4, 5})});
    const auto idx = ints_of(out[1]);
    if (largest) {
      EXPECT_EQ(idx, (std::vector<std::int64_t>{1, 2, 3, 4, 0, 1, 2, 5}));
      EXPECT_TRUE(std::isnan(out[0].as<float>()[0]));
    } else {
      EXPECT_EQ(idx, (std::vector<std::int64_t>{5, 0, 4, 2, 3, 4, 0, 1}));
      EXPECT_EQ(out[0].as<float>()[0], 0.f);
    }
  }
}

TEST(EngineDynamicTail, AGatherNdIndexOutsideTheDataIsABadInputNotAReadPastIt) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"3", "2"});
  *g->add_initializer() = testing::int64_tensor("where", {1, -1, 3, 0});
  auto& idx = *g->mutable_initializer(0);
  idx.clear_dims();
  idx.add_dims(2);
  idx.add_dims(2);
  *g->add_node() = node("GatherND", {"x", "where"}, {"y"});
  *g->add_output() = tensor_value("y", onnx::TensorProto::FLOAT, {"2"});
  Session s(m, {});
  try {
    s.run({floats({3, 2}, {0, 1, 2, 3, 4, 5})});
    ADD_FAILURE() << "ran";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "engine-bad-input");
  }
  // In range, negative indices count from the end: [1, -1] is x[1][1], [-3, 0] is x[0][0].
  idx.clear_int64_data();
  for (std::int64_t v : {1, -1, -3, 0}) idx.add_int64_data(v);
  Session ok(m, {});
  EXPECT_EQ(values_of(ok.run({floats({3, 2}, {0, 1, 2, 3, 4, 5})})[0]), (std::vector<float>{3, 0}));
}

// With the names to keep, the tail drops every other value once the last node reading it has
// run (the blocks then serve later nodes of the same run): a value an If branch reads from the
// enclosing graph counts as read by the If, so it is still there when the branch runs.
TEST(EngineDynamicTail, ValuesAreDroppedAfterTheirLastReaderAndKeptOnesStay) {
  onnx::GraphProto then_g;
  then_g.set_name("then");
  *then_g.add_node() = node("Add", {"b", "x"}, {"t"});
  *then_g.add_output() = tensor_value("t", onnx::TensorProto::FLOAT, {"4"});
  onnx::GraphProto else_g;
  else_g.set_name("else");
  *else_g.add_node() = node("Identity", {"x"}, {"e"});
  *else_g.add_output() = tensor_value("e", onnx::TensorProto::FLOAT, {"4"});
  auto branch = node("If", {"cond"}, {"out"});
  for (auto [name, body] : {std::pair{"then_branch", &then_g}, {"else_branch", &else_g}}) {
    auto* a = branch.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::GRAPH);
    *a->mutable_g() = *body;
  }
  std::vector<onnx::NodeProto> nodes{node("Relu", {"x"}, {"a"}), node("Neg", {"a"}, {"b"}), node("Abs", {"b"}, {"c"}), branch,
                                     node("Mul", {"c", "c"}, {"d"})};
  DynamicTail tail(nodes, {}, 13);
  const std::vector<float> x{-2, -0.5f, 1, 3};
  auto inputs = [&] {
    std::unordered_map<std::string, Tensor> v;
    v["x"] = floats({4}, x);
    v["cond"] = Tensor::allocate(DType::kBool, {});
    v["cond"].as<bool>()[0] = true;
    return v;
  };
  auto values = inputs();
  const std::unordered_set<std::string> keep{"out", "d"};
  tail.run(values, nullptr, &keep);
  std::vector<std::string> left;
  for (const auto& [name, t] : values) left.push_back(name);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"d", "out"}));
  EXPECT_EQ(values_of(values["out"]), (std::vector<float>{-2, -0.5f, 0, 0}));  // x - relu(x)
  EXPECT_EQ(values_of(values["d"]), (std::vector<float>{0, 0, 1, 9}));         // relu(x)^2
  // Without names to keep, every value stays (what the tests of DynamicTail alone read).
  auto all = inputs();
  tail.run(all);
  for (const char* name : {"x", "cond", "a", "b", "c", "out", "d"}) EXPECT_TRUE(all.count(name)) << name;
}

// A Flatten, Reshape or Squeeze in the tail hands out its input's bytes under the new shape
// rather than a copy (values are never written once made), and what reads the view gets the
// input's values.
TEST(EngineDynamicTail, ReshapesInTheTailAreViewsOfTheirInput) {
  std::unordered_map<std::string, Tensor> constants;
  constants["to"] = Tensor::allocate(DType::kI64, {2});
  constants["to"].as<std::int64_t>()[0] = 3;
  constants["to"].as<std::int64_t>()[1] = -1;
  constants["axes"] = Tensor::allocate(DType::kI64, {1});
  constants["axes"].as<std::int64_t>()[0] = 0;
  auto flatten = node("Flatten", {"a"}, {"flat"});
  testing::add_int_attr(flatten, "axis", 2);
  std::vector<onnx::NodeProto> nodes{node("Relu", {"x"}, {"a"}), flatten, node("Reshape", {"flat", "to"}, {"r"}),
                                     node("Unsqueeze", {"r", "axes"}, {"u"}), node("Neg", {"u"}, {"n"})};
  DynamicTail tail(nodes, constants, 13);
  std::unordered_map<std::string, Tensor> values;
  values["x"] = floats({2, 3, 2}, {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12});
  tail.run(values);
  for (const char* view : {"flat", "r", "u"}) {
    EXPECT_EQ(values[view].data, values["a"].data) << view;
    EXPECT_EQ(values[view].owner, values["a"].owner) << view;
  }
  EXPECT_EQ(values["flat"].shape, (Shape{6, 2}));
  EXPECT_EQ(values["u"].shape, (Shape{1, 3, 4}));
  EXPECT_EQ(values_of(values["n"]), (std::vector<float>{-1, 0, -3, 0, -5, 0, -7, 0, -9, 0, -11, 0}));
  EXPECT_EQ(values_of(values["a"]), (std::vector<float>{1, 0, 3, 0, 5, 0, 7, 0, 9, 0, 11, 0}));
}

// A convolution in the tail meets a new batch (a detector's head: the number of detections) on
// most runs. Each new batch is planned, but the weights the kept plans packed are taken rather
// than packed again, also once the oldest plans are dropped, and every batch gets the
// convolution's result. Direct, and Winograd (oneDNN's on AVX-512, the engine's own F(4x4, 3x3)
// below it), whose weights are transformed before they are packed.
TEST(EngineDynamicTail, PlansForNewBatchesTakeTheWeightsTheKeptPlansPacked) {
  constexpr std::int64_t C = 32, M = 32, H = 12;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.f, 0.2f);
  std::vector<float> w(static_cast<std::size_t>(M * C * 9)), b(static_cast<std::size_t>(M));
  for (auto& v : w) v = normal(rng);
  for (auto& v : b) v = normal(rng);
  const Tensor wt = floats({M, C, 3, 3}, w), bt = floats({M}, b);
  auto conv = node("Conv", {"x", "w", "b"}, {"y"});
  testing::add_ints_attr(conv, "pads", {1, 1, 1, 1});
  testing::add_ints_attr(conv, "kernel_shape", {3, 3});
  // More distinct batches than the tail keeps plans for.
  const std::vector<std::int64_t> batches{3, 5, 7, 9, 12, 2, 17, 4, 6, 11, 3, 8, 5};
  ASSERT_GT(batches.size(), DynamicTail::kPlansPerNode + 2);
  for (auto algorithm : {ConvAlgorithm::kDirect, ConvAlgorithm::kWinograd}) {
    const char* name = algorithm == ConvAlgorithm::kDirect ? "direct" : "Winograd";
    DynamicTail tail({conv}, {{"w", wt}, {"b", bt}}, 13, NodePlanOptions{true, algorithm});
    const std::size_t packs_before = weight_packs();
    for (const std::int64_t n : batches) {
      std::vector<float> x(static_cast<std::size_t>(n * C * H * H));
      for (auto& v : x) v = normal(rng);
      std::unordered_map<std::string, Tensor> values;
      values["x"] = floats({n, C, H, H}, x);
      tail.run(values);
      const Tensor& y = values["y"];
      ASSERT_EQ(y.shape, (Shape{n, M, H, H})) << name;
      const auto got = values_of(y);
      for (std::int64_t i = 0; i < n; ++i) {
        const Tensor image{DType::kF32, {1, C, H, H}, values["x"].data + i * C * H * H * 4, values["x"].owner};
        const auto want = testing::reference_conv2d(image, wt, &bt, 1);
        for (std::size_t j = 0; j < want.size(); ++j)
          ASSERT_NEAR(got[static_cast<std::size_t>(i * M * H * H) + j], want[j], 2e-4f) << name << ", batch " << n << ", image " << i;
      }
    }
    // Direct kernels want one layout for every batch here. oneDNN's Winograd chooses its weight
    // blocking from the problem, batch included (the fresh-clone test run packed 2 layouts over
    // these 13 batches, a run by hand 1): a few packs, never one per plan (13 without sharing).
    if (algorithm == ConvAlgorithm::kDirect)
      EXPECT_EQ(weight_packs() - packs_before, 1u) << name << ": weights packed again for a new batch";
    else
      EXPECT_LE(weight_packs() - packs_before, 3u) << name << ": weights packed again for a new batch";
  }
}

// A profile after time_runs covers the timed runs only: the warm-up's first run plans the tail's
// kernels, and counted with the rest it made a detector's tail Gemm look 3x slower than it runs.
TEST(EngineDynamicTail, TheProfileOfTimedRunsLeavesTheWarmUpOut) {
  SessionOptions so;
  so.profile = true;
  Session s(filter_then_topk_model(), so);
  const std::vector<Tensor> inputs{floats({8}, {1, -1, 2, -2, 3, -3, 4, -4})};
  time_runs(s, inputs, 2, 3);
  std::map<std::string, std::int64_t> calls;
  for (const auto& p : s.profile()) calls[p.op] = static_cast<std::int64_t>(p.calls);
  EXPECT_EQ(calls["TopK (dynamic tail)"], 3);
  EXPECT_EQ(calls["NonZero (dynamic tail)"], 3);
  EXPECT_EQ(calls["Mul"], 3);  // planned before the tail
  s.reset_profile();
  EXPECT_TRUE(s.profile().empty());
}

}  // namespace
}  // namespace aifgen::engine

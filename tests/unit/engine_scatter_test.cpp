// ScatterElements on the shapes the kernel walks differently (scatter.cpp): an index along the
// first axis whose trailing axes agree with the data's (MultiScaleRoIAlign's), one along the
// last axis, one along a middle axis with a shorter last axis, and rank 1; every reduction, int64
// and int32 indices, 1 and 2 threads. Indices repeat often, so a destination written by two
// threads, or out of index order, gives another value than the definition walked in the test.
#include <gtest/gtest.h>

#include <random>

#include "core/base/error.h"
#include "core/engine/evaluate.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen::engine {
namespace {

using testing::node;

struct ScatterCase {
  Shape data, indices;
  std::int64_t axis;
};

// The node as a detector's dynamic tail runs it: planned for the inputs it is given and run with
// the calling thread's OpenMP thread count (a Session of this one node would plan one thread).
std::vector<Tensor> run_scatter(const ScatterCase& c, const std::string& reduction, const std::vector<const Tensor*>& inputs,
                                int threads) {
  auto n = node("ScatterElements", {"data", "indices", "updates"}, {"out"});
  testing::add_int_attr(n, "axis", c.axis);
  auto* r = n.add_attribute();
  r->set_name("reduction");
  r->set_type(onnx::AttributeProto::STRING);
  r->set_s(reduction);
  testing::ScopedOmpThreads scoped(threads);
  return evaluate_node(n, 18, inputs);  // max and min reductions came with opset 18
}

// The definition: every position of `indices` in row-major order, its coordinate on `axis`
// replaced by its index (negative ones counted from the end), combined into a copy of data.
std::vector<float> scatter_by_definition(const ScatterCase& c, const std::vector<float>& data, const std::vector<std::int64_t>& idx,
                                         const std::vector<float>& upd, const std::string& reduction) {
  const auto rank = c.data.size();
  const auto axis = static_cast<std::size_t>(c.axis < 0 ? c.axis + static_cast<std::int64_t>(rank) : c.axis);
  std::vector<float> out = data;
  std::vector<std::int64_t> coord(rank, 0);
  for (std::size_t u = 0; u < idx.size(); ++u) {
    std::int64_t off = 0;
    for (std::size_t d = 0; d < rank; ++d) {
      std::int64_t at = coord[d];
      if (d == axis) at = idx[u] < 0 ? idx[u] + c.data[d] : idx[u];
      off = off * c.data[d] + at;
    }
    float& o = out[static_cast<std::size_t>(off)];
    if (reduction == "none") o = upd[u];
    else if (reduction == "add") o += upd[u];
    else if (reduction == "mul") o *= upd[u];
    else if (reduction == "max") o = std::max(o, upd[u]);
    else o = std::min(o, upd[u]);
    for (std::size_t d = rank; d-- > 0;) {
      if (++coord[d] < c.indices[d]) break;
      coord[d] = 0;
    }
  }
  return out;
}

const std::vector<ScatterCase> kCases = {
    {{64, 16, 14, 14}, {48, 16, 14, 14}, 0},  // trailing axes agree: rows of 3,136, threads share the row
    {{40, 3, 900}, {40, 3, 700}, 2},          // along the last axis: threads share the rows
    {{30, 9, 800}, {30, 7, 790}, 1},          // a middle axis and a shorter last axis
    {{30, 9, 800}, {30, 7, 790}, -2},         // the same axis counted from the end
    {{100}, {60}, 0},                         // rank 1: one row
};

TEST(EngineScatter, ScatterElementsGivesTheDefinitionsValuesOnEveryWalk) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> value(-2.f, 2.f);
  for (const auto& c : kCases) {
    const auto rank = static_cast<std::int64_t>(c.data.size());
    const auto axis = static_cast<std::size_t>(c.axis < 0 ? c.axis + rank : c.axis);
    std::vector<float> data(static_cast<std::size_t>(numel(c.data))), upd(static_cast<std::size_t>(numel(c.indices)));
    for (auto& v : data) v = value(rng);
    for (auto& v : upd) v = value(rng);
    // Indices over a few destinations only, from either end, so most repeat.
    const std::int64_t length = c.data[axis];
    std::uniform_int_distribution<std::int64_t> index(-std::min<std::int64_t>(length, 3), std::min<std::int64_t>(length, 4) - 1);
    std::vector<std::int64_t> idx(upd.size());
    for (auto& i : idx) i = index(rng);
    for (const char* reduction : {"none", "add", "mul", "max", "min"})
      for (bool int32_indices : {false, true})
        for (int threads : {1, 2}) {
          SCOPED_TRACE(shape_str(c.data) + " axis " + std::to_string(c.axis) + " " + reduction + (int32_indices ? " int32 " : " int64 ") +
                       std::to_string(threads) + " threads");
          Tensor indices = Tensor::allocate(int32_indices ? DType::kI32 : DType::kI64, c.indices);
          for (std::size_t i = 0; i < idx.size(); ++i) {
            if (int32_indices) indices.as<std::int32_t>()[i] = static_cast<std::int32_t>(idx[i]);
            else indices.as<std::int64_t>()[i] = idx[i];
          }
          const Tensor d = testing::float_tensor_of(c.data, data), u = testing::float_tensor_of(c.indices, upd);
          const auto out = run_scatter(c, reduction, {&d, &indices, &u}, threads);
          // Each destination is combined in index order on one thread, as the definition does:
          // the same float operations in the same order, so the same bits.
          EXPECT_EQ(testing::floats_in(out[0]), scatter_by_definition(c, data, idx, upd, reduction));
        }
  }
}

TEST(EngineScatter, AnIndexOutsideTheAxisIsABadInputOnEveryThread) {
  const ScatterCase c{{64, 16, 14, 14}, {48, 16, 14, 14}, 0};
  for (std::int64_t bad : {64, -65}) {
    Tensor indices = Tensor::allocate(DType::kI64, c.indices);
    indices.as<std::int64_t>()[indices.numel() - 1] = bad;  // the last position: the second thread's share
    try {
      const Tensor d = Tensor::allocate(DType::kF32, c.data), u = Tensor::allocate(DType::kF32, c.indices);
      run_scatter(c, "none", {&d, &indices, &u}, 2);
      ADD_FAILURE() << "index " << bad << " ran";
    } catch (const Error& e) {
      EXPECT_EQ(e.type(), "engine-bad-input");
      EXPECT_NE(std::string(e.what()).find("index " + std::to_string(bad)), std::string::npos) << e.what();
    }
  }
}

// ScatterND shares the reductions' combiner with ScatterElements: slices of 5 along the last
// axis, named by (i, j) pairs of which most repeat, combined in index order.
TEST(EngineScatter, ScatterNDCombinesRepeatedSlicesInIndexOrder) {
  const Shape data_shape{6, 4, 5}, idx_shape{12, 2}, upd_shape{12, 5};
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-2.f, 2.f);
  std::vector<float> data(static_cast<std::size_t>(numel(data_shape))), upd(static_cast<std::size_t>(numel(upd_shape)));
  for (auto& v : data) v = value(rng);
  for (auto& v : upd) v = value(rng);
  std::uniform_int_distribution<std::int64_t> index(-2, 1);  // four rows per axis, two of them from the end
  std::vector<std::int64_t> idx(24);
  for (auto& i : idx) i = index(rng);
  for (const char* reduction : {"none", "add", "mul", "max", "min"}) {
    SCOPED_TRACE(reduction);
    auto n = node("ScatterND", {"data", "indices", "updates"}, {"out"});
    auto* r = n.add_attribute();
    r->set_name("reduction");
    r->set_type(onnx::AttributeProto::STRING);
    r->set_s(reduction);
    Tensor indices = Tensor::allocate(DType::kI64, idx_shape);
    std::copy(idx.begin(), idx.end(), indices.as<std::int64_t>());
    const Tensor d = testing::float_tensor_of(data_shape, data), u = testing::float_tensor_of(upd_shape, upd);
    const auto out = evaluate_node(n, 18, {&d, &indices, &u});
    std::vector<float> want = data;
    for (std::size_t s = 0; s < 12; ++s) {
      const std::int64_t i = idx[2 * s] < 0 ? idx[2 * s] + 6 : idx[2 * s], j = idx[2 * s + 1] < 0 ? idx[2 * s + 1] + 4 : idx[2 * s + 1];
      for (std::size_t e = 0; e < 5; ++e) {
        float& o = want[static_cast<std::size_t>((i * 4 + j) * 5) + e];
        const float v = upd[s * 5 + e];
        const std::string red = reduction;
        o = red == "none" ? v : red == "add" ? o + v : red == "mul" ? o * v : red == "max" ? std::max(o, v) : std::min(o, v);
      }
    }
    EXPECT_EQ(testing::floats_in(out[0]), want);
  }
}

}  // namespace
}  // namespace aifgen::engine

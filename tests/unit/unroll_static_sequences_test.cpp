// The unroll_static_sequences pass (and the engine, which runs it before planning): a Loop of
// constant trip count that appends slices to a sequence, as torch exports tensor_split, and the
// sequence reads after it become tensors with the values the ONNX definition gives; what cannot
// be known at planning stays a sequence, and the engine refuses it by name.
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/engine/session.h"
#include "core/passes/pass_manager.h"
#include "tests/support/engine_probes.h"
#include "tests/support/model_builder.h"

namespace aifgen {
namespace {

using testing::node;
using testing::tensor_value;

onnx::ValueInfoProto sequence_value(const std::string& name) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  v.mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  return v;
}

onnx::ValueInfoProto scalar_value(const std::string& name, int type) {
  onnx::ValueInfoProto v;
  v.set_name(name);
  v.mutable_type()->mutable_tensor_type()->set_elem_type(type);
  v.mutable_type()->mutable_tensor_type()->mutable_shape();
  return v;
}

// x[2, 6] -> Loop(trips) over i: seq += [x[:, 2i : 2i+2]], acc += x[:, 2i : 2i+2], scan out
// x[:, 2i : 2i+2] * 10 -> SequenceInsert(seq, x[:, 0:1] at `position`) -> outputs:
// at(seq, first_at), at(seq, -1), ConcatFromSequence(axis 1), the final acc,
// ConcatFromSequence(new axis 0), the scan output and the length.
// `trips_from_input`: the trip count is a graph input instead of a constant.
onnx::ModelProto split_loop_model(std::int64_t trips, std::int64_t position, std::int64_t first_at, bool trips_from_input = false) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = tensor_value("x", onnx::TensorProto::FLOAT, {"2", "6"});
  if (trips_from_input) *g->add_input() = tensor_value("trips", onnx::TensorProto::INT64, {});
  else *g->add_initializer() = testing::int64_tensor("trips", {trips});
  onnx::TensorProto yes;
  yes.set_name("yes");
  yes.set_data_type(onnx::TensorProto::BOOL);
  yes.add_int32_data(1);
  *g->add_initializer() = yes;
  *g->add_initializer() = testing::float_tensor("acc0", {2, 2}, {0, 0, 0, 0});
  *g->add_initializer() = testing::int64_tensor("position", {position});
  *g->add_initializer() = testing::int64_tensor("first_at", {first_at});
  *g->add_initializer() = testing::int64_tensor("last_at", {-1});
  *g->add_initializer() = testing::int64_tensor("zero", {0});
  *g->add_initializer() = testing::int64_tensor("one", {1});
  *g->add_node() = node("SequenceEmpty", {}, {"empty"});

  onnx::GraphProto body;
  body.set_name("body");
  *body.add_input() = scalar_value("i", onnx::TensorProto::INT64);
  *body.add_input() = scalar_value("cond_in", onnx::TensorProto::BOOL);
  *body.add_input() = sequence_value("seq_in");
  *body.add_input() = tensor_value("acc_in", onnx::TensorProto::FLOAT, {"2", "2"});
  *body.add_initializer() = testing::int64_tensor("two", {2});  // a body initializer
  *body.add_initializer() = testing::float_tensor("ten", {1}, {10.f});
  *body.add_node() = node("Unsqueeze", {"i", "zero"}, {"i1"});
  *body.add_node() = node("Mul", {"i1", "two"}, {"start"});
  *body.add_node() = node("Add", {"start", "two"}, {"end"});
  *body.add_node() = node("Slice", {"x", "start", "end", "one"}, {"piece"});  // x read from outside
  *body.add_node() = node("SequenceInsert", {"seq_in", "piece"}, {"seq_out"});
  *body.add_node() = node("Add", {"acc_in", "piece"}, {"acc_out"});
  *body.add_node() = node("Mul", {"piece", "ten"}, {"scaled"});
  *body.add_node() = node("Identity", {"cond_in"}, {"cond_out"});
  *body.add_output() = scalar_value("cond_out", onnx::TensorProto::BOOL);
  *body.add_output() = sequence_value("seq_out");
  *body.add_output() = tensor_value("acc_out", onnx::TensorProto::FLOAT, {"2", "2"});
  *body.add_output() = tensor_value("scaled", onnx::TensorProto::FLOAT, {"2", "2"});
  auto loop = node("Loop", {"trips", "yes", "empty", "acc0"}, {"pieces", "acc", "scans"}, "split_loop");
  auto* attr = loop.add_attribute();
  attr->set_name("body");
  attr->set_type(onnx::AttributeProto::GRAPH);
  *attr->mutable_g() = body;
  *g->add_node() = loop;

  *g->add_node() = node("Slice", {"x", "zero", "one", "one"}, {"head"});
  *g->add_node() = node("SequenceInsert", {"pieces", "head", "position"}, {"all"});
  *g->add_node() = node("SequenceAt", {"all", "first_at"}, {"first"});
  *g->add_node() = node("SequenceAt", {"all", "last_at"}, {"last"});
  *g->add_node() = node("SequenceLength", {"all"}, {"length"});
  auto along = node("ConcatFromSequence", {"pieces"}, {"joined"});
  testing::add_int_attr(along, "axis", 1);
  *g->add_node() = along;
  auto stacked = node("ConcatFromSequence", {"pieces"}, {"stacked"});
  testing::add_int_attr(stacked, "axis", 0);
  testing::add_int_attr(stacked, "new_axis", 1);
  *g->add_node() = stacked;
  for (const char* out : {"first", "last", "joined", "acc"}) *g->add_output() = tensor_value(out, onnx::TensorProto::FLOAT, {"r", "c"});
  *g->add_output() = tensor_value("stacked", onnx::TensorProto::FLOAT, {"n", "r", "c"});
  *g->add_output() = tensor_value("scans", onnx::TensorProto::FLOAT, {"n", "r", "c"});
  *g->add_output() = tensor_value("length", onnx::TensorProto::INT64, {});
  return m;
}

int count_sequence_ops(const onnx::ModelProto& m) {
  int n = 0;
  for (const auto& node : m.graph().node())
    n += node.op_type().find("Sequence") != std::string::npos || node.op_type() == "Loop";
  return n;
}

// x[r][c] = 10 r + c: a slice's values say which columns it holds.
std::vector<float> x_values() {
  std::vector<float> x;
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 6; ++c) x.push_back(static_cast<float>(10 * r + c));
  return x;
}

std::vector<float> columns(int from, int to) {  // x[:, from:to], row-major
  std::vector<float> out;
  for (int r = 0; r < 2; ++r)
    for (int c = from; c < to; ++c) out.push_back(static_cast<float>(10 * r + c));
  return out;
}

TEST(UnrollStaticSequences, ALoopAppendingSlicesRunsAsTheTensorsItWouldHold) {
  auto m = split_loop_model(3, 0, 1);
  auto rewritten = m;
  auto counts = make_pass("unroll_static_sequences")->run(rewritten);
  EXPECT_EQ(counts["loops_unrolled"], 1);
  EXPECT_EQ(counts["sequence_reads_resolved"], 5);  // two SequenceAt, SequenceLength, two ConcatFromSequence
  make_pass("eliminate_dead_nodes")->run(rewritten);
  EXPECT_EQ(count_sequence_ops(rewritten), 0);

  // The engine takes the model as exported.
  engine::Session s(m, {});
  const auto out = s.run({testing::float_tensor_of({2, 6}, x_values())});
  // all = [x[:, 0:1], x[:, 0:2], x[:, 2:4], x[:, 4:6]]
  EXPECT_EQ(out[0].shape, (engine::Shape{2, 2}));
  EXPECT_EQ(testing::floats_in(out[0]), columns(0, 2));  // first_at 1
  EXPECT_EQ(testing::floats_in(out[1]), columns(4, 6));  // -1: the last
  EXPECT_EQ(out[2].shape, (engine::Shape{2, 6}));
  EXPECT_EQ(testing::floats_in(out[2]), columns(0, 6));  // the pieces side by side again
  EXPECT_EQ(out[4].shape, (engine::Shape{3, 2, 2}));
  std::vector<float> stacked;
  for (int p = 0; p < 3; ++p)
    for (float v : columns(2 * p, 2 * p + 2)) stacked.push_back(v);
  EXPECT_EQ(testing::floats_in(out[4]), stacked);
  std::vector<float> acc(4, 0.f), scans;
  for (int p = 0; p < 3; ++p) {
    const auto piece = columns(2 * p, 2 * p + 2);
    for (int k = 0; k < 4; ++k) acc[static_cast<std::size_t>(k)] += piece[static_cast<std::size_t>(k)];
    for (float v : piece) scans.push_back(10 * v);
  }
  EXPECT_EQ(testing::floats_in(out[3]), acc);
  EXPECT_EQ(out[5].shape, (engine::Shape{3, 2, 2}));
  EXPECT_EQ(testing::floats_in(out[5]), scans);
  EXPECT_EQ(testing::int64s_in(out[6]), std::vector<std::int64_t>{4});
}

TEST(UnrollStaticSequences, InsertPositionsCountFromEitherEnd) {
  // The head inserted at the end (position 3 of 3 pieces) and read back at 3 and at -1.
  for (auto [position, at] : {std::pair<std::int64_t, std::int64_t>{3, 3}, {-1, 2}, {-3, 0}}) {
    engine::Session s(split_loop_model(3, position, at), {});
    const auto out = s.run({testing::float_tensor_of({2, 6}, x_values())});
    EXPECT_EQ(testing::floats_in(out[0]), columns(0, 1)) << position << " " << at;
  }
}

TEST(UnrollStaticSequences, WhatIsNotKnownAtPlanningStaysASequenceAndIsRefusedByName) {
  // A trip count given at run time: the Loop stays, and its sequence with it.
  auto m = split_loop_model(3, 0, 1, true);
  auto counts = make_pass("unroll_static_sequences")->run(m);
  EXPECT_EQ(counts["loops_unrolled"], 0);
  EXPECT_EQ(counts["sequence_reads_resolved"], 0);
  try {
    engine::Session s(split_loop_model(3, 0, 1, true), {});
    FAIL() << "a sequence the engine cannot resolve was planned";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Sequence"), std::string::npos) << e.what();
  }
  // A position outside the sequence is left for the engine too, not read past the list.
  auto outside = split_loop_model(3, 0, 7);
  make_pass("unroll_static_sequences")->run(outside);
  int left = 0;
  for (const auto& n : outside.graph().node()) left += n.op_type() == "SequenceAt";
  EXPECT_EQ(left, 1);
}

}  // namespace
}  // namespace aifgen

// PackedWeights (packed_weights.h): the dynamic tail's plans of one node share the weights they
// pack. What is shared must be exactly what a plan would have packed itself.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "core/engine/kernels/onednn_util.h"
#include "core/engine/packed_weights.h"

namespace aifgen::engine {
namespace {

using tag = dnnl::memory::format_tag;

TEST(PackedWeights, TheSameWeightsInTheSameLayoutArePackedOnceWhileAPlanHoldsThem) {
  const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  std::vector<float> w(32 * 16 * 9);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 97) - 48.f;
  const dnnl::memory::dims dims{32, 16, 3, 3};
  const auto plain = plain_f32(dims);
  const dnnl::memory::desc blocked(dims, dnnl::memory::data_type::f32, tag::OIhw16i16o);
  const dnnl::memory::desc other(dims, dnnl::memory::data_type::f32, tag::OIhw8i8o);
  PackedWeights cache;
  const std::size_t before = weight_packs();
  auto a = cache.get(plain, w.data(), blocked, eng);
  auto b = cache.get(plain, w.data(), blocked, eng);
  EXPECT_EQ(a.get(), b.get());
  EXPECT_EQ(weight_packs() - before, 1u);
  // What is handed out is the reorder a plan would have made alone.
  dnnl::memory alone(blocked, eng);
  reorder_now(eng, plain, w.data(), alone);
  EXPECT_EQ(std::memcmp(a->get_data_handle(), alone.get_data_handle(), blocked.get_size()), 0);
  // Another layout, other bytes or another transform of the same bytes: packed apart.
  auto c = cache.get(plain, w.data(), other, eng);
  auto d = cache.get(plain, w.data() + 16, blocked, eng);
  bool filled = false;
  auto e = cache.get("a transform", w.data(), blocked, eng, [&](dnnl::memory& m) {
    std::memset(m.get_data_handle(), 0, blocked.get_size());
    filled = true;
  });
  EXPECT_TRUE(filled);
  EXPECT_NE(c.get(), a.get());
  EXPECT_NE(d.get(), a.get());
  EXPECT_NE(e.get(), a.get());
  EXPECT_EQ(weight_packs() - before, 4u);
  // Once no plan holds them they are freed, and a later plan packs them again.
  a.reset();
  b.reset();
  auto again = cache.get(plain, w.data(), blocked, eng);
  EXPECT_EQ(weight_packs() - before, 5u);
  EXPECT_EQ(std::memcmp(again->get_data_handle(), alone.get_data_handle(), blocked.get_size()), 0);
}

}  // namespace
}  // namespace aifgen::engine

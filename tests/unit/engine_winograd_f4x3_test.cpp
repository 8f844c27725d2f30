// The engine's own Winograd F(4x4, 3x3) (core/engine/kernels/winograd_f4x3.h) against a 3x3
// convolution summed here in double: both channel blocks, symmetric and asymmetric pads, sizes
// that are not multiples of the tile, two images, bias, a residual and ReLU, one chunk and many
// (a short last one among them), groups, at 1 and 2 threads. The same on a session (the planner's path)
// is in engine_winograd_test.cpp.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "core/engine/kernels/winograd_f4x3.h"

namespace aifgen::engine {
namespace {

struct Case {
  WinogradF4x3Shape shape;
  bool bias = false;
  WinogradEpilogue epilogue;
  std::size_t chunk_bytes = kWinogradChunkBytes;
  std::string name() const {
    const auto& s = shape;
    std::ostringstream os;
    os << "G" << s.groups << " N" << s.images << " C" << s.channels << " " << s.height << "x" << s.width << " K" << s.outputs << " out " << s.out_height << "x"
       << s.out_width << " pads " << s.pad_top << "," << s.pad_left << " block " << s.block << (bias ? " bias" : "")
       << (epilogue.residual ? " residual" : "") << (epilogue.relu ? " relu" : "") << " chunk " << chunk_bytes;
    return os.str();
  }
};

// C and K per group.
WinogradF4x3Shape shape(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t k, std::int64_t top,
                        std::int64_t left, std::int64_t bottom, std::int64_t right, std::int64_t block, std::int64_t groups = 1) {
  return {n, c, h, w, k, h + top + bottom - 2, w + left + right - 2, top, left, block, groups};
}

std::vector<float> wavy(std::size_t n, float step, float offset) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::sin(step * static_cast<float>(i)) + offset;
  return v;
}

// Index of element (n, c, y, x) of an [N, C, H, W] tensor in nChw{B}c.
std::size_t blocked(std::int64_t n, std::int64_t c, std::int64_t y, std::int64_t x, std::int64_t channels, std::int64_t h,
                    std::int64_t w, std::int64_t b) {
  return static_cast<std::size_t>((((n * (channels / b) + c / b) * h + y) * w + x) * b + c % b);
}

// An NCHW tensor in nChw{B}c.
std::vector<float> to_blocked(const std::vector<float>& nchw, std::int64_t images, std::int64_t channels, std::int64_t h, std::int64_t w,
                              std::int64_t b) {
  std::vector<float> out(nchw.size());
  for (std::int64_t n = 0; n < images; ++n)
    for (std::int64_t c = 0; c < channels; ++c)
      for (std::int64_t y = 0; y < h; ++y)
        for (std::int64_t x = 0; x < w; ++x)
          out[blocked(n, c, y, x, channels, h, w, b)] = nchw[static_cast<std::size_t>(((n * channels + c) * h + y) * w + x)];
  return out;
}

// Runs the case and returns the largest difference from the double reference over the largest
// reference value.
double relative_error(const Case& k, int threads) {
  const auto& s = k.shape;
  const std::int64_t channels = s.groups * s.channels, outputs = s.groups * s.outputs;  // whole tensors
  const auto src = wavy(static_cast<std::size_t>(s.images * channels * s.height * s.width), 0.37f, 0.1f);  // NCHW
  const auto weights = wavy(static_cast<std::size_t>(outputs * s.channels * 9), 0.71f, -0.05f);        // [G K, C, 3, 3]
  const auto bias = wavy(static_cast<std::size_t>(outputs), 1.3f, 0.2f);
  const auto residual = wavy(static_cast<std::size_t>(s.images * outputs * s.out_height * s.out_width), 0.53f, -0.3f);  // NCHW

  std::vector<float> src_b = to_blocked(src, s.images, channels, s.height, s.width, s.block);
  std::vector<float> res_b = to_blocked(residual, s.images, outputs, s.out_height, s.out_width, s.block);
  std::vector<float> dst_b(residual.size(), 7.f);

  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(eng);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  WinogradF4x3 wino(s, weights.data(), k.bias ? bias.data() : nullptr, k.epilogue, eng, k.chunk_bytes);
  std::vector<std::byte> scratch(wino.scratch_bytes() + 64);
  auto* aligned = reinterpret_cast<std::byte*>((reinterpret_cast<std::uintptr_t>(scratch.data()) + 63) / 64 * 64);
  // The residual's bytes are the destination's, as when the planner lets them share.
  if (k.epilogue.residual) dst_b = res_b;
  wino.run(src_b.data(), dst_b.data(), dst_b.data(), aligned, stream);
  omp_set_num_threads(saved);

  double worst = 0, largest = 0;
  for (std::int64_t n = 0; n < s.images; ++n)
    for (std::int64_t o = 0; o < outputs; ++o)
      for (std::int64_t y = 0; y < s.out_height; ++y)
        for (std::int64_t x = 0; x < s.out_width; ++x) {
          double want = k.bias ? bias[static_cast<std::size_t>(o)] : 0.0;
          const std::int64_t first = o / s.outputs * s.channels;  // the group's first input channel
          for (std::int64_t c = 0; c < s.channels; ++c)
            for (int i = 0; i < 3; ++i)
              for (int j = 0; j < 3; ++j) {
                const std::int64_t yy = y - s.pad_top + i, xx = x - s.pad_left + j;
                if (yy < 0 || yy >= s.height || xx < 0 || xx >= s.width) continue;
                want += static_cast<double>(weights[static_cast<std::size_t>((o * s.channels + c) * 9 + i * 3 + j)]) *
                        src[static_cast<std::size_t>(((n * channels + first + c) * s.height + yy) * s.width + xx)];
              }
          if (k.epilogue.residual) want += residual[static_cast<std::size_t>(((n * outputs + o) * s.out_height + y) * s.out_width + x)];
          if (k.epilogue.relu) want = std::max(want, 0.0);
          const double got = dst_b[blocked(n, o, y, x, outputs, s.out_height, s.out_width, s.block)];
          worst = std::max(worst, std::abs(got - want));
          largest = std::max(largest, std::abs(want));
        }
  return worst / std::max(largest, 1e-30);
}

TEST(WinogradF4x3, MatchesADoubleReferenceOnEveryShapeItTakes) {
  std::vector<Case> cases;
  // ResNet's "same" 3x3 on a map that is a multiple of the tile, and on one that is not.
  cases.push_back({shape(1, 16, 16, 16, 24, 1, 1, 1, 1, 8), true, {false, true}});
  cases.push_back({shape(1, 16, 13, 21, 16, 1, 1, 1, 1, 8), false, {false, false}});
  // nChw16c (AVX-512 machines), two images, a residual and ReLU.
  cases.push_back({shape(2, 32, 11, 9, 16, 1, 1, 1, 1, 16), true, {true, true}});
  // No padding (the map shrinks by 2), and asymmetric pads, 2 on one side.
  cases.push_back({shape(1, 8, 10, 15, 8, 0, 0, 0, 0, 8), true, {false, false}});
  cases.push_back({shape(1, 8, 9, 7, 16, 2, 0, 1, 2, 8), false, {true, false}});
  // Many chunks: 12x12 tiles at ~4 KB of transformed data each, in chunks of 5 tiles and a
  // short last one (144 = 28 x 5 + 4).
  cases.push_back({shape(1, 8, 46, 47, 8, 1, 1, 1, 1, 8), true, {true, true}, 5 * 36 * 16 * sizeof(float)});
  // Groups of whole blocks (RegNet's): 3 groups of 16 -> 8 channels in nChw8c, and 2 groups of
  // 16 -> 16 in nChw16c with a residual, two images, over several chunks.
  cases.push_back({shape(1, 16, 10, 13, 8, 1, 1, 1, 1, 8, 3), true, {false, true}});
  cases.push_back({shape(2, 16, 9, 9, 16, 1, 1, 1, 1, 16, 2), false, {true, true}, 3 * 36 * 2 * 32 * sizeof(float)});
  for (const auto& k : cases)
    for (int threads : {1, 2}) {
      const double err = relative_error(k, threads);
      // F(4x4, 3x3) rounds in its transforms; a wrong coefficient or a misplaced tile is off by
      // the size of the outputs themselves.
      EXPECT_LT(err, 1e-5) << k.name() << " threads " << threads;
    }
}

TEST(WinogradF4x3, CountsItsChunksFromTheByteBound) {
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  const auto s = shape(1, 8, 46, 47, 8, 1, 1, 1, 1, 8);  // 12 x 12 tiles
  const std::vector<float> w(8 * 8 * 9, 0.1f);
  EXPECT_EQ(WinogradF4x3(s, w.data(), nullptr, {}, eng).chunks(), 1);
  EXPECT_EQ(WinogradF4x3(s, w.data(), nullptr, {}, eng, 5 * 36 * 16 * sizeof(float)).chunks(), 29);
}

TEST(WinogradF4x3, TakesOnlyTheShapesAndTailsItComputes) {
  EXPECT_TRUE(winograd_f4x3_supports(shape(1, 16, 8, 8, 16, 1, 1, 1, 1, 8)));
  EXPECT_TRUE(winograd_f4x3_supports(shape(1, 32, 8, 8, 16, 1, 1, 1, 1, 16)));
  EXPECT_FALSE(winograd_f4x3_supports(shape(1, 12, 8, 8, 16, 1, 1, 1, 1, 8)));  // channels not whole blocks
  EXPECT_FALSE(winograd_f4x3_supports(shape(1, 16, 8, 8, 20, 1, 1, 1, 1, 8)));  // outputs not whole blocks
  EXPECT_FALSE(winograd_f4x3_supports(shape(1, 16, 8, 8, 16, 1, 1, 1, 1, 4)));  // no such block
  EXPECT_FALSE(winograd_f4x3_supports(shape(1, 16, 8, 8, 16, 3, 1, 1, 1, 8)));  // a top pad past the kernel
  EXPECT_FALSE(winograd_f4x3_supports(shape(1, 16, 2, 2, 16, 0, 0, 0, 0, 8)));  // no output
  EXPECT_TRUE(winograd_f4x3_supports(shape(1, 16, 8, 8, 8, 1, 1, 1, 1, 8, 4)));
  EXPECT_FALSE(winograd_f4x3_supports(shape(1, 4, 8, 8, 8, 1, 1, 1, 1, 8, 4)));  // a group of half a block

  const PostOp relu{PostOp::Kind::kEltwise, dnnl::algorithm::eltwise_relu, 0, 0, -1};
  const PostOp leaky{PostOp::Kind::kEltwise, dnnl::algorithm::eltwise_relu, 0.1f, 0, -1};
  const PostOp sigmoid{PostOp::Kind::kEltwise, dnnl::algorithm::eltwise_logistic, 0, 0, -1};
  const PostOp sum{PostOp::Kind::kSum, dnnl::algorithm::eltwise_relu, 0, 0, 3};
  auto tail = [](std::vector<PostOp> ops) {
    auto e = winograd_epilogue_for(ops);
    return e ? std::string(e->residual ? "sum" : "") + (e->relu ? "relu" : "") + "." : std::string("no");
  };
  EXPECT_EQ(tail({}), ".");
  EXPECT_EQ(tail({relu}), "relu.");
  EXPECT_EQ(tail({sum}), "sum.");
  EXPECT_EQ(tail({sum, relu}), "sumrelu.");
  EXPECT_EQ(tail({relu, sum}), "no");  // a residual after the ReLU
  EXPECT_EQ(tail({leaky}), "no");
  EXPECT_EQ(tail({sigmoid}), "no");
  EXPECT_EQ(tail({relu, relu}), "no");
}

}  // namespace
}  // namespace aifgen::engine

// BlockCache (core/engine/block_cache.h): a freed block comes back for a request it fits
// without much waste, only while the cache is installed, only up to its bound, and a block
// that outlives its cache is freed, not returned to it.
#include "core/engine/block_cache.h"

#include <gtest/gtest.h>

#include "core/engine/tensor.h"

namespace aifgen::engine {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

// Takes a block of `bytes` and lets it go at once, as a value that dies within a run does; the
// block's address, to compare with what a later request gets.
std::byte* take_and_release(BlockCache& cache, std::size_t bytes) { return cache.take(bytes).get(); }

TEST(BlockCache, AFreedBlockIsReusedForARequestItFitsWithoutWastingAQuarter) {
  auto cache = BlockCache::make(64 * kMiB);
  std::byte* first = take_and_release(*cache, 8 * kMiB);
  EXPECT_EQ(cache->cached_bytes(), 8 * kMiB);
  {
    // 5 MiB would leave 3 of 8 unused: a new block.
    auto small = cache->take(5 * kMiB);
    EXPECT_NE(small.get(), first);
    EXPECT_EQ(cache->reused(), 0u);
  }
  // 7 MiB fits the 8 MiB block: it comes back. (The 5 MiB block is kept too now.)
  auto again = cache->take(7 * kMiB);
  EXPECT_EQ(again.get(), first);
  EXPECT_EQ(cache->reused(), 1u);
  EXPECT_EQ(cache->cached_bytes(), 5 * kMiB);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(again.get()) % 64, 0u);
}

// A block is made a little larger than asked (one of 8 sizes per power of two), so a value a
// few percent larger next run, as a detector's are from image to image, still fits it.
TEST(BlockCache, ABlockFreedByOneRunServesASlightlyLargerValueNextRun) {
  auto cache = BlockCache::make(256 * kMiB);
  const std::size_t rows_987 = 987 * 256 * 7 * 7 * 4, rows_1000 = 1000 * 256 * 7 * 7 * 4;
  std::byte* first = take_and_release(*cache, rows_987);
  EXPECT_EQ(cache->cached_bytes(), 48 * kMiB);  // 47.2 MiB rounded up to a step of 4 MiB
  auto larger = cache->take(rows_1000);
  EXPECT_EQ(larger.get(), first);
  EXPECT_EQ(cache->reused(), 1u);
}

TEST(BlockCache, KeepsNoMoreThanItsBound) {
  auto cache = BlockCache::make(10 * kMiB);
  {
    auto a = cache->take(6 * kMiB), b = cache->take(6 * kMiB);
  }
  EXPECT_EQ(cache->cached_bytes(), 6 * kMiB);  // one of them went back to the system
  take_and_release(*cache, 12 * kMiB);  // alone above the bound: not kept
  EXPECT_EQ(cache->cached_bytes(), 6 * kMiB);
}

// At its bound a freed block makes room only by pushing out blocks that no request took through
// a whole run (sizes of some earlier image), oldest first.
TEST(BlockCache, AtItsBoundBlocksUnusedThroughAWholeRunMakeRoom) {
  auto cache = BlockCache::make(10 * kMiB);
  cache->begin_run();  // run 1
  {
    auto old_a = cache->take(3 * kMiB), old_b = cache->take(4 * kMiB);
  }
  EXPECT_EQ(cache->cached_bytes(), 7 * kMiB);
  cache->begin_run();  // run 2: the two blocks were freed in the run before, not through one
  take_and_release(*cache, 6 * kMiB);  // no kept block fits 6 MiB without wasting a quarter
  EXPECT_EQ(cache->cached_bytes(), 7 * kMiB);  // so the 6 MiB block went back, not them
  cache->begin_run();  // run 3: nothing took them through run 2
  std::byte* newest = take_and_release(*cache, 6 * kMiB);
  // Freeing it needed 3 MiB more room: the block given back first (old_b, 4 MiB) went.
  EXPECT_EQ(cache->cached_bytes(), 9 * kMiB);
  auto again = cache->take(6 * kMiB);
  EXPECT_EQ(again.get(), newest);
}

// A run's values outgrow the bound (a detector's tail frees more than the cache keeps): a block
// the last run gave back stays for this run's request, whatever is freed before that comes.
TEST(BlockCache, BlocksTheLastRunGaveBackAreNotPushedOutByNewerOnes) {
  auto cache = BlockCache::make(10 * kMiB);
  cache->begin_run();  // run 1
  std::byte* kept = take_and_release(*cache, 6 * kMiB);
  cache->begin_run();  // run 2
  take_and_release(*cache, 8 * kMiB);  // does not fit in 10 MiB beside the 6: goes back itself
  EXPECT_EQ(cache->cached_bytes(), 6 * kMiB);
  auto value = cache->take(6 * kMiB);
  EXPECT_EQ(value.get(), kept);
}

TEST(BlockCache, ABlockThatOutlivesItsCacheIsFreedNotReturned) {
  std::shared_ptr<std::byte[]> survivor;
  {
    auto cache = BlockCache::make(64 * kMiB);
    survivor = cache->take(4 * kMiB);
    survivor[4 * kMiB - 1] = std::byte{7};
  }
  EXPECT_EQ(survivor[4 * kMiB - 1], std::byte{7});
  survivor.reset();  // must not touch the destroyed cache
}

TEST(BlockCache, TensorsTakeLargeBlocksFromTheInstalledCacheOnly) {
  auto cache = BlockCache::make(64 * kMiB);
  const Shape large{1024, 1024};  // 4 MiB of float
  std::byte* block = nullptr;
  {
    BlockCache::Use use(cache.get());
    block = Tensor::allocate_for_overwrite(DType::kF32, large).data;  // freed at once
    EXPECT_EQ(cache->cached_bytes(), 4 * kMiB);
    EXPECT_EQ(Tensor::allocate(DType::kF32, large).data, block);  // zeroed or not, the same block
    EXPECT_EQ(cache->reused(), 1u);
    (void)Tensor::allocate_for_overwrite(DType::kF32, {16});  // small: malloc's
    EXPECT_EQ(cache->cached_bytes(), 4 * kMiB);
    EXPECT_EQ(BlockCache::current(), cache.get());
  }
  EXPECT_EQ(BlockCache::current(), nullptr);
  (void)Tensor::allocate_for_overwrite(DType::kF32, large);
  EXPECT_EQ(cache->reused(), 1u);
}

}  // namespace
}  // namespace aifgen::engine

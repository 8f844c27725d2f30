#include "core/engine/block_cache.h"

#include <cstdlib>
#include <new>
#include <vector>

namespace aifgen::engine {
namespace {

thread_local BlockCache* installed = nullptr;

// The capacity a new block gets for `bytes`: rounded up to one of 8 steps per power of two (at
// most 1/8 more). A detector's values change size a little from image to image (Keypoint R-CNN's
// pooled proposals: 987 rows on one, 1,000 on the next), and an exact-size block freed by one
// run could not serve the next run's slightly larger value: with four images in turn its
// ScatterElements went from 43 to 674 ms a run, on fresh pages.
std::size_t size_class(std::size_t bytes) {
  std::size_t power = 1;
  while (power <= bytes / 2) power *= 2;  // the largest power of two <= bytes
  const std::size_t step = power >= 512 ? power / 8 : 64;
  return (bytes + step - 1) / step * step;
}

}  // namespace

std::byte* allocate_cache_aligned(std::size_t bytes) {
  auto* p = static_cast<std::byte*>(std::aligned_alloc(64, cache_line_rounded(bytes)));
  if (!p) throw std::bad_alloc();
  return p;
}

std::shared_ptr<BlockCache> BlockCache::make(std::size_t max_cached_bytes) {
  return std::shared_ptr<BlockCache>(new BlockCache(max_cached_bytes));
}

BlockCache::~BlockCache() {
  for (auto& [capacity, kept] : free_) std::free(kept.block);
}

std::shared_ptr<std::byte[]> BlockCache::take(std::size_t bytes) {
  const std::size_t wanted = cache_line_rounded(bytes);
  std::byte* block = nullptr;
  std::size_t capacity = size_class(wanted);
  {
    std::lock_guard<std::mutex> hold(mu_);
    if (auto it = free_.lower_bound(wanted); it != free_.end() && it->first <= wanted + wanted / 4) {
      capacity = it->first;
      block = it->second.block;
      cached_ -= capacity;
      ++reused_;
      free_.erase(it);
    }
  }
  if (!block) block = allocate_cache_aligned(capacity);
  std::weak_ptr<BlockCache> owner = weak_from_this();
  return std::shared_ptr<std::byte[]>(block, [owner, capacity](std::byte* p) {
    if (auto cache = owner.lock()) cache->give_back(p, capacity);
    else std::free(p);
  });
}

void BlockCache::give_back(std::byte* block, std::size_t capacity) {
  std::vector<std::byte*> evicted;
  {
    std::lock_guard<std::mutex> hold(mu_);
    // Room from blocks no request took through a whole run, oldest first.
    while (capacity <= max_cached_ && cached_ + capacity > max_cached_) {
      auto oldest = free_.end();
      for (auto it = free_.begin(); it != free_.end(); ++it)
        if (it->second.freed < previous_run_started_ && (oldest == free_.end() || it->second.freed < oldest->second.freed)) oldest = it;
      if (oldest == free_.end()) break;
      evicted.push_back(oldest->second.block);
      cached_ -= oldest->first;
      free_.erase(oldest);
    }
    if (cached_ + capacity <= max_cached_) {
      free_.emplace(capacity, FreeBlock{block, returns_++});
      cached_ += capacity;
      block = nullptr;
    }
  }
  for (auto* b : evicted) std::free(b);  // outside the lock
  std::free(block);
}

void BlockCache::begin_run() {
  std::lock_guard<std::mutex> hold(mu_);
  previous_run_started_ = run_started_;
  run_started_ = returns_;
}

std::size_t BlockCache::cached_bytes() const {
  std::lock_guard<std::mutex> hold(mu_);
  return cached_;
}

std::size_t BlockCache::reused() const {
  std::lock_guard<std::mutex> hold(mu_);
  return reused_;
}

BlockCache::Use::Use(BlockCache* cache) : previous_(installed) { installed = cache; }
BlockCache::Use::~Use() { installed = previous_; }

BlockCache* BlockCache::current() { return installed; }

}  // namespace aifgen::engine

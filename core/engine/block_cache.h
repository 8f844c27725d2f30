// Freed tensor blocks kept for the next run of the same work. The dynamic tail allocates every
// value afresh (its shapes are known only as it runs), and glibc serves a large block with
// fresh pages from mmap: Mask R-CNN's tail faulted in about 20,000 pages per 80 MB value per
// run. While a BlockCache is installed on a thread (BlockCache::Use), Tensor::allocate* there
// takes blocks of at least kMinBytes from it, and such a block comes back to it when its last
// owner lets go, on any thread, for as long as the cache lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

namespace aifgen::engine {

// `bytes` (at least 1) rounded up to whole 64-byte lines.
constexpr std::size_t cache_line_rounded(std::size_t bytes) { return ((bytes > 0 ? bytes : 1) + 63) / 64 * 64; }
// A 64-byte aligned block of cache_line_rounded(bytes), released with std::free. Tensors start
// on 64 bytes as oneDNN's own buffers do: some of its JIT kernels store with aligned moves.
std::byte* allocate_cache_aligned(std::size_t bytes);

class BlockCache : public std::enable_shared_from_this<BlockCache> {
 public:
  // Smaller blocks come from malloc's heap, which reuses them without new pages.
  static constexpr std::size_t kMinBytes = std::size_t{256} << 10;

  // Holds at most `max_cached_bytes` of freed blocks. A block freed beyond that makes room by
  // sending back to the system the longest-kept blocks that no request took through a whole run
  // (sizes of some earlier image, when a detector's value sizes move with its images; see
  // begin_run); when there are not enough such blocks, it goes back itself. Blocks the runs keep
  // asking for are never pushed out by others: a run's values outgrow the bound (Keypoint
  // R-CNN's tail frees 1.7 GB a run), and letting the newest freed blocks push out older ones
  // turned the cache over every run, so that most values came from fresh pages again (its run at
  // 2 threads 1.8 -> 3.7 s).
  static std::shared_ptr<BlockCache> make(std::size_t max_cached_bytes);

  // Marks the start of a run of the work whose blocks the cache keeps. A block still kept since
  // before the previous run began was asked for by no request since: it may make room.
  void begin_run();
  ~BlockCache();

  // A 64-byte aligned block of at least `bytes`: a kept one when one fits without wasting more
  // than a quarter of it, else a new one.
  std::shared_ptr<std::byte[]> take(std::size_t bytes);

  std::size_t cached_bytes() const;
  std::size_t reused() const;  // blocks handed out again, since the cache was made

  // Installs `cache` (may be null) for the calling thread until destroyed.
  class Use {
   public:
    explicit Use(BlockCache* cache);
    ~Use();
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;

   private:
    BlockCache* previous_;
  };
  // The cache installed on the calling thread, or null.
  static BlockCache* current();

 private:
  explicit BlockCache(std::size_t max_cached_bytes) : max_cached_(max_cached_bytes) {}
  void give_back(std::byte* block, std::size_t capacity);

  const std::size_t max_cached_;
  mutable std::mutex mu_;
  struct FreeBlock {
    std::byte* block;
    std::uint64_t freed;  // when it came back, in give_back calls: the oldest goes first
  };
  std::multimap<std::size_t, FreeBlock> free_;  // capacity -> block
  std::uint64_t returns_ = 0;
  std::uint64_t run_started_ = 0, previous_run_started_ = 0;  // returns_ at the last two begin_run()
  std::size_t cached_ = 0, reused_ = 0;
};

}  // namespace aifgen::engine

// Liveness-based arena planning.
#include "core/engine/memory_plan.h"

#include <algorithm>
#include <map>

namespace aifgen::engine {
namespace {

constexpr std::size_t kAlign = 64;
std::size_t align_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

}  // namespace

MemoryPlan plan_memory(const std::vector<BufferRequest>& requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<std::size_t> order(requests.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return requests[a].first_step < requests[b].first_step; });
  std::map<std::size_t, std::size_t> free_blocks;  // offset -> size
  std::vector<std::size_t> live;                    // request indices currently allocated
  auto release = [&](std::size_t off, std::size_t size) {
    auto it = free_blocks.emplace(off, size).first;
    auto next = std::next(it);
    if (next != free_blocks.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free_blocks.erase(next);
    }
    if (it != free_blocks.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free_blocks.erase(it);
      }
    }
  };
  for (std::size_t idx : order) {
    const auto& r = requests[idx];
    // Free everything whose last reader ran before this buffer is written.
    for (auto it = live.begin(); it != live.end();) {
      if (requests[*it].last_step < r.first_step) {
        release(plan.offsets[*it], align_up(requests[*it].bytes));
        it = live.erase(it);
      } else {
        ++it;
      }
    }
    std::size_t need = align_up(std::max<std::size_t>(r.bytes, 1));
    auto best = free_blocks.end();
    for (auto it = free_blocks.begin(); it != free_blocks.end(); ++it)
      if (it->second >= need && (best == free_blocks.end() || it->second < best->second)) best = it;
    if (best != free_blocks.end()) {
      plan.offsets[idx] = best->first;
      std::size_t rest = best->second - need, off = best->first + need;
      free_blocks.erase(best);
      if (rest) free_blocks.emplace(off, rest);
    } else {
      // Extend the arena; a free block at the end can be reused as the start of this one.
      std::size_t off = plan.total_bytes;
      if (!free_blocks.empty()) {
        auto last = std::prev(free_blocks.end());
        if (last->first + last->second == plan.total_bytes) {
          off = last->first;
          free_blocks.erase(last);
        }
      }
      plan.offsets[idx] = off;
      plan.total_bytes = off + need;
    }
    live.push_back(idx);
  }
  return plan;
}

}  // namespace aifgen::engine

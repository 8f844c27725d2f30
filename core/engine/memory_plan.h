// Arena layout by liveness: values whose lifetimes do not overlap share bytes.
#pragma once

#include <cstddef>
#include <vector>

namespace aifgen::engine {

struct BufferRequest {
  std::size_t bytes;
  int first_step;  // step that writes it
  int last_step;   // last step that reads it (>= first_step)
};

struct MemoryPlan {
  std::vector<std::size_t> offsets;  // per request, 64-byte aligned
  std::size_t total_bytes = 0;
};

// Greedy best-fit in order of first use: at each step, buffers whose last reader has run are
// freed and new ones take the smallest free block that fits (or extend the arena).
MemoryPlan plan_memory(const std::vector<BufferRequest>& requests);

}  // namespace aifgen::engine

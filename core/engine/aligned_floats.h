// A fixed-size float array that starts on a 64-byte cache line, for the weights that
// hand-written kernels stream with full-width vector loads. std::vector's large blocks come from
// mmap 16 bytes past a page's start, so every 64-byte load from one spans two cache lines: on a
// Zen 5 core, DeepSpeech's 2048x2048 recurrent weights streamed at 57 GB/s from such a block and
// at 75 GB/s from an aligned one (a probe timing both on the same rows).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>

#include "core/engine/block_cache.h"

namespace aifgen::engine {

class AlignedFloats {
 public:
  AlignedFloats() = default;
  // n zeros.
  explicit AlignedFloats(std::size_t n) : AlignedFloats(nullptr, n) {}
  // A copy of first[0, n), or n zeros where first is null.
  AlignedFloats(const float* first, std::size_t n)
      : p_(n ? reinterpret_cast<float*>(allocate_cache_aligned(n * sizeof(float))) : nullptr), n_(n) {
    if (first) std::copy(first, first + n, p_.get());
    else std::fill(p_.get(), p_.get() + n, 0.f);
  }

  float* data() { return p_.get(); }
  const float* data() const { return p_.get(); }
  std::size_t size() const { return n_; }
  float& operator[](std::size_t i) { return p_[i]; }
  float operator[](std::size_t i) const { return p_[i]; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> p_;
  std::size_t n_ = 0;
};

}  // namespace aifgen::engine

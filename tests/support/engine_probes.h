// What engine tests ask of a planned session and of the CPU it was planned on.
#pragma once

#include <dnnl.hpp>

#include <cstdint>

#include "core/engine/session.h"

namespace aifgen::testing {

// Reorder steps per inference of a profiled session (SessionOptions::profile).
inline std::int64_t reorder_calls(const engine::Session& s) {
  for (const auto& p : s.profile())
    if (p.op == "Reorder") return p.calls;
  return 0;
}

// Whether oneDNN runs its AVX-512 kernels here (not on AVX2-only CPUs or under
// DNNL_MAX_CPU_ISA=AVX2): then its float convolutions write NHWC, and it has Winograd kernels.
inline bool onednn_uses_avx512() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto avx512 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
  return (isa & avx512) == avx512;
}

}  // namespace aifgen::testing

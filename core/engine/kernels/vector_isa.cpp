#include "core/engine/kernels/vector_isa.h"

#include <dnnl.hpp>

namespace aifgen::engine {
namespace {

VectorIsa detect() {
#if defined(__x86_64__) && !defined(__clang__)
  __builtin_cpu_init();
  const auto cap = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  auto capped_at = [&](dnnl::cpu_isa level) { return (cap & static_cast<unsigned>(level)) == static_cast<unsigned>(level); };
  if (__builtin_cpu_supports("avx512f") && capped_at(dnnl::cpu_isa::avx512_core)) return VectorIsa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && capped_at(dnnl::cpu_isa::avx2)) return VectorIsa::kAvx2;
#endif
  return VectorIsa::kScalar;
}

}  // namespace

VectorIsa vector_isa() {
  static const VectorIsa chosen = detect();
  return chosen;
}

const char* vector_isa_name(VectorIsa isa) {
  switch (isa) {
    case VectorIsa::kAvx512: return "avx512";
    case VectorIsa::kAvx2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace aifgen::engine

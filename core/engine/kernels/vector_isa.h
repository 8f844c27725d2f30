// Which hand-written vector version of a kernel this CPU runs. Kernels with intrinsics (SiLU,
// the recurrent rows) compile an AVX-512 and an AVX2+FMA version beside a portable loop and pick
// one at run time, so the binary stays portable, the way oneDNN dispatches its own kernels.
#pragma once

namespace aifgen::engine {

enum class VectorIsa { kScalar, kAvx2, kAvx512 };

// The widest version this CPU runs, capped like oneDNN's kernels: DNNL_MAX_CPU_ISA=AVX2 makes
// both take their AVX2 code, which is how the tests cover that path on an AVX-512 machine.
// Asked on first use, not at load: oneDNN fixes its ISA cap when it is first read.
VectorIsa vector_isa();

// "avx512", "avx2" or "scalar".
const char* vector_isa_name(VectorIsa isa);

}  // namespace aifgen::engine

// SiLU (x * sigmoid(x), PyTorch's Swish) over a float buffer, in place, hand-vectorized.
//
// Why not oneDNN: the eltwise_swish post-op of the oneDNN that Debian 12 ships (2.6.3) costs more
// than the convolution it is fused into. Measured on a 2-core AVX-512 VM, one thread, NHWC:
// EfficientNet-B0's 1x1 convolution 16 -> 96 channels at 112x112 took 0.59 ms with the post-op
// and 0.19 ms without it, and this pass over its 1.2M outputs 0.17 ms (oneDNN's standalone
// eltwise_swish: 0.39 ms); a 3x3 depthwise convolution at 144 channels 56x56: 0.22 ms fused,
// 0.09 ms + 0.06 ms apart. So convolutions leave a trailing SiLU to this pass (conv.cpp).
//
// Accuracy: relative error below 1e-6 for |x| < 80 (exp by a degree-6 polynomial after range
// reduction, 1/(1 + e^-x) by the hardware reciprocal estimate refined by one Newton step).
// x <= -80 gives x * e^-80 (|y| < 1e-33 where the exact value is smaller still; -Inf gives -Inf
// where the graph's -Inf * 0 is NaN); NaN stays NaN, +Inf stays +Inf.
#pragma once

#include <cstdint>

namespace aifgen::engine {

// True when this CPU runs one of the vector versions (AVX-512F, or AVX2 with FMA); otherwise
// silu_inplace is a scalar loop and a oneDNN post-op is the better choice.
bool silu_vectorized();
// "avx512", "avx2" or "scalar": the version silu_inplace runs (oneDNN's ISA cap applies).
const char* silu_isa();

// x[i] = x[i] * sigmoid(x[i]) for i < n, shared among omp_get_max_threads() threads when the
// buffer is large enough to pay for them.
void silu_inplace(float* x, std::int64_t n);

}  // namespace aifgen::engine

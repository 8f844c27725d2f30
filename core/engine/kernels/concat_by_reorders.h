// A channel Concat written as one oneDNN reorder per operand, each from the operand's own layout
// straight into its channel slice of the result (a strided view of the output's layout).
//
// Why: a Concat between convolutions whose outputs differ in layout (SqueezeNet's fire module:
// the 1x1 expand writes NHWC, the 3x3 expand as Winograd writes nChw16c) was a reorder of each
// odd operand to the Concat's layout and then a copy of every operand: two passes over the odd
// ones. Written into its slice, each operand is read and written once; measured with oneDNN 2.6.3
// on a 2-core AVX-512 VM, [1,128,54,54] NHWC + nChw16c into NHWC took 79 us this way against
// 37 + 91 us for reorder and copy at 1 thread (66 against 128 us at 2). oneDNN's own concat
// primitive does the same for mixed layouts (its reference implementation reorders into
// sub-memories); separate reorders are used so operands of one layout take that path too, which
// was faster than its plain copy here (78 against 91 us).
#pragma once

#include <dnnl.hpp>
#include <memory>
#include <vector>

#include "core/engine/kernel.h"

namespace aifgen::engine {

// Concat along axis 1 of `operands` (each a 4-D float layout) into `result` (the output's
// layout, [N, sum of C, H, W]). The reorders are made for the calling thread's OpenMP thread
// count. `scratchpad_bytes` is set to the largest scratchpad any of them needs.
std::unique_ptr<Kernel> make_concat_by_reorders(const dnnl::engine& eng, const std::vector<dnnl::memory::desc>& operands,
                                                const dnnl::memory::desc& result, std::size_t& scratchpad_bytes);

}  // namespace aifgen::engine

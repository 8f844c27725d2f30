// Direct or Winograd for one 3x3 stride-1 float convolution (ConvAlgorithm, conv_algorithm.h).
//
// oneDNN's Winograd kernels (jit_fp32_wino_2x3 / jit_wino_4x3, AVX-512 only) do the 3x3
// convolutions of ResNet, VGG, DenseNet, GoogLeNet and the like with ~2.25x fewer
// multiplications; measured on a 2-core AVX-512 VM with oneDNN 2.6.3, 64->64 at 56x56 took 0.54
// instead of 1.04 ms, vgg16 as a whole 81 instead of 150 ms. They lose on a 3-channel first layer
// (2.7x slower) and on small maps at 2 threads (128->32 at 7x7: 2x slower), and the picture
// differs between CPUs, so by default each shape is timed both ways on this machine, with the
// step's thread count, and the faster kept; Winograd's time includes the reorders between its
// nChw16c and the layouts the direct kernel would read and write (the session then races the
// whole plan against an all-direct one, Session::choose_winograd_or_direct). Results differ from
// the direct algorithm by rounding only (~2e-6 of the largest output per layer; the zoo's deep
// ResNets stay within 1e-4 of ONNX Runtime). The transformed weights take 1.8x (2x3) to 4x
// (4x3) the memory of the plain ones. Where oneDNN has no kernel (below AVX-512) the engine's
// own F(4x4, 3x3) (winograd_f4x3.h) is timed the same way (own_winograd_instead).
#pragma once

#include <dnnl.hpp>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "core/engine/conv_algorithm.h"
#include "core/engine/kernels/post_ops.h"
#include "core/engine/kernels/winograd_f4x3.h"

namespace aifgen::engine {

// The Winograd primitive for `winograd` (same shapes, attributes and post-ops as `direct`) when
// the policy and this machine say it should replace `direct`; nullopt to keep `direct` (also when
// oneDNN has no Winograd kernel for the shape or this CPU). Measurements run with the calling
// thread's OpenMP thread count and are remembered per shape (the batch rounded up to a power of
// two), needed reorders and thread count for the life of the process.
std::optional<dnnl::convolution_forward::primitive_desc> winograd_instead(
    ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
    const dnnl::convolution_forward::desc& winograd, const dnnl::primitive_attr& attr, const PostOpChain& chain,
    const dnnl::engine& eng);

// The same for a grouped convolution run group by group: `one_group` describes one group's
// convolution (a batch of one, channels a multiple of 16 on both sides, so each group's slice of
// an nChw16c tensor is itself a dense nChw16c tensor at an offset), timed `groups` times against
// `direct`, the whole grouped convolution; `whole_src`/`whole_dst` are the full tensors in the
// layouts the per-group primitive reads and writes, for the reorders the direct kernel would not
// need. oneDNN 2.6 has no Winograd kernel for grouped convolutions (RegNet's 3x3 layers with
// 16 to 128 channels per group ran direct at about ORT's speed; one 128->128 group at 28x28 is
// 2.3x faster as Winograd on one thread).
//
// With `spread_groups` the groups are dealt out to the calling thread's OpenMP threads
// (run_groups_spread) and the primitive is made for one thread: oneDNN's Winograd kernels barely
// use a second thread on one group's small map (regnet_y_16gf's 112-channel groups on 14x14:
// 1.67 ms for 11 groups on one thread, 1.50 on two, slower than direct's 1.20), while two threads
// with a group each do twice the work.
std::optional<dnnl::convolution_forward::primitive_desc> grouped_winograd_instead(
    ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
    const dnnl::convolution_forward::desc& one_group, int groups, bool spread_groups, const dnnl::memory::desc& whole_src,
    const dnnl::memory::desc& whole_dst, const dnnl::primitive_attr& attr, const PostOpChain& chain, const dnnl::engine& eng);

// The same timing for a convolution whose output channels are split into `parts` equal parts,
// one per thread (the spread schedule of the grouped case, every part reading the whole source):
// `one_part` describes one part's convolution, in `whole`'s source layout and the same layout of
// its share of the destination. On a 2-core AVX2 EPYC, oneDNN 2.6's 1x1 kernel used the second
// thread poorly on small maps (resnext50's 1024->2048 at 7x7: 1.78-1.95 ms on two threads, two
// one-thread halves 1.58-1.62; equal at 28x28 and above). Kept when >= 3% faster.
std::optional<dnnl::convolution_forward::primitive_desc> split_outputs_instead(
    const dnnl::convolution_forward::primitive_desc& whole, const dnnl::convolution_forward::desc& one_part, int parts,
    const dnnl::primitive_attr& attr, const PostOpChain& chain, const dnnl::engine& eng);

// The engine's own Winograd F(4x4, 3x3) (winograd_f4x3.h) for `shape` and `epilogue`, made by
// `make` in the direct kernel's source and destination layouts, when it replaces `direct`; else
// nullptr. Never with kDirect, always with kWinograd, and when measured >= 10% faster like
// oneDNN's Winograd above (remembered per shape, groups, block, fused tail and thread count; a
// shape remembered slower is not made at all).
std::shared_ptr<const WinogradF4x3> own_winograd_instead(ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
                                                         const PostOpChain& chain, const WinogradF4x3Shape& shape,
                                                         WinogradEpilogue epilogue,
                                                         const std::function<std::shared_ptr<const WinogradF4x3>()>& make,
                                                         const dnnl::engine& eng);

// Tests: every split_outputs_instead answers `split` without timing; nullopt restores the timing.
void force_split_outputs_for_testing(std::optional<bool> split);

// How many timings (Winograd or direct, split outputs or whole) have run in this process. Each
// choice is timed once and remembered per shape, with the batch rounded up to a power of two,
// layouts, groups and thread count.
std::size_t winograd_timings_run();

// Whether a grouped convolution of `groups` groups spreads them over a team of `threads`: when
// every thread gets at least one group (with fewer groups than threads, each group keeps the
// whole team).
inline bool spread_groups_over(int groups, int threads) { return threads > 1 && groups >= threads; }

// The groups [first, last) that thread `thread` of `threads` runs: contiguous, sizes differing by
// at most one.
inline std::pair<int, int> groups_of_thread(int groups, int threads, int thread) {
  return {groups * thread / threads, groups * (thread + 1) / threads};
}

// Runs fn(group, thread, stream) for every group on min(threads, groups) OpenMP threads, each
// thread its groups_of_thread with a oneDNN stream of its own (a stream is not to be shared
// between threads; thread 0, the caller, uses `caller`). The primitives fn runs must be made for
// one thread: inside the parallel region oneDNN runs them on the calling thread.
void run_groups_spread(int groups, int threads, dnnl::stream& caller, const std::function<void(int, int, dnnl::stream&)>& fn);

// Makes oneDNN primitive descriptors and primitives for one thread while it lives (oneDNN sizes a
// primitive's per-thread buffers and work split from the OpenMP thread count at creation).
class OneThreadScope {
 public:
  OneThreadScope();
  ~OneThreadScope();
  OneThreadScope(const OneThreadScope&) = delete;
  OneThreadScope& operator=(const OneThreadScope&) = delete;

 private:
  int saved_;
};

}  // namespace aifgen::engine

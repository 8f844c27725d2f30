// Builds a oneDNN post-op chain from the planner's fused operations, working around a defect of
// the oneDNN that Debian 12 ships (2.6.3).
//
// oneDNN 2.6's x64 JIT kernels keep one eltwise injector per *algorithm* in a post-op chain, so a
// second eltwise post-op of the same algorithm with other parameters silently runs with the
// first one's (measured: Add 1.5 -> HardSwish -> Add -0.5 fused into a Conv added 1.5 twice;
// the same map-by-algorithm defect is described and fixed in the openvinotoolkit/oneDNN fork,
// pull request 157). The chain therefore never holds two eltwise post-ops of one algorithm with
// different parameters: a repeated linear step (alpha * x + beta, e.g. PaddleOCR's learnable
// affine blocks on both sides of an activation, or an int8 requantization after a HardSigmoid)
// becomes binary multiply/add post-ops by one-element operands, and the planner stops fusing
// before any other repeated algorithm (`conflicts_with_chain`).
#pragma once

#include <dnnl.hpp>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/engine/kernel.h"

namespace aifgen::engine {

// True when appending `next` to `chain` would put a second eltwise of one algorithm with other
// parameters into it, and no exact substitute exists (every algorithm but eltwise_linear).
bool conflicts_with_chain(const std::vector<PostOp>& chain, const PostOp& next);

// Whether oneDNN's convolutions apply the hardswish post-op exactly on this machine. oneDNN
// 2.6.3's AArch64 SVE-512 JIT convolution kernels do not: x * relu6(x + 3) / 6 came out up to 8
// off for x in [-8, 8] (measured under qemu-aarch64, whose CPU reports 512-bit SVE; its reference
// kernels and every x86 kernel were exact), which took PaddleOCR's direction classifier from
// 1e-6 of ONNX Runtime to 0.35. Probed once on a small 1x1 convolution of the layouts oneDNN
// picks; where it fails the planner runs hardswish as its own step instead of fusing it.
bool hardswish_post_op_exact(const dnnl::engine& eng);

class PostOpChain {
 public:
  // `ops` as the planner fused them, then `final_linear` (alpha, beta) when set (an int8
  // kernel's requantization). `dst_rank` is the rank of the primitive's destination, which the
  // one-element operands of binary post-ops must match.
  PostOpChain(const std::vector<PostOp>& ops, std::optional<std::pair<float, float>> final_linear, int dst_rank,
              const dnnl::engine& eng);

  const dnnl::post_ops& post_ops() const { return po_; }
  // The binary post-ops' operands, to add to every execution of the primitive.
  void add_args(std::unordered_map<int, dnnl::memory>& args) const;

 private:
  void append_eltwise(dnnl::algorithm alg, float alpha, float beta);
  void append_scalar(dnnl::algorithm alg, float value);

  dnnl::post_ops po_;
  int rank_;
  dnnl::engine eng_;
  std::unordered_map<int, std::pair<float, float>> eltwise_params_;  // algorithm -> first parameters
  std::vector<std::shared_ptr<float>> operands_;              // the binary post-ops' values
  std::vector<std::pair<int, dnnl::memory>> scalar_args_;      // post-op index -> operand, wrapped once
};

}  // namespace aifgen::engine

// Scaled dot-product attention as one step: MatMul(Q, K) -> [Mul or Div by a constant scalar] ->
// [Add mask] -> Softmax over the last axis -> MatMul(P, V), the chain every exporter writes for
// attention before ONNX had an Attention op (opset 23). Unfused, the [.., L, M] score tensor is
// written by the first product, read and written again by the scale, the mask and the softmax,
// and read by the second product: four passes over the largest tensor of the block and four
// kernel launches. Here each batch-head's scores stay in a per-thread buffer the size of one
// L x M matrix, between two oneDNN matmul primitives, while they are in cache. ONNX Runtime fuses the
// same chain (its AttentionFusion / MultiHeadAttention). Engine-internal: the model on disk is
// not changed.
#pragma once

#include <onnx/onnx_pb.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/kernel.h"
#include "core/engine/squeeze_excite.h"  // GraphView

namespace aifgen::engine {

struct Attention {
  std::string q, k, v, mask;  // mask empty when there is no Add
  std::string output;         // the second MatMul's output
  std::vector<int> nodes;     // every node replaced, the first MatMul first
  int softmax = -1;           // index of the Softmax node (its axis is checked against the rank)
  float scale = 1.f;          // applied to Q K before the mask

  // Producers of the operands the kernel can take over when the planner can take their steps
  // back (-1 when there is none): a Transpose making K, read only here (the first product reads
  // K through the permuted strides instead: ViT's [197, 12, 64] -> [12, 64, 197] copy, 0.18 ms a
  // layer, disappears), and a Mul or Div of Q by a constant scalar, read only here (folded into
  // the scale).
  int k_transpose = -1;
  std::string k_untransposed;         // the Transpose's input
  std::vector<std::int64_t> k_perm;  // its perm
  int q_scale_node = -1;
  std::string q_unscaled;  // the Mul's or Div's other input
  float q_scale = 1.f;     // what it multiplies Q by

  // Swin's shifted windows (torchvision): after the first mask (the relative position bias) the
  // scores are viewed with the batch split into [images, windows], the shift's mask is added per
  // window, and the scores are viewed back. Empty when the chain has no such part. When both
  // masks are constants the planner adds them into one mask of the scores' shape
  // (combined_window_mask).
  std::string window_mask;                         // the second Add's other operand
  std::string window_view_shape, back_view_shape;  // the two Reshapes' shape operands
};

// The chain starting at the MatMul node `first`, or nullopt when the nodes after it are not
// exactly that (every intermediate read once and not a graph output, the scale a constant
// scalar, Softmax the next-to-last node and read only as the second MatMul's left operand).
std::optional<Attention> match_attention(const GraphView& view, int first);

// Node indices in an order the one-pass planner can fuse more attention chains in: torch's
// exporter writes a shifted-window block's mask (and the shapes of the views around it) where
// the Python code computes it, after the chain's first MatMul, so at that MatMul the mask does
// not exist yet. Here each such chain's operand producers that come after its first MatMul are
// moved, in their own order, to just before it: only nodes the chain does not feed, and at most
// kMaxHoistedNodes of them per chain. Every other node keeps its place. (torchvision's Swin
// builds each mask from the padded shape with slice assignments: 681 nodes in swin_t's first
// shifted block, nearly all Constant, Shape and index arithmetic, which the planner folds.)
inline constexpr std::size_t kMaxHoistedNodes = 4096;
std::vector<int> order_for_attention(const GraphView& view);

// The two masks of a shifted-window chain as one float32 constant of the scores' shape:
// `first` broadcast to `scores`, viewed as `window_view` (Reshape rules: 0 copies a dim, -1 is
// inferred), `second` added with broadcasting, viewed as `back_view`, which must give `scores`
// again. nullopt when a shape does not fit those rules.
std::optional<Tensor> combined_window_mask(const Tensor& first, const Tensor& second, const Shape& scores, const Tensor& window_view,
                                           const Tensor& back_view);

// Whether the planned shapes fit the fused kernel: Q [..., L, D], K [..., D, M], V [..., M, E]
// with the same leading dims, a mask (when present) that broadcasts to [..., L, M], and a Softmax
// whose axis (by its opset's rule) is the last one.
bool attention_shapes_fit(const Attention& a, const onnx::NodeProto& softmax, std::int64_t opset, const Shape& q, const Shape& k,
                          const Shape& v, const Shape* mask);

// How the kernel reads K as `perm` of a row-major `stored` tensor: the element strides from one
// batch-head to the next, along D and along M; nullopt when it cannot (its batch-head axes must
// nest into one stride, and one of its last two axes must be contiguous).
std::optional<std::vector<std::int64_t>> permuted_k_strides(const Shape& stored, const std::vector<std::int64_t>& perm);

// The fused step; inputs in the order Q, K, V[, mask], all plain float32. `k` is K's logical
// shape [.., D, M]; `k_strides` how it is read (from permuted_k_strides; empty: row-major).
// Q K is scaled by `scale`. Build it with the OpenMP threads the step will run with (oneDNN
// sizes its primitives by them); groups of batch-heads are spread over them.
std::unique_ptr<Kernel> make_attention(const dnnl::engine& eng, float scale, const std::vector<std::int64_t>& k_strides, const Shape& q,
                                       const Shape& k, const Shape& v, const Shape* mask);

}  // namespace aifgen::engine

#include "core/engine/kernels/post_ops.h"

#include "core/base/error.h"

namespace aifgen::engine {
namespace {

// A one-element operand broadcast over the whole destination: dims and strides all 1.
dnnl::memory::desc scalar_md(int rank) {
  const dnnl::memory::dims ones(static_cast<std::size_t>(rank), 1);
  return dnnl::memory::desc(ones, dnnl::memory::data_type::f32, ones);
}

}  // namespace

bool conflicts_with_chain(const std::vector<PostOp>& chain, const PostOp& next) {
  if (next.kind != PostOp::Kind::kEltwise || next.alg == dnnl::algorithm::eltwise_linear) return false;
  for (const auto& p : chain)
    if (p.kind == PostOp::Kind::kEltwise && p.alg == next.alg && (p.alpha != next.alpha || p.beta != next.beta)) return true;
  return false;
}

PostOpChain::PostOpChain(const std::vector<PostOp>& ops, std::optional<std::pair<float, float>> final_linear, int dst_rank,
                         const dnnl::engine& eng)
    : rank_(dst_rank), eng_(eng) {
  for (const auto& p : ops) {
    if (p.kind == PostOp::Kind::kSum) po_.append_sum(1.f);
    else append_eltwise(p.alg, p.alpha, p.beta);
  }
  if (final_linear) append_eltwise(dnnl::algorithm::eltwise_linear, final_linear->first, final_linear->second);
}

void PostOpChain::append_eltwise(dnnl::algorithm alg, float alpha, float beta) {
  auto [first, fresh] = eltwise_params_.try_emplace(static_cast<int>(alg), alpha, beta);
  if (fresh || first->second == std::pair{alpha, beta}) {
    po_.append_eltwise(1.f, alg, alpha, beta);
    return;
  }
  if (alg != dnnl::algorithm::eltwise_linear)
    throw Error(ErrorCode::kInternal, "internal", "a post-op chain repeats an eltwise algorithm with other parameters");
  if (alpha != 1.f) append_scalar(dnnl::algorithm::binary_mul, alpha);
  if (beta != 0.f || alpha == 1.f) append_scalar(dnnl::algorithm::binary_add, beta);
}

void PostOpChain::append_scalar(dnnl::algorithm alg, float value) {
  po_.append_binary(alg, scalar_md(rank_));
  auto operand = std::make_shared<float>(value);
  scalar_args_.emplace_back(po_.len() - 1, dnnl::memory(scalar_md(rank_), eng_, operand.get()));
  operands_.push_back(std::move(operand));
}

void PostOpChain::add_args(std::unordered_map<int, dnnl::memory>& args) const {
  for (const auto& [index, memory] : scalar_args_) args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1, memory);
}

}  // namespace aifgen::engine

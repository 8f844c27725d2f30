#include "core/engine/kernels/post_ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

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

bool hardswish_post_op_exact(const dnnl::engine& eng) {
  static const bool exact = [&] {
    using tag = dnnl::memory::format_tag;
    constexpr dnnl::memory::dim c = 16, h = 4, w = 4;
    std::vector<float> x(c * h * w), weights(c * c, 0.f), y(c * h * w);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = -8.f + static_cast<float>(i % 64) * 0.25f;
    for (dnnl::memory::dim i = 0; i < c; ++i) weights[static_cast<std::size_t>(i * c + i)] = 1.f;  // identity
    try {
      dnnl::post_ops po;
      po.append_eltwise(1.f, dnnl::algorithm::eltwise_hardswish, 0.f, 0.f);
      dnnl::primitive_attr attr;
      attr.set_post_ops(po);
      const dnnl::memory::desc any_x({1, c, h, w}, dnnl::memory::data_type::f32, tag::any);
      const dnnl::memory::desc any_w({c, c, 1, 1}, dnnl::memory::data_type::f32, tag::any);
      dnnl::convolution_forward::primitive_desc pd(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, any_x, any_w,
                                          any_x, {1, 1}, {0, 0}, {0, 0}),
          attr, eng);
      dnnl::stream s(eng);
      const dnnl::memory::desc plain_x({1, c, h, w}, dnnl::memory::data_type::f32, tag::nchw);
      dnnl::memory xp(plain_x, eng, x.data()), yp(plain_x, eng, y.data());
      dnnl::memory wp({{c, c, 1, 1}, dnnl::memory::data_type::f32, tag::oihw}, eng, weights.data());
      dnnl::memory xm(pd.src_desc(), eng), wm(pd.weights_desc(), eng), ym(pd.dst_desc(), eng);
      dnnl::reorder(xp, xm).execute(s, xp, xm);
      dnnl::reorder(wp, wm).execute(s, wp, wm);
      dnnl::convolution_forward(pd).execute(s, {{DNNL_ARG_SRC, xm}, {DNNL_ARG_WEIGHTS, wm}, {DNNL_ARG_DST, ym}});
      dnnl::reorder(ym, yp).execute(s, ym, yp);
      s.wait();
    } catch (const dnnl::error&) {
      return false;
    }
    for (std::size_t i = 0; i < x.size(); ++i)
      if (std::abs(x[i] * std::clamp(x[i] + 3.f, 0.f, 6.f) / 6.f - y[i]) > 1e-5f) return false;
    return true;
  }();
  return exact;
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

// Broadcast planning: computed once at plan time, so run() only walks offsets.
#include "core/engine/kernels/dispatch.h"

namespace aifgen::engine {

bool broadcast_shape(const std::vector<Shape>& shapes, Shape& out) {
  std::size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  out.assign(rank, 1);
  for (const auto& s : shapes) {
    for (std::size_t i = 0; i < s.size(); ++i) {
      auto& o = out[rank - s.size() + i];
      auto d = s[i];
      if (d == o || d == 1) continue;
      if (o == 1) o = d;
      else return false;
    }
  }
  // A zero-sized dim broadcast against 1 stays zero.
  for (const auto& s : shapes)
    for (std::size_t i = 0; i < s.size(); ++i)
      if (s[i] == 0) out[rank - s.size() + i] = 0;
  return true;
}

bool reshape_target(const Shape& in, const std::vector<std::int64_t>& target, bool allowzero, Shape& out, std::string& why) {
  out.assign(target.size(), 0);
  std::int64_t known = 1, infer = -1;
  for (std::size_t i = 0; i < target.size(); ++i) {
    if (target[i] == 0 && !allowzero) {
      if (i >= in.size()) {
        why = "0 refers past the input rank";
        return false;
      }
      out[i] = in[i];
    } else if (target[i] == -1) {
      if (infer >= 0) {
        why = "more than one -1";
        return false;
      }
      infer = static_cast<std::int64_t>(i);
      continue;
    } else if (target[i] < 0) {
      why = "negative dim";
      return false;
    } else {
      out[i] = target[i];
    }
    known *= out[i];
  }
  if (infer >= 0) {
    if (known == 0 || numel(in) % known != 0) {
      why = "cannot infer the -1 dim";
      return false;
    }
    out[static_cast<std::size_t>(infer)] = numel(in) / known;
  }
  if (numel(out) != numel(in)) {
    why = "element count changes from " + shape_str(in) + " to " + shape_str(out);
    return false;
  }
  return true;
}

BroadcastPlan plan_broadcast(const std::vector<Shape>& inputs, const Shape& out) {
  const std::size_t rank = out.size(), n = inputs.size();
  // bcast[k][d]: operand k is broadcast (size 1) along output dim d.
  std::vector<std::vector<bool>> bcast(n, std::vector<bool>(rank));
  for (std::size_t k = 0; k < n; ++k)
    for (std::size_t d = 0; d < rank; ++d) {
      std::size_t pad = rank - inputs[k].size();
      bcast[k][d] = d < pad || (inputs[k][d - pad] == 1 && out[d] != 1);
    }
  // Merge adjacent dims with the same broadcast pattern (dims of size 1 merge with anything).
  std::vector<std::int64_t> dims;
  std::vector<std::vector<bool>> pattern;  // per merged dim, per operand
  for (std::size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    std::vector<bool> p(n);
    for (std::size_t k = 0; k < n; ++k) p[k] = bcast[k][d];
    if (!dims.empty() && pattern.back() == p) dims.back() *= out[d];
    else {
      dims.push_back(out[d]);
      pattern.push_back(p);
    }
  }
  BroadcastPlan plan;
  plan.row_offset.assign(n, {});
  plan.inner_stride.assign(n, 0);
  if (dims.empty()) {
    plan.rows = 1;
    plan.inner = numel(out);
    for (std::size_t k = 0; k < n; ++k) {
      plan.row_offset[k] = {0};
      plan.inner_stride[k] = 0;
    }
    return plan;
  }
  plan.inner = dims.back();
  const std::size_t outer_rank = dims.size() - 1;
  for (std::size_t d = 0; d < outer_rank; ++d) plan.rows *= dims[d];
  for (std::size_t k = 0; k < n; ++k) {
    plan.inner_stride[k] = pattern.back()[k] ? 0 : 1;
    // Strides of operand k over merged dims (0 where broadcast).
    std::vector<std::int64_t> stride(dims.size(), 0);
    std::int64_t s = 1;
    for (std::size_t d = dims.size(); d-- > 0;) {
      stride[d] = pattern[d][k] ? 0 : s;
      if (!pattern[d][k]) s *= dims[d];
    }
    auto& offs = plan.row_offset[k];
    offs.resize(static_cast<std::size_t>(plan.rows));
    std::vector<std::int64_t> idx(outer_rank, 0);
    for (std::int64_t r = 0; r < plan.rows; ++r) {
      std::int64_t off = 0;
      for (std::size_t d = 0; d < outer_rank; ++d) off += idx[d] * stride[d];
      offs[static_cast<std::size_t>(r)] = off;
      for (std::size_t d = outer_rank; d-- > 0;) {
        if (++idx[d] < dims[d]) break;
        idx[d] = 0;
      }
    }
  }
  return plan;
}

}  // namespace aifgen::engine

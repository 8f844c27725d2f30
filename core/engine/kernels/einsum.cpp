// Einsum (opset 12+), float32 and float64. Two float32 operands whose letters split into batch, row, column and
// contracted groups (every attention written as einsum: MaxViT's "BGHID,BGHJD->BGHIJ") run as
// one batched oneDNN matmul between permuting copies; anything else (diagonals, sums over one
// operand, three operands) runs as a direct loop over every index combination, which is slow but
// exact.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <numeric>
#include <string>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/kernels/onednn_util.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

struct Equation {
  std::vector<std::string> inputs;  // one letter per dim; ellipsis dims are '0'..'9'
  std::string output;
};

// Parses `eq` for operands of `ranks`, expanding "..." and the implicit output.
Equation parse(const NodeCtx& ctx, std::string eq, const std::vector<std::size_t>& ranks) {
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  Equation e;
  const auto arrow = eq.find("->");
  std::string lhs = eq.substr(0, arrow), rhs = arrow == std::string::npos ? std::string() : eq.substr(arrow + 2);
  std::size_t ellipsis_rank = 0;
  std::size_t start = 0;
  for (std::size_t k = 0; k <= lhs.size(); ++k) {
    if (k < lhs.size() && lhs[k] != ',') continue;
    std::string term = lhs.substr(start, k - start);
    start = k + 1;
    const std::size_t i = e.inputs.size();
    if (i >= ranks.size()) ctx.invalid("more terms than inputs in '" + eq + "'");
    const auto dots = term.find("...");
    if (dots != std::string::npos) {
      const std::size_t named = term.size() - 3;
      if (ranks[i] < named) ctx.invalid("term '" + term + "' names more dims than input " + std::to_string(i) + " has");
      const std::size_t n = ranks[i] - named;
      if (n > 10) ctx.unsupported("an ellipsis over more than 10 dims");
      ellipsis_rank = std::max(ellipsis_rank, n);
      std::string dims;
      for (std::size_t d = 0; d < n; ++d) dims += static_cast<char>('0' + (10 - n + d));  // right-aligned, as broadcasting
      term = term.substr(0, dots) + dims + term.substr(dots + 3);
    }
    for (char c : term)
      if (!std::isalpha(static_cast<unsigned char>(c)) && !std::isdigit(static_cast<unsigned char>(c))) ctx.invalid("bad character in '" + eq + "'");
    if (term.size() != ranks[i]) ctx.invalid("term '" + term + "' does not match the rank of input " + std::to_string(i));
    e.inputs.push_back(term);
  }
  if (e.inputs.size() != ranks.size()) ctx.invalid("fewer terms than inputs in '" + eq + "'");
  std::string ell;
  for (std::size_t d = 0; d < ellipsis_rank; ++d) ell += static_cast<char>('0' + (10 - ellipsis_rank + d));
  if (arrow == std::string::npos) {
    // Implicit output: the ellipsis dims, then the letters used once, in alphabetical order.
    std::map<char, int> count;
    for (const auto& t : e.inputs)
      for (char c : t)
        if (std::isalpha(static_cast<unsigned char>(c))) ++count[c];
    e.output = ell;
    for (const auto& [c, n] : count)
      if (n == 1) e.output += c;
  } else {
    const auto dots = rhs.find("...");
    e.output = dots == std::string::npos ? rhs : rhs.substr(0, dots) + ell + rhs.substr(dots + 3);
  }
  for (char c : e.output) {
    bool found = false;
    for (const auto& t : e.inputs) found = found || t.find(c) != std::string::npos;
    if (!found) ctx.invalid(std::string("output letter '") + c + "' is in no input");
    if (std::count(e.output.begin(), e.output.end(), c) != 1) ctx.invalid(std::string("output letter '") + c + "' repeats");
  }
  return e;
}

// Copies `src` (row-major `shape`) into `dst` with dims reordered: dst dim k is src dim perm[k].
void permute(const float* src, const Shape& shape, const std::vector<std::size_t>& perm, float* dst) {
  const std::size_t r = shape.size();
  Shape st(r, 1), out(r), ost(r);
  for (std::size_t i = r; i-- > 1;) st[i - 1] = st[i] * shape[i];
  for (std::size_t k = 0; k < r; ++k) {
    out[k] = shape[perm[k]];
    ost[k] = st[perm[k]];
  }
  const std::int64_t n = numel(shape);
  std::vector<std::int64_t> idx(r, 0);
  std::int64_t off = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    dst[i] = src[off];
    for (std::size_t k = r; k-- > 0;) {
      off += ost[k];
      if (++idx[k] < out[k]) break;
      off -= ost[k] * out[k];
      idx[k] = 0;
    }
  }
}

bool identity(const std::vector<std::size_t>& p) {
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i] != i) return false;
  return true;
}

std::unique_ptr<Kernel> make_einsum(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  std::vector<std::size_t> ranks;
  const DType dt = ctx.num_inputs() > 0 ? ctx.in(0).dtype : DType::kF32;
  for (std::size_t i = 0; i < ctx.num_inputs(); ++i) {
    ctx.require_dtype(i, {DType::kF32, DType::kF64});
    if (ctx.in(i).dtype != dt) ctx.invalid("inputs of different types");
    ranks.push_back(ctx.in(i).shape.size());
  }
  if (ranks.empty()) ctx.invalid("no inputs");
  const Equation eq = parse(ctx, ctx.attr_s("equation", ""), ranks);
  // Every letter's size, checked across operands (a size-1 dim broadcasts).
  std::map<char, std::int64_t> size;
  for (std::size_t i = 0; i < eq.inputs.size(); ++i)
    for (std::size_t d = 0; d < eq.inputs[i].size(); ++d) {
      const char c = eq.inputs[i][d];
      const std::int64_t n = ctx.in(i).shape[d];
      auto it = size.find(c);
      if (it == size.end() || it->second == 1) size[c] = n;
      else if (n != 1 && n != it->second) ctx.invalid(std::string("dim '") + c + "' differs between inputs");
    }
  Shape y;
  for (char c : eq.output) y.push_back(size[c]);
  outs = {{dt, y}};

  // The matmul form: two operands, no letter repeated within one, none summed within one
  // operand alone, no broadcast size-1 dims.
  bool matmul_form = eq.inputs.size() == 2 && dt == DType::kF32;
  const std::string &a = eq.inputs[0], &b = eq.inputs.size() > 1 ? eq.inputs[1] : eq.inputs[0];
  auto in = [](const std::string& s, char c) { return s.find(c) != std::string::npos; };
  std::string batch, rows, cols, inner;
  if (matmul_form) {
    for (std::size_t i = 0; i < 2 && matmul_form; ++i)
      for (std::size_t d = 0; d < eq.inputs[i].size(); ++d) {
        const char c = eq.inputs[i][d];
        matmul_form = matmul_form && std::count(eq.inputs[i].begin(), eq.inputs[i].end(), c) == 1 && ctx.in(i).shape[d] == size[c];
      }
    for (char c : a) {
      if (in(b, c) && in(eq.output, c)) batch += c;
      else if (in(b, c)) inner += c;
      else if (in(eq.output, c)) rows += c;
      else matmul_form = false;
    }
    for (char c : b)
      if (!in(a, c)) {
        if (in(eq.output, c)) cols += c;
        else matmul_form = false;
      }
  }
  if (matmul_form) {
    auto prod = [&](const std::string& s) {
      std::int64_t p = 1;
      for (char c : s) p *= size[c];
      return p;
    };
    auto perm_to = [](const std::string& from, const std::string& order) {
      std::vector<std::size_t> p;
      for (char c : order) p.push_back(from.find(c));
      return p;
    };
    const std::int64_t nb = prod(batch), m = prod(rows), n = prod(cols), k = prod(inner);
    const auto pa = perm_to(a, batch + rows + inner), pb = perm_to(b, batch + inner + cols);
    const auto pc = perm_to(batch + rows + cols, eq.output);
    using dnnl::memory;
    auto amd = plain_f32({nb, m, k}), bmd = plain_f32({nb, k, n}), cmd = plain_f32({nb, m, n});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(amd, bmd, cmd), scratchpad_attr(), ctx.dnnl_engine());
    ctx.need_scratchpad(pd.scratchpad_desc());
    Shape as = ctx.in(0).shape, bs = ctx.in(1).shape, cs;
    for (char c : batch + rows + cols) cs.push_back(size[c]);
    const dnnl::engine eng = ctx.dnnl_engine();
    dnnl::matmul prim(pd);
    return make_kernel([=](const std::vector<const Tensor*>& inp, const std::vector<Tensor*>& out, RunContext& rc) {
      std::vector<float> ta, tb, tc;
      const float* pa_data = inp[0]->as<float>();
      const float* pb_data = inp[1]->as<float>();
      if (!identity(pa)) {
        ta.resize(static_cast<std::size_t>(numel(as)));
        permute(pa_data, as, pa, ta.data());
        pa_data = ta.data();
      }
      if (!identity(pb)) {
        tb.resize(static_cast<std::size_t>(numel(bs)));
        permute(pb_data, bs, pb, tb.data());
        pb_data = tb.data();
      }
      float* c_data = out[0]->as<float>();
      if (!identity(pc)) {
        tc.resize(static_cast<std::size_t>(numel(cs)));
        c_data = tc.data();
      }
      std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(amd, eng, pa_data)}, {DNNL_ARG_WEIGHTS, wrap(bmd, eng, pb_data)},
                                           {DNNL_ARG_DST, wrap(cmd, eng, c_data)}};
      add_scratchpad(args, pd.scratchpad_desc(), eng, rc);
      prim.execute(*rc.stream, args);
      rc.stream->wait();
      if (!identity(pc)) permute(tc.data(), cs, pc, out[0]->as<float>());
    });
  }

  // Direct form: every combination of every letter's index.
  std::string letters;
  for (const auto& [c, _] : size) letters += c;
  Shape dims;
  double combinations = 1;
  for (char c : letters) {
    dims.push_back(size[c]);
    combinations *= static_cast<double>(size[c]);
  }
  // The direct loop visits every combination once; past ~2^30 a run would take minutes.
  if (combinations > double(1 << 30)) ctx.unsupported("an einsum outside the matmul form over more than 2^30 index combinations");
  // Per operand and the output: the stride each letter position moves it by (0 when absent,
  // and for a broadcast size-1 dim).
  auto strides_of = [&](const std::string& term, const Shape& shape) {
    Shape st(shape.size(), 1), per(letters.size(), 0);
    for (std::size_t i = shape.size(); i-- > 1;) st[i - 1] = st[i] * shape[i];
    for (std::size_t d = 0; d < term.size(); ++d)
      if (shape[d] != 1) per[letters.find(term[d])] += st[d];
    return per;
  };
  std::vector<Shape> in_strides;
  for (std::size_t i = 0; i < eq.inputs.size(); ++i) in_strides.push_back(strides_of(eq.inputs[i], ctx.in(i).shape));
  const Shape out_strides = strides_of(eq.output, y);
  auto direct = [=](auto zero) {
    using T = decltype(zero);
    return make_kernel([=](const std::vector<const Tensor*>& inp, const std::vector<Tensor*>& out, RunContext&) {
      T* o = out[0]->as<T>();
      std::fill(o, o + out[0]->numel(), T{0});
      const std::int64_t total = numel(dims);
      std::vector<std::int64_t> idx(dims.size(), 0), off(inp.size(), 0);
      std::int64_t ooff = 0;
      for (std::int64_t t = 0; t < total; ++t) {
        T v = 1;
        for (std::size_t i = 0; i < inp.size(); ++i) v *= inp[i]->as<T>()[off[i]];
        o[ooff] += v;
        for (std::size_t k = dims.size(); k-- > 0;) {
          for (std::size_t i = 0; i < inp.size(); ++i) off[i] += in_strides[i][k];
          ooff += out_strides[k];
          if (++idx[k] < dims[k]) break;
          for (std::size_t i = 0; i < inp.size(); ++i) off[i] -= in_strides[i][k] * dims[k];
          ooff -= out_strides[k] * dims[k];
          idx[k] = 0;
        }
      }
    });
  };
  return dt == DType::kF64 ? direct(double{}) : direct(float{});
}

}  // namespace

void register_einsum_kernels(KernelTable& t) { t["Einsum"] = make_einsum; }

}  // namespace aifgen::engine

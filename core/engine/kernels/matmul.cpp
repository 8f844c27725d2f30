// MatMul (numpy semantics, batched with broadcasting) and Gemm on oneDNN's matmul primitive,
// float32. Gemm's transposes are strides, alpha an output scale, and a row-vector C with
// beta = 1 the primitive's bias; any other C is added after the product.
#include "core/engine/kernels/dispatch.h"
#include "core/engine/kernels/onednn_util.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

using dnnl::memory;

class MatMulKernel final : public Kernel {
 public:
  MatMulKernel(const NodeCtx& ctx, const dnnl::matmul::primitive_desc& pd, memory::desc a, memory::desc b, memory::desc bias,
               memory::desc c)
      : prim_(pd), a_(a), b_(b), bias_(bias), c_(c), scratch_(pd.scratchpad_desc()), eng_(ctx.dnnl_engine()) {
    ctx.need_scratchpad(scratch_);
  }
  // Extra step after the primitive (Gemm's general C term).
  std::function<void(const std::vector<const Tensor*>&, Tensor&)> epilogue;
  int bias_input = -1;
  std::shared_ptr<memory> packed_weights;  // constant B, already in the primitive's layout

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, wrap(a_, eng_, in[0]->data)},
                                         {DNNL_ARG_WEIGHTS, packed_weights ? *packed_weights : wrap(b_, eng_, in[1]->data)},
                                         {DNNL_ARG_DST, wrap(c_, eng_, out[0]->data)}};
    if (bias_input >= 0) args.emplace(DNNL_ARG_BIAS, wrap(bias_, eng_, in[bias_input]->data));
    add_scratchpad(args, scratch_, eng_, ctx);
    prim_.execute(*ctx.stream, args);
    if (epilogue) {
      ctx.stream->wait();
      epilogue(in, *out[0]);
    }
  }

 private:
  dnnl::matmul prim_;
  memory::desc a_, b_, bias_, c_, scratch_;
  dnnl::engine eng_;
};

std::unique_ptr<Kernel> make_matmul(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  ctx.require_dtype(0, {DType::kF32});
  ctx.require_dtype(1, {DType::kF32});
  Shape a = ctx.in(0).shape, b = ctx.in(1).shape;
  if (a.empty() || b.empty()) ctx.invalid("scalar operand");
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  if (a.back() != b[b.size() - 2]) ctx.invalid("inner dimensions differ: " + shape_str(ctx.in(0).shape) + " x " + shape_str(ctx.in(1).shape));
  const std::size_t rank = std::max(a.size(), b.size());
  while (a.size() < rank) a.insert(a.begin(), 1);
  while (b.size() < rank) b.insert(b.begin(), 1);
  Shape c(rank);
  for (std::size_t i = 0; i + 2 < rank; ++i) {
    if (a[i] != b[i] && a[i] != 1 && b[i] != 1) ctx.invalid("batch dimensions do not broadcast");
    c[i] = std::max(a[i], b[i]);
  }
  c[rank - 2] = a[rank - 2];
  c[rank - 1] = b[rank - 1];
  Shape y(c.begin(), c.end() - 2);
  if (!a_vec) y.push_back(c[rank - 2]);
  if (!b_vec) y.push_back(c[rank - 1]);
  outs = {{DType::kF32, y}};
  // When B has no batch dims of its own, A's batch dims are just more rows: one large GEMM
  // instead of many small ones (e.g. [128,1,256] x [256,768] is 128 GEMVs otherwise).
  bool b_batched = false;
  for (std::size_t i = 0; i + 2 < rank; ++i) b_batched = b_batched || b[i] != 1;
  if (!b_batched && rank > 2) {
    std::int64_t rows = 1;
    for (std::size_t i = 0; i + 1 < rank; ++i) rows *= a[i];
    a = {rows, a[rank - 1]};
    b = {b[rank - 2], b[rank - 1]};
    c = {rows, c[rank - 1]};
  }
  auto amd = plain_f32(to_dims(a)), bmd = plain_f32(to_dims(b)), cmd = plain_f32(to_dims(c));
  const Tensor* bconst = ctx.maybe_constant(1);
  if (bconst && b.size() == 2) {
    // Constant weights: let oneDNN choose their layout and reorder them once now.
    memory::desc bany(to_dims(b), memory::data_type::f32, memory::format_tag::any);
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(amd, bany, cmd), scratchpad_attr(), ctx.dnnl_engine());
    auto packed = std::make_shared<memory>(pd.weights_desc(), ctx.dnnl_engine());
    reorder_now(ctx.dnnl_engine(), bmd, bconst->data, *packed);
    auto k = std::make_unique<MatMulKernel>(ctx, pd, amd, pd.weights_desc(), memory::desc(), cmd);
    k->packed_weights = packed;
    return k;
  }
  dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(amd, bmd, cmd), scratchpad_attr(), ctx.dnnl_engine());
  return std::make_unique<MatMulKernel>(ctx, pd, amd, bmd, memory::desc(), cmd);
}

std::unique_ptr<Kernel> make_gemm(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  for (std::size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i)) ctx.require_dtype(i, {DType::kF32});
  const auto& a = ctx.in(0).shape;
  const auto& b = ctx.in(1).shape;
  if (a.size() != 2 || b.size() != 2) ctx.invalid("A and B must be 2-D");
  const bool ta = ctx.attr_i("transA", 0) != 0, tb = ctx.attr_i("transB", 0) != 0;
  const float alpha = ctx.attr_f("alpha", 1.f), beta = ctx.attr_f("beta", 1.f);
  const std::int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1], n = tb ? b[0] : b[1];
  if ((tb ? b[1] : b[0]) != k) ctx.invalid("inner dimensions differ");
  outs = {{DType::kF32, {m, n}}};
  memory::desc amd({m, k}, memory::data_type::f32, ta ? memory::dims{1, m} : memory::dims{k, 1});
  memory::desc bmd({k, n}, memory::data_type::f32, tb ? memory::dims{1, k} : memory::dims{n, 1});
  auto cmd = plain_f32({m, n});
  Shape cshape = ctx.has_input(2) ? ctx.in(2).shape : Shape{};
  Shape bc;
  if (ctx.has_input(2) && !broadcast_shape({cshape, {m, n}}, bc)) ctx.invalid("C does not broadcast to (M, N)");
  const bool row_bias = ctx.has_input(2) && beta == 1.f && numel(cshape) == n &&
                        (cshape.size() == 1 || (cshape.size() == 2 && cshape[0] == 1));
  dnnl::primitive_attr attr = scratchpad_attr();
  if (alpha != 1.f) attr.set_output_scales(0, {alpha});
  auto bias_md = row_bias ? plain_f32({1, n}) : memory::desc();
  dnnl::matmul::primitive_desc pd(row_bias ? dnnl::matmul::desc(amd, bmd, bias_md, cmd) : dnnl::matmul::desc(amd, bmd, cmd),
                                  attr, ctx.dnnl_engine());
  auto kernel = std::make_unique<MatMulKernel>(ctx, pd, amd, bmd, bias_md, cmd);
  if (row_bias) kernel->bias_input = 2;
  else if (ctx.has_input(2) && beta != 0.f) {
    auto plan = plan_broadcast({cshape}, {m, n});
    kernel->epilogue = [plan, beta](const std::vector<const Tensor*>& in, Tensor& y) {
      const float* c = in[2]->as<float>();
      float* o = y.as<float>();
      for (std::int64_t r = 0; r < plan.rows; ++r)
        for (std::int64_t i = 0; i < plan.inner; ++i)
          o[r * plan.inner + i] += beta * c[plan.row_offset[0][r] + i * plan.inner_stride[0]];
    };
  }
  return kernel;
}

}  // namespace

void register_matmul_kernels(KernelTable& t) {
  t["MatMul"] = make_matmul;
  t["Gemm"] = make_gemm;
}

}  // namespace aifgen::engine

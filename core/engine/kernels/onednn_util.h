// Small helpers for building oneDNN memory descriptors over the engine's row-major tensors.
#pragma once

#include <cstring>
#include <dnnl.hpp>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/engine/kernel.h"
#include "core/engine/packed_weights.h"
#include "core/engine/tensor.h"

namespace aifgen::engine {

inline dnnl::memory::dims to_dims(const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); }

inline dnnl::memory::dims row_major(const dnnl::memory::dims& d) {
  dnnl::memory::dims st(d.size(), 1);
  for (std::size_t i = d.size(); i-- > 1;) st[i - 1] = st[i] * d[i];
  return st;
}

// A plain (row-major) f32 descriptor of `dims`.
inline dnnl::memory::desc plain_f32(const dnnl::memory::dims& d) {
  return dnnl::memory::desc(d, dnnl::memory::data_type::f32, row_major(d));
}

// Every primitive gets a user-provided scratchpad. Debian's oneDNN is built without
// DNNL_ENABLE_CONCURRENT_EXEC, so library-managed scratchpads are shared between primitives and
// concurrent Session::run calls corrupt each other's results; each run passes its own region.
inline dnnl::primitive_attr scratchpad_attr(dnnl::primitive_attr a = dnnl::primitive_attr()) {
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

// A zero-filled buffer of `md`'s size that oneDNN allocates (64-byte aligned, as the arena and
// packed weights the kernels run on), for primitives timed at planning: oneDNN 2.6's GEMM takes
// another path for an unaligned operand, so a malloc'd buffer (16 bytes past a 64-byte
// boundary) can time a path the kernel never runs (matmul.cpp).
inline dnnl::memory zeroed_trial_memory(const dnnl::memory::desc& md, const dnnl::engine& eng) {
  dnnl::memory m(md, eng);
  std::memset(m.get_data_handle(), 0, md.get_size());
  return m;
}

inline dnnl::memory wrap(const dnnl::memory::desc& md, const dnnl::engine& eng, const void* p);

// Reorders `from` into `to` now, with its own scratchpad (plan-time weight prepacking).
inline void reorder_now(const dnnl::engine& eng, const dnnl::memory::desc& from_md, const void* from, dnnl::memory& to) {
  dnnl::reorder::primitive_desc pd(eng, from_md, eng, to.get_desc(), scratchpad_attr());
  std::vector<std::byte> scratch(pd.scratchpad_desc().get_size() + 1);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, dnnl::memory(from_md, eng, const_cast<void*>(from))}, {DNNL_ARG_TO, to}};
  if (pd.scratchpad_desc().get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(pd.scratchpad_desc(), eng, scratch.data()));
  dnnl::stream s(eng);
  dnnl::reorder(pd).execute(s, args);
  s.wait();
}

// Constant weights at `from` (read as `from_md`) reordered into `want`, for a kernel to keep:
// shared with the node's other live plans through `shared` (NodeCtx::packed_weights, the
// dynamic tail's; only for a constant input's own bytes, never a copy made while planning),
// else packed for this plan alone.
inline std::shared_ptr<dnnl::memory> packed_constant(PackedWeights* shared, const dnnl::engine& eng, const dnnl::memory::desc& from_md,
                                                     const void* from, const dnnl::memory::desc& want) {
  if (shared) return shared->get(from_md, from, want, eng);
  return pack_weights(want, eng, [&](dnnl::memory& m) { reorder_now(eng, from_md, from, m); });
}

inline dnnl::memory wrap(const dnnl::memory::desc& md, const dnnl::engine& eng, const void* p) {
  return dnnl::memory(md, eng, const_cast<void*>(p));
}

// A primitive's arguments, kept in the run state between runs. Creating the memory objects and
// the map on every execution cost ~1 us per primitive call, a few percent of small models
// (ShuffleNet, MobileNetV3-Small: ~50 convolutions of a few microseconds each). Each object is
// created once and re-pointed only when its buffer moves: arena values and the scratchpad stay
// put for a run state's life, graph inputs may move from run to run.
class BoundArgs final : public KernelState {
 public:
  void bind(int arg, const dnnl::memory::desc& md, const dnnl::engine& eng, const void* p) {
    auto it = args_.find(arg);
    if (it == args_.end()) args_.emplace(arg, wrap(md, eng, p));
    else if (it->second.get_data_handle() != p) it->second.set_data_handle(const_cast<void*>(p));
  }
  // A memory object the kernel owns (prepacked weights, post-op operands).
  void bind(int arg, const dnnl::memory& m) {
    if (!args_.count(arg)) args_.emplace(arg, m);
  }
  bool empty() const { return args_.empty(); }
  const std::unordered_map<int, dnnl::memory>& args() const { return args_; }
  std::unordered_map<int, dnnl::memory>& mutable_args() { return args_; }

 private:
  std::unordered_map<int, dnnl::memory> args_;
};

// The step's BoundArgs number `which` (a kernel may run several primitives) in this run state,
// or `local` (cleared) when the context keeps no state (plan-time folding).
inline BoundArgs& bound_args(RunContext& ctx, BoundArgs& local, std::size_t which = 0) {
  struct Set final : KernelState {
    std::vector<BoundArgs> args;
  };
  if (!ctx.state) {
    local = BoundArgs();
    return local;
  }
  auto* kept = dynamic_cast<Set*>(ctx.state->get());
  if (!kept) {
    *ctx.state = std::make_unique<Set>();
    kept = static_cast<Set*>(ctx.state->get());
  }
  auto& set = kept->args;
  if (set.size() <= which) set.resize(which + 1);
  return set[which];
}

// One oneDNN reorder from `from` into `to`, made for the calling thread's OpenMP thread count:
// a value from a blocked layout to plain row-major for kernels that need it (the session's layout
// boundaries), or a strided view into a plain tensor (Transpose).
class ReorderKernel final : public Kernel {
 public:
  ReorderKernel(const dnnl::engine& eng, const dnnl::memory::desc& from, const dnnl::memory::desc& to)
      : eng_(eng), from_(from), to_(to), pd_(eng, from, eng, to, scratchpad_attr()), prim_(pd_), scratch_(pd_.scratchpad_desc()) {}
  std::size_t scratchpad_bytes() const { return scratch_.get_size(); }
  const dnnl::memory::desc& scratchpad_desc() const { return scratch_; }
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    BoundArgs local;
    BoundArgs& a = bound_args(ctx, local);
    a.bind(DNNL_ARG_FROM, from_, eng_, in[0]->data);
    a.bind(DNNL_ARG_TO, to_, eng_, out[0]->data);
    if (scratch_.get_size() > 0) a.bind(DNNL_ARG_SCRATCHPAD, scratch_, eng_, ctx.scratchpad);
    prim_.execute(*ctx.stream, a.args());
  }

 private:
  dnnl::engine eng_;
  dnnl::memory::desc from_, to_;
  dnnl::reorder::primitive_desc pd_;
  dnnl::reorder prim_;
  dnnl::memory::desc scratch_;  // asked of pd_ once, not on every run
};

// A kernel running one oneDNN primitive that reads SRC and writes DST (pooling, resampling):
// both in the layouts the primitive was made for, with the planner's scratchpad.
template <typename Primitive>
class SrcDstPrimitiveKernel final : public Kernel {
 public:
  template <typename PrimitiveDesc>
  SrcDstPrimitiveKernel(const PrimitiveDesc& pd, dnnl::memory::desc src, const dnnl::engine& eng)
      : prim_(pd), src_(src), dst_(pd.dst_desc()), scratch_(pd.scratchpad_desc()), eng_(eng) {}
  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, wrap(src_, eng_, in[0]->data)}, {DNNL_ARG_DST, wrap(dst_, eng_, out[0]->data)}};
    add_scratchpad(args, scratch_, eng_, ctx);
    prim_.execute(*ctx.stream, args);
  }

 private:
  Primitive prim_;
  dnnl::memory::desc src_, dst_, scratch_;
  dnnl::engine eng_;
};

}  // namespace aifgen::engine

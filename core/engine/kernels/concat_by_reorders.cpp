#include "core/engine/kernels/concat_by_reorders.h"

#include <algorithm>

#include "core/engine/kernels/onednn_util.h"

namespace aifgen::engine {
namespace {

class ConcatByReorders final : public Kernel {
 public:
  ConcatByReorders(const dnnl::engine& eng, const std::vector<dnnl::memory::desc>& operands, const dnnl::memory::desc& result)
      : eng_(eng) {
    dnnl::memory::dim first_channel = 0;
    for (const auto& md : operands) {
      const auto dims = md.dims();
      Part p;
      p.from = md;
      p.to = result.submemory_desc(dims, {0, first_channel, 0, 0});
      p.pd = dnnl::reorder::primitive_desc(eng, p.from, eng, p.to, scratchpad_attr());
      p.prim = dnnl::reorder(p.pd);
      parts_.push_back(std::move(p));
      first_channel += dims[1];
    }
  }

  std::size_t scratchpad_bytes() const {
    std::size_t most = 0;
    for (const auto& p : parts_) most = std::max(most, p.pd.scratchpad_desc().get_size());
    return most;
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext& ctx) override {
    for (std::size_t k = 0; k < parts_.size(); ++k) {
      const Part& p = parts_[k];
      BoundArgs local;
      BoundArgs& a = bound_args(ctx, local, k);
      a.bind(DNNL_ARG_FROM, p.from, eng_, in[k]->data);
      // The slice's descriptor carries its offset into the result; the handle is the result's.
      a.bind(DNNL_ARG_TO, p.to, eng_, out[0]->data);
      if (p.pd.scratchpad_desc().get_size() > 0) a.bind(DNNL_ARG_SCRATCHPAD, p.pd.scratchpad_desc(), eng_, ctx.scratchpad);
      p.prim.execute(*ctx.stream, a.args());
    }
  }

 private:
  struct Part {
    dnnl::memory::desc from, to;
    dnnl::reorder::primitive_desc pd;
    dnnl::reorder prim;
  };
  dnnl::engine eng_;
  std::vector<Part> parts_;
};

}  // namespace

std::unique_ptr<Kernel> make_concat_by_reorders(const dnnl::engine& eng, const std::vector<dnnl::memory::desc>& operands,
                                                const dnnl::memory::desc& result, std::size_t& scratchpad_bytes) {
  auto k = std::make_unique<ConcatByReorders>(eng, operands, result);
  scratchpad_bytes = std::max(scratchpad_bytes, k->scratchpad_bytes());
  return k;
}

}  // namespace aifgen::engine

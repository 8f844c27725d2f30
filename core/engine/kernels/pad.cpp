// Pad (opset 2 to 19): constant, edge, reflect and wrap modes, negative pads (cropping), any
// element type, optional axes (opset 18). The source index of every output position is worked
// out per axis at plan time, so a run is row copies: the in-range middle of each innermost row
// with one memcpy, its padded ends element by element.
#include <cstring>

#include "core/engine/kernels/dispatch.h"
#include "core/engine/registry.h"

namespace aifgen::engine {
namespace {

constexpr std::int64_t kFill = -1;  // output position that takes the constant value

class PadKernel final : public Kernel {
 public:
  PadKernel(Shape in, Shape out, std::vector<std::vector<std::int64_t>> source, std::vector<std::byte> value, std::size_t size)
      : in_(std::move(in)), out_(std::move(out)), source_(std::move(source)), value_(std::move(value)), size_(size) {
    in_strides_.assign(in_.size(), 1);
    for (std::size_t i = in_.size(); i-- > 1;) in_strides_[i - 1] = in_strides_[i] * in_[i];
    // The innermost axis' identity stretch [lo, hi): output positions whose sources are
    // consecutive in-range elements.
    const auto& last = source_.back();
    for (lo_ = 0; lo_ < static_cast<std::int64_t>(last.size()) && last[static_cast<std::size_t>(lo_)] == kFill; ++lo_) {}
    hi_ = lo_;
    while (hi_ < static_cast<std::int64_t>(last.size()) && last[static_cast<std::size_t>(hi_)] != kFill &&
           (hi_ == lo_ || last[static_cast<std::size_t>(hi_)] == last[static_cast<std::size_t>(hi_ - 1)] + 1))
      ++hi_;
  }

  void run(const std::vector<const Tensor*>& in, const std::vector<Tensor*>& out, RunContext&) override {
    const std::int64_t total = numel(out_);
    if (total == 0) return;
    const std::int64_t inner = out_.back(), rows = total / inner;
    const std::byte* src = in[0]->data;
    std::byte* dst = out[0]->data;
    const std::size_t rank = out_.size();
    const auto& last = source_.back();
#pragma omp parallel for if (rows >= 8 && total > kParallelMinElements) schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
      std::byte* y = dst + static_cast<std::size_t>(r * inner) * size_;
      // Source row of this output row, or none when an outer axis is in a constant band.
      std::int64_t off = 0, rem = r;
      bool fill = false;
      for (std::size_t d = rank - 1; d-- > 0;) {
        const std::int64_t o = rem % out_[d];
        rem /= out_[d];
        const std::int64_t s = source_[d][static_cast<std::size_t>(o)];
        if (s == kFill) {
          fill = true;
          break;
        }
        off += s * in_strides_[d];
      }
      if (fill) {
        for (std::int64_t i = 0; i < inner; ++i) std::memcpy(y + static_cast<std::size_t>(i) * size_, value_.data(), size_);
        continue;
      }
      const std::byte* x = src + static_cast<std::size_t>(off) * size_;
      auto put = [&](std::int64_t i) {
        const std::int64_t s = last[static_cast<std::size_t>(i)];
        std::memcpy(y + static_cast<std::size_t>(i) * size_, s == kFill ? value_.data() : x + static_cast<std::size_t>(s) * size_, size_);
      };
      for (std::int64_t i = 0; i < lo_; ++i) put(i);
      if (hi_ > lo_)
        std::memcpy(y + static_cast<std::size_t>(lo_) * size_, x + static_cast<std::size_t>(last[static_cast<std::size_t>(lo_)]) * size_,
                    static_cast<std::size_t>(hi_ - lo_) * size_);
      for (std::int64_t i = hi_; i < inner; ++i) put(i);
    }
  }

 private:
  Shape in_, out_, in_strides_;
  std::vector<std::vector<std::int64_t>> source_;  // [axis][output position] -> input position or kFill
  std::vector<std::byte> value_;                   // the constant, one element
  std::size_t size_;
  std::int64_t lo_ = 0, hi_ = 0;
};

// Source position of output position `o` on an axis of `n` input elements padded by `begin` in
// front, or kFill.
std::int64_t source_index(std::int64_t o, std::int64_t begin, std::int64_t n, const std::string& mode) {
  const std::int64_t s = o - begin;
  if (s >= 0 && s < n) return s;
  if (mode == "constant") return kFill;
  if (mode == "edge") return s < 0 ? 0 : n - 1;
  if (mode == "wrap") return ((s % n) + n) % n;
  // reflect (the edge element not repeated); pads below n keep it to one fold
  return s < 0 ? -s : 2 * (n - 1) - s;
}

std::unique_ptr<Kernel> make_pad(const NodeCtx& ctx, std::vector<TensorDesc>& outs) {
  const auto& in = ctx.in(0);
  const auto rank = static_cast<std::int64_t>(in.shape.size());
  if (rank == 0) ctx.invalid("a scalar cannot be padded");
  const std::string mode = ctx.attr_s("mode", "constant");
  if (mode != "constant" && mode != "edge" && mode != "reflect" && !(mode == "wrap" && ctx.opset() >= 19))
    ctx.invalid("unknown mode " + mode);
  const std::size_t size = dtype_size(in.dtype);

  std::vector<std::int64_t> pads;
  std::vector<std::byte> value(size, std::byte{0});
  if (ctx.opset() < 11) {
    pads = ctx.attr_ints(ctx.opset() < 2 ? "paddings" : "pads");
    if (in.dtype != DType::kF32) ctx.unsupported("Pad before opset 11 on " + std::string(dtype_str(in.dtype)));
    const float v = ctx.attr_f("value", 0.f);
    std::memcpy(value.data(), &v, size);
  } else {
    pads = to_int64_vector(ctx.constant_input(1, "the pads"));
    if (ctx.has_input(2)) {
      const Tensor& v = ctx.constant_input(2, "the constant value");
      if (v.dtype != in.dtype || v.numel() < 1) ctx.invalid("constant_value must be one element of the data's type");
      std::memcpy(value.data(), v.data, size);
    }
  }
  // Optional axes (opset 18): pads name only those axes.
  std::vector<std::int64_t> axes;
  if (ctx.opset() >= 18 && ctx.has_input(3)) {
    axes = to_int64_vector(ctx.constant_input(3, "the axes"));
  } else {
    for (std::int64_t a = 0; a < rank; ++a) axes.push_back(a);
  }
  if (pads.size() != 2 * axes.size()) ctx.invalid("pads must hold two values per padded axis");
  std::vector<std::int64_t> begin(static_cast<std::size_t>(rank), 0), end(static_cast<std::size_t>(rank), 0);
  std::vector<bool> seen(static_cast<std::size_t>(rank), false);
  for (std::size_t k = 0; k < axes.size(); ++k) {
    std::int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
    if (a < 0 || a >= rank || seen[static_cast<std::size_t>(a)]) ctx.invalid("axes out of range or repeated");
    seen[static_cast<std::size_t>(a)] = true;
    begin[static_cast<std::size_t>(a)] = pads[k];
    end[static_cast<std::size_t>(a)] = pads[k + axes.size()];
  }

  Shape out(in.shape.size());
  std::vector<std::vector<std::int64_t>> source(in.shape.size());
  for (std::size_t d = 0; d < in.shape.size(); ++d) {
    const std::int64_t n = in.shape[d];
    out[d] = n + begin[d] + end[d];
    if (out[d] < 0) ctx.invalid("negative pads remove more than axis " + std::to_string(d) + " holds");
    const bool pads_here = begin[d] > 0 || end[d] > 0;
    if (pads_here && mode != "constant" && n == 0) ctx.invalid(mode + " padding of an empty axis");
    if (pads_here && mode == "reflect" && (begin[d] >= n || end[d] >= n))
      ctx.unsupported("reflect padding as wide as the axis (" + std::to_string(n) + ")");
    source[d].resize(static_cast<std::size_t>(out[d]));
    for (std::int64_t o = 0; o < out[d]; ++o) source[d][static_cast<std::size_t>(o)] = source_index(o, begin[d], n, mode);
  }
  outs = {{in.dtype, out}};
  return std::make_unique<PadKernel>(in.shape, out, std::move(source), std::move(value), size);
}

}  // namespace

void register_pad_kernels(KernelTable& t) { t["Pad"] = make_pad; }

}  // namespace aifgen::engine

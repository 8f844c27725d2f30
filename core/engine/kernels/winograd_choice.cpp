#include "core/engine/kernels/winograd_choice.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace aifgen::engine {
namespace {

// Winograd must beat the direct kernel by this much: it holds its weights in a larger transformed
// form, and a near tie is within the timing noise.
constexpr double kWinogradMustWin = 0.9;
// Timing stops after this many alternating rounds, or earlier once this much time is spent
// (a 16 ms VGG layer gets its 3 rounds, a 20 us one its 10).
constexpr int kMinRounds = 3, kMaxRounds = 10;
constexpr double kBudgetMs = 20;
// Remembered choices; a process planning unboundedly many shapes forgets them all at this size.
constexpr std::size_t kMaxRemembered = 4096;

// One primitive with zero-filled buffers of its own, ready to execute.
class Trial {
 public:
  Trial(const dnnl::convolution_forward::primitive_desc& pd, const PostOpChain& chain, const dnnl::engine& eng)
      : prim_(pd) {
    auto add = [&](int arg, const dnnl::memory::desc& md) {
      if (md.get_size() == 0) return;
      buffers_.emplace_back(md.get_size(), std::byte{0});
      args_.emplace(arg, dnnl::memory(md, eng, buffers_.back().data()));
    };
    buffers_.reserve(5);
    add(DNNL_ARG_SRC, pd.src_desc());
    add(DNNL_ARG_WEIGHTS, pd.weights_desc());
    add(DNNL_ARG_BIAS, pd.bias_desc());
    add(DNNL_ARG_DST, pd.dst_desc());
    add(DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
    chain.add_args(args_);
  }

  double run_ms(dnnl::stream& s) {
    auto t0 = std::chrono::steady_clock::now();
    prim_.execute(s, args_);
    s.wait();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  dnnl::convolution_forward prim_;
  std::vector<std::vector<std::byte>> buffers_;
  std::unordered_map<int, dnnl::memory> args_;
};

// Whether Winograd wins: fastest of alternating runs after one warm-up run each.
bool winograd_measured_faster(const dnnl::convolution_forward::primitive_desc& direct,
                              const dnnl::convolution_forward::primitive_desc& winograd, const PostOpChain& chain,
                              const dnnl::engine& eng) {
  Trial d(direct, chain, eng), w(winograd, chain, eng);
  dnnl::stream s(eng);
  double spent = d.run_ms(s) + w.run_ms(s);
  double best_d = 1e300, best_w = 1e300;
  for (int round = 0; round < kMaxRounds && (round < kMinRounds || spent < kBudgetMs); ++round) {
    const double td = d.run_ms(s), tw = w.run_ms(s);
    best_d = std::min(best_d, td);
    best_w = std::min(best_w, tw);
    spent += td + tw;
  }
  return best_w < kWinogradMustWin * best_d;
}

void put_dims(std::ostringstream& os, const dnnl_dims_t dims, int n) {
  for (int i = 0; i < n; ++i) os << dims[i] << ',';
  os << ';';
}

// What decides the timing: shapes, padding and the thread count. Not the post-ops: the same
// element-wise tail runs in both kernels, and a convolution is planned once without and once with
// its fused tail, so keying on them would measure every shape twice.
std::string measurement_key(const dnnl::convolution_forward::desc& d) {
  const auto& c = d.data;
  std::ostringstream os;
  put_dims(os, c.src_desc.dims, c.src_desc.ndims);
  put_dims(os, c.weights_desc.dims, c.weights_desc.ndims);
  put_dims(os, c.dst_desc.dims, c.dst_desc.ndims);
  const int spatial = c.src_desc.ndims - 2;
  put_dims(os, c.padding[0], spatial);
  put_dims(os, c.padding[1], spatial);
  os << (c.bias_desc.ndims > 0) << ';';
  os << ";t" << omp_get_max_threads();
  return os.str();
}

std::mutex remembered_mutex;
std::map<std::string, bool>& remembered() {
  static std::map<std::string, bool> m;
  return m;
}

}  // namespace

std::optional<dnnl::convolution_forward::primitive_desc> winograd_instead(
    ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
    const dnnl::convolution_forward::desc& winograd, const dnnl::primitive_attr& attr, const PostOpChain& chain,
    const dnnl::engine& eng) {
  if (policy == ConvAlgorithm::kDirect) return std::nullopt;
  dnnl::convolution_forward::primitive_desc pd;
  try {
    // allow_empty: no exception (and no verbose noise) where oneDNN has no Winograd kernel.
    pd = dnnl::convolution_forward::primitive_desc(winograd, attr, eng, true);
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
  if (!pd) return std::nullopt;
  if (policy == ConvAlgorithm::kWinograd) return pd;
  const std::string key = measurement_key(winograd);
  {
    std::lock_guard<std::mutex> lock(remembered_mutex);
    auto it = remembered().find(key);
    if (it != remembered().end()) return it->second ? std::optional(pd) : std::nullopt;
  }
  const bool faster = winograd_measured_faster(direct, pd, chain, eng);
  std::lock_guard<std::mutex> lock(remembered_mutex);
  if (remembered().size() >= kMaxRemembered) remembered().clear();
  remembered()[key] = faster;
  return faster ? std::optional(pd) : std::nullopt;
}

}  // namespace aifgen::engine

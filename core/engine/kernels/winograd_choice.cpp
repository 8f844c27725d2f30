#include "core/engine/kernels/winograd_choice.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <list>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "core/engine/kernels/onednn_util.h"
#include "core/engine/thread_policy.h"

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

// Primitives run back to back on zero-filled buffers of their own.
class Trial {
 public:
  explicit Trial(const dnnl::engine& eng) : eng_(eng) {}

  void add_convolution(const dnnl::convolution_forward::primitive_desc& pd, const PostOpChain& chain) {
    threads_.push_back(omp_get_max_threads());
    std::unordered_map<int, dnnl::memory> args;
    bind(args, DNNL_ARG_SRC, pd.src_desc());
    bind(args, DNNL_ARG_WEIGHTS, pd.weights_desc());
    bind(args, DNNL_ARG_BIAS, pd.bias_desc());
    bind(args, DNNL_ARG_DST, pd.dst_desc());
    bind(args, DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
    chain.add_args(args);
    steps_.emplace_back(dnnl::convolution_forward(pd), std::move(args));
  }

  // With the threads the planner gives a reorder of that size (thread_policy.h): a small one
  // runs on one thread, and timed on the team it looked half as expensive as it is.
  void add_reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
    const int team = omp_get_max_threads();
    double elements = 1;
    for (auto d : from.dims()) elements *= static_cast<double>(d);
    threads_.push_back(threads_for_work(team_written_work(elements), team));
    omp_set_num_threads(threads_.back());
    dnnl::reorder::primitive_desc pd(eng_, from, eng_, to, scratchpad_attr());
    omp_set_num_threads(team);
    std::unordered_map<int, dnnl::memory> args;
    bind(args, DNNL_ARG_FROM, from);
    bind(args, DNNL_ARG_TO, to);
    bind(args, DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
    steps_.emplace_back(dnnl::reorder(pd), std::move(args));
  }

  double run_ms(dnnl::stream& s) {
    const int team = omp_get_max_threads();
    auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < steps_.size(); ++i) {
      if (threads_[i] != team) omp_set_num_threads(threads_[i]);
      steps_[i].first.execute(s, steps_[i].second);
      if (threads_[i] != team) omp_set_num_threads(team);
    }
    s.wait();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  void bind(std::unordered_map<int, dnnl::memory>& args, int arg, const dnnl::memory::desc& md) {
    if (md.get_size() == 0) return;
    buffers_.emplace_back(md.get_size(), std::byte{0});
    args.emplace(arg, dnnl::memory(md, eng_, buffers_.back().data()));
  }

  dnnl::engine eng_;
  std::list<std::vector<std::byte>> buffers_;  // a list: buffers never move
  std::vector<std::pair<dnnl::primitive, std::unordered_map<int, dnnl::memory>>> steps_;
  std::vector<int> threads_;  // per step
};

// Whether Winograd wins: fastest of alternating runs after one warm-up run each. Winograd reads
// and writes nChw16c; where the direct kernel's layouts differ, its time includes the reorders
// into and out of them, as the planner would add them (a SqueezeNet fire module's 3x3 expand
// sits between a 1x1 convolution's NHWC output and a Concat with another NHWC one: 4 Winograd
// convolutions there saved 0.04 ms each at 2 threads and their 12 reorders cost 0.42 ms).
// `winograd` runs `groups` times, once per group, between reorders of the whole tensors
// (`wino_src`, `wino_dst`: the layouts it reads and writes, seen whole).
bool winograd_measured_faster(const dnnl::convolution_forward::primitive_desc& direct,
                              const dnnl::convolution_forward::primitive_desc& winograd, int groups,
                              const dnnl::memory::desc& wino_src, const dnnl::memory::desc& wino_dst, const PostOpChain& chain,
                              const dnnl::engine& eng) {
  Trial d(eng), w(eng);
  d.add_convolution(direct, chain);
  if (direct.src_desc() != wino_src) w.add_reorder(direct.src_desc(), wino_src);
  for (int g = 0; g < groups; ++g) w.add_convolution(winograd, chain);
  if (direct.dst_desc() != wino_dst) w.add_reorder(wino_dst, direct.dst_desc());
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

// What decides the timing: shapes, padding, which reorders Winograd's side needs and the thread
// count. Not the post-ops: the same element-wise tail runs in both kernels, and a convolution is
// planned once without and once with its fused tail, so keying on them would time it twice.
std::string measurement_key(const dnnl::convolution_forward::desc& d, const dnnl::convolution_forward::primitive_desc& direct,
                            int groups, const dnnl::memory::desc& wino_src, const dnnl::memory::desc& wino_dst) {
  const auto& c = d.data;
  std::ostringstream os;
  put_dims(os, c.src_desc.dims, c.src_desc.ndims);
  put_dims(os, c.weights_desc.dims, c.weights_desc.ndims);
  put_dims(os, c.dst_desc.dims, c.dst_desc.ndims);
  const int spatial = c.src_desc.ndims - 2;
  put_dims(os, c.padding[0], spatial);
  put_dims(os, c.padding[1], spatial);
  os << (c.bias_desc.ndims > 0) << ';';
  os << (direct.src_desc() != wino_src) << (direct.dst_desc() != wino_dst);
  os << ";g" << groups << ";t" << omp_get_max_threads();
  return os.str();
}

std::mutex remembered_mutex;
std::map<std::string, bool>& remembered() {
  static std::map<std::string, bool> m;
  return m;
}

// Both public choices: `groups` runs of the Winograd primitive against one of `direct`; the
// whole-tensor Winograd layouts are the primitive's own unless given.
std::optional<dnnl::convolution_forward::primitive_desc> choose(ConvAlgorithm policy,
                                                               const dnnl::convolution_forward::primitive_desc& direct,
                                                               const dnnl::convolution_forward::desc& winograd,
                                                               const dnnl::primitive_attr& attr, const PostOpChain& chain,
                                                               const dnnl::engine& eng, int groups,
                                                               std::optional<dnnl::memory::desc> wino_src,
                                                               std::optional<dnnl::memory::desc> wino_dst) {
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
  const auto src = wino_src.value_or(pd.src_desc()), dst = wino_dst.value_or(pd.dst_desc());
  const std::string key = measurement_key(winograd, direct, groups, src, dst);
  {
    std::lock_guard<std::mutex> lock(remembered_mutex);
    auto it = remembered().find(key);
    if (it != remembered().end()) return it->second ? std::optional(pd) : std::nullopt;
  }
  const bool faster = winograd_measured_faster(direct, pd, groups, src, dst, chain, eng);
  std::lock_guard<std::mutex> lock(remembered_mutex);
  if (remembered().size() >= kMaxRemembered) remembered().clear();
  remembered()[key] = faster;
  return faster ? std::optional(pd) : std::nullopt;
}

}  // namespace

std::optional<dnnl::convolution_forward::primitive_desc> winograd_instead(
    ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
    const dnnl::convolution_forward::desc& winograd, const dnnl::primitive_attr& attr, const PostOpChain& chain,
    const dnnl::engine& eng) {
  return choose(policy, direct, winograd, attr, chain, eng, 1, std::nullopt, std::nullopt);
}

std::optional<dnnl::convolution_forward::primitive_desc> grouped_winograd_instead(
    ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
    const dnnl::convolution_forward::desc& one_group, int groups, const dnnl::memory::desc& whole_src,
    const dnnl::memory::desc& whole_dst, const dnnl::primitive_attr& attr, const PostOpChain& chain, const dnnl::engine& eng) {
  return choose(policy, direct, one_group, attr, chain, eng, groups, whole_src, whole_dst);
}

}  // namespace aifgen::engine

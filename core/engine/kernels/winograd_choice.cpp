#include "core/engine/kernels/winograd_choice.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "core/engine/kernels/onednn_util.h"
#include "core/engine/kernels/trial_timing.h"
#include "core/engine/thread_policy.h"

namespace aifgen::engine {
namespace {

// Winograd must beat the direct kernel by this much: it holds its weights in a larger transformed
// form, and a near tie is within the timing noise.
constexpr double kWinogradMustWin = 0.9;
// Output channels split over the threads (split_outputs_instead) need no more memory and compute
// the same sums in the same order, so only the timing noise is margin.
constexpr double kSplitMustWin = 0.97;
// Alternating rounds: 3, and up to 10 while under 20 ms in all (a 16 ms VGG layer gets its 3
// rounds, a 20 us one its 10); 1 when the runs took 20 ms and the first round is a clear win
// (trial_timing.h).
constexpr TrialRounds kRounds{3, 10, 20, true};
// Remembered choices; a process planning unboundedly many shapes forgets them all at this size.
constexpr std::size_t kMaxRemembered = 4096;

// Primitives run back to back on zero-filled buffers of their own.
class Trial {
 public:
  explicit Trial(const dnnl::engine& eng) : eng_(eng) {}

  void add_convolution(const dnnl::convolution_forward::primitive_desc& pd, const PostOpChain& chain) {
    Step step{dnnl::convolution_forward(pd), {convolution_args(pd, chain, true)}, omp_get_max_threads(), false};
    steps_.push_back(std::move(step));
  }

  // `groups` runs of a one-thread primitive spread over the team (run_groups_spread), each group
  // on buffers of its own and each thread with its own scratchpad.
  void add_spread_groups(const dnnl::convolution_forward::primitive_desc& pd, const PostOpChain& chain, int groups) {
    const int team = omp_get_max_threads();
    Step step;
    {
      OneThreadScope one;
      step.prim = dnnl::convolution_forward(pd);
    }
    for (int g = 0; g < groups; ++g) step.args.push_back(convolution_args(pd, chain, false));
    for (int t = 0; t < team; ++t) {
      // 64-byte aligned, as the run's scratchpad is (zeroed_trial_memory says why it matters).
      buffers_.emplace_back(pd.scratchpad_desc().get_size() + 64, std::byte{0});
      const auto address = reinterpret_cast<std::uintptr_t>(buffers_.back().data());
      spread_scratch_.push_back(buffers_.back().data() + ((64 - address % 64) % 64));
    }
    step.scratch_md = pd.scratchpad_desc();
    step.threads = team;
    step.spread = true;
    steps_.push_back(std::move(step));
  }

  // With the threads the planner gives a reorder of that size (thread_policy.h): a small one
  // runs on one thread, and timed on the team it looked half as expensive as it is.
  void add_reorder(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
    const int team = omp_get_max_threads();
    double elements = 1;
    for (auto d : from.dims()) elements *= static_cast<double>(d);
    const int threads = threads_for_work(team_written_work(elements), team);
    omp_set_num_threads(threads);
    dnnl::reorder::primitive_desc pd(eng_, from, eng_, to, scratchpad_attr());
    omp_set_num_threads(team);
    std::unordered_map<int, dnnl::memory> args;
    bind(args, DNNL_ARG_FROM, from);
    bind(args, DNNL_ARG_TO, to);
    bind(args, DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
    steps_.push_back(Step{dnnl::reorder(pd), {std::move(args)}, threads, false});
  }

  double run_ms(dnnl::stream& s) {
    const int team = omp_get_max_threads();
    return milliseconds_of([&] { run(s, team); });
  }

 private:
  void run(dnnl::stream& s, int team) {
    for (auto& step : steps_) {
      if (step.spread) {
        run_groups_spread(static_cast<int>(step.args.size()), step.threads, s, [&](int g, int thread, dnnl::stream& own) {
          auto& args = step.args[static_cast<std::size_t>(g)];
          if (step.scratch_md.get_size() > 0)
            args.insert_or_assign(DNNL_ARG_SCRATCHPAD, dnnl::memory(step.scratch_md, eng_, spread_scratch_[static_cast<std::size_t>(thread)]));
          step.prim.execute(own, args);
        });
        continue;
      }
      if (step.threads != team) omp_set_num_threads(step.threads);
      step.prim.execute(s, step.args.front());
      if (step.threads != team) omp_set_num_threads(team);
    }
    s.wait();
  }

  struct Step {
    dnnl::primitive prim;
    std::vector<std::unordered_map<int, dnnl::memory>> args;  // one per run of `prim`
    int threads = 1;
    bool spread = false;  // args.size() groups spread over `threads` (scratchpads per thread)
    dnnl::memory::desc scratch_md;
  };

  std::unordered_map<int, dnnl::memory> convolution_args(const dnnl::convolution_forward::primitive_desc& pd,
                                                         const PostOpChain& chain, bool with_scratchpad) {
    std::unordered_map<int, dnnl::memory> args;
    bind(args, DNNL_ARG_SRC, pd.src_desc());
    bind(args, DNNL_ARG_WEIGHTS, pd.weights_desc());
    bind(args, DNNL_ARG_BIAS, pd.bias_desc());
    bind(args, DNNL_ARG_DST, pd.dst_desc());
    if (with_scratchpad) bind(args, DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
    chain.add_args(args);
    return args;
  }

  void bind(std::unordered_map<int, dnnl::memory>& args, int arg, const dnnl::memory::desc& md) {
    if (md.get_size() == 0) return;
    args.emplace(arg, zeroed_trial_memory(md, eng_));
  }

  dnnl::engine eng_;
  std::list<std::vector<std::byte>> buffers_;  // a list: buffers never move
  std::vector<std::byte*> spread_scratch_;      // per thread, for spread steps
  std::vector<Step> steps_;
};

// Whether Winograd wins: fastest of alternating runs after one warm-up run each. Winograd reads
// and writes nChw16c; where the direct kernel's layouts differ, its time includes the reorders
// into and out of them, as the planner would add them (a SqueezeNet fire module's 3x3 expand
// sits between a 1x1 convolution's NHWC output and a Concat with another NHWC one: 4 Winograd
// convolutions there saved 0.04 ms each at 2 threads and their 12 reorders cost 0.42 ms).
// `winograd` runs `groups` times, once per group, between reorders of the whole tensors
// (`wino_src`, `wino_dst`: the layouts it reads and writes, seen whole).
bool winograd_measured_faster(const dnnl::convolution_forward::primitive_desc& direct,
                              const dnnl::convolution_forward::primitive_desc& winograd, int groups, bool spread,
                              const dnnl::memory::desc& wino_src, const dnnl::memory::desc& wino_dst, const PostOpChain& chain,
                              const dnnl::engine& eng, double must_win) {
  Trial d(eng), w(eng);
  d.add_convolution(direct, chain);
  if (direct.src_desc() != wino_src) w.add_reorder(direct.src_desc(), wino_src);
  if (spread) {
    w.add_spread_groups(winograd, chain, groups);
  } else {
    for (int g = 0; g < groups; ++g) w.add_convolution(winograd, chain);
  }
  if (direct.dst_desc() != wino_dst) w.add_reorder(wino_dst, direct.dst_desc());
  dnnl::stream s(eng);
  return second_is_faster([&] { return d.run_ms(s); }, [&] { return w.run_ms(s); }, must_win, kRounds);
}

void put_dims(std::ostringstream& os, const dnnl_dims_t dims, int n) {
  for (int i = 0; i < n; ++i) os << dims[i] << ',';
  os << ';';
}

// The batch a timing is remembered under: the batch rounded up to a power of two. A detector's
// head convolutions run on as many detections as each image leaves (5 on one, 7 on the next),
// and which algorithm wins hardly moves with a few images more or less, while timing each new
// count again cost the tail about 8 trials a convolution (Keypoint R-CNN's 8 head convolutions:
// an estimated 0.7 s for every new count).
std::int64_t batch_bucket(std::int64_t batch) {
  std::int64_t bucket = 1;
  while (bucket < batch) bucket <<= 1;
  return bucket;
}

// The dims of a source or destination with the batch (dim 0) bucketed.
void put_batched_dims(std::ostringstream& os, const dnnl_dims_t dims, int n) {
  for (int i = 0; i < n; ++i) os << (i == 0 ? batch_bucket(dims[i]) : dims[i]) << ',';
  os << ';';
}

std::atomic<std::size_t> timings_run{0};  // winograd_timings_run

// What decides the timing: shapes, padding, which reorders Winograd's side needs and the thread
// count. Not the post-ops: the same element-wise tail runs in both kernels, and a convolution is
// planned once without and once with its fused tail, so keying on them would time it twice.
std::string measurement_key(const dnnl::convolution_forward::desc& d, const dnnl::convolution_forward::primitive_desc& direct,
                            int groups, bool spread, const dnnl::memory::desc& wino_src, const dnnl::memory::desc& wino_dst) {
  const auto& c = d.data;
  std::ostringstream os;
  put_batched_dims(os, c.src_desc.dims, c.src_desc.ndims);
  put_dims(os, c.weights_desc.dims, c.weights_desc.ndims);
  put_batched_dims(os, c.dst_desc.dims, c.dst_desc.ndims);
  const int spatial = c.src_desc.ndims - 2;
  put_dims(os, c.padding[0], spatial);
  put_dims(os, c.padding[1], spatial);
  os << (c.bias_desc.ndims > 0) << ';';
  os << (direct.src_desc() != wino_src) << (direct.dst_desc() != wino_dst);
  os << ";g" << groups << (spread ? "s" : "") << ";t" << omp_get_max_threads() << ";a" << static_cast<int>(c.alg_kind);
  return os.str();
}

std::mutex remembered_mutex;
std::map<std::string, bool>& remembered() {
  static std::map<std::string, bool> m;
  return m;
}

// The choice remembered under `key`, else measure() remembered (bounded: forgotten all at once
// at kMaxRemembered). The lock is not held while measuring.
bool remembered_or_measured(const std::string& key, const std::function<bool()>& measure) {
  {
    std::lock_guard<std::mutex> lock(remembered_mutex);
    auto it = remembered().find(key);
    if (it != remembered().end()) return it->second;
  }
  const bool choice = measure();
  timings_run.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(remembered_mutex);
  if (remembered().size() >= kMaxRemembered) remembered().clear();
  remembered()[key] = choice;
  return choice;
}

// Whether the remembered choice for `key` is known to be false (nothing to build then).
bool remembered_false(const std::string& key) {
  std::lock_guard<std::mutex> lock(remembered_mutex);
  auto it = remembered().find(key);
  return it != remembered().end() && !it->second;
}

// Both public choices: `groups` runs of the Winograd primitive against one of `direct`; the
// whole-tensor Winograd layouts are the primitive's own unless given.
std::optional<dnnl::convolution_forward::primitive_desc> choose(ConvAlgorithm policy,
                                                               const dnnl::convolution_forward::primitive_desc& direct,
                                                               const dnnl::convolution_forward::desc& winograd,
                                                               const dnnl::primitive_attr& attr, const PostOpChain& chain,
                                                               const dnnl::engine& eng, int groups, bool spread,
                                                               std::optional<dnnl::memory::desc> wino_src,
                                                               std::optional<dnnl::memory::desc> wino_dst,
                                                               double must_win = kWinogradMustWin) {
  if (policy == ConvAlgorithm::kDirect) return std::nullopt;
  dnnl::convolution_forward::primitive_desc pd;
  try {
    std::optional<OneThreadScope> one;
    if (spread) one.emplace();
    // allow_empty: no exception (and no verbose noise) where oneDNN has no Winograd kernel.
    pd = dnnl::convolution_forward::primitive_desc(winograd, attr, eng, true);
  } catch (const dnnl::error&) {
    return std::nullopt;
  }
  if (!pd) return std::nullopt;
  if (policy == ConvAlgorithm::kWinograd) return pd;
  const auto src = wino_src.value_or(pd.src_desc()), dst = wino_dst.value_or(pd.dst_desc());
  const std::string key = measurement_key(winograd, direct, groups, spread, src, dst);
  const bool faster = remembered_or_measured(key, [&] { return winograd_measured_faster(direct, pd, groups, spread, src, dst, chain, eng, must_win); });
  return faster ? std::optional(pd) : std::nullopt;
}

// The engine's own Winograd against the direct kernel, each on zero-filled buffers of its own.
bool own_winograd_measured_faster(const dnnl::convolution_forward::primitive_desc& direct, const PostOpChain& chain,
                                  const WinogradF4x3& winograd, const dnnl::engine& eng) {
  Trial d(eng);
  d.add_convolution(direct, chain);
  auto src = zeroed_trial_memory(direct.src_desc(), eng), dst = zeroed_trial_memory(direct.dst_desc(), eng);
  auto scratch = zeroed_trial_memory(dnnl::memory::desc({static_cast<dnnl::memory::dim>(winograd.scratch_bytes())},
                                                        dnnl::memory::data_type::u8, dnnl::memory::format_tag::x),
                                     eng);
  dnnl::stream s(eng);
  auto run_winograd = [&] {
    auto* out = static_cast<float*>(dst.get_data_handle());
    return milliseconds_of(
        [&] { winograd.run(static_cast<const float*>(src.get_data_handle()), out, out, static_cast<std::byte*>(scratch.get_data_handle()), s); });
  };
  return second_is_faster([&] { return d.run_ms(s); }, run_winograd, kWinogradMustWin, kRounds);
}

// What decides the engine's own Winograd's timing: shape, groups, layout block, fused tail and
// thread count.
std::string own_winograd_key(const WinogradF4x3Shape& sh, WinogradEpilogue e) {
  std::ostringstream key;
  key << "f4x3;" << batch_bucket(sh.images) << ',' << sh.channels << ',' << sh.height << ',' << sh.width << ';' << sh.outputs << ','
      << sh.out_height << ',' << sh.out_width << ';' << sh.pad_top << ',' << sh.pad_left << ";b" << sh.block << ";g" << sh.groups << ";e" << e.residual
      << e.relu << ";t" << omp_get_max_threads();
  return key.str();
}

}  // namespace

std::shared_ptr<const WinogradF4x3> own_winograd_instead(ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
                                                         const PostOpChain& chain, const WinogradF4x3Shape& shape,
                                                         WinogradEpilogue epilogue,
                                                         const std::function<std::shared_ptr<const WinogradF4x3>()>& make,
                                                         const dnnl::engine& eng) {
  if (policy == ConvAlgorithm::kDirect) return nullptr;
  if (policy == ConvAlgorithm::kWinograd) return make();
  // A session is planned several times (thread and layout races, the Winograd race): a shape
  // already timed slower is not built again, its weights not transformed again.
  const std::string key = own_winograd_key(shape, epilogue);
  if (remembered_false(key)) return nullptr;
  auto winograd = make();
  return remembered_or_measured(key, [&] { return own_winograd_measured_faster(direct, chain, *winograd, eng); }) ? winograd : nullptr;
}

std::optional<dnnl::convolution_forward::primitive_desc> winograd_instead(
    ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
    const dnnl::convolution_forward::desc& winograd, const dnnl::primitive_attr& attr, const PostOpChain& chain,
    const dnnl::engine& eng) {
  return choose(policy, direct, winograd, attr, chain, eng, 1, false, std::nullopt, std::nullopt);
}

std::optional<dnnl::convolution_forward::primitive_desc> grouped_winograd_instead(
    ConvAlgorithm policy, const dnnl::convolution_forward::primitive_desc& direct,
    const dnnl::convolution_forward::desc& one_group, int groups, bool spread_groups, const dnnl::memory::desc& whole_src,
    const dnnl::memory::desc& whole_dst, const dnnl::primitive_attr& attr, const PostOpChain& chain, const dnnl::engine& eng) {
  return choose(policy, direct, one_group, attr, chain, eng, groups, spread_groups, whole_src, whole_dst);
}

namespace {
std::optional<bool> forced_split;  // force_split_outputs_for_testing
}  // namespace

void force_split_outputs_for_testing(std::optional<bool> split) { forced_split = split; }

std::size_t winograd_timings_run() { return timings_run.load(std::memory_order_relaxed); }

std::optional<dnnl::convolution_forward::primitive_desc> split_outputs_instead(
    const dnnl::convolution_forward::primitive_desc& whole, const dnnl::convolution_forward::desc& one_part, int parts,
    const dnnl::primitive_attr& attr, const PostOpChain& chain, const dnnl::engine& eng) {
  if (forced_split) {
    if (!*forced_split) return std::nullopt;
    OneThreadScope one;
    dnnl::convolution_forward::primitive_desc pd(one_part, attr, eng, true);
    return pd ? std::optional(pd) : std::nullopt;
  }
  return choose(ConvAlgorithm::kMeasured, whole, one_part, attr, chain, eng, parts, true, whole.src_desc(), whole.dst_desc(),
                kSplitMustWin);
}

void run_groups_spread(int groups, int threads, dnnl::stream& caller, const std::function<void(int, int, dnnl::stream&)>& fn) {
  threads = std::max(1, std::min(threads, groups));
  if (threads == 1) {
    for (int g = 0; g < groups; ++g) fn(g, 0, caller);
    return;
  }
  // An exception must not leave an OpenMP region (it would terminate the process): the first
  // one is kept and thrown on the calling thread.
  std::exception_ptr failure;
  std::mutex failure_mutex;
#pragma omp parallel num_threads(threads)
  {
    try {
      const int thread = omp_get_thread_num(), team = omp_get_num_threads();
      std::optional<dnnl::stream> own;
      if (thread != 0) own.emplace(caller.get_engine());
      dnnl::stream& s = thread == 0 ? caller : *own;
      const auto [first, last] = groups_of_thread(groups, team, thread);
      for (int g = first; g < last; ++g) fn(g, thread, s);
      s.wait();
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

OneThreadScope::OneThreadScope() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
OneThreadScope::~OneThreadScope() { omp_set_num_threads(saved_); }

}  // namespace aifgen::engine

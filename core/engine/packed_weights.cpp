#include "core/engine/packed_weights.h"

#include <algorithm>
#include <atomic>

#include "core/engine/kernels/onednn_util.h"

namespace aifgen::engine {

namespace {

std::atomic<std::size_t> packs_made{0};

}  // namespace

std::shared_ptr<dnnl::memory> PackedWeights::get(const dnnl::memory::desc& from_md, const void* from, const dnnl::memory::desc& want,
                                                 const dnnl::engine& eng) {
  return get_or_pack(nullptr, from, from_md, want, eng, [&](dnnl::memory& m) { reorder_now(eng, from_md, from, m); });
}

std::shared_ptr<dnnl::memory> PackedWeights::get(const char* transform, const void* from, const dnnl::memory::desc& want,
                                                 const dnnl::engine& eng, const std::function<void(dnnl::memory&)>& fill) {
  return get_or_pack(transform, from, dnnl::memory::desc(), want, eng, fill);
}

std::shared_ptr<dnnl::memory> PackedWeights::get_or_pack(const char* transform, const void* from, const dnnl::memory::desc& from_md,
                                                         const dnnl::memory::desc& want, const dnnl::engine& eng,
                                                         const std::function<void(dnnl::memory&)>& fill) {
  {
    std::lock_guard lock(mu_);
    std::erase_if(entries_, [](const Entry& e) { return e.packed.expired(); });
    for (const auto& e : entries_)
      if (e.transform == transform && e.from == from && e.from_md == from_md && e.want == want)
        if (auto live = e.packed.lock()) return live;
  }
  // Packed outside the lock: two plans made at once for the same weights may both pack them
  // (each then runs on its own copy), which is rarer and cheaper than serializing every pack.
  auto packed = pack_weights(want, eng, fill);
  std::lock_guard lock(mu_);
  entries_.push_back(Entry{transform, from, from_md, want, packed});
  return packed;
}

std::shared_ptr<dnnl::memory> pack_weights(const dnnl::memory::desc& want, const dnnl::engine& eng,
                                           const std::function<void(dnnl::memory&)>& fill) {
  auto packed = std::make_shared<dnnl::memory>(want, eng);
  fill(*packed);
  packs_made.fetch_add(1, std::memory_order_relaxed);
  return packed;
}

std::size_t weight_packs() { return packs_made.load(std::memory_order_relaxed); }

}  // namespace aifgen::engine

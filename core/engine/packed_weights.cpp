#include "core/engine/packed_weights.h"

#include <algorithm>
#include <atomic>

#include "core/engine/kernels/onednn_util.h"

namespace aifgen::engine {

namespace {

std::atomic<std::size_t> packs_made{0};

// The live packed memory of the entry with this key, or null (expired entries dropped).
template <typename Entries, typename Same>
std::shared_ptr<dnnl::memory> live_entry(Entries& entries, const Same& same) {
  std::erase_if(entries, [](const auto& e) { return e.packed.expired(); });
  for (const auto& e : entries)
    if (same(e))
      if (auto live = e.packed.lock()) return live;
  return nullptr;
}

}  // namespace

std::shared_ptr<dnnl::memory> PackedWeights::get(const dnnl::memory::desc& from_md, const void* from, const dnnl::memory::desc& want,
                                                 const dnnl::engine& eng) {
  {
    std::lock_guard lock(mu_);
    if (auto live = live_entry(entries_, [&](const Entry& e) {
          return !e.transform && e.from == from && e.from_md == from_md && e.want == want;
        }))
      return live;
  }
  // Packed outside the lock: two plans made at once for the same weights may both pack them
  // (each then runs on its own copy), which is rarer and cheaper than serializing every pack.
  auto packed = pack_weights(want, eng, [&](dnnl::memory& m) { reorder_now(eng, from_md, from, m); });
  std::lock_guard lock(mu_);
  entries_.push_back(Entry{nullptr, from, from_md, want, packed});
  return packed;
}

std::shared_ptr<dnnl::memory> PackedWeights::get(const char* transform, const void* from, const dnnl::memory::desc& want,
                                                 const dnnl::engine& eng, const std::function<void(dnnl::memory&)>& fill) {
  {
    std::lock_guard lock(mu_);
    if (auto live = live_entry(entries_, [&](const Entry& e) { return e.transform == transform && e.from == from && e.want == want; }))
      return live;
  }
  auto packed = pack_weights(want, eng, fill);
  std::lock_guard lock(mu_);
  entries_.push_back(Entry{transform, from, dnnl::memory::desc(), want, packed});
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

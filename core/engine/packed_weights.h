// Constant weights packed into a primitive's layout, shared by every live plan that wants the
// same weights in the same layout. The dynamic tail plans a node again for each new set of input
// shapes it has not kept a plan for: an R-CNN's mask or keypoint head for each new number of
// detections. Its weights do not change with that number, and the layout oneDNN wants for them
// rarely does, yet each new plan packed them again: four 256-channel 3x3 convolutions on 25-40
// detections ran 58 ms a run when the count repeated and 139 ms when it changed every run, most
// of the difference the weights' reorder and the fresh pages it wrote (bench/tail_replan.sh).
#pragma once

#include <dnnl.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace aifgen::engine {

class PackedWeights {
 public:
  // `from` read as `from_md`, reordered into `want`: the memory a live plan already holds for
  // the same source bytes and descriptors, or a new one. `from` must stay valid and unchanged
  // for as long as this cache lives (the dynamic tail's constants do). The cache holds no
  // packed memory itself: what no plan holds any more is freed, and packed again if asked for.
  std::shared_ptr<dnnl::memory> get(const dnnl::memory::desc& from_md, const void* from, const dnnl::memory::desc& want,
                                    const dnnl::engine& eng);
  // The same for weights transformed before packing (the engine's Winograd packs the products of
  // its weight transform): `fill` writes the packed bytes of `want` from the weights at `from`;
  // `transform` names what it computes, so that two transforms of the same weights into the same
  // layout are told apart (a static string: compared by address).
  std::shared_ptr<dnnl::memory> get(const char* transform, const void* from, const dnnl::memory::desc& want, const dnnl::engine& eng,
                                    const std::function<void(dnnl::memory&)>& fill);

 private:
  // Both get()s: the live entry with this key, or `fill` into a new one.
  std::shared_ptr<dnnl::memory> get_or_pack(const char* transform, const void* from, const dnnl::memory::desc& from_md,
                                            const dnnl::memory::desc& want, const dnnl::engine& eng,
                                            const std::function<void(dnnl::memory&)>& fill);
  struct Entry {
    const char* transform;  // nullptr: a reorder from from_md (empty for a transform)
    const void* from;
    dnnl::memory::desc from_md, want;
    std::weak_ptr<dnnl::memory> packed;
  };
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // a handful per tail node: linear search
};

// New memory of `want` that `fill` writes: weights packed for one plan (and counted).
std::shared_ptr<dnnl::memory> pack_weights(const dnnl::memory::desc& want, const dnnl::engine& eng,
                                           const std::function<void(dnnl::memory&)>& fill);

// How many times constant weights were packed in this process, shared or not (tests count the
// packs that planning makes).
std::size_t weight_packs();

}  // namespace aifgen::engine

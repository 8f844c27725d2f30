// Which layout the activations of float convolution chains take (SessionOptions). oneDNN picks
// each convolution's output layout from its input's; a convolution that reads a plain tensor
// (the graph's input) is free, and on AVX-512 oneDNN picks NHWC there, so every convolution after
// it writes NHWC too. That suits ResNets and the NHWC-aware channel ops (Concat, Split, Slice,
// shuffles), but a grouped convolution whose groups are 16 channels wide has its fast kernel only
// for nChw16c, and every NHWC value it reads is reordered first: regnet_x_800mf spent 0.7 of
// 9.7 ms at 1 thread in those reorders, and started blocked it ran 4% faster; squeezenet1_1,
// googlenet and mnasnet1_0 started blocked ran 3-6% slower. Which one wins depends on the
// network, so by default a plan with such conversions races the blocked one (Session).
#pragma once

#include <optional>
#include <string>

namespace aifgen::engine {

enum class ActivationLayout {
  kMeasured,  // oneDNN's picks; where they convert between layouts, the blocked plan too, the faster kept
  kOneDnn,    // oneDNN's picks everywhere
  kBlocked,   // convolutions reading a plain tensor write nChw16c (nChw8c on AVX2) where oneDNN has
              // as good a kernel for it, so the chain after them runs blocked
};

// "measured", "onednn" or "blocked" (`aifgen bench --activation-layout`); nullopt otherwise.
inline std::optional<ActivationLayout> parse_activation_layout(const std::string& name) {
  if (name == "measured") return ActivationLayout::kMeasured;
  if (name == "onednn") return ActivationLayout::kOneDnn;
  if (name == "blocked") return ActivationLayout::kBlocked;
  return std::nullopt;
}

}  // namespace aifgen::engine

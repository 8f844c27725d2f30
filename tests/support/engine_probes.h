// What engine tests ask of a planned session and of the CPU it was planned on.
#pragma once

#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/engine/session.h"

namespace aifgen::testing {

// Reorder steps per inference of a profiled session (SessionOptions::profile).
inline std::int64_t reorder_calls(const engine::Session& s) {
  for (const auto& p : s.profile())
    if (p.op == "Reorder") return p.calls;
  return 0;
}

// OpenMP's thread count set for a scope, the caller's restored after it: a node evaluated alone
// (evaluate_node) runs with the calling thread's count, as the dynamic tail's nodes do.
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int threads) : before_(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~ScopedOmpThreads() { omp_set_num_threads(before_); }
  ScopedOmpThreads(const ScopedOmpThreads&) = delete;
  ScopedOmpThreads& operator=(const ScopedOmpThreads&) = delete;

 private:
  int before_;
};

// Whether oneDNN runs its AVX-512 kernels here (not on AVX2-only CPUs or under
// DNNL_MAX_CPU_ISA=AVX2): then its float convolutions write NHWC, and it has Winograd kernels.
inline bool onednn_uses_avx512() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto avx512 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
  return (isa & avx512) == avx512;
}

// Channels per block of the blocked layout the engine plans here (ActivationLayout::kBlocked):
// nChw16c with oneDNN's AVX-512 kernels, nChw8c below.
inline std::int64_t onednn_channel_block() { return onednn_uses_avx512() ? 16 : 8; }

// The largest difference between two float tensors of one shape, relative to the largest
// magnitude of `want` (engine results compared with a reference plan's).
inline double relative_difference(const engine::Tensor& got, const engine::Tensor& want) {
  double diff = 0, scale = 1e-30;
  for (std::int64_t i = 0; i < want.numel(); ++i) {
    diff = std::max(diff, static_cast<double>(std::abs(got.as<float>()[i] - want.as<float>()[i])));
    scale = std::max(scale, static_cast<double>(std::abs(want.as<float>()[i])));
  }
  return diff / scale;
}

// The first output of one run of `model` with `threads` threads on a single input of `shape`,
// uniform in [-1, 1) from `seed`.
inline std::vector<float> run_once(const onnx::ModelProto& model, int threads, const engine::Shape& shape, unsigned seed) {
  engine::SessionOptions o;
  o.threads = threads;
  engine::Session s(model, o);
  engine::Tensor in = engine::Tensor::allocate(engine::DType::kF32, shape);
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (std::int64_t i = 0; i < in.numel(); ++i) in.as<float>()[i] = d(gen);
  auto out = s.run({in});
  return {out[0].as<float>(), out[0].as<float>() + out[0].numel()};
}

// Nodes of type `op` in `m`'s graph.
inline int count_ops(const onnx::ModelProto& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph().node()) n += node.op_type() == op;
  return n;
}

// A float32 tensor of `shape` holding `values`, and a tensor's values back as a vector.
inline engine::Tensor float_tensor_of(const engine::Shape& shape, const std::vector<float>& values) {
  auto t = engine::Tensor::allocate(engine::DType::kF32, shape);
  std::copy(values.begin(), values.end(), t.as<float>());
  return t;
}
inline std::vector<float> floats_in(const engine::Tensor& t) { return {t.as<float>(), t.as<float>() + t.numel()}; }
inline std::vector<std::int64_t> int64s_in(const engine::Tensor& t) {
  return {t.as<std::int64_t>(), t.as<std::int64_t>() + t.numel()};
}

}  // namespace aifgen::testing

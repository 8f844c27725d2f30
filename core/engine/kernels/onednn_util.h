// Small helpers for building oneDNN memory descriptors over the engine's row-major tensors.
#pragma once

#include <dnnl.hpp>

#include "core/engine/tensor.h"

namespace aifgen::engine {

inline dnnl::memory::dims to_dims(const Shape& s) { return dnnl::memory::dims(s.begin(), s.end()); }

inline dnnl::memory::dims row_major(const dnnl::memory::dims& d) {
  dnnl::memory::dims st(d.size(), 1);
  for (std::size_t i = d.size(); i-- > 1;) st[i - 1] = st[i] * d[i];
  return st;
}

// A plain (row-major) f32 descriptor of `dims`.
inline dnnl::memory::desc plain_f32(const dnnl::memory::dims& d) {
  return dnnl::memory::desc(d, dnnl::memory::data_type::f32, row_major(d));
}

inline dnnl::memory wrap(const dnnl::memory::desc& md, const dnnl::engine& eng, const void* p) {
  return dnnl::memory(md, eng, const_cast<void*>(p));
}

}  // namespace aifgen::engine

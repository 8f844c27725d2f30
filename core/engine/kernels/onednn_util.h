// Small helpers for building oneDNN memory descriptors over the engine's row-major tensors.
#pragma once

#include <dnnl.hpp>
#include <unordered_map>
#include <vector>

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

// Every primitive gets a user-provided scratchpad. Debian's oneDNN is built without
// DNNL_ENABLE_CONCURRENT_EXEC, so library-managed scratchpads are shared between primitives and
// concurrent Session::run calls corrupt each other's results; each run passes its own region.
inline dnnl::primitive_attr scratchpad_attr(dnnl::primitive_attr a = dnnl::primitive_attr()) {
  a.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return a;
}

inline dnnl::memory wrap(const dnnl::memory::desc& md, const dnnl::engine& eng, const void* p);

// Reorders `from` into `to` now, with its own scratchpad (plan-time weight prepacking).
inline void reorder_now(const dnnl::engine& eng, const dnnl::memory::desc& from_md, const void* from, dnnl::memory& to) {
  dnnl::reorder::primitive_desc pd(eng, from_md, eng, to.get_desc(), scratchpad_attr());
  std::vector<std::byte> scratch(pd.scratchpad_desc().get_size() + 1);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, dnnl::memory(from_md, eng, const_cast<void*>(from))}, {DNNL_ARG_TO, to}};
  if (pd.scratchpad_desc().get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(pd.scratchpad_desc(), eng, scratch.data()));
  dnnl::stream s(eng);
  dnnl::reorder(pd).execute(s, args);
  s.wait();
}

inline dnnl::memory wrap(const dnnl::memory::desc& md, const dnnl::engine& eng, const void* p) {
  return dnnl::memory(md, eng, const_cast<void*>(p));
}

}  // namespace aifgen::engine

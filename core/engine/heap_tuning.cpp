#include "core/engine/heap_tuning.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace aifgen::engine {

bool keep_freed_heap_for_repeated_runs() {
#if defined(__GLIBC__)
  // Setting either fixes both thresholds where they are set: glibc stops moving them itself.
  return mallopt(M_MMAP_THRESHOLD, static_cast<int>(kDirectlyMappedBytes)) == 1 &&
         mallopt(M_TRIM_THRESHOLD, static_cast<int>(kKeptHeapBytes)) == 1;
#else
  return false;
#endif
}

}  // namespace aifgen::engine

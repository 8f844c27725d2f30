// How this process's malloc keeps memory between inference runs.
//
// Each run of a model with a dynamic tail (dynamic_tail.h) frees and allocates again the same
// values and scratch vectors. glibc returns freed memory at the top of its heap to the system
// once more than 128 KiB is free there (raised as it sees large frees), so some runs took it
// back page by page: SSDlite at one thread ran 28 ms most times and 70-95 ms every few runs,
// in the same iterations of every process (60 runs: 93,000 page faults against 28,000).
// ONNX Runtime keeps its own arena and does not see this.
#pragma once

#include <cstddef>

namespace aifgen::engine {

// Freed heap memory up to this much stays with the process for the next run.
inline constexpr std::size_t kKeptHeapBytes = std::size_t{128} << 20;
// Blocks at least this large come from (and go back to) the system directly: the largest
// threshold glibc would pick itself on a 64-bit machine.
inline constexpr std::size_t kDirectlyMappedBytes = std::size_t{32} << 20;

// Sets both for the whole process with glibc's mallopt, once, early in main before threads
// start. Returns whether malloc took them (false without glibc, where it does nothing).
bool keep_freed_heap_for_repeated_runs();

}  // namespace aifgen::engine

// This machine for benchmark rows (CPU model, core count), and how many of its cores a job's
// passes may use.
#pragma once

#include <string>

namespace aifgen {

std::string host_description();

// Threads for a job's pass probes (VariantRequest::threads) when `jobs_at_once` jobs may run
// side by side: an even share of the logical CPUs, at least 1 and at most 8 (a batch-1 probe
// gains little beyond that). Shares, not all cores each: OpenMP teams of two jobs on the same
// cores wait on each other's spinning threads.
int job_threads(int jobs_at_once);

}  // namespace aifgen

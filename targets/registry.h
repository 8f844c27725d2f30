// The list of hardware targets this build of aifgen offers.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "targets/target.h"

namespace aifgen {

const std::vector<const Target*>& all_targets();
// nullptr when unknown.
const Target* find_target(const std::string& id);

// Expands a job request into (target, precision) pairs: every combination of `targets` x
// `precisions`, or, when `precisions` is empty, every precision each target supports.
// Throws Error(kUnprocessable, "unsupported-target-precision") naming the invalid pairs, with
// allowed() listing every valid "target/precision".
std::vector<std::pair<std::string, std::string>> expand_requests(const std::vector<std::string>& targets,
                                                                 const std::vector<std::string>& precisions);

// The same for an explicit list of "target/precision" pairs (the job request's `variants`), for
// choices that are not a cross product (x86_64-cpu/fp32 with nvidia-jetson/int8). Duplicates
// collapse; the same errors as above.
std::vector<std::pair<std::string, std::string>> expand_pairs(const std::vector<std::string>& variants);

// Throws Error(kUnprocessable, "target-cannot-run-model") listing, per target, the ops it cannot
// run, when any of `targets` cannot run a model with this op census (partial support passes).
void check_targets_can_run(const std::vector<std::string>& targets, const std::map<std::string, std::int64_t>& op_census);

}  // namespace aifgen

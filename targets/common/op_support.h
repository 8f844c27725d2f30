// Op-support tables: which ONNX ops a target's runtime executes, and what happens to the rest.
#pragma once

#include <map>
#include <set>
#include <string>

#include "targets/target.h"

namespace aifgen {

enum class Fallback {
  kNone,  // an op outside the table makes the model unrunnable on the target
  kCpu,   // ops outside the table run on the host CPU (graph partitioning, e.g. Vitis AI)
};

// Compares a model's op census ("Op", or "domain::Op" outside the default domain) with the
// default-domain ops in `native`.
TargetSupport assess_support(const std::map<std::string, std::int64_t>& census, const std::set<std::string>& native,
                             Fallback fallback, const std::string& runtime);

}  // namespace aifgen

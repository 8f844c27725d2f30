#include "targets/common/op_support.h"

namespace aifgen {

TargetSupport assess_support(const std::map<std::string, std::int64_t>& census, const std::set<std::string>& native,
                             Fallback fallback, const std::string& runtime) {
  TargetSupport s;
  for (const auto& [op, count] : census) {
    // Structural ops that runtimes drop at import count as native.
    if (native.count(op) || op == "Constant" || op == "Identity") {
      s.native_nodes += count;
    } else if (fallback == Fallback::kCpu) {
      s.fallback_ops[op] += count;
      s.fallback_nodes += count;
    } else {
      s.unsupported_ops[op] += count;
    }
  }
  auto list = [](const std::map<std::string, std::int64_t>& ops) {
    std::string out;
    for (const auto& [op, n] : ops) out += (out.empty() ? "" : ", ") + op + " x" + std::to_string(n);
    return out;
  };
  if (!s.unsupported_ops.empty()) {
    s.verdict = "unsupported";
    s.summary = runtime + " cannot run " + list(s.unsupported_ops);
  } else if (!s.fallback_ops.empty()) {
    s.verdict = "partial";
    s.summary = std::to_string(s.native_nodes) + " nodes on " + runtime + ", " + std::to_string(s.fallback_nodes) +
                " on the CPU (" + list(s.fallback_ops) + ")";
  } else {
    s.verdict = "native";
    s.summary = "all " + std::to_string(s.native_nodes) + " nodes run on " + runtime;
  }
  return s;
}

}  // namespace aifgen

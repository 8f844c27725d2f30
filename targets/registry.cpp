// One line per target. Only targets whose pipeline and packager are implemented are listed:
// the registry is the truth about what a job can ask for.
#include "targets/registry.h"

#include <algorithm>

#include "core/base/error.h"

namespace aifgen {

const Target& x86_64_cpu_target();
const Target& arm64_cpu_target();
const Target& nvidia_gpu_target();
const Target& nvidia_jetson_target();
const Target& xilinx_alveo_target();
const Target& xilinx_zynq_target();

const std::vector<const Target*>& all_targets() {
  static const std::vector<const Target*> targets = {
      &x86_64_cpu_target(),   &arm64_cpu_target(),    &nvidia_gpu_target(),
      &nvidia_jetson_target(), &xilinx_alveo_target(), &xilinx_zynq_target(),
  };
  return targets;
}

const Target* find_target(const std::string& id) {
  for (const auto* t : all_targets())
    if (t->descriptor().id == id) return t;
  return nullptr;
}

void check_targets_can_run(const std::vector<std::string>& targets, const std::map<std::string, std::int64_t>& op_census) {
  std::vector<std::string> problems;
  for (const auto& id : targets) {
    const Target* t = find_target(id);
    if (!t) continue;  // expand_requests reports unknown targets
    auto s = t->assess(op_census);
    if (s.verdict == "unsupported") problems.push_back(id + ": " + s.summary);
  }
  if (problems.empty()) return;
  std::string msg;
  for (const auto& p : problems) msg += (msg.empty() ? "" : "; ") + p;
  throw Error(ErrorCode::kUnprocessable, "target-cannot-run-model", "the model cannot run on every requested target: " + msg, problems);
}

namespace {

std::vector<std::string> valid_pairs() {
  std::vector<std::string> valid;
  for (const auto* t : all_targets())
    for (const auto& p : t->descriptor().precisions) valid.push_back(t->descriptor().id + "/" + p);
  return valid;
}

// The (target, precision) pairs of a request in order, each once, and what it names wrongly.
struct Requested {
  std::vector<std::pair<std::string, std::string>> pairs;
  std::vector<std::string> invalid;

  void add(const Target& t, const std::string& precision) {
    const auto& id = t.descriptor().id;
    const auto& supported = t.descriptor().precisions;
    if (std::find(supported.begin(), supported.end(), precision) == supported.end()) invalid.push_back(id + "/" + precision);
    else if (std::find(pairs.begin(), pairs.end(), std::pair{id, precision}) == pairs.end()) pairs.emplace_back(id, precision);
  }
  void unknown_target(const std::string& named) { invalid.push_back(named + " (unknown target)"); }

  std::vector<std::pair<std::string, std::string>> checked(const char* when_empty) && {
    if (!invalid.empty()) {
      std::string list;
      for (const auto& s : invalid) list += (list.empty() ? "" : ", ") + s;
      throw Error(ErrorCode::kUnprocessable, "unsupported-target-precision",
                  "not available: " + list + "; see 'allowed' for what this service can build", valid_pairs());
    }
    if (pairs.empty()) throw Error(ErrorCode::kInvalidArgument, "no-variants-requested", when_empty, valid_pairs());
    return std::move(pairs);
  }
};

}  // namespace

std::vector<std::pair<std::string, std::string>> expand_pairs(const std::vector<std::string>& variants) {
  Requested r;
  for (const auto& v : variants) {
    const auto slash = v.find('/');
    const Target* t = find_target(v.substr(0, slash));
    if (!t) r.unknown_target(v);
    else r.add(*t, slash == std::string::npos ? "" : v.substr(slash + 1));
  }
  return std::move(r).checked("the request names no variant");
}

std::vector<std::pair<std::string, std::string>> expand_requests(const std::vector<std::string>& targets,
                                                                 const std::vector<std::string>& precisions) {
  Requested r;
  for (const auto& tid : targets) {
    const Target* t = find_target(tid);
    if (!t) {
      r.unknown_target(tid);
      continue;
    }
    for (const auto& p : precisions.empty() ? t->descriptor().precisions : precisions) r.add(*t, p);
  }
  return std::move(r).checked("the request names no target");
}

}  // namespace aifgen

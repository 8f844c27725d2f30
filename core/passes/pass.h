// A graph pass: one rewrite of an ONNX model, in place, reporting what it changed.
//
// Passes work on onnx::ModelProto directly. Each pass lives in its own file under core/passes/
// and is registered by name in pass_manager.cpp; a target's pipeline is a list of those names,
// each with its options (e.g. {"quantize_int8", {{"scheme", "pow2"}}}).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace aifgen {

struct CalibrationSet;
namespace quantize {
class StatsCache;
}

// What a pass changed, e.g. {"nodes_removed": 3}. Keys are stable; zero counts are kept so a
// report shows the pass ran and found nothing.
using PassCounts = std::map<std::string, std::int64_t>;

// A pass's options as strings; each pass parses and checks its own and refuses unknown names.
using PassOptions = std::map<std::string, std::string>;

struct PassSpec {
  std::string name;
  PassOptions options;
  PassSpec(const char* n) : name(n) {}  // NOLINT: pipelines are written as lists of names
  PassSpec(std::string n, PassOptions o = {}) : name(std::move(n)), options(std::move(o)) {}
};

// What passes may use beyond the model itself.
struct PassEnv {
  // Samples for calibrating quantization; null means none was given (synthetic inputs).
  const CalibrationSet* calibration = nullptr;
  // Activation statistics shared by the int8 variants of one job (their graphs are the same up
  // to the quantization scheme); null: computed every time.
  quantize::StatsCache* stats_cache = nullptr;
  // What a long pass is doing now ("sensitivity 12/47"), for job progress and the CLI; may be
  // empty. Called from the pass's worker threads, one call at a time.
  std::function<void(const std::string&)> progress;
  // Cores the pass's own engine runs may use at once (the probes that observe activations for
  // calibration, equalization and fp16 range checks): the job's share of the host. What the
  // passes compute does not depend on it.
  int threads = 1;
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string name() const = 0;
  // Rewrites `model`. Throws Error when the model cannot be processed.
  virtual PassCounts run(onnx::ModelProto& model) = 0;
  // Anything beyond counts worth keeping in the variant's report (quantization ranges, the
  // calibration source); null when there is nothing.
  virtual nlohmann::json details() const { return nullptr; }
};

}  // namespace aifgen

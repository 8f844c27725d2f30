// Runs a named list of passes over a model and records, per pass, its counts and wall time.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/passes/pass.h"

namespace aifgen {

struct PassRecord {
  std::string name;
  PassCounts counts;
  double millis = 0;
};

// Known pass names, in registry order.
std::vector<std::string> registered_passes();

// Creates the pass called `name`. Throws Error(kInvalidArgument, "unknown-pass").
std::unique_ptr<Pass> make_pass(const std::string& name);

// Runs `pipeline` in order. `before_each(i)` is called before pass i (progress, cancellation);
// it may throw to stop the run. The model is validated by the ONNX checker after the last pass,
// so a buggy pass cannot produce an invalid variant silently.
std::vector<PassRecord> run_pipeline(onnx::ModelProto& model, const std::vector<std::string>& pipeline,
                                     const std::function<void(std::size_t)>& before_each = {});

}  // namespace aifgen

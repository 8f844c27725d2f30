// Runs a list of passes (with options) over a model and records, per pass, its counts and time.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/passes/pass.h"

namespace aifgen {

struct PassRecord {
  std::string name;
  PassOptions options;
  PassCounts counts;
  double millis = 0;
  nlohmann::json details;  // Pass::details(), null when none
};

// Known pass names, in registry order.
std::vector<std::string> registered_passes();

// Creates the pass `spec.name` with its options. Throws Error(kInvalidArgument, "unknown-pass")
// or (kInvalidArgument, "bad-pass-option").
std::unique_ptr<Pass> make_pass(const PassSpec& spec, const PassEnv& env = {});

// Runs `pipeline` in order. `before_each(i)` is called before pass i (progress, cancellation);
// it may throw to stop the run. The model is validated by the ONNX checker after the last pass,
// so a buggy pass cannot produce an invalid variant silently.
std::vector<PassRecord> run_pipeline(onnx::ModelProto& model, const std::vector<PassSpec>& pipeline,
                                     const PassEnv& env = {}, const std::function<void(std::size_t)>& before_each = {});

// Throws Error(kInvalidArgument, "bad-pass-option") naming the first option not in `known`.
void check_pass_options(const std::string& pass, const PassOptions& options, std::initializer_list<const char*> known);

}  // namespace aifgen

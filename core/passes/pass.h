// A graph pass: one rewrite of an ONNX model, in place, reporting what it changed.
//
// Passes work on onnx::ModelProto directly. Each pass lives in its own file under core/passes/
// and is registered by name in pass_registry.cpp; a target's pipeline is a list of those names.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace aifgen {

// What a pass changed, e.g. {"nodes_removed": 3}. Keys are stable; zero counts are kept so a
// report shows the pass ran and found nothing.
using PassCounts = std::map<std::string, std::int64_t>;

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string name() const = 0;
  // Rewrites `model`. Throws Error when the model cannot be processed.
  virtual PassCounts run(onnx::ModelProto& model) = 0;
};

}  // namespace aifgen

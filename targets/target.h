// A hardware target: what it is (descriptor), how a model becomes a variant for it (pipeline),
// and how the variant is packaged into a deployable bundle.
//
// Adding a target is one folder under targets/ implementing this interface plus one line in
// targets/registry.cpp.
#pragma once

#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "core/passes/pass_manager.h"

namespace aifgen {

struct TargetDescriptor {
  std::string id;          // "x86_64-cpu"
  std::string hardware;    // for people: "Intel/AMD x86-64 servers"
  std::string runtime;     // what runs the bundle
  std::vector<std::string> precisions;  // the precisions this build of aifgen can produce
  std::string int8_scheme; // empty when int8 is not offered
  // True when the service host itself can run the variant natively (so it is benchmarked
  // locally); false for accelerators, whose numbers come from field reports.
  bool runs_on_service_host = false;
};

// Everything a packager needs to write a bundle.
struct VariantBuild {
  std::string variant_id;
  std::string source_model_id;
  std::string source_model_name;
  std::string target;
  std::string precision;
  std::vector<PassRecord> passes;
  std::int64_t source_bytes = 0;
  std::int64_t variant_model_bytes = 0;
  double optimize_ms = 0;
  // JSON object text merged into variant.json (validation, benchmarks); may be empty.
  std::string report_json;
  std::string aifgen_version;
  std::string created_at;
};

class Target {
 public:
  virtual ~Target() = default;
  virtual const TargetDescriptor& descriptor() const = 0;
  // Pass names to run for `precision` (one of descriptor().precisions).
  virtual std::vector<PassSpec> pipeline(const std::string& precision) const = 0;
  // Writes the bundle (.tar.gz) to `out_path` and returns the variant manifest (variant.json
  // text) that it put inside. Throws Error(kIo).
  virtual std::string package(const onnx::ModelProto& model, const VariantBuild& build,
                              const std::string& out_path) const = 0;
};

}  // namespace aifgen

// A hardware target: what it is (descriptor), which ops it runs (op-support table), how a model
// becomes a variant for it (pipeline), and how the variant is packaged into a deployable bundle.
//
// Adding a target is one folder under targets/ implementing this interface plus one line in
// targets/registry.cpp.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/passes/pass_manager.h"

namespace aifgen {

struct TargetDescriptor {
  std::string id;               // "x86_64-cpu"
  std::string hardware;         // for people: "Intel/AMD x86-64 servers"
  std::string runtime;          // what runs the bundle
  std::string runtime_version;  // the version the bundle is written for
  std::vector<std::string> precisions;  // the precisions this build of aifgen can produce
  std::string int8_scheme;      // empty when int8 is not offered
  // True when the service host itself can run the variant natively (so it is benchmarked
  // locally); false for accelerators, whose numbers come from field reports and whose
  // validation is an emulation on the CPU engine.
  bool runs_on_service_host = false;
  // How far this target's bundles have been checked: "executed" (aifgen's tests run the bundle's
  // runtime), "reference-checked" (files held against the vendor's documents, schemas and
  // flags; never run on the hardware by aifgen's tests).
  std::string verification = "reference-checked";
  // The vendor documents and releases the bundle follows, and what they do not cover.
  std::vector<std::string> references;
};

// How a target handles a model's ops: nodes it runs natively, nodes that fall back to the CPU
// (Vitis AI partitions the graph), and ops it cannot run at all.
struct TargetSupport {
  std::string verdict;  // "native" | "partial" (some nodes on the CPU) | "unsupported"
  std::int64_t native_nodes = 0, fallback_nodes = 0;
  std::map<std::string, std::int64_t> fallback_ops;     // op -> nodes run on the CPU
  std::map<std::string, std::int64_t> unsupported_ops;  // op -> nodes the target cannot run
  std::string summary;                                  // one line for people
};

// One input's shape range for an engine built ahead of time (TensorRT's optimization profile):
// full shapes, batch dim included; min <= opt <= max element by element.
struct ShapeRange {
  std::vector<std::int64_t> min, opt, max;
};
using ShapeProfiles = std::map<std::string, ShapeRange>;  // input name -> range

// Kubernetes extended resources the manifests request. Defaults are the names the upstream
// device plugins register; empty = request none (see each target's README for why).
struct DeviceResources {
  std::string gpu = "nvidia.com/gpu";  // NVIDIA k8s-device-plugin (datacenter and Jetson)
  std::string fpga;                    // no upstream plugin covers the DPU boards aifgen targets
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
  double optimize_ms = 0, validate_ms = 0, benchmark_ms = 0;
  // JSON object text merged into variant.json (validation, benchmarks); may be empty.
  std::string report_json;
  std::string aifgen_version;
  std::string created_at;
  std::string runtime_image = "aifgen:latest";  // the image the project's Dockerfile builds
  ShapeProfiles shape_profiles;                 // the job's `shape_profiles` option (may be empty)
  // One calibration sample's shape per input (batch 1), when the job has a calibration set: the
  // size real inputs have, so engines are tuned for it.
  std::map<std::string, std::vector<std::int64_t>> sample_shapes;
  DeviceResources resources;
};

class Target {
 public:
  virtual ~Target() = default;
  virtual const TargetDescriptor& descriptor() const = 0;
  // The model's op census ("Op" or "domain::Op" -> node count) against the op-support table.
  virtual TargetSupport assess(const std::map<std::string, std::int64_t>& op_census) const = 0;
  // Pass names to run for `precision` (one of descriptor().precisions).
  virtual std::vector<PassSpec> pipeline(const std::string& precision) const = 0;
  // Writes the bundle (.tar.gz) to `out_path` and returns the variant manifest (variant.json
  // text) that it put inside. Throws Error(kIo).
  virtual std::string package(const onnx::ModelProto& model, const VariantBuild& build,
                              const std::string& out_path) const = 0;
};

}  // namespace aifgen

// Loading, validating and saving ONNX models.
//
// Everything that reads untrusted model bytes goes through load_model_file(): the protobuf parser
// runs with an explicit byte limit and recursion limit, and accept_model() refuses what the
// service cannot handle safely (external data) before the ONNX checker and strict shape
// inference run. All failures are Error(kInvalidModel) with a stable type slug.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>

namespace aifgen {

struct ModelLimits {
  // Protobuf's own ceiling for one message (2 GiB - 1). The service's policy is its upload limit
  // (--max-upload-mb), checked when a model arrives; local files (the CLI) and stored models
  // (jobs, calibration) are read up to what protobuf can parse, so a model the service accepted
  // is never refused later, and ViT-L/16 (1.2 GB) runs from the CLI.
  std::uint64_t max_bytes = 0x7fffffffu;
  int max_recursion = 64;                  // protobuf nesting the parser accepts
  std::int64_t max_nodes = 200000;         // nodes over the whole model, subgraphs included
  int max_subgraph_depth = 8;              // If/Loop/Scan bodies inside bodies
  // Largest element count any declared shape (inputs, outputs, value_info) may have.
  std::int64_t max_declared_elements = std::int64_t(1) << 34;
};

// Parses a serialized ModelProto from `path`. Throws Error(kInvalidModel, "model-parse-failed")
// on truncated or non-protobuf bytes, Error(kTooLarge) when over limits.max_bytes.
onnx::ModelProto load_model_file(const std::string& path, const ModelLimits& limits = {});

// Checks that a parsed ModelProto is a self-contained, valid ONNX model, then runs ONNX shape
// inference on it in place. Throws Error(kInvalidModel) with types:
//   not-an-onnx-model, model-too-complex, model-external-data, model-checker-failed,
//   model-invalid-node, model-shape-inference-failed.
void accept_model(onnx::ModelProto& model, const ModelLimits& limits = {});

// Writes the model atomically enough for a build directory (plain write; the artifact store
// does the durable rename). Throws Error(kIo).
void save_model_file(const onnx::ModelProto& model, const std::string& path);

// Clears value_info and recomputes it with strict ONNX shape inference (data propagation on;
// type checks when `check_types`). Throws Error(kInvalidModel, "model-shape-inference-failed").
void reinfer_shapes(onnx::ModelProto& model, bool check_types = true);

// Opset version the model imports for the default ONNX domain ("" or "ai.onnx"), 0 if none.
std::int64_t default_opset(const onnx::ModelProto& model);

}  // namespace aifgen

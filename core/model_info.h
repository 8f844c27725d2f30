// What `aifgen inspect` and `POST /v1/models` report about a model: IO, opsets, op census,
// parameter count and multiply-accumulate count. Pure function of an accepted ModelProto.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace aifgen {

// One dimension of a tensor shape: a fixed size, a symbolic name ("batch"), or unknown.
using Dim = std::variant<std::int64_t, std::string, std::monostate>;

struct TensorInfo {
  std::string name;
  std::string dtype;          // "float32", ...
  std::vector<Dim> shape;     // empty with has_shape=false when the rank is unknown
  bool has_shape = true;
};

struct ModelInfo {
  std::int64_t ir_version = 0;
  std::map<std::string, std::int64_t> opset_imports;  // domain ("" = ai.onnx) -> version
  std::string producer_name;
  std::string producer_version;
  std::string graph_name;
  std::vector<TensorInfo> inputs;   // graph inputs that are not initializers
  std::vector<TensorInfo> outputs;
  std::map<std::string, std::int64_t> op_census;  // "domain::Op" for non-default domains
  std::int64_t node_count = 0;
  std::int64_t parameter_count = 0;  // elements of initializers + floating Constant tensors
  std::int64_t macs = 0;             // Conv/Gemm/MatMul multiply-accumulates at batch 1
  // Conv/Gemm/MatMul nodes whose shapes stayed unknown at batch 1 (their MACs are not in `macs`).
  std::int64_t macs_unknown_nodes = 0;
};

// REQUIRES: `model` passed accept_model() (checked, shapes inferred).
ModelInfo inspect_model(const onnx::ModelProto& model);

}  // namespace aifgen

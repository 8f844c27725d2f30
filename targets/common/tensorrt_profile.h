// TensorRT's optimization profile and Triton's batching for one model, decided once so that
// config.pbtxt, the trtexec command line and variant.json always agree.
//
// TensorRT builds an engine for a range of shapes per input (min/opt/max); trtexec pins every
// dynamic dim to 1 unless --minShapes/--optShapes/--maxShapes are given (trtexec --help,
// TensorRT 10.0). Triton's tensorrt_plan backend rejects a config whose dims or
// max_batch_size the engine's profile cannot serve (Triton r24.05, "Model Configuration").
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "targets/target.h"

namespace aifgen {

struct TensorrtInput {
  std::string name;
  std::vector<std::int64_t> dims;  // the model's dims; -1 where free
  ShapeRange range;                // full shapes, batch dim included
  std::string source;              // where the free dims' range came from: "fixed", "job option", "calibration set", "default"
};

struct TensorrtProfile {
  std::vector<TensorrtInput> inputs;
  // True when every input and output has a free leading dim and the range of that dim is 1..N
  // for every input: Triton then batches requests (max_batch_size = N, dims without the batch).
  bool batched = false;
  std::int64_t max_batch = 0;  // N when batched, else 0
  bool dynamic() const;        // some input has a free dim
};

// Free dims come, in this order, from the job's `shape_profiles`, else opt = a calibration
// sample's size (or kDefaultDim without a set), min = kMinSpatialDim for the height and width of
// 4-D inputs (1 for other dims, opt when smaller), max = 4 x opt (at most kMaxDefaultDim). A free
// leading dim is the batch: 1..max_batch, opt 1. Throws Error(kUnprocessable,
// "invalid-shape-profile") when `overrides` name no input, or disagree with the model's rank or
// fixed dims.
TensorrtProfile tensorrt_profile(const onnx::ModelProto& model, std::int64_t max_batch, const ShapeProfiles& overrides,
                                 const std::map<std::string, std::vector<std::int64_t>>& sample_shapes);

inline constexpr std::int64_t kDefaultDim = 224, kMinSpatialDim = 32, kMaxDefaultDim = 4096;

// "--minShapes=... --optShapes=... --maxShapes=..." for trtexec, each argument quoted for bash;
// empty when no input has a free dim.
std::string trtexec_shape_args(const TensorrtProfile& profile);

// Checks a job's shape profiles against the model's inputs (name -> dims, -1 where free).
// Throws Error(kUnprocessable, "invalid-shape-profile") naming the input and dim.
void check_shape_profiles(const ShapeProfiles& profiles, const std::map<std::string, std::vector<std::int64_t>>& model_inputs);

// "1x3x224x224", as trtexec and the bundle READMEs write shapes.
std::string shape_text(const std::vector<std::int64_t>& shape);

// A tensor's declared dims, -1 where free or unknown.
std::vector<std::int64_t> dims_of(const onnx::ValueInfoProto& v);

// Single-quotes `s` for bash.
std::string shell_quote(const std::string& s);

}  // namespace aifgen

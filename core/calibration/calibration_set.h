// A calibration set: sample tensors per model input, first dimension = sample index. Read from
// .npy files (one per input) or one .npz archive, then bound to a model's inputs as the list of
// per-sample input tensors the engine runs on.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/engine/tensor.h"

namespace aifgen {

struct CalibrationLimits {
  std::int64_t max_total_bytes = std::int64_t{2} << 30;  // decompressed, all entries together
  int max_entries = 64;
};

struct CalibrationSet {
  std::map<std::string, engine::Tensor> tensors;  // input name (file stem) -> [samples, ...]
  std::string source;                             // for reports: the file names given
};

// Reads .npy files and/or .npz archives (entries "<input>.npy"). A .npy file's stem names its
// input. Throws Error(kInvalidArgument, "calibration-invalid") for malformed files or unsafe
// archive entries, Error(kTooLarge, "calibration-too-large") past the limits.
CalibrationSet read_calibration_files(const std::vector<std::string>& paths, const CalibrationLimits& limits = {});
// Same for bytes in memory (an upload); `name` is the uploaded file's name or "calibration.npz".
CalibrationSet parse_calibration(const std::string& bytes, const std::string& name, const CalibrationLimits& limits = {});

// One sample = one value per model input, in the order of `inputs`.
using Sample = std::vector<engine::Tensor>;

struct BoundInput {
  std::string name;
  engine::DType dtype;
  std::vector<std::int64_t> dims;  // the model's dims; -1 where symbolic
};

// Splits the set into samples for a model with these inputs. A tensor of the input's rank gives
// batch-1 samples (one row each); a tensor of rank + 1 gives whole inputs. A single tensor binds
// to a single-input model whatever its name. Throws Error(kUnprocessable,
// "calibration-mismatch") naming the input when names, dtypes, ranks, fixed dims or sample
// counts disagree.
std::vector<Sample> bind_calibration(const CalibrationSet& set, const std::vector<BoundInput>& inputs);

// The model's graph inputs (initializers excluded) as BoundInputs.
std::vector<BoundInput> model_inputs(const onnx::ModelProto& model);

}  // namespace aifgen

namespace aifgen {

// The samples a variant build uses: calibration and validation kept apart when there are enough.
struct SampleSplit {
  std::vector<Sample> calibrate, validate;
  bool synthetic = false;       // no user set: random inputs (the report says so)
  bool held_out = false;        // validation samples are disjoint from calibration samples
  std::string source;           // "synthetic" or the user's file names
};

// With a user set of N samples: when N >= 8 the last N / 4 are held out for validation (and the
// INT8 accuracy budget, whose top-1 agreement needs rows to be meaningful)
// and calibration uses up to `max_calibration` of the rest; with fewer, all samples do both.
// Without a set: `max_calibration` synthetic samples for calibration and 2 others
// (different seeds) for validation, shaped by engine::default_input_shapes.
SampleSplit split_samples(const onnx::ModelProto& model, const CalibrationSet* set, int max_calibration);

}  // namespace aifgen

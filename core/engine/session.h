// The CPU execution engine's public API: load (plan once for bound input shapes) -> run many.
//
// Planning binds every symbolic input dim, infers every value's dtype and shape with the kernels'
// own rules, evaluates every node whose inputs are all known (constant folding, including shape
// arithmetic like Shape -> Gather -> Concat -> Reshape), creates one kernel per remaining node
// (oneDNN primitives included) and lays all intermediate values into one arena by liveness.
// run() then only executes kernels. Thread-safety: run() may be called from several threads at
// once; each concurrent call uses its own arena and oneDNN stream from a small pool.
#pragma once

#include <onnx/onnx_pb.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/engine/activation_layout.h"
#include "core/engine/conv_algorithm.h"
#include "core/engine/recurrence_choice.h"
#include "core/engine/tensor.h"

namespace aifgen::engine {

struct TailSplit;  // dynamic_tail.h

struct SessionOptions {
  int threads = 1;                         // intra-op threads (OpenMP / oneDNN) per run() call
  std::map<std::string, Shape> input_shapes;  // binds symbolic dims; unbound symbolic dims are 1
  // Inputs whose values are fixed at plan time (they stop being inputs of run()). For models
  // whose shape-defining values (Reshape targets, Slice bounds, ...) arrive as graph inputs:
  // the engine plans static shapes, so such values must be known when planning.
  std::map<std::string, Tensor> input_values;
  // Time every kernel by op type (adds a clock read per kernel); see Session::profile().
  bool profile = false;
  // Run QuantizeLinear -> DequantizeLinear -> Conv patterns as oneDNN int8 convolutions
  // ("ConvInt8" in profiles). Off: every Q/DQ node runs as written, in float (the reference).
  bool int8_kernels = true;
  // Winograd for 3x3 stride-1 float convolutions: measured per shape (default), never, or always
  // where oneDNN has it. See core/engine/kernels/winograd_choice.h.
  ConvAlgorithm conv_algorithm = ConvAlgorithm::kMeasured;
  // The layout of float convolution chains: oneDNN's picks or blocked from the first
  // convolution, measured per model by default (activation_layout.h).
  ActivationLayout activation_layout = ActivationLayout::kMeasured;
  // RNN/LSTM/GRU layers both kernels can run: timed per layer (default), or always one of them
  // (recurrence_choice.h).
  RecurrenceKernel recurrence = RecurrenceKernel::kMeasured;
};

// Accumulated kernel time per op type ("Conv+Clip" for fused kernels, "Reorder" for layout
// conversions) over the runs of a profiled session.
struct OpProfile {
  std::string op;
  std::int64_t calls = 0;
  double total_ms = 0;
};

// Accumulated time of one planned step (a kernel, fused ops included) over the runs of a
// profiled session, to find which layer of a model is slow: its place in the plan, op label,
// first output's logical shape and the threads it runs with (thread_policy.h).
struct StepProfile {
  std::size_t index = 0;
  std::string op;
  Shape output;
  int threads = 1;  // what the step was planned for
  // The OpenMP thread count the step last ran with (what omp_get_max_threads() said as it
  // started): the planned count unless something left OpenMP set otherwise.
  int ran_threads = 0;
  std::int64_t calls = 0;
  double total_ms = 0;
};

struct IoInfo {
  std::string name;
  DType dtype;
  Shape shape;
};

class Session {
 public:
  // Plans `model`. Throws Error: kUnprocessable "engine-unsupported" for ops or attributes the
  // engine does not execute (naming the node), kInvalidModel for inconsistent graphs.
  Session(const onnx::ModelProto& model, SessionOptions options);
  // The same for a model the session may take apart while planning: its weights are held once
  // instead of twice at the planning peak, and it is freed once planned.
  Session(onnx::ModelProto&& model, SessionOptions options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::vector<IoInfo>& inputs() const;
  // Outputs made after a NonZero or NonMaxSuppression (dynamic_tail.h) have -1 for each dim the
  // model does not fix: their lengths are known only once a run has made them.
  const std::vector<IoInfo>& outputs() const;
  // Inputs in the order of inputs(); each must match its planned dtype and shape exactly.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);
  // The same run, with the outputs lent to `read` instead of copied out: the tensors point into
  // the session's own buffers and are valid only during the call. For callers that only read
  // many or large outputs (calibration exposes every activation of a model as an output).
  void run_reading(const std::vector<Tensor>& inputs, const std::function<void(const std::vector<Tensor>&)>& read);

  std::size_t arena_bytes() const;     // intermediate values after liveness reuse
  std::size_t constant_bytes() const;  // weights and folded constants
  // Of those, what the session still holds itself once planned: a constant that only kernels
  // keeping their own copy read (a convolution's or a product's weights, packed into oneDNN's
  // layout) is freed then, so a model's weights are held once.
  std::size_t held_constant_bytes() const;
  std::size_t kernel_count() const;    // nodes left to execute per run (a dynamic tail's included)
  // Convolutions planned as Winograd (SessionOptions::conv_algorithm).
  std::size_t winograd_convolutions() const;
  // Grouped convolutions running with their narrow groups joined (group_merge.h).
  std::size_t merged_group_convolutions() const;
  // Convolutions running as one part of their output channels per thread (split_outputs_instead).
  std::size_t split_output_convolutions() const;
  // MatMul/Gemm steps by constant weights running as 1x1 convolutions (product_choice.h).
  std::size_t pointwise_products() const;
  // RNN/LSTM/GRU steps running the engine's own recurrence rather than oneDNN's primitive
  // (kernels/recurrent.cpp: timed at planning).
  std::size_t engine_recurrences() const;
  // Threads run() uses: SessionOptions::threads, or 1 when the model has too little parallel
  // work for a team (thread_policy.h, worth_a_thread_team) or, between the two bounds there,
  // when one thread measured faster at plan time. thread_choice() says which and why.
  int threads() const;
  const std::string& thread_choice() const;
  // With ConvAlgorithm::kMeasured and some convolution that timed faster as Winograd: whether the
  // plan with them or the all-direct one was kept, and both times (empty otherwise).
  const std::string& conv_algorithm_choice() const;
  // Reorders per run between two non-plain layouts of one value (NHWC <-> nChw16c); grouped (not
  // depthwise) convolutions reading NHWC; and with ActivationLayout::kMeasured and either of them
  // in oneDNN's plan: which plan was kept and why (empty otherwise).
  std::size_t layout_conversions() const;
  std::size_t grouped_channels_last_convolutions() const;
  const std::string& activation_layout_choice() const;
  double plan_ms() const;
  std::vector<OpProfile> profile() const;  // sorted by total time, largest first
  std::vector<StepProfile> step_profile() const;  // in plan order; empty until a profiled run
  // Forgets the runs profiled so far: time_runs calls it after its warm-up, whose first run
  // plans the dynamic tail's kernels and races their choices.
  void reset_profile();

  struct Impl;
  struct TailPart;

 private:
  void plan_owned(onnx::ModelProto&& model, SessionOptions options);
  void plan_model(const onnx::ModelProto& model, std::optional<onnx::ModelProto> standard, SessionOptions options);
  void plan_with_tail(const onnx::ModelProto& model, TailSplit split, SessionOptions options);
  void choose_activation_layout(const onnx::ModelProto& planned);
  void choose_winograd_or_direct(const onnx::ModelProto& planned);
  std::unique_ptr<Impl> impl_;
  // The nodes after an op whose output shape depends on values (dynamic_tail.h), run per call
  // after impl_'s plan; null for models that plan statically throughout.
  std::unique_ptr<TailPart> tail_;
};

// Op types the engine can plan (the kernel registry), sorted.
std::vector<std::string> supported_ops();

// How this CPU runs QDQ graphs with oneDNN int8 kernels. kFull: x86 with VNNI (AVX-512 VNNI or
// AVX-VNNI). kSafeWeightsOnly: x86 with AVX2 or AVX-512 but no VNNI, where oneDNN sums pairs of
// u8 x s8 products in saturating 16-bit adds (oneDNN, "Nuances of int8 computations"): only
// convolutions and matmuls with uint8 activations whose int8 weights no pair can overflow
// (depthwise convolutions always; others as quantize::can_saturate checks) run in int8; the
// rest run as written, in float. kNone: other CPUs, everything in float (correct, not faster).
enum class Int8Support { kNone, kSafeWeightsOnly, kFull };
Int8Support int8_support();
// int8_support() == kFull.
bool int8_kernels_supported();

}  // namespace aifgen::engine

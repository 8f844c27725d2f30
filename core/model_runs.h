// One model's runs on the CPU engine, kept for reuse across the variants of one job.
//
// A job validates every variant against the same source model and, on this host's targets,
// benchmarks the source beside it. Planning the source anew for each of those (twice per
// variant) cost a large model more time than the runs themselves: 2-10 s per plan. ModelRuns
// plans a model once per set of input shapes, keeps the outputs it computed (by a digest of the
// inputs, up to a byte budget) and the benchmarks it measured, and can drop its plan (release())
// so that a job does not hold one model's packed weights while it plans another.
//
// Not thread-safe: a job builds its variants one at a time.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/engine/session.h"
#include "core/engine/timing.h"

namespace aifgen {

// What a ModelRuns plans for. A benchmark must time the plan a deployment of the engine gets:
// Winograd and layout races, one thread, as `aifgen bench` and infer-server plan. A model that is
// only run for its outputs (validation of a variant for hardware elsewhere) is better served by
// the plan that is quickest to make, run on the job's cores: resnet50 plans in 0.45 s without the
// races and in 3.0 s with them, more than its 8 synthetic validation runs take.
struct RunsPlan {
  bool benchmarks = true;  // races, 1 thread; false: direct convolutions, oneDNN's layouts
  int threads = 1;         // when !benchmarks: intra-op threads for the runs

  static RunsPlan for_benchmarks() { return {}; }
  static RunsPlan outputs_only(int threads) { return {false, threads}; }
};

class ModelRuns {
 public:
  using Shapes = std::map<std::string, engine::Shape>;
  // Outputs kept by default: 80 validation samples of a detection model's 640x640 maps.
  static constexpr std::size_t kDefaultKeptOutputBytes = std::size_t{128} << 20;

  // `model` is lent and must outlive this object.
  explicit ModelRuns(const onnx::ModelProto& model, RunsPlan plan = RunsPlan::for_benchmarks(),
                     std::size_t kept_output_bytes = kDefaultKeptOutputBytes);
  ~ModelRuns();
  ModelRuns(const ModelRuns&) = delete;
  ModelRuns& operator=(const ModelRuns&) = delete;

  // The model's inputs and outputs as planned with `shapes` bound. Plans the model unless it was
  // planned with these shapes before (the description outlives release()). Throws the engine's
  // Error when it cannot be planned, and the same error again, without planning, on every later
  // call with these shapes.
  const std::vector<engine::IoInfo>& inputs(const Shapes& shapes);
  const std::vector<engine::IoInfo>& outputs(const Shapes& shapes);

  // The outputs for `inputs` (in the order of inputs(shapes)): run once per distinct input
  // values while the kept outputs fit their byte budget, run every time beyond it. The tensors
  // returned share their bytes with the kept ones: read them, do not write to them.
  std::vector<engine::Tensor> run(const Shapes& shapes, const std::vector<engine::Tensor>& inputs);

  // Latency on engine::random_inputs(inputs(shapes), seed), measured once per arguments. Only
  // for a ModelRuns planned for benchmarks: throws std::logic_error otherwise.
  engine::LatencyStats benchmark(const Shapes& shapes, std::uint32_t seed, int warmup, int iterations);

  // Drops the plan (and with it the packed weights); what was kept stays.
  void release();

  int plans() const { return plans_; }  // how many times the model was planned
  const RunsPlan& plan() const { return plan_; }
  bool planned() const { return session_ != nullptr; }

 private:
  struct Description {
    std::vector<engine::IoInfo> inputs, outputs;
    bool known = false;          // planned once with these shapes
    std::exception_ptr failure;  // why it cannot be planned with these shapes
  };
  const Description& describe(const Shapes& shapes);
  engine::Session& session(const Shapes& shapes);

  const onnx::ModelProto& model_;
  const RunsPlan plan_;
  const std::size_t kept_output_budget_;
  std::unique_ptr<engine::Session> session_;
  Shapes session_shapes_;
  std::map<Shapes, Description> descriptions_;
  std::map<std::string, std::vector<engine::Tensor>> kept_outputs_;  // by digest of shapes and input values
  std::size_t kept_output_bytes_ = 0;
  std::map<std::string, engine::LatencyStats> benchmarks_;
  int plans_ = 0;
};

}  // namespace aifgen

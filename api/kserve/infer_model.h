// A deployed bundle's model behind `aifgen infer-server`: the engine session(s) and the batcher
// that merges concurrent requests along the batch dimension. No wire format here.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/engine/session.h"

namespace aifgen {

struct InferOptions {
  int threads = 0;       // intra-op threads per run; 0: every core
  int max_batch = 8;     // rows merged into one run when the model's batch dim is free
  std::chrono::microseconds batch_window{2000};  // how long the first request waits for company
  // Largest element count of any one input a request may send (free dims come from clients;
  // the engine's arena grows with them). 0: no limit.
  std::int64_t max_input_elements = std::int64_t{1} << 26;
  // Distinct input shapes planned at once (planning allocates the arena for the shape).
  int max_concurrent_plans = 2;
  // Plans kept, one per input shape; past this the least recently used is dropped (a client
  // sweeping sizes cannot grow memory without bound, and the shapes in use stay planned).
  int max_cached_plans = 64;
  // 3x3 convolutions as Winograd (engine::SessionOptions::conv_algorithm): kDirect trades its
  // speed for results closer to the textbook sum (README "Winograd").
  engine::ConvAlgorithm conv_algorithm = engine::ConvAlgorithm::kMeasured;
};

class InferModel {
 public:
  struct IoSpec {
    std::string name;
    engine::DType dtype;
    std::vector<std::int64_t> dims;  // -1 where symbolic
    std::vector<std::int64_t> min_dims, max_dims;  // declared by the bundle (variant.json); empty: none
  };

  // Loads <bundle_dir>/model.onnx (or model_repository/*/1/model.onnx is not served: CPU bundles
  // only). Throws Error.
  InferModel(const std::string& bundle_dir, std::string name, InferOptions options);
  ~InferModel();

  const std::string& name() const { return name_; }
  const std::vector<IoSpec>& inputs() const { return inputs_; }
  const std::vector<IoSpec>& outputs() const { return outputs_; }
  // True when every input and output has a free first dimension: requests are merged.
  bool batched() const { return batched_; }

  // Runs one request: tensors in the order of inputs(), dtypes and fixed dims as declared.
  // Thread-safe. Throws Error(kInvalidArgument, "infer-bad-input") for mismatched tensors.
  std::vector<engine::Tensor> infer(std::vector<engine::Tensor> inputs);

  std::int64_t batches_run() const;   // runs of merged requests (for tests and logs)
  std::int64_t requests_run() const;
  std::int64_t plans_made() const;    // sessions planned so far (cache misses)
  // Whether the model is kept to plan shapes not planned yet: not when its inputs have no free
  // dimension, whose one shape the constructor planned.
  bool keeps_model() const { return model_kept_; }

 private:
  void load_declared_ranges(const std::string& bundle_dir);
  struct Pending {
    std::vector<engine::Tensor> inputs;
    std::promise<std::vector<engine::Tensor>> result;
  };
  // Shared so a session evicted from the cache lives until its last run ends.
  // `take_model`: plan from the proto itself, which is then gone (the constructor's one shape).
  std::shared_ptr<engine::Session> session_for(const std::vector<engine::Tensor>& inputs, bool take_model = false);
  void run_batch(std::vector<std::shared_ptr<Pending>> batch);
  void batcher_loop();

  std::string name_;
  InferOptions options_;
  onnx::ModelProto model_;
  bool model_kept_ = true;
  std::vector<IoSpec> inputs_, outputs_;
  bool batched_ = false;
  mutable std::mutex sessions_mu_;
  std::condition_variable plans_cv_;
  int plans_running_ = 0;
  struct CachedPlan {
    std::shared_ptr<engine::Session> session;
    std::uint64_t last_used = 0;
  };
  std::map<std::vector<engine::Shape>, CachedPlan> sessions_;
  std::uint64_t use_clock_ = 0;
  std::int64_t plans_made_ = 0;
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<std::shared_ptr<Pending>> queue_;
  bool stopping_ = false;
  std::thread batcher_;
  mutable std::mutex stats_mu_;
  std::int64_t batches_ = 0, requests_ = 0;
};

}  // namespace aifgen

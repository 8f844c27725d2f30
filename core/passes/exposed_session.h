// A session of a model with some intermediate values exposed as extra outputs, planned for one
// sample's input shapes: how passes observe activations (calibration ranges, fp16 range checks,
// equalization statistics) with the engine.
#pragma once

#include <onnx/onnx_pb.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/calibration/calibration_set.h"
#include "core/engine/session.h"

namespace aifgen {

struct ExposedSession {
  std::unique_ptr<engine::Session> session;
  std::unordered_map<std::string, std::size_t> index;  // output name -> position in run()'s result
  int threads = 1;

  // `threads`: the cores a pass may use (PassEnv::threads), both inside each run and to observe
  // the exposed values of one run side by side.
  ExposedSession(const onnx::ModelProto& model, const std::vector<std::string>& values, const Sample& sample, int threads = 1);
  // The position of `value` in run()'s result, or -1 when the session does not produce it.
  long position(const std::string& value) const {
    auto it = index.find(value);
    return it == index.end() ? -1 : static_cast<long>(it->second);
  }

  // Runs each sample in order and calls `observe(k, tensor)` for each values[k] the session
  // produces, the tensor lent from the run (valid during the call only). The values of one run
  // are spread over `threads` threads, so `observe` must touch only what belongs to values[k];
  // each value is observed by one thread at a time and in sample order, so what it accumulates
  // is the same whatever the thread count. A name repeated in `values` is observed at its first
  // position only. The first exception `observe` throws is rethrown after that run.
  void observe_each(const std::vector<Sample>& samples, const std::vector<std::string>& values,
                    const std::function<void(std::size_t, const engine::Tensor&)>& observe) const;
};

}  // namespace aifgen

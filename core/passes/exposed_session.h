// A session of a model with some intermediate values exposed as extra outputs, planned for one
// sample's input shapes: how passes observe activations (calibration ranges, fp16 range checks,
// equalization statistics) with the engine.
#pragma once

#include <onnx/onnx_pb.h>

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

  ExposedSession(const onnx::ModelProto& model, const std::vector<std::string>& values, const Sample& sample);
  // The position of `value` in run()'s result, or -1 when the session does not produce it.
  long position(const std::string& value) const {
    auto it = index.find(value);
    return it == index.end() ? -1 : static_cast<long>(it->second);
  }
};

}  // namespace aifgen

#include "core/model_runs.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "core/base/sha256.h"
#include "core/engine/random_inputs.h"

namespace aifgen {
namespace {

void hash_shape(Sha256& h, const engine::Shape& shape) {
  const auto rank = static_cast<std::int64_t>(shape.size());
  h.update(&rank, sizeof rank);
  h.update(shape.data(), shape.size() * sizeof(std::int64_t));
}

// What determines a run's outputs besides the model: the bound shapes and every input's type,
// shape and bytes.
std::string run_key(const ModelRuns::Shapes& shapes, const std::vector<engine::Tensor>& inputs) {
  Sha256 h;
  for (const auto& [name, shape] : shapes) {
    h.update(name.data(), name.size() + 1);  // with its terminating NUL, so names cannot run together
    hash_shape(h, shape);
  }
  for (const auto& t : inputs) {
    const auto dtype = static_cast<std::int32_t>(t.dtype);
    h.update(&dtype, sizeof dtype);
    hash_shape(h, t.shape);
    h.update(t.data, t.bytes());
  }
  return h.finish_hex();
}

std::string benchmark_key(const ModelRuns::Shapes& shapes, std::uint32_t seed, int warmup, int iterations) {
  std::string key = std::to_string(seed) + "/" + std::to_string(warmup) + "/" + std::to_string(iterations);
  for (const auto& [name, shape] : shapes) {
    key += "|" + name + "=";
    for (auto d : shape) key += std::to_string(d) + "x";
  }
  return key;
}

std::size_t bytes_of(const std::vector<engine::Tensor>& tensors) {
  std::size_t n = 0;
  for (const auto& t : tensors) n += t.bytes();
  return n;
}

}  // namespace

ModelRuns::ModelRuns(const onnx::ModelProto& model, RunsPlan plan, std::size_t kept_output_bytes)
    : model_(model), plan_(plan), kept_output_budget_(kept_output_bytes) {}

ModelRuns::~ModelRuns() = default;

engine::Session& ModelRuns::session(const Shapes& shapes) {
  if (session_ && session_shapes_ == shapes) return *session_;
  auto& d = descriptions_[shapes];
  if (d.failure) std::rethrow_exception(d.failure);
  session_.reset();  // one plan at a time: the old one's weights go before the new one packs its own
  engine::SessionOptions options;
  options.input_shapes = shapes;
  if (!plan_.benchmarks) {
    options.conv_algorithm = engine::ConvAlgorithm::kDirect;
    options.activation_layout = engine::ActivationLayout::kOneDnn;
    options.threads = std::max(1, plan_.threads);
  }
  ++plans_;
  try {
    session_ = std::make_unique<engine::Session>(model_, options);
  } catch (...) {
    d.failure = std::current_exception();
    throw;
  }
  session_shapes_ = shapes;
  d.inputs = session_->inputs();
  d.outputs = session_->outputs();
  d.known = true;
  return *session_;
}

const ModelRuns::Description& ModelRuns::describe(const Shapes& shapes) {
  if (auto it = descriptions_.find(shapes); it != descriptions_.end() && it->second.known) return it->second;
  session(shapes);  // throws when it cannot be planned
  return descriptions_.at(shapes);
}

const std::vector<engine::IoInfo>& ModelRuns::inputs(const Shapes& shapes) { return describe(shapes).inputs; }

const std::vector<engine::IoInfo>& ModelRuns::outputs(const Shapes& shapes) { return describe(shapes).outputs; }

std::vector<engine::Tensor> ModelRuns::run(const Shapes& shapes, const std::vector<engine::Tensor>& inputs) {
  const std::string key = run_key(shapes, inputs);
  if (auto it = kept_outputs_.find(key); it != kept_outputs_.end()) return it->second;
  auto outputs = session(shapes).run(inputs);
  const std::size_t bytes = bytes_of(outputs);
  if (kept_output_bytes_ + bytes <= kept_output_budget_) {
    kept_outputs_.emplace(key, outputs);  // the tensors share their buffers: nothing is copied
    kept_output_bytes_ += bytes;
  }
  return outputs;
}

engine::LatencyStats ModelRuns::benchmark(const Shapes& shapes, std::uint32_t seed, int warmup, int iterations) {
  const std::string key = benchmark_key(shapes, seed, warmup, iterations);
  if (auto it = benchmarks_.find(key); it != benchmarks_.end()) return it->second;
  if (!plan_.benchmarks) throw std::logic_error("ModelRuns::benchmark on runs planned for their outputs only");
  auto& s = session(shapes);
  auto stats = engine::time_runs(s, engine::random_inputs(s.inputs(), seed), warmup, iterations);
  benchmarks_.emplace(key, stats);
  return stats;
}

void ModelRuns::release() { session_.reset(); }

}  // namespace aifgen

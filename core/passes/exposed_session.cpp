#include "core/passes/exposed_session.h"

#include <algorithm>
#include <exception>
#include <mutex>
#include <set>
#include <unordered_map>
#include <utility>

namespace aifgen {

ExposedSession::ExposedSession(const onnx::ModelProto& model, const std::vector<std::string>& values, const Sample& sample, int threads)
    : threads(std::max(1, threads)) {
  auto probe = model;
  auto* g = probe.mutable_graph();
  std::set<std::string> outputs;
  for (const auto& o : g->output()) outputs.insert(o.name());
  // An exposed value's element type, where shape inference found it: a value made after an op
  // whose output shape depends on values (a detector's box head, after NonMaxSuppression) is
  // computed by the engine's dynamic tail, which needs its outputs' types declared.
  std::unordered_map<std::string, int> elem_types;
  for (const auto& vi : g->value_info())
    if (vi.type().has_tensor_type() && vi.type().tensor_type().elem_type() != 0) elem_types[vi.name()] = vi.type().tensor_type().elem_type();
  for (const auto& v : values)
    if (outputs.insert(v).second) {
      auto* out = g->add_output();
      out->set_name(v);
      if (auto it = elem_types.find(v); it != elem_types.end()) out->mutable_type()->mutable_tensor_type()->set_elem_type(it->second);
    }
  engine::SessionOptions so;
  const auto inputs = model_inputs(model);
  for (std::size_t k = 0; k < inputs.size() && k < sample.size(); ++k) so.input_shapes[inputs[k].name] = sample[k].shape;
  // No races at plan time: a probe runs a few dozen times, not enough to win back the plans a
  // race makes and times. Direct convolutions also round as the int8 kernels' float reference
  // does (Winograd's transforms add their own rounding to what is observed).
  so.conv_algorithm = engine::ConvAlgorithm::kDirect;
  so.activation_layout = engine::ActivationLayout::kOneDnn;
  so.threads = this->threads;
  session = std::make_unique<engine::Session>(std::move(probe), so);  // the copy's weights taken, not copied again
  for (std::size_t k = 0; k < session->outputs().size(); ++k) index[session->outputs()[k].name] = k;
}

void ExposedSession::observe_each(const std::vector<Sample>& samples, const std::vector<std::string>& values,
                                  const std::function<void(std::size_t, const engine::Tensor&)>& observe) const {
  // (position in `values`, position in the run's outputs) of each distinct value produced.
  std::vector<std::pair<std::size_t, std::size_t>> work;
  std::set<std::string> seen;
  for (std::size_t k = 0; k < values.size(); ++k)
    if (const long at = position(values[k]); at >= 0 && seen.insert(values[k]).second) work.emplace_back(k, static_cast<std::size_t>(at));
  for (const auto& sample : samples)
    session->run_reading(sample, [&](const std::vector<engine::Tensor>& out) {
      // Largest tensors first, so that no thread is left alone with a big one at the end.
      std::stable_sort(work.begin(), work.end(),
                       [&](const auto& a, const auto& b) { return out[a.second].numel() > out[b.second].numel(); });
      std::exception_ptr failure;
      std::mutex failure_lock;
      const auto n = static_cast<long>(work.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1 && n > 1)
      for (long i = 0; i < n; ++i) {
        try {
          observe(work[static_cast<std::size_t>(i)].first, out[work[static_cast<std::size_t>(i)].second]);
        } catch (...) {
          std::lock_guard<std::mutex> hold(failure_lock);
          if (!failure) failure = std::current_exception();
        }
      }
      if (failure) std::rethrow_exception(failure);
    });
}

}  // namespace aifgen

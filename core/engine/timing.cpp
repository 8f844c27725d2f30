#include "core/engine/timing.h"

#include <algorithm>
#include <chrono>

namespace aifgen::engine {

LatencyStats time_runs(Session& session, const std::vector<Tensor>& inputs, int warmup, int iterations) {
  return time_runs(session, std::vector<std::vector<Tensor>>{inputs}, warmup, iterations);
}

LatencyStats time_runs(Session& session, const std::vector<std::vector<Tensor>>& input_sets, int warmup, int iterations) {
  const auto sets = static_cast<int>(input_sets.size());
  if (sets == 0) return {};
  for (int i = 0; i < warmup; ++i) session.run(input_sets[static_cast<std::size_t>(i % sets)]);
  session.reset_profile();
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    const auto& inputs = input_sets[static_cast<std::size_t>((warmup + i) % sets)];
    auto t0 = std::chrono::steady_clock::now();
    session.run(inputs);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  LatencyStats s;
  s.iterations = iterations;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  auto q = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * ms.size()))]; };
  s.p50_ms = q(0.5);
  s.p90_ms = q(0.9);
  s.p99_ms = q(0.99);
  for (double v : ms) s.mean_ms += v;
  s.mean_ms /= static_cast<double>(ms.size());
  const auto& in = session.inputs();
  const double batch = in.empty() || in[0].shape.empty() ? 1.0 : static_cast<double>(in[0].shape[0]);
  s.throughput_per_s = s.mean_ms > 0 ? 1000.0 * batch / s.mean_ms : 0;
  return s;
}

}  // namespace aifgen::engine

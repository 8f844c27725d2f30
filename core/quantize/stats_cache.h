// Calibration statistics keyed by what determines them (the graph before quantization, the
// calibration samples, the quantized op types, whether histograms were gathered), so a job's
// int8 variants for several targets run the calibration sweeps once; likewise the per-node
// sensitivity analysis (JSON, keyed by the statistics' key plus scheme, method and budget), and
// whole results of the pass for variants whose graph, samples and options are all the same.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>

#include "core/quantize/range_observer.h"

namespace aifgen::quantize {

using Observers = std::unordered_map<std::string, RangeObserver>;

class StatsCache {
 public:
  // What a quantize_int8 run produced: the model, its details() and its counts.
  struct Result {
    onnx::ModelProto model;
    nlohmann::json details;
    std::map<std::string, std::int64_t> counts;
  };
  std::shared_ptr<const Result> find_model(const std::string& key) const { return find_in(results_, key); }
  void put_model(const std::string& key, std::shared_ptr<const Result> result) { put_in(results_, key, std::move(result)); }
  std::shared_ptr<const Observers> find(const std::string& key) const { return find_in(entries_, key); }
  void put(const std::string& key, std::shared_ptr<const Observers> stats) { put_in(entries_, key, std::move(stats)); }
  std::shared_ptr<const nlohmann::json> find_json(const std::string& key) const { return find_in(reports_, key); }
  void put_json(const std::string& key, std::shared_ptr<const nlohmann::json> value) { put_in(reports_, key, std::move(value)); }
  int hits() const {
    std::lock_guard lock(mu_);
    return hits_;
  }
  void count_hit() {
    std::lock_guard lock(mu_);
    ++hits_;
  }

 private:
  template <class T>
  using Slots = std::map<std::string, std::shared_ptr<const T>>;
  template <class T>
  std::shared_ptr<const T> find_in(const Slots<T>& slots, const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = slots.find(key);
    return it == slots.end() ? nullptr : it->second;
  }
  template <class T>
  void put_in(Slots<T>& slots, const std::string& key, std::shared_ptr<const T> value) {
    std::lock_guard lock(mu_);
    slots[key] = std::move(value);
  }

  mutable std::mutex mu_;
  Slots<Observers> entries_;
  Slots<nlohmann::json> reports_;
  Slots<Result> results_;
  int hits_ = 0;
};

}  // namespace aifgen::quantize

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
  std::shared_ptr<const Result> find_model(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = results_.find(key);
    return it == results_.end() ? nullptr : it->second;
  }
  void put_model(const std::string& key, std::shared_ptr<const Result> result) {
    std::lock_guard lock(mu_);
    results_[key] = std::move(result);
  }
  std::shared_ptr<const Observers> find(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second;
  }
  void put(const std::string& key, std::shared_ptr<const Observers> stats) {
    std::lock_guard lock(mu_);
    entries_[key] = std::move(stats);
  }
  std::shared_ptr<const nlohmann::json> find_json(const std::string& key) const {
    std::lock_guard lock(mu_);
    auto it = reports_.find(key);
    return it == reports_.end() ? nullptr : it->second;
  }
  void put_json(const std::string& key, std::shared_ptr<const nlohmann::json> value) {
    std::lock_guard lock(mu_);
    reports_[key] = std::move(value);
  }
  int hits() const {
    std::lock_guard lock(mu_);
    return hits_;
  }
  void count_hit() {
    std::lock_guard lock(mu_);
    ++hits_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Observers>> entries_;
  std::map<std::string, std::shared_ptr<const nlohmann::json>> reports_;
  std::map<std::string, std::shared_ptr<const Result>> results_;
  int hits_ = 0;
};

}  // namespace aifgen::quantize

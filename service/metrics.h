// In-process metrics rendered in the Prometheus text exposition format (version 0.0.4).
// Debian 12 has no Prometheus C++ client, so the few counters and histograms are kept here.
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace aifgen {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}
  void observe(double v);
  // Appends the _bucket/_sum/_count lines; `labels` is "" or `k="v",...` without braces.
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::uint64_t> counts_;
  double sum_ = 0;
  std::uint64_t count_ = 0;
};

class Metrics {
 public:
  void observe_request(const std::string& method, const std::string& route, int status, double seconds);
  void observe_job(const std::string& final_state, double seconds);
  // Gauges are read from storage at scrape time and passed in.
  std::string render(const std::map<std::string, std::int64_t>& jobs_by_state) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, Histogram> request_latency_;
  std::map<std::string, Histogram> job_duration_;
};

}  // namespace aifgen

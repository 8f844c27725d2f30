// In-process metrics rendered in the Prometheus text exposition format (version 0.0.4).
// Debian 12 has no Prometheus C++ client, so the few counters and histograms are kept here.
// Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
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
  void observe_scrub(std::uint64_t checked, std::uint64_t corrupt, double seconds);
  // Full re-hashes of stored blobs, read from the artifact store at scrape time.
  void set_verifications_source(std::function<std::uint64_t()> f) {
    std::lock_guard lock(mu_);
    verifications_ = std::move(f);
  }
  // Gauges are read from storage at scrape time and passed in.
  std::string render(const std::map<std::string, std::int64_t>& jobs_by_state) const;

 private:
  mutable std::mutex mu_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, Histogram> request_latency_;
  std::map<std::string, Histogram> job_duration_;
  std::uint64_t scrub_runs_ = 0, scrub_corrupt_ = 0, scrub_last_checked_ = 0;
  double scrub_last_seconds_ = 0, scrub_last_end_unix_ = 0;
  std::function<std::uint64_t()> verifications_;
};

}  // namespace aifgen

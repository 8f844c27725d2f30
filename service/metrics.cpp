// Prometheus text rendering for the service's counters and histograms.
#include "service/metrics.h"

#include "core/base/records.h"

#include <chrono>
#include <cstdio>

namespace aifgen {
namespace {

const std::vector<double> kLatencyBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
const std::vector<double> kJobBounds = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Label values are route templates and fixed words, but escape anyway as the format requires.
std::string escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"') o.push_back('\\');
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o.push_back(c);
  }
  return o;
}

}  // namespace

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::uint64_t cumulative = 0;
  std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    std::string le = i < bounds_.size() ? num(bounds_[i]) : "+Inf";
    out += name + "_bucket{" + labels + sep + "le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + braces + " " + num(sum_) + "\n";
  out += name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

void Metrics::observe_request(const std::string& method, const std::string& route, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{method, route, status}];
  request_latency_.try_emplace({method, route}, kLatencyBounds).first->second.observe(seconds);
}

void Metrics::observe_job(const std::string& final_state, double seconds) {
  std::lock_guard lock(mu_);
  job_duration_.try_emplace(final_state, kJobBounds).first->second.observe(seconds);
}

void Metrics::observe_scrub(std::uint64_t checked, std::uint64_t corrupt, double seconds) {
  std::lock_guard lock(mu_);
  ++scrub_runs_;
  scrub_corrupt_ += corrupt;
  scrub_last_checked_ = checked;
  scrub_last_seconds_ = seconds;
  scrub_last_end_unix_ = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Metrics::render(const std::map<std::string, std::int64_t>& jobs_by_state) const {
  std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP aifgen_http_requests_total HTTP requests answered, by method, route template and status.\n";
  out += "# TYPE aifgen_http_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    const auto& [method, route, status] = key;
    out += "aifgen_http_requests_total{method=\"" + method + "\",route=\"" + escape(route) + "\",status=\"" +
           std::to_string(status) + "\"} " + std::to_string(n) + "\n";
  }
  out += "# HELP aifgen_http_request_duration_seconds Time from request arrival to response, by route.\n";
  out += "# TYPE aifgen_http_request_duration_seconds histogram\n";
  for (const auto& [key, h] : request_latency_)
    h.render(out, "aifgen_http_request_duration_seconds",
             "method=\"" + key.first + "\",route=\"" + escape(key.second) + "\"");
  out += "# HELP aifgen_jobs Jobs in the database, by state.\n# TYPE aifgen_jobs gauge\n";
  for (const auto& [state, n] : jobs_by_state)
    out += "aifgen_jobs{state=\"" + state + "\"} " + std::to_string(n) + "\n";
  out += "# HELP aifgen_queue_depth Jobs waiting for a worker.\n# TYPE aifgen_queue_depth gauge\n";
  auto q = jobs_by_state.find(state_name(RunState::kQueued));
  out += "aifgen_queue_depth " + std::to_string(q == jobs_by_state.end() ? 0 : q->second) + "\n";
  out += "# HELP aifgen_job_duration_seconds Wall time of job runs in this process, by final state.\n";
  out += "# TYPE aifgen_job_duration_seconds histogram\n";
  for (const auto& [state, h] : job_duration_) h.render(out, "aifgen_job_duration_seconds", "state=\"" + state + "\"");
  out += "# HELP aifgen_artifact_scrub_runs_total Completed scrubs of the artifact store.\n# TYPE aifgen_artifact_scrub_runs_total counter\n";
  out += "aifgen_artifact_scrub_runs_total " + std::to_string(scrub_runs_) + "\n";
  out += "# HELP aifgen_artifact_scrub_corrupt_total Blobs a scrub found corrupt (and quarantined).\n# TYPE aifgen_artifact_scrub_corrupt_total counter\n";
  out += "aifgen_artifact_scrub_corrupt_total " + std::to_string(scrub_corrupt_) + "\n";
  out += "# HELP aifgen_artifact_scrub_last_checked_blobs Blobs the last scrub re-hashed.\n# TYPE aifgen_artifact_scrub_last_checked_blobs gauge\n";
  out += "aifgen_artifact_scrub_last_checked_blobs " + std::to_string(scrub_last_checked_) + "\n";
  out += "# HELP aifgen_artifact_scrub_last_duration_seconds Wall time of the last scrub.\n# TYPE aifgen_artifact_scrub_last_duration_seconds gauge\n";
  out += "aifgen_artifact_scrub_last_duration_seconds " + num(scrub_last_seconds_) + "\n";
  out += "# HELP aifgen_artifact_scrub_last_end_timestamp_seconds When the last scrub ended (Unix time; 0: none yet).\n# TYPE aifgen_artifact_scrub_last_end_timestamp_seconds gauge\n";
  out += "aifgen_artifact_scrub_last_end_timestamp_seconds " + num(scrub_last_end_unix_) + "\n";
  if (verifications_) {
    out += "# HELP aifgen_artifact_verifications_total Full re-hashes of stored blobs (scrubs, and downloads of blobs changed on disk).\n";
    out += "# TYPE aifgen_artifact_verifications_total counter\naifgen_artifact_verifications_total " + std::to_string(verifications_()) + "\n";
  }
  return out;
}

}  // namespace aifgen

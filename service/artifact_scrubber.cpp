#include "service/artifact_scrubber.h"

#include <spdlog/spdlog.h>

namespace aifgen {

void ArtifactScrubber::start() {
  if (interval_.count() <= 0 || thread_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { loop(); });
}

void ArtifactScrubber::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

storage::ArtifactStore::ScrubReport ArtifactScrubber::run_once() {
  auto report = artifacts_.scrub([this] {
    std::lock_guard lock(mu_);
    return stopping_;
  });
  metrics_.observe_scrub(report.checked, report.corrupt.size(), report.seconds);
  if (report.corrupt.empty()) {
    spdlog::info("artifact scrub: {} blob(s), {:.1f} MiB checked in {:.1f} s, none corrupt", report.checked,
                 static_cast<double>(report.bytes) / (1 << 20), report.seconds);
  } else {
    for (const auto& sha : report.corrupt)
      spdlog::error("artifact scrub: blob {} does not match its sha256; moved to quarantine/ (re-upload the same bytes, or "
                    "rerun the job that built it)", sha);
    spdlog::error("artifact scrub: {} blob(s) checked in {:.1f} s, {} corrupt", report.checked, report.seconds, report.corrupt.size());
  }
  return report;
}

void ArtifactScrubber::loop() {
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, interval_, [this] { return stopping_; })) return;
    }
    try {
      run_once();
    } catch (const std::exception& e) {
      spdlog::error("artifact scrub failed: {}", e.what());  // tried again next interval
    }
  }
}

}  // namespace aifgen

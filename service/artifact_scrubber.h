// Re-hashes every stored blob on a schedule (a background thread): what a per-request hash did
// before, without making downloads pay for it. Corrupt blobs are quarantined by the store, counted
// in the metrics and named in the log.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "service/metrics.h"
#include "storage/artifact_store.h"

namespace aifgen {

class ArtifactScrubber {
 public:
  // `interval`: time between the end of one scrub and the start of the next (the first starts
  // one interval after start()); zero disables scrubbing.
  ArtifactScrubber(storage::ArtifactStore& artifacts, Metrics& metrics, std::chrono::seconds interval)
      : artifacts_(artifacts), metrics_(metrics), interval_(interval) {}
  ~ArtifactScrubber() { stop(); }

  void start();
  void stop();
  // One scrub now, on the calling thread (the background loop and tests use it).
  storage::ArtifactStore::ScrubReport run_once();

 private:
  void loop();

  storage::ArtifactStore& artifacts_;
  Metrics& metrics_;
  std::chrono::seconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace aifgen

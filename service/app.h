// The composition root of a running service: storage, services, workers and metrics, wired
// once in the order they depend on each other. The API server holds a reference to it.
#pragma once

#include <atomic>
#include <memory>

#include "service/config.h"
#include "service/job_events.h"
#include "service/job_runner.h"
#include "service/job_service.h"
#include "service/lease_keeper.h"
#include "service/job_change_relay.h"
#include "service/metrics.h"
#include "service/model_service.h"
#include "service/worker_pool.h"
#include "service/artifact_scrubber.h"
#include "service/auth.h"
#include "service/calibration_service.h"
#include "service/link_signer.h"
#include "service/variant_catalog.h"
#include "storage/calibration_repository.h"
#include "storage/api_key_repository.h"
#include "storage/artifact_store.h"
#include "storage/benchmark_repository.h"
#include "storage/database.h"
#include "storage/job_repository.h"
#include "storage/model_repository.h"

namespace aifgen {

class App {
 public:
  // Opens (creating) the data dir, migrates the database, requeues jobs a dead process left
  // running. Does not start workers.
  explicit App(Config config);
  ~App() { stop_workers(); }

  void start_workers() {
    relay_.start();
    leases_.start();
    pool_.start(config_.workers);
    scrubber_.start();
  }
  void stop_workers() {
    scrubber_.stop();
    pool_.stop();
    leases_.stop();  // after the workers: the jobs they hand back keep their lease until then
    relay_.stop();
  }

  const Config& config() const { return config_; }
  ModelService& models() { return model_service_; }
  CalibrationService& calibrations() { return calibration_service_; }
  const LinkSigner& links() const { return links_; }
  VariantCatalog& catalog() { return catalog_; }
  JobService& jobs() { return job_service_; }
  Metrics& metrics() { return metrics_; }
  JobEvents& events() { return events_; }
  bool ready() const { return !stopping_.load(); }
  Auth& auth() { return auth_; }
  // Keys are required when the service started with keys, or as soon as one is created. A
  // service that started without keys listens on loopback only (local-only mode).
  bool keys_required() { return started_with_keys_ || !auth_.local_only(); }
  bool started_local_only() const { return !started_with_keys_; }

 private:
  Config config_;
  std::atomic<bool> stopping_{false};
  storage::Database db_;
  storage::ArtifactStore artifacts_;
  storage::ModelRepository model_repo_;
  storage::JobRepository job_repo_;
  storage::BenchmarkRepository benchmark_repo_;
  storage::ApiKeyRepository key_repo_;
  storage::CalibrationRepository calibration_repo_;
  Auth auth_;
  bool started_with_keys_ = false;
  JobEvents events_;
  Metrics metrics_;
  ModelService model_service_;
  CalibrationService calibration_service_;
  LinkSigner links_;
  JobService job_service_;
  VariantCatalog catalog_{job_service_};
  JobChangeRelay relay_{db_, events_};
  LeaseKeeper leases_;
  JobRunner runner_;
  WorkerPool pool_;
  ArtifactScrubber scrubber_{artifacts_, metrics_, std::chrono::seconds(config_.scrub_interval_s)};
};

}  // namespace aifgen

// Service configuration. Every field has a flag of `aifgen serve` and an AIFGEN_* environment
// variable (flag wins); defaults give the embedded local setup.
#pragma once

#include "targets/target.h"

#include <cstdint>
#include <string>
#include <vector>

namespace aifgen {

struct Config {
  std::string listen = "127.0.0.1:8080";  // host:port
  std::string data_dir = "./aifgen-data";  // SQLite file + artifact store
  // Empty: the embedded SQLite file in data_dir. A postgresql:// URL: a PostgreSQL database that
  // many serve processes may share (each with the same, shared, data_dir for the artifacts).
  std::string database;
  int workers = 2;                         // job worker threads
  int job_threads = 0;                     // cores each job's passes use; 0: an even share per worker
  std::vector<std::string> worker_targets; // claim only jobs all of whose targets are listed (empty: any)
  int lease_s = 60;                        // a running job's lease; a worker renews it every lease_s/3
  bool worker_only = false;                // `aifgen worker`: HTTP serves only /healthz, /readyz, /metrics
  int http_threads = 0;                    // threads answering HTTP; 0: two per core, at least 4
  std::int64_t max_upload_mb = 1024;       // larger uploads are refused with 413
  std::int64_t max_calibration_mb = 1024;  // calibration uploads, and what an .npz may decompress to
  int max_attempts = 3;                    // a job interrupted this often fails
  int max_queued_jobs = 1000;              // more queued jobs: POST /v1/jobs answers 503
  int max_concurrent_uploads = 8;          // more uploads at once: POST /v1/models answers 503
  double stage_timeout_s = 3600;           // a job stage running longer fails its variant
  int rate_limit_per_minute = 6000;        // requests per API key (429 beyond, with Retry-After)
  int max_long_poll_s = 60;                // cap on ?wait=
  int max_long_polls = 10000;              // parked ?wait= requests at once (503 beyond)
  int scrub_interval_s = 21600;            // re-hash every stored blob this often (0: never)
  bool metrics_public = false;             // serve /metrics without a key
  std::string tls_cert;                    // PEM certificate chain; with tls_key: HTTPS only
  std::string tls_key;                     // PEM private key
  std::string runtime_image = "aifgen:latest";  // the image CPU bundles' Dockerfiles start from
  DeviceResources k8s_resources;           // extended resources the bundles' manifests request
  std::string link_secret;                 // hex HMAC key for download links; empty: <data_dir>/link-secret
  std::int64_t link_ttl_s = 3600;          // how long a signed download link works
  // Test hook: sleep this long at every job stage boundary so tests can kill or cancel a job
  // mid-run deterministically. Zero (the default) in any real deployment.
  int debug_stage_delay_ms = 0;

  std::uint64_t max_upload_bytes() const { return static_cast<std::uint64_t>(max_upload_mb) << 20; }
  std::uint64_t max_calibration_bytes() const { return static_cast<std::uint64_t>(max_calibration_mb) << 20; }
  std::string database_location() const { return database.empty() ? data_dir + "/aifgen.db" : database; }
  bool shared_database() const { return !database.empty(); }
};

}  // namespace aifgen

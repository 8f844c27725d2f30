// Wiring of the service's parts, and crash recovery at start.
#include "service/app.h"

#include <spdlog/spdlog.h>

#include <filesystem>

namespace aifgen {
namespace {

const std::string& ensure_dir(const std::string& dir) {
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

App::App(Config config)
    : config_(std::move(config)),
      db_((ensure_dir(config_.data_dir), config_.database_location())),
      artifacts_(config_.data_dir, posix_file_system(), config_.shared_database()),
      model_repo_(db_),
      job_repo_(db_),
      benchmark_repo_(db_),
      key_repo_(db_),
      calibration_repo_(db_),
      auth_(key_repo_, std::chrono::seconds(1)),
      model_service_(artifacts_, model_repo_, config_.max_upload_bytes(), config_.max_concurrent_uploads, config_.shared_database()),
      calibration_service_(artifacts_, model_repo_, calibration_repo_, config_.max_calibration_bytes()),
      links_(LinkSigner::load_or_create_secret(config_.data_dir, config_.link_secret), config_.link_ttl_s),
      job_service_(job_repo_, model_repo_, benchmark_repo_, artifacts_, events_, calibration_service_, config_.max_queued_jobs),
      leases_(job_repo_, events_, std::chrono::seconds(config_.lease_s), config_.max_attempts),
      runner_(config_, job_repo_, model_repo_, benchmark_repo_, artifacts_, calibration_service_, events_, metrics_, leases_, stopping_),
      pool_(runner_, job_repo_, events_, leases_, config_.worker_targets, stopping_) {
  metrics_.set_verifications_source([this] { return artifacts_.verifications(); });
  started_with_keys_ = !auth_.local_only();
  if (!started_with_keys_ && !config_.worker_only) {
    // No API key yet: serve this machine only, whatever --listen said. (A worker serves no API,
    // only probes and metrics, so it listens where it is told.)
    auto colon = config_.listen.rfind(':');
    std::string host = colon == std::string::npos ? config_.listen : config_.listen.substr(0, colon);
    if (host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
      spdlog::warn("no API key exists yet: local-only mode, listening on 127.0.0.1 instead of {} "
                   "(create one with 'aifgen keys create --name NAME --scope admin' and restart)", host);
      config_.listen = "127.0.0.1" + (colon == std::string::npos ? std::string(":8080") : config_.listen.substr(colon));
    } else {
      spdlog::warn("no API key exists yet: local-only mode (loopback only, requests need no key)");
    }
  }
  // SQLite: this is the only process on the database (the data dir lock), so every job left
  // running was left by a dead one. PostgreSQL: other processes run jobs now; only jobs whose
  // lease has passed are orphans, and the lease keeper requeues those while the service runs.
  if (!config_.shared_database()) {
    auto outcome = job_repo_.requeue_interrupted(config_.max_attempts);
    if (outcome.requeued || outcome.failed)
      spdlog::warn("recovered from an unclean stop: {} job(s) requeued, {} failed after {} attempts", outcome.requeued,
                   outcome.failed, config_.max_attempts);
  }
}

}  // namespace aifgen

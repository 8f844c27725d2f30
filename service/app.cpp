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
      db_(ensure_dir(config_.data_dir) + "/aifgen.db"),
      artifacts_(config_.data_dir),
      model_repo_(db_),
      job_repo_(db_),
      benchmark_repo_(db_),
      model_service_(artifacts_, model_repo_, config_.max_upload_bytes()),
      job_service_(job_repo_, benchmark_repo_, artifacts_, events_),
      runner_(config_, job_repo_, model_repo_, benchmark_repo_, artifacts_, events_, metrics_, stopping_),
      pool_(runner_, job_repo_, events_, stopping_) {
  auto outcome = job_repo_.requeue_interrupted(config_.max_attempts);
  if (outcome.requeued || outcome.failed)
    spdlog::warn("recovered from an unclean stop: {} job(s) requeued, {} failed after {} attempts", outcome.requeued,
                 outcome.failed, config_.max_attempts);
}

}  // namespace aifgen

// The records every room shares: what a model, a job, a variant, a calibration set, a benchmark
// and an API key are, as plain structs. storage/ persists them, service/ works on them, the REST
// views render them; none of those needs the others' headers for it. Timestamps are ISO 8601 UTC
// strings (core/base/clock.h).
#pragma once

#include <array>
#include <string_view>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aifgen {

struct ModelRecord {
  std::string id;  // sha256 of the bytes
  std::string name;
  std::int64_t size_bytes = 0;
  std::string info_json;  // core::ModelInfo serialized by core/model_info_json
  std::string created_at;
};

struct VariantRecord {
  std::string id;
  std::string job_id;
  std::string model_id;
  std::string target;
  std::string precision;
  std::string state;  // queued | running | succeeded | failed | cancelled
  std::optional<std::string> error;
  std::optional<std::string> artifact_sha256;
  std::optional<std::int64_t> artifact_size;
  std::optional<std::string> report_json;
  std::optional<std::string> validation;  // validated | degraded | skipped, once built
  std::string created_at;
  std::string updated_at;
};

struct CalibrationRecord {
  std::string id;
  std::string model_id;
  std::string sha256;
  std::int64_t size_bytes = 0;
  std::string file_name;
  std::string inputs_json;
  std::int64_t samples = 0;
  std::string created_at;
};

struct BenchmarkRecord {
  std::int64_t id = 0;
  std::string variant_id;
  std::string subject;  // source | variant
  std::string origin = "local";
  std::string host;
  std::int64_t threads = 1, batch = 1, iterations = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, throughput_per_s = 0;
  std::int64_t concurrency = 1;
  std::optional<std::string> hardware_json;  // field reports: {cpu_model, cores, gpus, ...}
  std::string created_at;
};

struct ApiKeyRecord {
  std::string id;
  std::string name;
  std::string scope;  // read | write | admin
  std::string key_sha256;
  std::string created_at;
  std::optional<std::string> revoked_at;
};

struct JobRecord {
  std::string id;
  std::string model_id;
  std::string state;  // queued | running | succeeded | failed | cancelled
  std::string stage;
  double progress = 0;
  std::int64_t attempts = 0;
  std::optional<std::string> error;
  std::string options_json = "{}";
  std::optional<std::string> idempotency_key;
  std::optional<std::string> request_hash;
  bool cancel_requested = false;
  std::int64_t version = 1;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> started_at;
  std::optional<std::string> finished_at;
  std::vector<VariantRecord> variants;
};

// The states jobs and variants move through, and their one text form (what the database stores
// and the API shows). Code names states through this enum; only SQL text spells them.
enum class RunState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };
inline constexpr std::array<RunState, 5> kRunStates = {RunState::kQueued, RunState::kRunning, RunState::kSucceeded,
                                                       RunState::kFailed, RunState::kCancelled};

constexpr const char* state_name(RunState s) {
  switch (s) {
    case RunState::kQueued: return "queued";
    case RunState::kRunning: return "running";
    case RunState::kSucceeded: return "succeeded";
    case RunState::kFailed: return "failed";
    case RunState::kCancelled: return "cancelled";
  }
  return "unknown";
}

inline std::optional<RunState> parse_state(std::string_view text) {
  for (auto s : kRunStates)
    if (text == state_name(s)) return s;
  return std::nullopt;
}

// True when a record's state text is `s`.
inline bool in_state(const std::string& text, RunState s) { return text == state_name(s); }

inline bool is_terminal(RunState s) { return s == RunState::kSucceeded || s == RunState::kFailed || s == RunState::kCancelled; }

inline bool is_terminal_state(const std::string& text) {
  auto s = parse_state(text);
  return s && is_terminal(*s);
}

}  // namespace aifgen

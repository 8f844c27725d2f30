// The composition root, and the only file that may see every room (ARCHITECTURE.md): it parses
// the command line, builds the App (service/) with its storage, the REST server (api/rest/),
// the inference server and load client (api/kserve/) and the CLI subcommands (service/cli/),
// and wires them together. Nothing else includes upward.
#include <signal.h>
#include <utility>  // boost/asio/awaitable.hpp (via pplx) uses std::exchange without it
#include <pplx/threadpool.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/ranges.h>
#include <optional>
#include <cstdio>
#include <filesystem>

#include "api/rest/server.h"
#include "core/base/error.h"
#include "core/engine/heap_tuning.h"
#include "service/app.h"
#include "service/data_dir_lock.h"
#include "api/kserve/infer_server.h"
#include "api/kserve/loadgen.h"
#include "service/cli/convert.h"
#include "service/cli/engine.h"
#include "service/cli/inspect.h"
#include "service/cli/keys.h"
#include "service/demo_model.h"
#include "storage/database.h"
#include "targets/registry.h"
#include "targets/common/deploy_files.h"

namespace {

// Prints commands that work exactly as printed: the demo model is written into the data dir.
void print_curl_example(const aifgen::Config& config, bool keys_required) {
  auto model_path = std::filesystem::absolute(config.data_dir + "/examples/demo_conv_bn_relu.onnx").lexically_normal().string();
  std::string id = aifgen::write_demo_model(model_path);
  std::string base = "http://" + config.listen;
  std::printf(
      "\nTry it (a demo model was written to %s):\n"
      "  curl -s -X POST --data-binary @%s -H 'Content-Type: application/octet-stream' '%s/v1/models?name=demo'\n"
      "  curl -s -X POST %s/v1/jobs -H 'Content-Type: application/json' -d '{\"model_id\":\"%s\",\"targets\":[\"x86_64-cpu\"]}'\n"
      "  curl -s '%s/v1/variants?model_id=%s'\n"
      "  curl -s %s/v1/variants/VARIANT_ID/download        # VARIANT_ID from the line above: a signed link\n"
      "  curl -s -OJ '%sURL'                               # URL from the line above (no key needed)\n%s\n",
      model_path.c_str(), model_path.c_str(), base.c_str(), base.c_str(), id.c_str(), base.c_str(), id.c_str(),
      base.c_str(), base.c_str(), keys_required ? "(API keys are in use: add -H 'Authorization: Bearer YOUR_KEY' to each command)\n" : "");
  std::fflush(stdout);
}

int run_serve(const aifgen::Config& config) {
  // Block the stop signals before any thread starts so they all inherit the mask and only
  // sigwait() below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // Two loggers on stdout. Service events (start, jobs, warnings) are few and written at once.
  // The access log has a line per request: it goes through stdio's buffer (one write per few
  // dozen lines, flushed every second and before any service event), so a handler neither
  // waits on stdout nor wakes another thread per request, both of which showed in profiles.
  std::setvbuf(stdout, nullptr, _IOFBF, 1 << 16);
  auto logger = std::make_shared<spdlog::logger>("aifgen", std::make_shared<spdlog::sinks::stdout_color_sink_mt>());
  auto access = std::make_shared<spdlog::logger>(
      std::string(aifgen::api::kAccessLoggerName), std::make_shared<spdlog::sinks::ostream_sink_mt>(std::cout, false));
  logger->flush_on(spdlog::level::trace);  // each service line at once, and the access lines before it
  spdlog::set_default_logger(logger);
  spdlog::register_logger(access);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::flush_every(std::chrono::seconds(1));
  struct FlushAtExit {
    ~FlushAtExit() { spdlog::shutdown(); }
  } flush_at_exit;
  // cpprest's default pool is 40 threads whatever the machine; a few per core serve as many
  // requests with less switching (long polls are parked, not held on a thread).
  crossplat::threadpool::initialize_with_threads(
      config.http_threads > 0 ? static_cast<std::size_t>(config.http_threads)
                              : std::max<std::size_t>(4, 2 * std::thread::hardware_concurrency()));
  try {
    // SQLite: one serve per data dir. PostgreSQL: many serve processes share the database and
    // the (shared) data dir, so there is nothing to lock.
    std::optional<aifgen::DataDirLock> lock;
    if (!config.shared_database()) lock.emplace(config.data_dir);
    aifgen::App app(config);
    aifgen::api::Server server(app);
    server.open();
    app.start_workers();
    const auto& effective = app.config();
    spdlog::info("aifgen {} listening on {}://{} (data dir {}, database {}, {} worker(s){}, uploads up to {} MiB)", AIFGEN_VERSION,
                 effective.tls_cert.empty() ? "http" : "https", effective.listen, effective.data_dir,
                 aifgen::storage::redact_database_url(effective.database_location()), effective.workers,
                 effective.worker_targets.empty() ? "" : " for targets " + fmt::format("{}", fmt::join(effective.worker_targets, ",")),
                 effective.max_upload_mb);
    if (effective.worker_only)
      spdlog::info("worker mode: this process runs jobs; its HTTP port serves only /healthz, /readyz and /metrics");
    else
      print_curl_example(effective, app.keys_required());
    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("signal {} received: stopping (running jobs are requeued at their next stage)", sig);
    server.close();
    app.stop_workers();
    return 0;
  } catch (const aifgen::Error& e) {
    spdlog::critical("cannot start: {} ({})", e.what(), e.type());
    return 2;
  } catch (const std::exception& e) {
    // A data dir that cannot be created (std::filesystem), a port that cannot be bound
    // (cpprest): say why and exit, instead of std::terminate's abort.
    spdlog::critical("cannot start: {}", e.what());
    return 2;
  }
}

}  // namespace

// --database: only PostgreSQL URLs (the embedded SQLite file is the default, chosen by omitting it).
const CLI::Validator database_url(
    [](std::string& v) {
      // The value is not echoed: it may hold a password.
      return aifgen::storage::is_postgres_url(v)
                 ? std::string()
                 : "not a postgresql:// URL (omit --database for the embedded SQLite file in --data-dir)";
    },
    "URL");

// --targets: target ids this build has.
const CLI::Validator known_target(
    [](std::string& v) {
      if (aifgen::find_target(v)) return std::string();
      std::string known;
      for (const auto* t : aifgen::all_targets()) known += (known.empty() ? "" : ", ") + t->descriptor().id;
      return "unknown target " + v + " (known: " + known + ")";
    },
    "TARGET");

// Kubernetes extended resource names ("vendor.com/name"), or empty for none.
const CLI::Validator k8s_resource_name(
    [](std::string& v) { return v.empty() || aifgen::is_extended_resource_name(v) ? std::string() : "not a Kubernetes extended resource name (vendor.domain/name): " + v; },
    "RESOURCE");

int main(int argc, char** argv) {
  // serve, worker, infer-server, run and bench all run models many times over.
  aifgen::engine::keep_freed_heap_for_repeated_runs();
  CLI::App cli{"aifgen: turn one ONNX model into deployment-ready variants for many targets"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", AIFGEN_VERSION);

  aifgen::Config config;
  // serve and worker take the same flags (a worker is a serve process without the public API).
  auto add_serve_options = [&](CLI::App* serve) {
    serve->add_option("--listen", config.listen, "HOST:PORT to listen on")->envname("AIFGEN_LISTEN")->capture_default_str();
    serve->add_option("--data-dir", config.data_dir, "database and artifact directory")->envname("AIFGEN_DATA_DIR")->capture_default_str();
    serve->add_option("--database", config.database,
                      "postgresql://USER:PASSWORD@HOST:PORT/DB: a PostgreSQL database many serve processes share "
                      "(default: the embedded SQLite file in --data-dir)")
        ->envname("AIFGEN_DATABASE_URL")->check(database_url);
    serve->add_option("--workers", config.workers, "job worker threads (0: API only, jobs run by other processes)")
        ->envname("AIFGEN_WORKERS")->check(CLI::Range(0, 64))->capture_default_str();
    serve->add_option("--job-threads", config.job_threads,
                      "cores each job's calibration and validation runs use (0: the host's cores shared evenly by the workers, at most 8)")
        ->envname("AIFGEN_JOB_THREADS")->check(CLI::Range(0, 256))->capture_default_str();
    serve->add_option("--targets", config.worker_targets,
                      "claim only jobs all of whose variants are for these targets (default: any job)")
        ->envname("AIFGEN_WORKER_TARGETS")->delimiter(',')->check(known_target);
    serve->add_option("--lease-s", config.lease_s,
                      "a running job's lease, renewed every third of it; a job whose worker died is requeued after it")
        ->envname("AIFGEN_LEASE_S")->check(CLI::Range(3, 3600))->capture_default_str();
    serve->add_option("--http-threads", config.http_threads, "threads answering HTTP (0: two per core, at least 4)")
        ->envname("AIFGEN_HTTP_THREADS")->check(CLI::Range(0, 256))->capture_default_str();
    serve->add_option("--max-upload-mb", config.max_upload_mb, "largest accepted model upload, MiB")
        ->envname("AIFGEN_MAX_UPLOAD_MB")->check(CLI::Range(1, 2047))->capture_default_str();
    serve->add_option("--max-calibration-mb", config.max_calibration_mb,
                      "largest calibration upload, and the most an .npz may decompress to, MiB")
        ->envname("AIFGEN_MAX_CALIBRATION_MB")->check(CLI::Range(1, 1 << 20))->capture_default_str();
    serve->add_option("--runtime-image", config.runtime_image, "image the CPU bundles' Dockerfiles start FROM (built by the top-level Dockerfile)")
        ->envname("AIFGEN_RUNTIME_IMAGE")->capture_default_str();
    serve->add_option("--k8s-gpu-resource", config.k8s_resources.gpu, "extended resource the NVIDIA bundles' manifests request (empty: none)")
        ->envname("AIFGEN_K8S_GPU_RESOURCE")->check(k8s_resource_name)->capture_default_str();
    serve->add_option("--k8s-fpga-resource", config.k8s_resources.fpga,
                      "extended resource the Vitis AI bundles' manifests request (empty: a privileged pod with the DPU's device nodes)")
        ->envname("AIFGEN_K8S_FPGA_RESOURCE")->check(k8s_resource_name);
    serve->add_option("--link-secret", config.link_secret, "hex key (>= 64 digits) signing download links; default: generated once into the data dir")
        ->envname("AIFGEN_LINK_SECRET");
    serve->add_option("--link-ttl-s", config.link_ttl_s, "seconds a signed download link stays valid")
        ->envname("AIFGEN_LINK_TTL_S")->check(CLI::Range(1, 7 * 24 * 3600))->capture_default_str();
    serve->add_option("--max-attempts", config.max_attempts, "runs of a job interrupted by crashes before it fails")
        ->envname("AIFGEN_MAX_ATTEMPTS")->check(CLI::Range(1, 100))->capture_default_str();
    serve->add_option("--max-queued-jobs", config.max_queued_jobs, "queued jobs before POST /v1/jobs answers 503")
        ->envname("AIFGEN_MAX_QUEUED_JOBS")->check(CLI::Range(1, 1000000))->capture_default_str();
    serve->add_option("--max-long-polls", config.max_long_polls, "parked GET /v1/jobs/{id}?wait= requests at once before 503")
        ->envname("AIFGEN_MAX_LONG_POLLS")->check(CLI::Range(1, 1000000))->capture_default_str();
    serve->add_option("--scrub-interval-s", config.scrub_interval_s, "re-hash every stored blob this often, quarantining corrupt ones (0: never)")
        ->envname("AIFGEN_SCRUB_INTERVAL_S")->check(CLI::Range(0, 365 * 24 * 3600))->capture_default_str();
    serve->add_option("--max-concurrent-uploads", config.max_concurrent_uploads, "uploads at once before POST /v1/models answers 503")
        ->envname("AIFGEN_MAX_CONCURRENT_UPLOADS")->check(CLI::Range(1, 10000))->capture_default_str();
    serve->add_option("--rate-limit-per-minute", config.rate_limit_per_minute, "requests per API key per minute (429 beyond)")
        ->envname("AIFGEN_RATE_LIMIT_PER_MINUTE")->check(CLI::Range(1, 10000000))->capture_default_str();
    serve->add_option("--stage-timeout-s", config.stage_timeout_s, "wall-clock limit per job stage; past it the variant fails")
        ->envname("AIFGEN_STAGE_TIMEOUT_S")->check(CLI::Range(0.001, 1e7))->capture_default_str();
    serve->add_option("--tls-cert", config.tls_cert, "PEM certificate chain: serve HTTPS only (with --tls-key)")->envname("AIFGEN_TLS_CERT");
    serve->add_option("--tls-key", config.tls_key, "PEM private key for --tls-cert")->envname("AIFGEN_TLS_KEY");
    serve->add_flag("--metrics-public", config.metrics_public, "serve /metrics without an API key")->envname("AIFGEN_METRICS_PUBLIC");
    serve->add_option("--debug-stage-delay-ms", config.debug_stage_delay_ms,
                      "testing only: pause at every job stage boundary")
        ->envname("AIFGEN_DEBUG_STAGE_DELAY_MS")->check(CLI::Range(0, 600000))->group("");
  };
  auto* serve = cli.add_subcommand("serve", "run the REST service (embedded SQLite + artifact store in --data-dir)");
  add_serve_options(serve);
  auto* worker = cli.add_subcommand("worker",
                                    "run jobs from a shared PostgreSQL queue; HTTP only for /healthz, /readyz and /metrics "
                                    "(same flags as serve; --database required)");
  add_serve_options(worker);

  std::string inspect_path;
  bool inspect_json = false;
  auto* inspect = cli.add_subcommand("inspect", "describe a model: IO, opsets, op census, parameters, MACs");
  inspect->add_option("model", inspect_path, "path to an .onnx file")->required();
  inspect->add_flag("--json", inspect_json, "print the record as JSON (same as the upload answer)");

  aifgen::EngineCliOptions engine_opts;
  auto add_engine_flags = [&](CLI::App* sub) {
    sub->add_option("model", engine_opts.model, "path to an .onnx file")->required();
    sub->add_option("--threads", engine_opts.threads, "intra-op threads")->check(CLI::Range(1, 256))->capture_default_str();
    sub->add_option("--shape", engine_opts.shapes, "bind an input's dims, NAME=1x3x640x640 (repeatable)");
    sub->add_option("--conv-algorithm", engine_opts.conv_algorithm,
                    "3x3 convolutions as Winograd: measured (per shape, kept when faster), direct (never) or winograd (always)")
        ->check(CLI::IsMember({"measured", "direct", "winograd"}))->capture_default_str();
    sub->add_option("--activation-layout", engine_opts.activation_layout,
                    "convolution chains' activation layout: measured (oneDNN's, raced against blocked where it converts), "
                    "onednn (oneDNN's picks) or blocked (nChw16c/nChw8c)")
        ->check(CLI::IsMember({"measured", "onednn", "blocked"}))->capture_default_str();
    sub->add_option("--recurrence", engine_opts.recurrence,
                    "RNN/LSTM/GRU layers both kernels can run: measured (per layer, the faster kept), engine (the engine's own "
                    "recurrence) or onednn (oneDNN's primitive)")
        ->check(CLI::IsMember({"measured", "engine", "onednn"}))->capture_default_str();
  };
  auto* run = cli.add_subcommand("run", "execute a model on the CPU engine with .npy inputs");
  add_engine_flags(run);
  run->add_option("--input", engine_opts.inputs, "NAME=FILE.npy (one per model input)")->required();
  run->add_option("--output-dir", engine_opts.output_dir, "where the outputs are written as NAME.npy")->required();
  auto* bench = cli.add_subcommand("bench", "time a model on the CPU engine with random inputs");
  add_engine_flags(bench);
  bench->add_option("--input", engine_opts.inputs, "NAME=FILE.npy: time on this value instead of a random one (repeatable)");
  bench->add_option("--warmup", engine_opts.warmup, "untimed runs first")->check(CLI::Range(0, 100000))->capture_default_str();
  bench->add_option("--iterations", engine_opts.iterations, "timed runs")->check(CLI::Range(1, 1000000))->capture_default_str();
  bench->add_option("--input-sets", engine_opts.input_sets,
                    "run N random inputs in turn (seeds 1..N; --input files stay fixed): a detector's dynamic tail then meets as many "
                    "proposal counts, as it does when serving")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  bench->add_flag("--json", engine_opts.json, "one JSON object (p50_ms, p90_ms, p99_ms, plan_ms, peak_bytes, ...)");
  bench->add_flag("--profile", engine_opts.profile, "also print kernel time per op type (waits after every kernel)");
  bench->add_flag("--profile-steps", engine_opts.profile_steps,
                  "also print time per planned step in plan order: op, output shape, threads (waits after every kernel)");

  std::string keys_data_dir = config.data_dir, keys_database, key_name, key_scope = "read", key_id;
  auto* keys = cli.add_subcommand("keys", "manage API keys (in the same --data-dir as serve)");
  keys->require_subcommand(1);
  keys->fallthrough();  // --data-dir may follow the subcommand
  keys->add_option("--data-dir", keys_data_dir, "data directory of the service")->envname("AIFGEN_DATA_DIR")->capture_default_str();
  keys->add_option("--database", keys_database, "the service's PostgreSQL database, when it has one")
      ->envname("AIFGEN_DATABASE_URL")->check(database_url);
  auto* keys_create = keys->add_subcommand("create", "create a key; it is printed once, alone on the last line");
  keys_create->add_option("--name", key_name, "who or what the key is for")->required();
  bool if_none = false;
  keys_create->add_flag("--if-none", if_none, "do nothing when an active key exists (first-key bootstrap)");
  keys_create->add_option("--scope", key_scope, "read (GET), write (also POST/DELETE) or admin")->check(CLI::IsMember({"read", "write", "admin"}))->capture_default_str();
  auto* keys_list = keys->add_subcommand("list", "list keys (ids, names, scopes; never the keys themselves)");
  auto* keys_revoke = keys->add_subcommand("revoke", "revoke a key by id");
  keys_revoke->add_option("id", key_id, "the key id shown by 'keys list'")->required();

  aifgen::ConvertOptions convert_opts;
  auto* convert = cli.add_subcommand("convert", "build variants offline: the service's pipeline, bundles into --out");
  convert->add_option("model", convert_opts.model, "path to an .onnx file")->required();
  convert->add_option("--targets", convert_opts.targets, "target ids (see GET /v1/targets)")->required()->delimiter(',');
  convert->add_option("--precisions", convert_opts.precisions, "precisions (default: every one each target offers)")->delimiter(',');
  convert->add_option("--out", convert_opts.out_dir, "directory for the bundles")->required();
  convert->add_option("--calibration", convert_opts.calibration_files,
                      "INT8 calibration data: .npy files named after the inputs (first dim = samples) or one .npz")
      ->delimiter(',')->check(CLI::ExistingFile);
  convert->add_option("--calibration-method", convert_opts.build.calibration_method,
                      "minmax, percentile, entropy, mse, or auto (each tried on the held-out samples, the best kept)")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "mse", "auto"}))->capture_default_str();
  convert->add_option("--accuracy-budget", convert_opts.accuracy_budget,
                      "INT8 accuracy budget on held-out samples: DROP[:SQNR_DB] (max top-1 drop for class scores, min SQNR for "
                      "other outputs; default 0.01:20 when --calibration is given) or off");
  convert->add_option("--bias-correction", convert_opts.build.bias_correction,
                      "INT8 bias correction: auto (judged on the held-out samples, kept where it helps), true or false")
      ->check(CLI::IsMember({"auto", "true", "false"}))->capture_default_str();
  convert->add_option("--percentile", convert_opts.build.percentile, "for --calibration-method percentile")
      ->check(CLI::Range(50.000001, 100.0))->capture_default_str();
  convert->add_option("--calibration-samples", convert_opts.build.calibration_samples, "calibration samples to use at most")
      ->check(CLI::Range(1, 4096))->capture_default_str();
  convert->add_option("--threads", convert_opts.threads,
                      "cores the calibration and validation runs use (0: the host's, at most 8); benchmarks stay at 1 thread")
      ->check(CLI::Range(0, 256))->capture_default_str();
  convert->add_option("--runtime-image", convert_opts.runtime_image, "image the CPU bundles' Dockerfiles start FROM")->capture_default_str();
  convert->add_option("--k8s-gpu-resource", convert_opts.k8s_resources.gpu, "extended resource the NVIDIA bundles' manifests request (empty: none)")
      ->check(k8s_resource_name)->capture_default_str();
  convert->add_option("--k8s-fpga-resource", convert_opts.k8s_resources.fpga, "extended resource the Vitis AI bundles' manifests request")
      ->check(k8s_resource_name);
  convert->add_option("--thresholds", convert_opts.thresholds,
                      "validation thresholds per precision, PRECISION=VALIDATED_DB:DEGRADED_DB (e.g. int8=20:10)")->delimiter(',');

  aifgen::api::InferServerOptions infer_opts;
  auto* infer = cli.add_subcommand("infer-server", "serve a CPU bundle over the KServe v2 / Open Inference Protocol (REST)");
  infer->add_option("--bundle", infer_opts.bundle_dir, "an unpacked x86_64-cpu or arm64-cpu bundle directory")->required()->check(CLI::ExistingDirectory);
  infer->add_option("--name", infer_opts.name, "model name in URLs (default: variant.json serving.model_name)");
  infer->add_option("--listen", infer_opts.listen, "HOST:PORT")->capture_default_str();
  infer->add_option("--threads", infer_opts.infer.threads, "intra-op threads per run (0: every core)")->check(CLI::Range(0, 256))->capture_default_str();
  infer->add_option("--max-batch", infer_opts.infer.max_batch, "rows merged into one run when the batch dim is free (1: no batching)")
      ->check(CLI::Range(1, 1024))->capture_default_str();
  infer->add_option("--api-key-file", infer_opts.api_key_file, "file of API keys, one per line: all but /v2/health/* need 'Authorization: Bearer KEY'")
      ->envname("AIFGEN_INFER_API_KEY_FILE")->check(CLI::ExistingFile);
  infer->add_option("--tls-cert", infer_opts.tls_cert, "PEM certificate chain: serve HTTPS only (with --tls-key)")->envname("AIFGEN_TLS_CERT");
  infer->add_option("--tls-key", infer_opts.tls_key, "PEM private key for --tls-cert")->envname("AIFGEN_TLS_KEY");
  std::size_t max_request_mb = 256;
  infer->add_option("--max-request-mb", max_request_mb, "largest request body, checked while it arrives (413 beyond)")
      ->check(CLI::Range(1, 65536))->capture_default_str();
  int batch_window_us = 2000;
  infer->add_option("--batch-window-us", batch_window_us, "how long a request waits for others to batch with")->check(CLI::Range(0, 1000000))->capture_default_str();
  infer->add_option("--max-input-elements", infer_opts.infer.max_input_elements,
                    "largest element count of one input a request may send (free dims are the client's; 0: no limit)")
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1} << 40))->capture_default_str();
  std::string infer_conv_algorithm = "measured";
  infer->add_option("--conv-algorithm", infer_conv_algorithm,
                    "3x3 convolutions as Winograd: measured (per shape, kept when faster), direct (never: results closest to the "
                    "textbook sum) or winograd (always)")
      ->check(CLI::IsMember({"measured", "direct", "winograd"}))->capture_default_str();
  infer->add_option("--max-cached-plans", infer_opts.infer.max_cached_plans,
                    "plans kept, one per input shape; the least recently used goes beyond this")
      ->check(CLI::Range(1, 4096))->capture_default_str();

  aifgen::api::LoadgenOptions load_opts;
  auto* loadgen = cli.add_subcommand("loadgen", "load-test a model served over the v2 protocol; optionally report to the service");
  loadgen->add_option("--url", load_opts.url, "base URL of the inference server")->capture_default_str();
  loadgen->add_option("--model", load_opts.model, "model name")->required();
  loadgen->add_option("--concurrency", load_opts.concurrency, "requests in flight")->check(CLI::Range(1, 1024))->capture_default_str();
  loadgen->add_option("--duration", load_opts.duration_s, "seconds")->check(CLI::Range(0.1, 86400.0))->capture_default_str();
  loadgen->add_option("--rate", load_opts.rate, "open loop at this many requests/s (default: closed loop)")->check(CLI::Range(0.0, 1e6));
  loadgen->add_option("--shape", load_opts.shapes, "NAME=1x3x224x224 for an input's free dims (repeatable)");
  loadgen->add_option("--report-to", load_opts.report_to, "aifgen service URL: post the result as a field benchmark");
  loadgen->add_option("--variant", load_opts.variant, "variant id for --report-to");
  loadgen->add_option("--token", load_opts.token, "API key (write scope) for --report-to")->envname("AIFGEN_TOKEN");

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with code 0; every other parse error is a bad argument,
    // which the README promises as exit status 2 (CLI11's own codes run from 100 up).
    const int code = cli.exit(e);
    return code == 0 ? 0 : 2;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (*serve) return run_serve(config);
  if (*worker) {
    if (config.database.empty()) {
      std::fprintf(stderr, "aifgen worker: --database (or AIFGEN_DATABASE_URL) is required: workers share a PostgreSQL queue "
                           "with the API replicas (with the embedded SQLite database, 'serve' runs the jobs itself)\n");
      return 2;
    }
    config.worker_only = true;
    return run_serve(config);
  }
  if (*inspect) return aifgen::run_inspect(inspect_path, inspect_json);
  if (*run) return aifgen::run_model(engine_opts);
  if (*bench) return aifgen::bench_model(engine_opts);
  if (*convert) return aifgen::run_convert(convert_opts);
  if (*infer) {
    infer_opts.infer.batch_window = std::chrono::microseconds(batch_window_us);
    infer_opts.max_request_bytes = max_request_mb << 20;
    infer_opts.infer.conv_algorithm = *aifgen::engine::parse_conv_algorithm(infer_conv_algorithm);  // IsMember checked it
    return aifgen::api::run_infer_server(infer_opts);
  }
  if (*loadgen) return aifgen::api::run_loadgen(load_opts);
  const std::string keys_location = keys_database.empty() ? keys_data_dir + "/aifgen.db" : keys_database;
  if (*keys_create) return aifgen::keys_create(keys_location, key_name, key_scope, if_none);
  if (*keys_list) return aifgen::keys_list(keys_location);
  if (*keys_revoke) return aifgen::keys_revoke(keys_location, key_id);
  return 1;
}

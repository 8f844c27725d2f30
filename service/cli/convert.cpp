// convert: accept the model like an upload would, build each variant, print a summary table.
// A progress line is redrawn on a terminal; without one, each stage is printed once.
#include "service/cli/convert.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>

#include "core/base/error.h"
#include "core/model_runs.h"
#include "core/onnx_model.h"
#include "core/base/sha256.h"
#include "core/quantize/stats_cache.h"
#include "core/base/random_hex.h"
#include "service/host_info.h"
#include "service/variant_builder.h"
#include "targets/registry.h"

namespace aifgen {
namespace {

void draw_progress(bool tty, const std::string& what, double fraction) {
  if (!tty) {
    std::fprintf(stderr, "  %s\n", what.c_str());
    return;
  }
  const int width = 30, filled = static_cast<int>(fraction * width);
  std::fprintf(stderr, "\r  [%s%s] %3d%%  %-60.60s", std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), '.').c_str(), static_cast<int>(fraction * 100), what.c_str());
  std::fflush(stderr);
}

// One or two lines on the INT8 accuracy budget: met or not, and which nodes stayed float.
void print_accuracy(const nlohmann::json& q) {
  if (!q.is_object() || !q.contains("accuracy")) return;
  const auto& a = q["accuracy"];
  if (!a.contains("met")) {
    std::printf("  accuracy budget: %s\n", a.value("why", std::string("not applied")).c_str());
    return;
  }
  const auto& chosen = a.contains("chosen") ? a["chosen"] : a["all_int8"];
  std::printf("  accuracy budget (max drop %.4g, min SQNR %.4g dB) on %d held-out sample(s): %s; method %s\n",
              a["budget"]["max_accuracy_drop"].get<double>(), a["budget"]["min_sqnr_db"].get<double>(), a["held_out_samples"].get<int>(),
              chosen["explanation"].get<std::string>().c_str(), q.value("method", std::string("?")).c_str());
  if (q.contains("mixed_precision")) {
    const auto& floats = q["mixed_precision"]["float_nodes"];
    std::string names;
    for (std::size_t i = 0; i < floats.size() && i < 8; ++i) names += (i ? ", " : "") + floats[i]["node"].get<std::string>();
    if (floats.size() > 8) names += ", ...";
    std::printf("  mixed precision: %zu node(s) kept float%s%s\n", floats.size(), floats.empty() ? "" : ": ", names.c_str());
    if (q["mixed_precision"].contains("speed")) {
      const auto& sp = q["mixed_precision"]["speed"];
      std::printf("  speed on this host (p50): fp32 %.2f ms, all int8 %.2f ms, mixed %.2f ms\n", sp["fp32_p50_ms"].get<double>(),
                  sp["all_int8_p50_ms"].get<double>(), sp["mixed_p50_ms"].get<double>());
    }
  }
}

}  // namespace

int run_convert(const ConvertOptions& o) {
  try {
    auto pairs = expand_requests(o.targets, o.precisions);
    BuildOptions build = o.build;
    for (const auto& t : o.thresholds) parse_threshold_flag(t, build);
    if (!o.accuracy_budget.empty()) parse_budget_flag(o.accuracy_budget, build);
    std::optional<CalibrationSet> calibration;
    if (!o.calibration_files.empty()) calibration = read_calibration_files(o.calibration_files);
    auto source = load_model_file(o.model);
    auto checked = source;
    accept_model(checked);  // same checks as an upload; the pipeline starts from the file's bytes
    std::filesystem::create_directories(o.out_dir);
    const std::string sha = Sha256::of_file(o.model);
    const std::string stem = std::filesystem::path(o.model).stem().string();
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    int failed = 0;
    quantize::StatsCache stats_cache;  // int8 variants for several targets calibrate once
    std::vector<std::string> target_ids;
    for (const auto& pair : pairs) target_ids.push_back(pair.first);
    const int threads = o.threads > 0 ? o.threads : job_threads(1);  // the one job of this process
    ModelRuns source_runs(source, source_runs_plan(target_ids, threads));  // one plan of the source for all
    std::printf("%-28s %-10s %-10s %9s %12s %12s  %s\n", "variant", "precision", "validation", "SQNR dB", "source p50",
                "variant p50", "bundle");
    for (std::size_t i = 0; i < pairs.size(); ++i) {
      const auto& [target_id, precision] = pairs[i];
      VariantRequest req;
      req.variant_id = new_id("var");
      req.source_id = sha;
      req.source_name = stem;
      req.source_bytes = static_cast<std::int64_t>(std::filesystem::file_size(o.model));
      req.target = find_target(target_id);
      req.precision = precision;
      req.bundle_path = o.out_dir + "/" + stem + "-" + target_id + "-" + precision + ".tar.gz";
      req.calibration = calibration ? &*calibration : nullptr;
      req.options = build;
      req.runtime_image = o.runtime_image;
      req.threads = threads;
      req.resources = o.k8s_resources;
      req.stats_cache = &stats_cache;
      req.source_runs = &source_runs;
      const double base = static_cast<double>(i) / static_cast<double>(pairs.size());
      try {
        auto built = build_variant(source, req, [&](const std::string& what, double f) {
          draw_progress(tty, what, base + f / static_cast<double>(pairs.size()));
        });
        if (tty) std::fprintf(stderr, "\r%*s\r", 110, "");
        double worst = 200;
        for (const auto& m : built.validation.outputs) worst = std::min(worst, m.sqnr_db);
        std::string src_p50 = "-", var_p50 = "-";
        for (const auto& b : built.benchmarks) {
          char text[32];
          std::snprintf(text, sizeof text, "%.2f ms", b.p50_ms);
          (b.subject == "source" ? src_p50 : var_p50) = text;
        }
        std::printf("%-28s %-10s %-10s %9.1f %12s %12s  %s\n", target_id.c_str(), precision.c_str(), validation_status_name(built.validation.status),
                    built.validation.outputs.empty() ? 0.0 : worst, src_p50.c_str(), var_p50.c_str(), req.bundle_path.c_str());
        if (built.validation.status == ValidationStatus::kSkipped || built.validation.status == ValidationStatus::kDegraded)
          std::printf("  note: %s\n", built.validation.reason.c_str());
        if (precision == "int8" && !calibration) std::printf("  note: calibrated on SYNTHETIC inputs (no --calibration given)\n");
        print_accuracy(built.quantization);
      } catch (const Error& e) {
        if (tty) std::fprintf(stderr, "\r%*s\r", 110, "");
        std::filesystem::remove(req.bundle_path);
        std::printf("%-28s %-10s failed: %s\n", target_id.c_str(), precision.c_str(), e.what());
        ++failed;
      } catch (const std::exception& e) {
        // A bug, not bad input: fail this variant, say so, and go on with the others.
        if (tty) std::fprintf(stderr, "\r%*s\r", 110, "");
        std::filesystem::remove(req.bundle_path);
        std::printf("%-28s %-10s failed: internal error: %s\n", target_id.c_str(), precision.c_str(), e.what());
        ++failed;
      }
    }
    return failed ? 1 : 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "aifgen convert: %s (%s)\n", e.what(), e.type().c_str());
    if (!e.allowed().empty()) {
      std::fprintf(stderr, "available:");
      for (const auto& a : e.allowed()) std::fprintf(stderr, " %s", a.c_str());
      std::fprintf(stderr, "\n");
    }
    return e.code() == ErrorCode::kInvalidModel ? 3 : 2;
  }
}

}  // namespace aifgen

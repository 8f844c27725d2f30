// run / bench over core/engine: argument parsing into SessionOptions, .npy IO, timing table.
#include "service/cli/engine.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "core/engine/npy.h"
#include "core/engine/random_inputs.h"
#include "core/engine/timing.h"
#include "core/engine/session.h"
#include "core/base/error.h"
#include "core/onnx_model.h"

namespace aifgen {
namespace {

using engine::Tensor;

std::pair<std::string, std::string> split_assignment(const std::string& s, const char* flag) {
  auto eq = s.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == s.size())
    throw Error(ErrorCode::kInvalidArgument, "invalid-argument", std::string(flag) + " expects NAME=VALUE, got '" + s + "'");
  return {s.substr(0, eq), s.substr(eq + 1)};
}

engine::Shape parse_shape(const std::string& text) {
  engine::Shape shape;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto x = text.find('x', start);
    auto part = text.substr(start, x == std::string::npos ? std::string::npos : x - start);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos || part.size() > 9)
      throw Error(ErrorCode::kInvalidArgument, "invalid-argument", "--shape dims must look like 1x3x224x224, got '" + text + "'");
    shape.push_back(std::stoll(part));
    if (x == std::string::npos) break;
    start = x + 1;
  }
  return shape;
}

engine::SessionOptions session_options(const EngineCliOptions& o) {
  engine::SessionOptions so;
  so.threads = o.threads;
  // main.cpp accepts only the three names.
  so.conv_algorithm = engine::parse_conv_algorithm(o.conv_algorithm).value_or(engine::ConvAlgorithm::kMeasured);
  so.activation_layout = engine::parse_activation_layout(o.activation_layout).value_or(engine::ActivationLayout::kMeasured);
  so.recurrence = engine::parse_recurrence_kernel(o.recurrence).value_or(engine::RecurrenceKernel::kMeasured);
  for (const auto& s : o.shapes) {
    auto [name, dims] = split_assignment(s, "--shape");
    so.input_shapes[name] = parse_shape(dims);
  }
  return so;
}

std::string file_safe(const std::string& name) {
  std::string out;
  for (char c : name) out.push_back(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ? c : '_');
  return out;
}

// A field of /proc/self/status in bytes: "VmHWM:" (peak resident set) or "VmRSS:" (now); 0 where
// there is none.
std::size_t status_bytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::stoull(line.substr(field.size())) * 1024;
  return 0;
}
std::size_t peak_rss_bytes() { return status_bytes("VmHWM:"); }
std::size_t rss_bytes() { return status_bytes("VmRSS:"); }

int report_error(const char* cmd, const Error& e) {
  std::fprintf(stderr, "aifgen %s: %s (%s)\n", cmd, e.what(), e.type().c_str());
  return e.code() == ErrorCode::kInvalidModel || e.code() == ErrorCode::kUnprocessable ? 3 : 2;
}

// The --input files by name; each binds its input's dims unless --shape did.
std::map<std::string, Tensor> read_given_inputs(const EngineCliOptions& o, engine::SessionOptions& so) {
  std::map<std::string, Tensor> given;
  for (const auto& a : o.inputs) {
    auto [name, file] = split_assignment(a, "--input");
    given[name] = engine::read_npy(file);
    if (!so.input_shapes.count(name)) so.input_shapes[name] = given[name].shape;
  }
  return given;
}

// The session's inputs in order, from the --input files; `fill` makes one none was given for
// (or, when it returns nullopt, that input is missing: a CLI error naming it).
template <typename Fill>
std::vector<Tensor> inputs_in_order(const engine::Session& session, const std::map<std::string, Tensor>& given, Fill fill) {
  std::vector<Tensor> inputs;
  for (const auto& io : session.inputs()) {
    if (auto it = given.find(io.name); it != given.end()) {
      inputs.push_back(it->second);
      continue;
    }
    std::optional<Tensor> made = fill(io);
    if (!made) throw Error(ErrorCode::kInvalidArgument, "missing-input", "no --input given for model input '" + io.name + "'");
    inputs.push_back(std::move(*made));
  }
  return inputs;
}

// Refuses, before planning, an --input naming no input of the model (its dims would bind
// nothing and the real input would be planned at a guessed size).
void check_given_names(const onnx::ModelProto& model, const std::map<std::string, Tensor>& given) {
  for (const auto& [name, t] : given) {
    const auto& ins = model.graph().input();
    if (std::none_of(ins.begin(), ins.end(), [&](const auto& io) { return io.name() == name; }))
      throw Error(ErrorCode::kInvalidArgument, "invalid-argument", "--input names '" + name + "', which is not an input of the model");
  }
}

}  // namespace

int run_model(const EngineCliOptions& o) {
  try {
    auto so = session_options(o);
    auto given = read_given_inputs(o, so);
    auto model = load_model_file(o.model);
    check_given_names(model, given);
    engine::Session session(model, so);
    auto inputs = inputs_in_order(session, given, [](const auto&) { return std::optional<Tensor>{}; });
    auto outputs = session.run(inputs);
    std::filesystem::create_directories(o.output_dir);
    for (std::size_t i = 0; i < outputs.size(); ++i) {
      auto path = o.output_dir + "/" + file_safe(session.outputs()[i].name) + ".npy";
      engine::write_npy(path, outputs[i]);
      std::printf("%s  %s %s\n", path.c_str(), engine::dtype_str(outputs[i].dtype), engine::shape_str(outputs[i].shape).c_str());
    }
    return 0;
  } catch (const Error& e) {
    return report_error("run", e);
  }
}

int bench_model(const EngineCliOptions& o) {
  try {
    auto so = session_options(o);
    so.profile = o.profile || o.profile_steps;
    auto given = read_given_inputs(o, so);
    // The model is freed once planned, as a serving process would, so the RSS printed below is
    // what the plan holds (the kernels keep their own copies of the weights).
    auto model = load_model_file(o.model);
    check_given_names(model, given);
    engine::Session session(std::move(model), so);
    // Random values for inputs no --input names (a detector's speed depends on its image, so
    // comparisons with another runtime pass the same file to both).
    // --input-sets N: N such sets (seeds 1..N) run in turn.
    std::vector<std::vector<Tensor>> input_sets;
    for (int set = 1; set <= o.input_sets; ++set) {
      const auto random = engine::random_inputs(session.inputs(), static_cast<std::uint32_t>(set));
      input_sets.push_back(inputs_in_order(session, given, [&](const engine::IoInfo& io) {
        const auto& ins = session.inputs();
        const auto k = static_cast<std::size_t>(std::find_if(ins.begin(), ins.end(), [&](const auto& x) { return x.name == io.name; }) - ins.begin());
        return std::optional<Tensor>{random[k]};
      }));
    }
    auto stats = engine::time_runs(session, input_sets, o.warmup, o.iterations);
    auto q = [&](double p) { return p == 0.5 ? stats.p50_ms : p == 0.9 ? stats.p90_ms : stats.p99_ms; };
    nlohmann::json j = {
        {"model", std::filesystem::path(o.model).filename().string()},
        {"threads", o.threads},
        {"threads_used", session.threads()},
        {"iterations", o.iterations},
        {"input_sets", o.input_sets},
        {"plan_ms", session.plan_ms()},
        {"p50_ms", q(0.5)},
        {"p90_ms", q(0.9)},
        {"p99_ms", q(0.99)},
        {"mean_ms", stats.mean_ms},
        {"throughput_per_s", stats.throughput_per_s},
        {"peak_bytes", session.arena_bytes() + session.constant_bytes()},
        {"arena_bytes", session.arena_bytes()},
        {"constant_bytes", session.constant_bytes()},
        {"rss_peak_bytes", peak_rss_bytes()},
        {"rss_bytes", rss_bytes()},
        {"kernels", session.kernel_count()},
        {"conv_algorithm", o.conv_algorithm},
        {"winograd_convolutions", session.winograd_convolutions()},
        {"merged_group_convolutions", session.merged_group_convolutions()},
        {"split_output_convolutions", session.split_output_convolutions()},
        {"pointwise_products", session.pointwise_products()},
        {"recurrence", o.recurrence},
        {"engine_recurrences", session.engine_recurrences()},
        {"conv_algorithm_choice", session.conv_algorithm_choice()},
        {"layout_conversions", session.layout_conversions()},
        {"grouped_channels_last_convolutions", session.grouped_channels_last_convolutions()},
        {"activation_layout", o.activation_layout},
        {"activation_layout_choice", session.activation_layout_choice()},
    };
    const double runs = o.iterations;  // time_runs forgets the warm-up's profile
    const auto steps = o.profile_steps ? session.step_profile() : std::vector<engine::StepProfile>{};
    if (o.json && o.profile_steps) {
      auto& list = j["steps"] = nlohmann::json::array();
      for (const auto& s : steps)
        list.push_back({{"index", s.index}, {"op", s.op}, {"output", s.output}, {"threads", s.threads}, {"ran_threads", s.ran_threads}, {"ms", s.total_ms / runs}});
    }
    if (o.json) {
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("model       %s (%zu kernels after folding)\n", j["model"].get<std::string>().c_str(), session.kernel_count());
      if (session.threads() == o.threads && session.thread_choice().empty()) std::printf("threads     %d\n", o.threads);
      else if (session.threads() == o.threads) std::printf("threads     %d (%s)\n", o.threads, session.thread_choice().c_str());
      else std::printf("threads     %d asked, %d used (%s)\n", o.threads, session.threads(), session.thread_choice().c_str());
      if (session.conv_algorithm_choice().empty())
        std::printf("plan        %.1f ms (convolutions %s: %zu as Winograd)\n", session.plan_ms(), o.conv_algorithm.c_str(),
                    session.winograd_convolutions());
      else
        std::printf("plan        %.1f ms (convolutions %s: %s)\n", session.plan_ms(), o.conv_algorithm.c_str(),
                    session.conv_algorithm_choice().c_str());
      if (session.merged_group_convolutions() + session.split_output_convolutions() > 0)
        std::printf("            %zu grouped with narrow groups joined, %zu with output channels split over the threads\n",
                    session.merged_group_convolutions(), session.split_output_convolutions());
      if (session.pointwise_products() > 0)
        std::printf("            %zu matrix products by constant weights as 1x1 convolutions (measured faster)\n", session.pointwise_products());
      if (session.engine_recurrences() > 0)
        std::printf("            %zu recurrent layers on the engine's own recurrence (recurrence %s)\n", session.engine_recurrences(),
                    o.recurrence.c_str());
      if (!session.activation_layout_choice().empty())
        std::printf("layouts     %s\n", session.activation_layout_choice().c_str());
      std::printf("latency     p50 %.3f ms   p90 %.3f ms   p99 %.3f ms   (%d iterations after %d warm-up%s)\n", q(0.5), q(0.9),
                  q(0.99), o.iterations, o.warmup,
                  o.input_sets > 1 ? (", " + std::to_string(o.input_sets) + " input sets in turn").c_str() : "");
      std::printf("throughput  %.1f inferences/s\n", j["throughput_per_s"].get<double>());
      std::printf("memory      arena %.1f MiB + constants %.1f MiB; process RSS %.1f MiB after the runs, peak %.1f MiB\n",
                  session.arena_bytes() / 1048576.0, session.constant_bytes() / 1048576.0, rss_bytes() / 1048576.0,
                  peak_rss_bytes() / 1048576.0);
    }
    if (o.profile) {
      std::printf("%-36s %8s %12s\n", "op (per run)", "calls", "ms");
      for (const auto& p : session.profile())
        std::printf("%-36s %8.0f %12.3f\n", p.op.c_str(), p.calls / runs, p.total_ms / runs);
    }
    if (o.profile_steps && !o.json) {
      // A step that ran with another thread count than planned says so ("2 ran 1").
      std::printf("%-6s %-28s %-24s %9s %10s\n", "step", "op", "output", "threads", "ms/run");
      for (const auto& s : steps) {
        const std::string threads =
            s.ran_threads == s.threads ? std::to_string(s.threads) : std::to_string(s.threads) + " ran " + std::to_string(s.ran_threads);
        std::printf("%-6zu %-28s %-24s %9s %10.3f\n", s.index, s.op.c_str(), engine::shape_str(s.output).c_str(), threads.c_str(),
                    s.total_ms / runs);
      }
    }
    return 0;
  } catch (const Error& e) {
    return report_error("bench", e);
  }
}

}  // namespace aifgen

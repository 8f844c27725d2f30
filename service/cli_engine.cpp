// run / bench over core/engine: argument parsing into SessionOptions, .npy IO, timing table.
#include "service/cli_engine.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/engine/npy.h"
#include "core/engine/session.h"
#include "core/error.h"
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

// Deterministic inputs like ort-bench's: floats uniform in [-1, 1], integers in [0, 100).
Tensor random_input(const engine::IoInfo& io, std::mt19937& gen) {
  Tensor t = Tensor::allocate(io.dtype, io.shape);
  std::uniform_real_distribution<float> f(-1.f, 1.f);
  std::uniform_int_distribution<int> i(0, 99);
  for (std::int64_t k = 0; k < t.numel(); ++k) {
    switch (io.dtype) {
      case engine::DType::kF32: t.as<float>()[k] = f(gen); break;
      case engine::DType::kF64: t.as<double>()[k] = f(gen); break;
      case engine::DType::kI64: t.as<std::int64_t>()[k] = i(gen); break;
      case engine::DType::kI32: t.as<std::int32_t>()[k] = i(gen); break;
      default: break;  // zero-filled
    }
  }
  return t;
}

std::size_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  return 0;
}

int report_error(const char* cmd, const Error& e) {
  std::fprintf(stderr, "aifgen %s: %s (%s)\n", cmd, e.what(), e.type().c_str());
  return e.code() == ErrorCode::kInvalidModel || e.code() == ErrorCode::kUnprocessable ? 3 : 2;
}

}  // namespace

int run_model(const EngineCliOptions& o) {
  try {
    auto so = session_options(o);
    std::map<std::string, Tensor> given;
    for (const auto& a : o.inputs) {
      auto [name, file] = split_assignment(a, "--input");
      given[name] = engine::read_npy(file);
      if (!so.input_shapes.count(name)) so.input_shapes[name] = given[name].shape;
    }
    auto model = load_model_file(o.model);
    engine::Session session(model, so);
    std::vector<Tensor> inputs;
    for (const auto& io : session.inputs()) {
      auto it = given.find(io.name);
      if (it == given.end())
        throw Error(ErrorCode::kInvalidArgument, "missing-input", "no --input given for model input '" + io.name + "'");
      inputs.push_back(it->second);
    }
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
    auto model = load_model_file(o.model);
    auto so = session_options(o);
    so.profile = o.profile;
    engine::Session session(model, so);
    std::mt19937 gen(1);
    std::vector<Tensor> inputs;
    for (const auto& io : session.inputs()) inputs.push_back(random_input(io, gen));
    for (int i = 0; i < o.warmup; ++i) session.run(inputs);
    std::vector<double> ms;
    for (int i = 0; i < o.iterations; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      session.run(inputs);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    auto q = [&](double p) { return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, static_cast<std::size_t>(p * ms.size()))]; };
    double mean = 0;
    for (double v : ms) mean += v;
    mean /= std::max<std::size_t>(ms.size(), 1);
    const std::int64_t batch = session.inputs().empty() || session.inputs()[0].shape.empty() ? 1 : session.inputs()[0].shape[0];
    nlohmann::json j = {
        {"model", std::filesystem::path(o.model).filename().string()},
        {"threads", o.threads},
        {"iterations", o.iterations},
        {"plan_ms", session.plan_ms()},
        {"p50_ms", q(0.5)},
        {"p90_ms", q(0.9)},
        {"p99_ms", q(0.99)},
        {"mean_ms", mean},
        {"throughput_per_s", mean > 0 ? 1000.0 * static_cast<double>(batch) / mean : 0},
        {"peak_bytes", session.arena_bytes() + session.constant_bytes()},
        {"arena_bytes", session.arena_bytes()},
        {"constant_bytes", session.constant_bytes()},
        {"rss_peak_bytes", peak_rss_bytes()},
        {"kernels", session.kernel_count()},
    };
    if (o.json) {
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("model       %s (%zu kernels after folding)\nthreads     %d\nplan        %.1f ms\n", j["model"].get<std::string>().c_str(),
                  session.kernel_count(), o.threads, session.plan_ms());
      std::printf("latency     p50 %.3f ms   p90 %.3f ms   p99 %.3f ms   (%d iterations after %d warm-up)\n", q(0.5), q(0.9),
                  q(0.99), o.iterations, o.warmup);
      std::printf("throughput  %.1f inferences/s\n", j["throughput_per_s"].get<double>());
      std::printf("memory      arena %.1f MiB + constants %.1f MiB; process peak RSS %.1f MiB\n",
                  session.arena_bytes() / 1048576.0, session.constant_bytes() / 1048576.0, peak_rss_bytes() / 1048576.0);
    }
    if (o.profile) {
      const double runs = o.warmup + o.iterations;
      std::printf("%-36s %8s %12s\n", "op (per run)", "calls", "ms");
      for (const auto& p : session.profile())
        std::printf("%-36s %8.0f %12.3f\n", p.op.c_str(), p.calls / runs, p.total_ms / runs);
    }
    return 0;
  } catch (const Error& e) {
    return report_error("bench", e);
  }
}

}  // namespace aifgen

// Latency is measured from when a request was due (open loop) or sent (closed loop) to when its
// reply was read, so a slow server cannot hide queueing (no coordinated omission).
#include "api/kserve/loadgen.h"

#include <cpprest/http_client.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "api/kserve/kserve_codec.h"
#include "core/engine/random_inputs.h"
#include "core/base/error.h"
#include "service/host_info.h"

namespace aifgen::api {
namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto idx = static_cast<std::size_t>(std::min<double>(static_cast<double>(v.size() - 1), p / 100.0 * static_cast<double>(v.size() - 1) + 0.5));
  return v[idx];
}

std::string gpu_names() {
  FILE* p = ::popen("nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null", "r");
  if (!p) return "";
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  return out;
}

engine::Shape parse_dims(const std::string& text) {
  engine::Shape s;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, 'x')) s.push_back(std::stoll(part));
  return s;
}

}  // namespace

std::string hardware_description_json() {
  nlohmann::json j = {{"cpu", host_description()}, {"cores", std::thread::hardware_concurrency()}, {"gpus", nlohmann::json::array()}};
  std::stringstream ss(gpu_names());
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) j["gpus"].push_back(line);
  utsname u{};
  if (::uname(&u) == 0) j["os"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  return j.dump();
}

int run_loadgen(const LoadgenOptions& o) {
  try {
    web::http::client::http_client_config cfg;
    cfg.set_timeout(std::chrono::seconds(60));
    web::http::client::http_client meta_client(o.url, cfg);
    auto meta = meta_client.request(web::http::methods::GET, "/v2/models/" + o.model).get();
    if (meta.status_code() != 200)
      throw Error(ErrorCode::kInvalidArgument, "loadgen-no-model", o.url + " has no model '" + o.model + "' (HTTP " + std::to_string(meta.status_code()) + ")");
    auto info = nlohmann::json::parse(meta.extract_string().get());
    std::map<std::string, engine::Shape> given;
    for (const auto& s : o.shapes) {
      auto eq = s.find('=');
      if (eq == std::string::npos) throw Error(ErrorCode::kInvalidArgument, "loadgen-bad-shape", "--shape wants NAME=1x3x224x224");
      given[s.substr(0, eq)] = parse_dims(s.substr(eq + 1));
    }
    std::vector<engine::IoInfo> io;
    for (const auto& in : info["inputs"]) {
      engine::IoInfo i{in["name"].get<std::string>(), dtype_from_v2(in["datatype"].get<std::string>()), {}};
      if (given.count(i.name)) {
        i.shape = given[i.name];
      } else {
        std::size_t k = 0;
        for (const auto& d : in["shape"]) i.shape.push_back(d.get<std::int64_t>() >= 0 ? d.get<std::int64_t>() : (k++ == 0 && i.shape.empty() ? 1 : 224));
      }
      io.push_back(i);
    }
    auto tensors = engine::random_inputs(io, 42);
    std::vector<std::pair<std::string, engine::Tensor>> named;
    for (std::size_t k = 0; k < io.size(); ++k) named.emplace_back(io[k].name, tensors[k]);
    const auto request = encode_binary_request(named);
    const std::string path = "/v2/models/" + o.model + "/infer";
    const std::int64_t batch = io.empty() || io[0].shape.empty() ? 1 : io[0].shape[0];

    std::mutex mu;
    std::vector<double> latencies;
    std::atomic<std::int64_t> errors{0}, next{0}, done{0};
    std::string first_error;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
    auto worker = [&] {
      web::http::client::http_client client(o.url, cfg);
      std::vector<double> mine;
      for (;;) {
        auto due = Clock::now();
        if (o.rate > 0) {
          const auto k = next++;
          due = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(static_cast<double>(k) / o.rate));
          if (due >= deadline) break;
          std::this_thread::sleep_until(due);
        } else if (due >= deadline) {
          break;
        }
        try {
          web::http::http_request req(web::http::methods::POST);
          req.set_request_uri(path);
          req.headers().add("Inference-Header-Content-Length", std::to_string(request.header_length));
          req.set_body(std::vector<unsigned char>(request.body.begin(), request.body.end()));
          req.headers().set_content_type("application/octet-stream");
          auto resp = client.request(req).get();
          auto body = resp.extract_vector().get();
          if (resp.status_code() != 200) {
            ++errors;
            std::lock_guard lock(mu);
            if (first_error.empty()) first_error = "HTTP " + std::to_string(resp.status_code()) + ": " + std::string(body.begin(), body.end()).substr(0, 200);
          } else {
            mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - due).count());
          }
        } catch (const std::exception& e) {
          ++errors;
          std::lock_guard lock(mu);
          if (first_error.empty()) first_error = e.what();
        }
        ++done;
      }
      std::lock_guard lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < std::max(1, o.concurrency); ++i) threads.emplace_back(worker);
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    while (Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 250 : 1000));
      const double t = std::chrono::duration<double>(Clock::now() - start).count();
      std::fprintf(stderr, tty ? "\r  %5.1fs  %lld requests  %lld errors  %.1f/s   " : "  %5.1fs  %lld requests  %lld errors  %.1f/s\n", t,
                   static_cast<long long>(done.load()), static_cast<long long>(errors.load()), static_cast<double>(done.load()) / std::max(t, 1e-9));
      std::fflush(stderr);
    }
    for (auto& th : threads) th.join();
    if (tty) std::fprintf(stderr, "\n");
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const double p50 = percentile(latencies, 50), p90 = percentile(latencies, 90), p99 = percentile(latencies, 99);
    const double throughput = static_cast<double>(latencies.size()) * static_cast<double>(batch) / elapsed;
    std::printf("model        %s at %s (batch %lld per request)\n", o.model.c_str(), o.url.c_str(), static_cast<long long>(batch));
    std::printf("load         %s, %d in flight, %.1f s\n", o.rate > 0 ? ("open loop " + std::to_string(o.rate) + "/s").c_str() : "closed loop",
                o.concurrency, elapsed);
    std::printf("requests     %zu ok, %lld errors\n", latencies.size(), static_cast<long long>(errors.load()));
    std::printf("latency      p50 %.3f ms   p90 %.3f ms   p99 %.3f ms\n", p50, p90, p99);
    std::printf("throughput   %.1f inferences/s\n", throughput);
    if (!first_error.empty()) std::printf("first error  %s\n", first_error.c_str());
    if (latencies.empty()) return 1;
    if (!o.report_to.empty()) {
      // No token is fine for a service in local-only mode (no API key created yet).
      if (o.variant.empty()) throw Error(ErrorCode::kInvalidArgument, "loadgen-report", "--report-to needs --variant");
      nlohmann::json hw = nlohmann::json::parse(hardware_description_json());
      std::string host = hw["cpu"].get<std::string>();
      for (const auto& g : hw["gpus"]) host += ", " + g.get<std::string>();
      nlohmann::json report = {{"host", host}, {"hardware", hw}, {"concurrency", o.concurrency}, {"batch", batch},
                               {"requests", static_cast<std::int64_t>(latencies.size())}, {"p50_ms", p50}, {"p90_ms", p90},
                               {"p99_ms", p99}, {"throughput_per_s", throughput}};
      web::http::client::http_client svc(o.report_to, cfg);
      web::http::http_request req(web::http::methods::POST);
      req.set_request_uri("/v1/variants/" + o.variant + "/benchmarks");
      if (!o.token.empty()) req.headers().add("Authorization", "Bearer " + o.token);
      req.set_body(report.dump(), "application/json");
      auto resp = svc.request(req).get();
      auto body = resp.extract_string().get();
      if (resp.status_code() != 201) {
        std::fprintf(stderr, "aifgen loadgen: the report was refused: HTTP %d %s\n", resp.status_code(), body.c_str());
        return 1;
      }
      std::printf("reported     to %s as a field benchmark of %s\n", o.report_to.c_str(), o.variant.c_str());
    }
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "aifgen loadgen: %s (%s)\n", e.what(), e.type().c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aifgen loadgen: %s\n", e.what());
    return 2;
  }
}

}  // namespace aifgen::api

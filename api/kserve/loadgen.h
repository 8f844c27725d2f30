// `aifgen loadgen`: the bundles' client. Sends real v2 inference requests (binary tensor
// extension, random inputs shaped from the model's metadata), closed loop with C requests in
// flight or open loop at R requests/s, prints a live progress line and p50/p90/p99 latency and
// throughput, and with --report-to posts the result with a hardware description to
// POST /v1/variants/{id}/benchmarks.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace aifgen::api {

struct LoadgenOptions {
  std::string url = "http://127.0.0.1:8000";
  std::string model;                 // default: the server's only model is unknown to v2, so required
  int concurrency = 4;
  double duration_s = 30;
  double rate = 0;                   // requests/s; 0: closed loop
  std::vector<std::string> shapes;   // NAME=1x3x224x224 for free dims (default: batch 1, others 224)
  std::string report_to, variant, token;
};

int run_loadgen(const LoadgenOptions& o);

// What this machine is, for field reports: {"cpu_model", "cores", "gpus": [...], "os"}.
std::string hardware_description_json();

}  // namespace aifgen::api

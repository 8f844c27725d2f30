// `aifgen convert MODEL.onnx --targets ... [--precisions ...] --out DIR`: the service's variant
// pipeline offline, writing one bundle per (target, precision) into DIR.
#pragma once

#include "targets/target.h"

#include <string>

#include "service/build_options.h"
#include <vector>

namespace aifgen {

struct ConvertOptions {
  std::string model;
  std::vector<std::string> targets;
  std::vector<std::string> precisions;  // empty: every precision of each target
  std::string out_dir;
  std::vector<std::string> calibration_files;  // empty: synthetic calibration
  std::vector<std::string> thresholds;         // "int8=15:8"
  std::string accuracy_budget;                 // "off" or DROP[:SQNR_DB]; empty: the default
  BuildOptions build;
  std::string runtime_image = "aifgen:latest";
  DeviceResources k8s_resources;
  int threads = 0;  // cores the passes' probes and validation runs use; 0: job_threads(1)
};

int run_convert(const ConvertOptions& o);

}  // namespace aifgen

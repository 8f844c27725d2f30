// inspect: load like the service does (same limits, checker, inference), print a table or JSON.
#include "service/cli/inspect.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/base/error.h"
#include "core/model_info.h"
#include "core/model_info_json.h"
#include "core/onnx_model.h"
#include "core/base/sha256.h"
#include "targets/registry.h"

namespace aifgen {
namespace {

std::string with_commas(std::int64_t n) {
  std::string s = std::to_string(n), out;
  int count = 0;
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    if (count && count % 3 == 0 && *it != '-') out.insert(out.begin(), ',');
    out.insert(out.begin(), *it);
    ++count;
  }
  return out;
}

std::string shape_text(const nlohmann::json& shape) {
  if (shape.is_null()) return "(unknown rank)";
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += shape[i].is_null() ? "?" : shape[i].is_string() ? shape[i].get<std::string>() : std::to_string(shape[i].get<std::int64_t>());
  }
  return s + "]";
}

void print_table(const std::string& path, const nlohmann::json& j) {
  std::printf("model      %s\n", path.c_str());
  std::printf("sha256     %s\n", j["sha256"].get<std::string>().c_str());
  std::printf("size       %s bytes\n", with_commas(j["size_bytes"].get<std::int64_t>()).c_str());
  std::string opsets;
  for (const auto& [d, v] : j["opset_imports"].items()) opsets += (opsets.empty() ? "" : ", ") + d + " " + std::to_string(v.get<int>());
  std::printf("ir         %d    opsets: %s\n", j["ir_version"].get<int>(), opsets.c_str());
  std::printf("producer   %s %s\n", j["producer"]["name"].get<std::string>().c_str(),
              j["producer"]["version"].get<std::string>().c_str());
  for (const char* io : {"inputs", "outputs"}) {
    std::printf("%s\n", io);
    for (const auto& t : j[io])
      std::printf("  %-32s %-8s %s\n", t["name"].get<std::string>().c_str(), t["dtype"].get<std::string>().c_str(),
                  shape_text(t["shape"]).c_str());
  }
  std::printf("parameters %s\n", with_commas(j["parameter_count"].get<std::int64_t>()).c_str());
  std::printf("MACs       %s at batch 1 (Conv, Gemm, MatMul)", with_commas(j["macs"].get<std::int64_t>()).c_str());
  auto unknown = j["macs_unknown_nodes"].get<std::int64_t>();
  if (unknown) std::printf("; %lld node(s) with unknown shapes not counted", static_cast<long long>(unknown));
  std::printf("\nnodes      %s\n", with_commas(j["node_count"].get<std::int64_t>()).c_str());
  std::printf("op census\n");
  for (const auto& [op, n] : j["op_census"].items()) std::printf("  %-24s %lld\n", op.c_str(), static_cast<long long>(n.get<std::int64_t>()));
  std::printf("targets\n");
  for (const auto& t : j["targets"])
    std::printf("  %-14s %-11s %s\n", t["id"].get<std::string>().c_str(), t["verdict"].get<std::string>().c_str(),
                t["summary"].get<std::string>().c_str());
}

}  // namespace

int run_inspect(const std::string& path, bool as_json) {
  try {
    auto proto = load_model_file(path);
    accept_model(proto);
    auto j = model_info_to_json(inspect_model(proto));
    j["sha256"] = Sha256::of_file(path);
    j["id"] = j["sha256"];
    j["size_bytes"] = static_cast<std::int64_t>(std::filesystem::file_size(path));
    // How each target would run it: native, partial (CPU fallback), or not at all.
    j["targets"] = nlohmann::json::array();
    const auto census = j["op_census"].get<std::map<std::string, std::int64_t>>();
    for (const auto* t : all_targets()) {
      auto s = t->assess(census);
      j["targets"].push_back({{"id", t->descriptor().id}, {"verdict", s.verdict}, {"summary", s.summary},
                              {"native_nodes", s.native_nodes}, {"fallback_nodes", s.fallback_nodes},
                              {"fallback_ops", s.fallback_ops}, {"unsupported_ops", s.unsupported_ops}});
    }
    if (as_json) std::cout << j.dump(2) << "\n";
    else print_table(path, j);
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "aifgen inspect: %s: %s (%s)\n", path.c_str(), e.what(), e.type().c_str());
    return e.code() == ErrorCode::kInvalidModel ? 3 : 2;
  }
}

}  // namespace aifgen

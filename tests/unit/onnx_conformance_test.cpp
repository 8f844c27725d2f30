// The ONNX backend node conformance tests (../shared/onnx-node-tests), run for every case whose
// ops the engine claims, to the backend tests' tolerances (rtol 1e-3, atol 1e-7). Cases of
// claimed ops that are known not to pass are listed, each with its reason, in
// tests/conformance_exclusions.txt; an excluded case that starts passing fails the test too, so
// the list stays short and true.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <cstring>

#include "core/engine/session.h"
#include "core/base/error.h"
#include "core/onnx_model.h"

namespace aifgen::engine {
namespace {

namespace fs = std::filesystem;

std::map<std::string, std::string> load_exclusions() {
  std::map<std::string, std::string> out;
  std::ifstream in(std::string(AIFGEN_SOURCE_DIR) + "/tests/conformance_exclusions.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    out[line.substr(0, colon)] = colon == std::string::npos ? "" : line.substr(colon + 1);
  }
  return out;
}

Tensor read_tensor_pb(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  onnx::TensorProto t;
  if (!t.ParseFromIstream(&in)) throw std::runtime_error("cannot parse " + p.string());
  return tensor_from_proto(t);
}

template <typename T>
std::string compare_values(const Tensor& got, const Tensor& want) {
  for (std::int64_t i = 0; i < want.numel(); ++i) {
    double g = static_cast<double>(got.as<T>()[i]), w = static_cast<double>(want.as<T>()[i]);
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    if (!(std::abs(g - w) <= 1e-7 + 1e-3 * std::abs(w)))
      return "element " + std::to_string(i) + ": got " + std::to_string(g) + ", want " + std::to_string(w);
  }
  return "";
}

// Returns "" when the case passes, else why it failed. Cases that feed shape-defining values
// (Reshape targets, Slice bounds, ...) as graph inputs are planned a second time with their
// integer inputs bound as plan-time values, because the engine plans static shapes.
std::string run_case(const fs::path& dir, bool bind_values);

std::string run_case(const fs::path& dir) {
  auto why = run_case(dir, false);
  if (why.find("must be known when the model is planned") != std::string::npos) return run_case(dir, true);
  return why;
}

std::string run_case(const fs::path& dir, bool bind_values) {
  try {
    auto model = load_model_file((dir / "model.onnx").string());
    std::vector<Tensor> inputs, expected;
    for (int i = 0; fs::exists(dir / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb")); ++i)
      inputs.push_back(read_tensor_pb(dir / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb")));
    for (int i = 0; fs::exists(dir / "test_data_set_0" / ("output_" + std::to_string(i) + ".pb")); ++i)
      expected.push_back(read_tensor_pb(dir / "test_data_set_0" / ("output_" + std::to_string(i) + ".pb")));
    SessionOptions opts;
    std::set<std::string> inits;
    for (const auto& t : model.graph().initializer()) inits.insert(t.name());
    std::size_t k = 0;
    std::vector<Tensor> runtime_inputs;
    for (const auto& in : model.graph().input()) {
      if (inits.count(in.name()) || k >= inputs.size()) continue;
      const Tensor& t = inputs[k++];
      const bool integer = t.dtype == DType::kI64 || t.dtype == DType::kI32;
      if (bind_values && (integer || t.numel() <= 8)) {
        opts.input_values[in.name()] = t;
      } else {
        opts.input_shapes[in.name()] = t.shape;
        runtime_inputs.push_back(t);
      }
    }
    Session s(model, opts);
    if (s.inputs().size() != runtime_inputs.size()) return "input count differs";
    auto out = s.run(runtime_inputs);
    if (out.size() != expected.size()) return "output count differs";
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i].dtype != expected[i].dtype) return "output " + std::to_string(i) + " dtype " + dtype_str(out[i].dtype);
      if (out[i].shape != expected[i].shape)
        return "output " + std::to_string(i) + " shape " + shape_str(out[i].shape) + " vs " + shape_str(expected[i].shape);
      std::string diff;
      bool known = false;
      switch (out[i].dtype) {
        case DType::kF32: diff = compare_values<float>(out[i], expected[i]); known = true; break;
        case DType::kF64: diff = compare_values<double>(out[i], expected[i]); known = true; break;
        case DType::kI64: diff = compare_values<std::int64_t>(out[i], expected[i]); known = true; break;
        case DType::kI32: diff = compare_values<std::int32_t>(out[i], expected[i]); known = true; break;
        default: break;
      }
      if (!known && std::memcmp(out[i].data, expected[i].data, out[i].bytes()) != 0) diff = "bytes differ";
      if (!diff.empty()) return "output " + std::to_string(i) + " " + diff;
    }
    return "";
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  }
}

// Every node's op is claimed, also in If/Loop/Scan bodies (a claimed Loop runs its body's ops).
bool all_ops_claimed(const onnx::GraphProto& g, const std::set<std::string>& claimed) {
  for (const auto& n : g.node()) {
    if (!(n.domain().empty() || n.domain() == "ai.onnx") || !claimed.count(n.op_type())) return false;
    for (const auto& a : n.attribute()) {
      if (a.has_g() && !all_ops_claimed(a.g(), claimed)) return false;
      for (const auto& sub : a.graphs())
        if (!all_ops_claimed(sub, claimed)) return false;
    }
  }
  return true;
}

TEST(OnnxConformance, EveryCaseOfEveryClaimedOpPassesOrIsExcluded) {
  const fs::path root = fs::path(AIFGEN_SHARED_DIR) / "onnx-node-tests";
  ASSERT_TRUE(fs::exists(root)) << root;
  auto claimed_list = supported_ops();
  std::set<std::string> claimed(claimed_list.begin(), claimed_list.end());
  auto exclusions = load_exclusions();
  int run = 0, passed = 0, excluded = 0;
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root)) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  std::set<std::string> seen;
  for (const auto& dir : dirs) {
    const std::string name = dir.filename().string();
    onnx::ModelProto m;
    {
      std::ifstream in(dir / "model.onnx", std::ios::binary);
      if (!m.ParseFromIstream(&in)) continue;
    }
    if (m.graph().node_size() == 0 || !all_ops_claimed(m.graph(), claimed)) continue;
    ++run;
    seen.insert(name);
    auto why = run_case(dir);
    auto ex = exclusions.find(name);
    if (ex != exclusions.end()) {
      ++excluded;
      EXPECT_FALSE(why.empty()) << name << " passes now: remove it from conformance_exclusions.txt";
      continue;
    }
    if (why.empty()) ++passed;
    else ADD_FAILURE() << name << ": " << why;
  }
  for (const auto& [name, reason] : exclusions)
    EXPECT_TRUE(seen.count(name)) << name << " is excluded but no longer runs (op not claimed?)";
  std::cout << "conformance: " << claimed.size() << " ops claimed, " << run << " cases of claimed ops, " << passed << " passed, " << excluded << " excluded\n";
}

}  // namespace
}  // namespace aifgen::engine

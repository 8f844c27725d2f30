// Pass "quantize_int8": static post-training quantization to standard QDQ ONNX.
//
// Options: scheme (u8s8 | s8s8-symmetric | pow2, default u8s8), method (minmax | percentile |
// entropy | mse | auto, default percentile; auto tries the other four on the held-out samples and
// keeps the best), percentile (default 99.99), samples (calibration samples used, default 32),
// ops (comma list of op types to quantize, default Conv,Gemm,MatMul),
// activation_matmuls (true | false, default true: also MatMuls whose both inputs are activations),
// layout (qdq | dpu, default qdq; dpu needs scheme pow2: the form Vitis AI's DPU compiler expects,
// see core/passes/quantize_dpu_layout.h), max_accuracy_drop and min_sqnr_db (the accuracy
// budget, core/accuracy_budget.h; either one turns it on), weight_bits (8, or 7 for weights in
// [-63, 63] that int8 kernels without VNNI run without overflow; u8s8 only), max_float_fraction (at most this share
// of the quantized nodes, or DPU ops, may stay float to meet the budget, default 0.75).
//
// 1. Models below opset 13 are raised to 13 (per-channel QuantizeLinear needs it).
// 2. Every float activation read by a quantized op is recorded: the engine runs the calibration
//    samples with those values exposed as extra outputs, twice (min/max, then |x| histograms).
// 3. Each such activation gets one shared QuantizeLinear -> DequantizeLinear pair that only the
//    quantized ops read; each constant weight becomes an int8 initializer behind a
//    DequantizeLinear (per output channel unless the scheme is per tensor). Biases and every
//    other op stay float, as the QDQ format intends: a runtime fuses what it can run in int8.
// 4. With a budget (qdq layout): the sensitivity of every quantized node is measured on the
//    held-out samples and the most costly ones stay float until the budget holds
//    (core/quantize/mixed_precision.h); no mix within max_float_fraction fails the pass with
//    "accuracy-budget-unmet". In the DPU layout the sites are the DPU ops: a float one is left
//    to the board's CPU.

#include <chrono>
#include <optional>
#include <thread>
#include <cmath>
#include <set>
#include <sstream>
#include <unordered_map>

#include "core/calibration/calibration_set.h"
#include "core/engine/session.h"
#include "core/engine/timing.h"
#include "core/base/error.h"
#include "core/onnx_model.h"
#include "core/passes/exposed_session.h"
#include "core/passes/graph_edit.h"
#include "core/passes/opset_upgrade.h"
#include "core/passes/pass.h"
#include "core/passes/pass_manager.h"
#include "core/passes/quantize_dpu_layout.h"
#include "core/quantize/bias_correction.h"
#include "core/quantize/dpu_rules.h"
#include "core/quantize/equalization.h"
#include "core/quantize/mixed_precision.h"
#include "core/quantize/range_observer.h"
#include "core/quantize/scheme.h"
#include "core/quantize/stats_cache.h"
#include "core/quantize/weight_range.h"
#include "core/quantize/without_vnni.h"
#include "core/base/sha256.h"

namespace aifgen {
namespace {

using quantize::Scheme;

constexpr std::size_t kMaxJudgedSamples = 32;  // held-out samples the budget and "auto" run on

struct Options {
  Scheme scheme = Scheme::kU8S8;
  quantize::CalibrationMethod method = quantize::CalibrationMethod::kPercentile;
  double percentile = 99.99;
  int samples = 32;
  std::set<std::string> ops = {"Conv", "Gemm", "MatMul"};
  // MatMul of two activations (attention scores): worth it where the runtime has int8 kernels
  // for it (TensorRT), a slowdown where only weight MatMuls run in int8 (aifgen's engine).
  bool activation_matmuls = true;
  bool dpu_layout = false;
  bool auto_method = false;  // method "auto": chosen on the held-out samples
  std::optional<AccuracyBudget> budget;
  double max_float_fraction = 0.75;
  bool equalize = true;  // channel equalization before calibration (core/quantize/equalization.h)
  // Bias correction (core/quantize/bias_correction.h): "auto" judges the all-int8 model with
  // and without it on the held-out samples and keeps the better (off without held-out samples).
  enum class BiasCorrection { kAuto, kOn, kOff } bias_correction = BiasCorrection::kAuto;
  int weight_bits = 8;   // 7: weights in [-63, 63], int8 kernels without VNNI cannot overflow
};

double parse_double(const PassOptions& o, const char* key, double lo, double hi, double fallback) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  double v = 0;
  try {
    std::size_t used = 0;
    v = std::stod(it->second, &used);
    if (used != it->second.size()) throw std::invalid_argument("trailing characters");
  } catch (const std::exception&) {
    throw Error(ErrorCode::kInvalidArgument, "bad-pass-option", std::string("quantize_int8: ") + key + " must be a number");
  }
  if (!(v >= lo && v <= hi))
    throw Error(ErrorCode::kInvalidArgument, "bad-pass-option",
                std::string("quantize_int8: ") + key + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return v;
}

Options parse_options(const PassOptions& o) {
  check_pass_options("quantize_int8", o,
                     {"scheme", "method", "percentile", "samples", "ops", "activation_matmuls", "layout", "max_accuracy_drop",
                      "min_sqnr_db", "max_float_fraction", "equalize", "weight_bits", "bias_correction"});
  Options opt;
  auto bad = [](const std::string& what) { throw Error(ErrorCode::kInvalidArgument, "bad-pass-option", "quantize_int8: " + what); };
  if (auto it = o.find("scheme"); it != o.end()) opt.scheme = quantize::parse_scheme(it->second);
  if (auto it = o.find("method"); it != o.end()) {
    if (it->second == "auto") opt.auto_method = true;
    else opt.method = quantize::parse_method(it->second);
  }
  if (o.count("max_accuracy_drop") || o.count("min_sqnr_db")) {
    AccuracyBudget b;
    b.max_accuracy_drop = parse_double(o, "max_accuracy_drop", 0, 1, b.max_accuracy_drop);
    b.min_sqnr_db = parse_double(o, "min_sqnr_db", 0, 200, b.min_sqnr_db);
    opt.budget = b;
  }
  opt.max_float_fraction = parse_double(o, "max_float_fraction", 0, 1, opt.max_float_fraction);
  if (auto it = o.find("weight_bits"); it != o.end()) {
    if (it->second != "7" && it->second != "8") bad("weight_bits must be 7 or 8");
    opt.weight_bits = std::stoi(it->second);
    if (opt.weight_bits == 7 && opt.scheme != Scheme::kU8S8) bad("weight_bits 7 is for scheme u8s8");
  }
  if (auto it = o.find("equalize"); it != o.end()) {
    if (it->second != "true" && it->second != "false") throw Error(ErrorCode::kInvalidArgument, "bad-pass-option", "quantize_int8: equalize must be true or false");
    opt.equalize = it->second == "true";
  }
  if (auto it = o.find("bias_correction"); it != o.end()) {
    if (it->second == "auto") opt.bias_correction = Options::BiasCorrection::kAuto;
    else if (it->second == "true") opt.bias_correction = Options::BiasCorrection::kOn;
    else if (it->second == "false") opt.bias_correction = Options::BiasCorrection::kOff;
    else bad("bias_correction must be auto, true or false");
  }
  if (auto it = o.find("percentile"); it != o.end()) {
    try {
      opt.percentile = std::stod(it->second);
    } catch (const std::exception&) {
      bad("percentile must be a number");
    }
    if (!(opt.percentile > 50 && opt.percentile <= 100)) bad("percentile must be in (50, 100]");
  }
  if (auto it = o.find("samples"); it != o.end()) {
    try {
      opt.samples = std::stoi(it->second);
    } catch (const std::exception&) {
      bad("samples must be an integer");
    }
    if (opt.samples < 1 || opt.samples > 4096) bad("samples must be in [1, 4096]");
  }
  if (auto it = o.find("activation_matmuls"); it != o.end()) {
    if (it->second != "true" && it->second != "false") bad("activation_matmuls must be true or false");
    opt.activation_matmuls = it->second == "true";
  }
  if (auto it = o.find("layout"); it != o.end()) {
    if (it->second != "qdq" && it->second != "dpu") bad("layout must be qdq or dpu");
    opt.dpu_layout = it->second == "dpu";
    if (opt.dpu_layout && opt.scheme != Scheme::kPow2) bad("layout dpu needs scheme pow2");
  }
  if (auto it = o.find("ops"); it != o.end()) {
    opt.ops.clear();
    std::stringstream ss(it->second);
    std::string op;
    while (std::getline(ss, op, ','))
      if (!op.empty()) opt.ops.insert(op);
    for (const auto& op : opt.ops)
      if (op != "Conv" && op != "Gemm" && op != "MatMul") bad("ops may name Conv, Gemm and MatMul");
  }
  return opt;
}

// Which inputs of a quantizable node are activations and which is its weight (with the output
// channel axis of that weight, -1 for per tensor).
struct QuantSite {
  int node = -1;
  std::vector<int> activation_inputs;
  int weight_input = -1;
  int weight_axis = -1;
};

std::vector<float> to_floats(const onnx::TensorProto& t) {
  auto v = engine::tensor_from_proto(t);
  return std::vector<float>(v.as<float>(), v.as<float>() + v.numel());
}

class QuantizeInt8Pass final : public Pass {
 public:
  QuantizeInt8Pass(Options o, const PassOptions& raw, const PassEnv& env) : opt_(std::move(o)), env_(env) {
    for (const auto& [k, v] : raw) options_key_ += k + "=" + v + ";";
  }
  std::string name() const override { return "quantize_int8"; }
  nlohmann::json details() const override { return details_; }

  PassCounts run(onnx::ModelProto& model) override {
    const auto original_opset = default_opset(model);
    auto split = split_samples(model, env_.calibration, opt_.samples);
    if (split.calibrate.empty())
      throw Error(ErrorCode::kUnprocessable, "calibration-mismatch", "the calibration set has no samples left for calibration");
    if (original_opset < 13) model = to_opset13(model);
    // The graph as it reaches this pass and the calibration samples decide everything the
    // equalization and calibration sweeps observe: a job's int8 variants for several targets
    // (the same graph up to the scheme) share both through the stats cache. With the same
    // options as well they decide the whole result, which is then shared too (the x86 and
    // arm64 CPU targets quantize alike).
    std::string graph_key, result_key;
    if (env_.stats_cache) {
      std::string bytes;
      model.SerializeToString(&bytes);
      graph_key = Sha256::of(bytes) + "|" + split.source + "|" + std::to_string(split.calibrate.size());
      result_key = graph_key + "|quantized with " + options_key_;
      if (auto kept = env_.stats_cache->find_model(result_key)) {
        env_.stats_cache->count_hit();
        report("the same graph, samples and options as an earlier variant of this job: its quantized model reused");
        model = kept->model;
        details_ = kept->details;
        return kept->counts;
      }
    }
    auto counts = quantize(model, split, original_opset, graph_key);
    if (!result_key.empty())
      env_.stats_cache->put_model(result_key, std::make_shared<const quantize::StatsCache::Result>(quantize::StatsCache::Result{model, details_, counts}));
    return counts;
  }

 private:
  PassCounts quantize(onnx::ModelProto& model, const SampleSplit& split, std::int64_t original_opset, const std::string& graph_key) {
    auto* g = model.mutable_graph();
    nlohmann::json equalization = nullptr;
    if (opt_.equalize) {
      const auto eq = quantize::find_equalization_sites(*g);
      if (!eq.empty()) {
        report("equalizing channels of " + std::to_string(eq.size()) + " tensor(s)");
        equalization = {{"method", "per-channel migration of activation ranges into weights, alpha 0.5 (exact in float)"},
                        {"tensors", quantize::apply_equalization(*g, eq, shared_channel_abs_max(graph_key, model, eq, split.calibrate))}};
      }
    }
    std::vector<QuantSite> sites;
    std::vector<std::string> activations;
    if (opt_.dpu_layout) {
      activations = dpu_layout_activations(*g);
    } else {
      sites = find_sites(*g);
      std::set<std::string> seen;
      for (const auto& s : sites)
        for (int i : s.activation_inputs) {
          const auto& name = g->node(s.node).input(i);
          if (seen.insert(name).second) activations.push_back(name);
        }
    }
    // The same graph, samples and quantized ops give the same statistics: reuse them across the
    // job's int8 variants (schemes differ only in how ranges become scales).
    std::shared_ptr<const quantize::Observers> stats;
    std::string key;
    bool cache_hit = false;
    const bool histograms = opt_.auto_method || opt_.method != quantize::CalibrationMethod::kMinMax;
    if (env_.stats_cache) {
      // Equalization is a function of the graph and the samples, so the graph it leaves is
      // named by graph_key and whether it ran.
      key = graph_key + (opt_.equalize ? "|equalized" : "") + "|" + (histograms ? "histogram" : "minmax");
      for (const auto& op : opt_.ops) key += "|" + op;
      // Activation x activation MatMuls add activations to observe (TensorRT quantizes them, the
      // CPU targets do not): sharing statistics across that difference missed their inputs.
      if (opt_.activation_matmuls) key += "|activation-matmuls";
      if (opt_.dpu_layout) key += "|dpu-layout";  // other activations are observed
      stats = env_.stats_cache->find(key);
      cache_hit = stats != nullptr;
      if (cache_hit) env_.stats_cache->count_hit();
    }
    if (!stats) {
      report("calibrating on " + std::to_string(split.calibrate.size()) + " sample(s)");
      stats = std::make_shared<const quantize::Observers>(calibrate(model, activations, mean_axes(*g, sites), split.calibrate, histograms));
      if (env_.stats_cache) env_.stats_cache->put(key, stats);
    }
    const auto& observers = *stats;
    const onnx::ModelProto base = model;  // the float graph every candidate is built from

    // Held-out samples judge the calibration method ("auto") and the accuracy budget.
    std::optional<quantize::HeldOutProbe> probe;
    if (opt_.auto_method || opt_.budget) {
      if (split.validate.empty())
        throw Error(ErrorCode::kUnprocessable, "calibration-mismatch", "the accuracy budget and method auto need held-out samples");
      // The analysis runs the model about (nodes + 2 log2 nodes) times over these samples: at
      // most 32 of them keep a large uploaded set from turning minutes into hours.
      const std::size_t judged = std::min<std::size_t>(split.validate.size(), kMaxJudgedSamples);
      probe.emplace(base, std::vector<Sample>(split.validate.begin(), split.validate.begin() + static_cast<std::ptrdiff_t>(judged)),
                    opt_.budget.value_or(AccuracyBudget{}));
    }
    // What the budget can keep float: the quantized nodes (qdq), or the DPU ops (dpu layout; a
    // float one runs on the CPU), with the activations each reads.
    std::vector<int> site_nodes;
    std::vector<std::vector<std::string>> site_inputs;
    if (opt_.dpu_layout) {
      const std::set<std::string> quantized(activations.begin(), activations.end());
      for (int n : dpu_layout_nodes(base.graph())) {
        site_nodes.push_back(n);
        site_inputs.emplace_back();
        for (const auto& in : base.graph().node(n).input())
          if (quantized.count(in)) site_inputs.back().push_back(in);
      }
    } else {
      for (const auto& st : sites) {
        site_nodes.push_back(st.node);
        site_inputs.emplace_back();
        for (int i : st.activation_inputs) site_inputs.back().push_back(base.graph().node(st.node).input(i));
      }
    }
    std::vector<char> all(site_nodes.size(), 1);
    auto cpu_nodes = [&](const std::vector<char>& mask) {
      std::set<int> out;
      for (std::size_t k = 0; k < mask.size(); ++k)
        if (!mask[k]) out.insert(site_nodes[k]);
      return out;
    };
    bool correct_bias = opt_.bias_correction == Options::BiasCorrection::kOn && !opt_.dpu_layout;
    auto build = [&](quantize::CalibrationMethod method, const std::vector<char>& mask) {
      return opt_.dpu_layout ? build_dpu(base, observers, method, cpu_nodes(mask))
                             : build_qdq(base, sites, mask, observers, method, correct_bias).model;
    };
    quantize::CalibrationMethod method = opt_.method;
    nlohmann::json search = nullptr;
    std::optional<BudgetVerdict> all_int8;
    if (opt_.auto_method) {
      search = nlohmann::json::array();
      for (auto m : {quantize::CalibrationMethod::kMinMax, quantize::CalibrationMethod::kPercentile,
                     quantize::CalibrationMethod::kEntropy, quantize::CalibrationMethod::kMse}) {
        report(std::string("calibration method auto: trying ") + quantize::method_name(m));
        auto v = probe->judge(build(m, all));
        search.push_back({{"method", quantize::method_name(m)}, {"result", verdict_json(v)}});
        if (!all_int8 || better_than(v, *all_int8)) {
          all_int8 = v;
          method = m;
        }
      }
    } else if (opt_.budget) {
      all_int8 = probe->judge(build(method, all));
    }
    // Bias correction, judged where there are held-out samples ("auto").
    nlohmann::json bias_correction = nullptr;
    if (!opt_.dpu_layout && opt_.bias_correction != Options::BiasCorrection::kOff) {
      bias_correction = {{"method", "per-channel mean shift of rounded weights times calibration input means, subtracted from the bias"}};
      if (opt_.bias_correction == Options::BiasCorrection::kAuto && probe) {
        report("bias correction: judging it on the held-out samples");
        const auto without = all_int8 ? *all_int8 : probe->judge(build(method, all));
        correct_bias = true;
        const auto with = probe->judge(build(method, all));
        // Kept only when it uses less of the budget: on the OCR recognizer it raised SQNR by
        // 2.7 dB at equal decoded agreement, yet read 96 new lines 1.6 points worse, so a
        // better SQNR alone (the tie-breaker elsewhere) does not decide it.
        correct_bias = with.used < without.used;
        bias_correction["judged"] = {{"with", verdict_json(with)}, {"without", verdict_json(without)}};
        if (correct_bias && all_int8) all_int8 = with;
      }
      bias_correction["applied"] = correct_bias;
      if (!correct_bias)
        bias_correction["why_not"] = opt_.bias_correction == Options::BiasCorrection::kAuto && !probe
                                         ? "no held-out samples to judge it on (auto applies it only where it measurably helps)"
                                         : "it did not lower the budget used on the held-out samples";
    }
    nlohmann::json accuracy = nullptr;
    if (opt_.budget) accuracy = {{"budget", budget_to_json(*opt_.budget)}, {"held_out_samples", probe->samples()}, {"all_int8", verdict_json(*all_int8)}};

    std::vector<char> mask = all;
    nlohmann::json sensitivity = nullptr, mixed = nullptr;
    if (opt_.budget) {
      const auto site_build = [&](const std::vector<char>& m) { return build(method, m); };
      const auto t0 = std::chrono::steady_clock::now();
      const int before = probe->evaluations();
      std::string cache_key = key + "|" + quantize::scheme_name(opt_.scheme) + "|" + quantize::method_name(method) + "|" +
                              std::to_string(opt_.percentile) + "|" + budget_to_json(*opt_.budget).dump() + (correct_bias ? "|bias-corrected" : "");
      std::shared_ptr<const nlohmann::json> cached = env_.stats_cache && !key.empty() ? env_.stats_cache->find_json(cache_key) : nullptr;
      std::vector<quantize::SiteCost> ranked;
      if (cached) {
        for (const auto& c : *cached) ranked.push_back(site_cost_from_json(c));
      } else {
        const int threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
        ranked = quantize::site_sensitivity(static_cast<int>(site_nodes.size()), site_build, *probe, threads, [&](const std::string& m) { report(m); });
        if (env_.stats_cache && !key.empty()) {
          auto stored = std::make_shared<nlohmann::json>(nlohmann::json::array());
          for (const auto& c : ranked) stored->push_back(site_cost_json(c));
          env_.stats_cache->put_json(cache_key, stored);
        }
      }
      const double sensitivity_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      nlohmann::json table = nlohmann::json::array();
      for (std::size_t r = 0; r < ranked.size(); ++r) {
        const auto site = static_cast<std::size_t>(ranked[r].site);
        const auto& n = base.graph().node(site_nodes[site]);
        auto row = verdict_json(ranked[r].verdict);
        row.erase("explanation");
        row["rank"] = r + 1;
        row["node"] = node_label(n);
        row["op"] = n.op_type();
        row["activations"] = site_inputs[site];  // their ranges are in activation_ranges
        table.push_back(row);
      }
      sensitivity = {{"metric", "budget used with only this node quantized, on the held-out samples (1 = the whole budget)"},
                     {"nodes", table},
                     {"evaluations", probe->evaluations() - before},
                     {"seconds", sensitivity_s},
                     {"reused", cached != nullptr}};
      const int max_float = static_cast<int>(std::floor(opt_.max_float_fraction * static_cast<double>(site_nodes.size())));
      auto mix = quantize::search_mix(ranked, static_cast<int>(site_nodes.size()), max_float, site_build, *probe, *all_int8,
                                      [&](const std::string& m) { report(m); });
      accuracy["met"] = mix.met;
      accuracy["chosen"] = verdict_json(mix.verdict);
      if (!mix.met)
        throw Error(ErrorCode::kUnprocessable, "accuracy-budget-unmet",
                    "no mix of INT8 and float nodes meets the accuracy budget on " + std::to_string(probe->samples()) +
                        " held-out sample(s) with at most " + std::to_string(max_float) + " of " + std::to_string(site_nodes.size()) +
                        " nodes in float; the best tried: " + mix.verdict.explanation +
                        ". Loosen the budget, raise max_float_fraction, or calibrate on more representative data.");
      nlohmann::json floats = nlohmann::json::array(), tried = nlohmann::json::array();
      for (int site : mix.float_sites) {
        mask[static_cast<std::size_t>(site)] = 0;
        const auto& n = base.graph().node(site_nodes[static_cast<std::size_t>(site)]);
        const auto it = std::find_if(ranked.begin(), ranked.end(), [&](const quantize::SiteCost& c) { return c.site == site; });
        floats.push_back({{"node", node_label(n)}, {"op", n.op_type()}, {"rank", it - ranked.begin() + 1},
                          {"why", "among the most costly nodes (" + std::to_string(it->verdict.used) +
                                      " of the budget on its own); the budget needed it in float"}});
      }
      for (const auto& [k, used] : mix.tried) tried.push_back({{"float_nodes", k}, {"budget_used", used}});
      mixed = {{"float_nodes", floats},
               {"float_precision", opt_.dpu_layout ? "fp32 on the board's CPU (the DPU runs only quantized ops)"
                                                   : "fp32 (the target runtime may run float nodes in fp16 where it is enabled)"},
               {"tried", tried}};
      if (!mix.float_sites.empty()) mixed["speed"] = compare_speed(base, build(method, all), build(method, mask), split.validate.front());
    }

    if (opt_.dpu_layout) {
      auto counts = run_dpu_layout(model, observers, method, split, cache_hit, original_opset, search, accuracy, cpu_nodes(mask));
      if (!equalization.is_null()) details_["equalization"] = equalization;
      if (!sensitivity.is_null()) details_["sensitivity"] = sensitivity;
      if (!mixed.is_null()) details_["mixed_precision"] = mixed;
      counts["dpu_ops_kept_float"] = static_cast<std::int64_t>(cpu_nodes(mask).size());
      return counts;
    }
    auto built = build_qdq(base, sites, mask, observers, method, correct_bias);
    if (!bias_correction.is_null()) bias_correction["biases_corrected"] = built.biases_corrected;
    model = std::move(built.model);
    nlohmann::json without_vnni = nullptr;
    if (opt_.scheme == Scheme::kU8S8 && opt_.weight_bits == 8) without_vnni = decide_without_vnni(model, probe ? &*probe : nullptr);
    std::int64_t quantized = 0;
    for (char m : mask) quantized += m;
    details_ = {{"scheme", quantize::scheme_name(opt_.scheme)},
                {"method", quantize::method_name(method)},
                {"calibration", calibration_details(split, cache_hit)},
                {"ops", std::vector<std::string>(opt_.ops.begin(), opt_.ops.end())},
                {"opset", {{"from", original_opset}, {"to", default_opset(model)}}},
                {"activation_ranges", built.ranges},
                {"weight_bits", opt_.weight_bits}};
    if (method == quantize::CalibrationMethod::kPercentile) details_["percentile"] = opt_.percentile;
    if (!search.is_null()) details_["method_search"] = search;
    if (!equalization.is_null()) details_["equalization"] = equalization;
    if (!bias_correction.is_null()) details_["bias_correction"] = bias_correction;
    if (!accuracy.is_null()) details_["accuracy"] = accuracy;
    if (!sensitivity.is_null()) details_["sensitivity"] = sensitivity;
    if (!mixed.is_null()) details_["mixed_precision"] = mixed;
    if (!without_vnni.is_null()) details_["without_vnni"] = without_vnni;
    return {{"nodes_quantized", quantized},
            {"nodes_kept_float", static_cast<std::int64_t>(sites.size()) - quantized},
            {"activations_quantized", built.activations},
            {"weights_quantized", built.weights_quantized},
            {"weights_per_channel", built.per_channel},
            {"calibration_samples", static_cast<std::int64_t>(split.calibrate.size())}};
  }

 private:
  void report(const std::string& what) const {
    if (env_.progress) env_.progress(what);
  }

  // What aifgen's engine does with this variant on x86 without VNNI (AVX2, AVX-512 without
  // VNNI), judged against the budget when there is one: core/quantize/without_vnni.h.
  nlohmann::json decide_without_vnni(onnx::ModelProto& model, const quantize::HeldOutProbe* probe) const {
    const int threads = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
    auto plan = quantize::plan_without_vnni(model, probe, opt_.max_float_fraction, threads, [&](const std::string& m) { report(m); });
    if (plan.weights_rewritten == 0) return nullptr;
    nlohmann::json out = {{"weights_rewritten", plan.weights_rewritten}};
    if (plan.all_rewritten) out["budget_with_safe_weights"] = verdict_json(*plan.all_rewritten);
    else out["note"] = "no accuracy budget: saturation-safe weights are not validated";
    if (plan.mix) {
      out["float_nodes"] = plan.float_nodes;
      out["budget_with_float_nodes"] = verdict_json(*plan.mix);
    }
    std::string decision = "int8 kernels with saturation-safe 8-bit weights (depthwise convolutions unchanged)";
    if (!plan.int8) {
      decision = "the float graph: activation Q/DQ dropped, int8-rounded weights (no mix of int8 and float nodes met the budget)";
    } else if (!plan.float_nodes.empty()) {
      decision += ", ";
      decision += std::to_string(plan.float_nodes.size());
      decision += " of " + std::to_string(plan.candidates) + " int8 nodes in float (rewriting their weights cost the budget most)";
    }
    out["decision"] = decision;
    return out;
  }

  static std::string node_label(const onnx::NodeProto& n) {
    if (!n.name().empty()) return n.name();
    return n.op_type() + "(" + (n.output_size() ? n.output(0) : std::string()) + ")";
  }

  static nlohmann::json verdict_json(const BudgetVerdict& v) {
    nlohmann::json j = {{"met", v.met}, {"budget_used", v.used}, {"accuracy_drop", v.worst_drop}, {"explanation", v.explanation}};
    j["sqnr_db"] = std::isfinite(v.worst_sqnr_db) ? nlohmann::json(v.worst_sqnr_db) : nlohmann::json(nullptr);
    j["noise"] = v.noise;
    return j;
  }
  static nlohmann::json site_cost_json(const quantize::SiteCost& c) {
    auto j = verdict_json(c.verdict);
    j["site"] = c.site;
    return j;
  }
  static quantize::SiteCost site_cost_from_json(const nlohmann::json& j) {
    quantize::SiteCost c;
    c.site = j.at("site").get<int>();
    c.verdict.met = j.at("met").get<bool>();
    c.verdict.used = j.at("budget_used").get<double>();
    c.verdict.worst_drop = j.at("accuracy_drop").get<double>();
    c.verdict.noise = j.at("noise").get<double>();
    c.verdict.worst_sqnr_db = j.at("sqnr_db").is_number() ? j.at("sqnr_db").get<double>() : INFINITY;
    c.verdict.explanation = j.at("explanation").get<std::string>();
    return c;
  }

  // What the float nodes cost in speed, on this host's engine (1 thread, one held-out sample).
  static nlohmann::json compare_speed(const onnx::ModelProto& fp32, const onnx::ModelProto& all_int8, const onnx::ModelProto& mixed,
                                      const Sample& sample) {
    engine::SessionOptions so;
    auto inputs = model_inputs(fp32);
    for (std::size_t k = 0; k < inputs.size() && k < sample.size(); ++k) so.input_shapes[inputs[k].name] = sample[k].shape;
    nlohmann::json out = {{"engine", std::string("aifgen CPU engine, 1 thread, this host") +
                                         (engine::int8_support() == engine::Int8Support::kFull              ? " (int8 kernels, VNNI)"
                                          : engine::int8_support() == engine::Int8Support::kSafeWeightsOnly ? " (no VNNI: int8 kernels for 7-bit weights only)"
                                                                                                             : " (Q/DQ run in float)")}};
    for (const auto& [label, m] : {std::pair<const char*, const onnx::ModelProto*>{"fp32_p50_ms", &fp32}, {"all_int8_p50_ms", &all_int8},
                                   {"mixed_p50_ms", &mixed}}) {
      engine::Session session(*m, so);
      out[label] = engine::time_runs(session, sample, 2, 10).p50_ms;
    }
    return out;
  }

  // The DPU layout applied to a copy of `base`.
  onnx::ModelProto build_dpu(const onnx::ModelProto& base, const quantize::Observers& observers, quantize::CalibrationMethod method,
                             const std::set<int>& cpu) const {
    auto m = base;
    apply_dpu_layout(*m.mutable_graph(), observers, method, opt_.percentile, cpu);
    m.mutable_graph()->clear_value_info();
    return m;
  }

  struct Built {
    onnx::ModelProto model;
    nlohmann::json ranges = nlohmann::json::object();
    std::int64_t activations = 0, weights_quantized = 0, per_channel = 0, biases_corrected = 0;
  };

  // `base` with the sites whose mask is set quantized. New Q/DQ nodes go right before the
  // first node that reads them.
  Built build_qdq(const onnx::ModelProto& base, const std::vector<QuantSite>& sites, const std::vector<char>& mask,
                  const quantize::Observers& observers, quantize::CalibrationMethod method, bool correct_bias = false) const {
    Built out;
    out.model = base;
    auto* g = out.model.mutable_graph();
    std::set<std::string> used;
    std::unordered_map<int, std::vector<onnx::NodeProto>> before;  // node index -> nodes to insert first
    std::unordered_map<std::string, std::string> dq_of;            // activation -> its DQ output
    for (std::size_t k = 0; k < sites.size(); ++k) {
      if (!mask[k]) continue;
      const auto& s = sites[k];
      auto* node = g->mutable_node(s.node);
      for (int i : s.activation_inputs) {
        const std::string act = node->input(i);
        auto it = dq_of.find(act);
        if (it == dq_of.end()) {
          const auto& obs = observers.at(act);
          // A non-negative tensor in uint8 has 255 levels above zero, which the mse search uses.
          const int levels = method == quantize::CalibrationMethod::kMse && opt_.scheme == Scheme::kU8S8 && obs.min() >= 0 ? 255 : 127;
          auto r = obs.range(method, opt_.percentile, levels);
          auto q = quantize::activation_params(opt_.scheme, r);
          out.ranges[act] = {{"min", obs.min()}, {"max", obs.max()}, {"lo", r.lo}, {"hi", r.hi}, {"scale", q.scale}, {"zero_point", q.zero_point}};
          it = dq_of.emplace(act, add_activation_qdq(*g, act, q, before[s.node], used)).first;
        }
        node->set_input(i, it->second);
      }
      if (s.weight_input >= 0) {
        const std::string weight = node->input(s.weight_input);
        std::vector<float> dequantized;
        node->set_input(s.weight_input, add_weight_dq(*g, weight, s.weight_axis, before[s.node], used, &dequantized));
        ++out.weights_quantized;
        out.per_channel += s.weight_axis >= 0;
        if (correct_bias && !s.activation_inputs.empty()) {
          const auto& obs = observers.find(base.graph().node(s.node).input(s.activation_inputs[0]));
          if (obs != observers.end() && correct_bias_of(*g, *node, weight, dequantized, obs->second.channel_means(), used)) ++out.biases_corrected;
        }
      }
    }
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    for (int i = 0; i < g->node_size(); ++i) {
      if (auto it = before.find(i); it != before.end())
        for (auto& n : it->second) *nodes.Add() = std::move(n);
      *nodes.Add() = g->node(i);
    }
    g->mutable_node()->Swap(&nodes);
    drop_unused_initializers(*g);
    g->clear_value_info();
    out.activations = static_cast<std::int64_t>(dq_of.size());
    return out;
  }

  nlohmann::json calibration_details(const SampleSplit& split, bool cache_hit) const {
    return {{"source", split.source},
            {"synthetic", split.synthetic},
            {"samples", split.calibrate.size()},
            {"validation_samples_held_out", split.held_out},
            {"statistics_reused", cache_hit}};
  }

  PassCounts run_dpu_layout(onnx::ModelProto& model, const quantize::Observers& observers, quantize::CalibrationMethod method,
                            const SampleSplit& split, bool cache_hit, std::int64_t original_opset, const nlohmann::json& search,
                            const nlohmann::json& accuracy, const std::set<int>& cpu) {
    auto* g = model.mutable_graph();
    auto counts = apply_dpu_layout(*g, observers, method, opt_.percentile, cpu);
    g->clear_value_info();
    const auto violations = quantize::check_dpu_qdq(*g);
    nlohmann::json listed = nlohmann::json::array();
    for (std::size_t i = 0; i < violations.size() && i < 20; ++i) listed.push_back(violations[i]);
    details_ = {{"scheme", quantize::scheme_name(opt_.scheme)},
                {"layout", "dpu"},
                {"method", quantize::method_name(method)},
                {"calibration", calibration_details(split, cache_hit)},
                {"opset", {{"from", original_opset}, {"to", default_opset(model)}}},
                {"dpu_rules", {{"source", "vai_q_onnx DPU mode (Vitis AI 3.5): float weights/biases behind Q/DQ, every DPU op output "
                                          "quantized, shift_cut/shift_bias/shift_read/shift_write limits, concat and pool alignment"},
                               {"positions_adjusted", counts.positions_adjusted},
                               {"adjustments", counts.adjustments},
                               {"violations", violations.size()},
                               {"violation_list", listed}}}};
    if (method == quantize::CalibrationMethod::kPercentile) details_["percentile"] = opt_.percentile;
    if (!search.is_null()) details_["method_search"] = search;
    if (!accuracy.is_null()) details_["accuracy"] = accuracy;
    return {{"activations_quantized", counts.activations},
            {"weights_quantized", counts.weights},
            {"biases_quantized", counts.biases},
            {"positions_adjusted", counts.positions_adjusted},
            {"dpu_rule_violations", static_cast<std::int64_t>(violations.size())},
            {"calibration_samples", static_cast<std::int64_t>(split.calibrate.size())}};
  }

  static onnx::ModelProto to_opset13(const onnx::ModelProto& model) {
    auto m = upgrade_to_opset13(model);
    try {
      reinfer_shapes(m, /*check_types=*/false);
    } catch (const Error& e) {
      throw Error(ErrorCode::kUnprocessable, "opset-upgrade-failed", std::string("the opset-13 model fails shape inference: ") + e.what());
    }
    return m;
  }

  std::vector<QuantSite> find_sites(const onnx::GraphProto& g) const {
    std::vector<QuantSite> sites;
    auto is_float_activation = [&](const std::string& name) {
      if (name.empty() || find_constant(g, name)) return false;
      // Only float values: look at declared types when there are any.
      for (const auto& vi : g.value_info())
        if (vi.name() == name) return vi.type().tensor_type().elem_type() == onnx::TensorProto::FLOAT;
      for (const auto& vi : g.input())
        if (vi.name() == name) return vi.type().tensor_type().elem_type() == onnx::TensorProto::FLOAT;
      return true;
    };
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      if (!(n.domain().empty() || n.domain() == "ai.onnx") || !opt_.ops.count(n.op_type())) continue;
      QuantSite s;
      s.node = i;
      const bool per_channel = quantize::per_channel_weights(opt_.scheme);
      if (n.op_type() == "Conv" && n.input_size() >= 2) {
        if (!is_float_activation(n.input(0)) || !is_float_initializer(g, n.input(1))) continue;
        s.activation_inputs = {0};
        s.weight_input = 1;
        s.weight_axis = per_channel ? 0 : -1;
      } else if (n.op_type() == "Gemm" && n.input_size() >= 2) {
        if (!is_float_activation(n.input(0)) || !is_float_initializer(g, n.input(1))) continue;
        if (attr_int(n, "transA", 0) != 0) continue;
        s.activation_inputs = {0};
        s.weight_input = 1;
        s.weight_axis = per_channel ? (attr_int(n, "transB", 0) ? 0 : 1) : -1;
      } else if (n.op_type() == "MatMul" && n.input_size() == 2) {
        if (!is_float_activation(n.input(0))) continue;
        s.activation_inputs = {0};
        if (is_float_initializer(g, n.input(1))) {
          s.weight_input = 1;
          const auto* w = find_constant(g, n.input(1));
          s.weight_axis = per_channel && w->dims_size() == 2 ? 1 : -1;
        } else if (opt_.activation_matmuls && is_float_activation(n.input(1))) {
          s.activation_inputs.push_back(1);  // activation x activation (attention)
        } else {
          continue;
        }
      } else {
        continue;
      }
      sites.push_back(s);
    }
    return sites;
  }

  // Runs the samples with the activations exposed as outputs: min/max first, then histograms.
  // The axis whose per-channel means bias correction needs, per activation read by a quantized
  // weight: a Conv's input channels (axis 1), a Gemm's or MatMul's inner dimension (the last).
  static std::unordered_map<std::string, int> mean_axes(const onnx::GraphProto& g, const std::vector<QuantSite>& sites) {
    std::unordered_map<std::string, int> out;
    for (const auto& s : sites) {
      if (s.weight_input < 0 || s.activation_inputs.empty()) continue;
      const auto& n = g.node(s.node);
      out.emplace(n.input(s.activation_inputs[0]), n.op_type() == "Conv" ? 1 : -1);
    }
    return out;
  }

  quantize::Observers calibrate(const onnx::ModelProto& model, const std::vector<std::string>& activations,
                                const std::unordered_map<std::string, int>& mean_axes, const std::vector<Sample>& samples,
                                bool histograms) const {
    ExposedSession probe(model, activations, samples[0], env_.threads);
    // One observer per activation, made before the runs: observe_each gives each one to one
    // thread at a time, and the map itself is not written while they work.
    std::vector<quantize::RangeObserver*> observer;
    quantize::Observers obs;
    for (const auto& a : activations) observer.push_back(&obs[a]);
    std::vector<char> observed(activations.size(), 0);  // element k written by k's thread only
    for (int sweep = 0; sweep < (histograms ? 2 : 1); ++sweep)
      probe.observe_each(samples, activations, [&](std::size_t k, const engine::Tensor& t) {
        if (t.dtype != engine::DType::kF32) return;
        observed[k] = 1;
        auto& o = *observer[k];
        if (sweep == 1) {
          o.observe_histogram(t.as<float>(), t.numel());
          return;
        }
        o.observe_minmax(t.as<float>(), t.numel());
        if (auto ax = mean_axes.find(activations[k]); ax != mean_axes.end() && t.shape.size() >= 2) {
          const auto rank = static_cast<int>(t.shape.size());
          const int axis = ax->second < 0 ? rank - 1 : std::min(ax->second, rank - 1);
          std::int64_t inner = 1;
          for (int d = axis + 1; d < rank; ++d) inner *= t.shape[static_cast<std::size_t>(d)];
          o.observe_channel_sums(t.as<float>(), t.numel(), t.shape[static_cast<std::size_t>(axis)], inner);
        }
      });
    // Only activations observed as float keep an entry, as when entries were made on first use.
    for (std::size_t k = 0; k < activations.size(); ++k)
      if (!observed[k]) obs.erase(activations[k]);
    return obs;
  }

  // channel_abs_max, kept in the stats cache under `graph_key` (not kept when it is empty).
  std::map<std::string, std::vector<float>> shared_channel_abs_max(const std::string& graph_key, const onnx::ModelProto& model,
                                                                   const std::vector<quantize::EqualizationSite>& sites,
                                                                   const std::vector<Sample>& samples) const {
    const std::string key = graph_key + "|equalization-channel-abs-max";
    if (!graph_key.empty())
      if (auto kept = env_.stats_cache->find_json(key)) {
        env_.stats_cache->count_hit();
        return kept->get<std::map<std::string, std::vector<float>>>();
      }
    auto maxima = channel_abs_max(model, sites, samples);
    if (!graph_key.empty()) env_.stats_cache->put_json(key, std::make_shared<const nlohmann::json>(maxima));
    return maxima;
  }

  // The largest |x| per channel of each equalization site's tensor over the samples.
  std::map<std::string, std::vector<float>> channel_abs_max(const onnx::ModelProto& model, const std::vector<quantize::EqualizationSite>& sites,
                                                            const std::vector<Sample>& samples) const {
    // One entry per distinct value (two sites may read one tensor), made before the runs.
    std::vector<std::string> values;
    std::vector<const quantize::EqualizationSite*> site_of;
    std::map<std::string, std::vector<float>> out;
    for (const auto& s : sites)
      if (out.emplace(s.value, std::vector<float>()).second) {
        values.push_back(s.value);
        site_of.push_back(&s);
      }
    std::vector<std::vector<float>*> maxima;
    for (const auto& v : values) maxima.push_back(&out[v]);
    ExposedSession probe(model, values, samples[0], env_.threads);
    probe.observe_each(samples, values, [&](std::size_t k, const engine::Tensor& t) {
      const auto& s = *site_of[k];
      if (t.dtype != engine::DType::kF32 || t.shape.size() < 2) return;
      const auto rank = static_cast<int>(t.shape.size());
      const int axis = s.channel_axis < 0 ? rank - 1 : s.channel_axis;
      if (t.shape[static_cast<std::size_t>(axis)] != s.channels) return;
      std::int64_t inner = 1;
      for (int d = axis + 1; d < rank; ++d) inner *= t.shape[static_cast<std::size_t>(d)];
      auto& m = *maxima[k];
      m.resize(static_cast<std::size_t>(s.channels), 0.f);
      const float* x = t.as<float>();
      // Row by row of `inner` values, each row one channel's: no division per value.
      for (std::int64_t row = 0, rows = t.numel() / inner; row < rows; ++row) {
        float& best = m[static_cast<std::size_t>(row % s.channels)];
        for (const float* v = x + row * inner; v != x + (row + 1) * inner; ++v)
          if (std::isfinite(*v)) best = std::max(best, std::abs(*v));
      }
    });
    // A value never observed (not produced, or another shape) has no entry, as before.
    for (auto it = out.begin(); it != out.end();) it = it->second.empty() ? out.erase(it) : std::next(it);
    return out;
  }

  // DequantizeLinear of <base>_quantized with <base>_scale and <base>_zero_point (per `axis`
  // when >= 0) into <base>_dequantized.
  static onnx::NodeProto dequantize_node(const std::string& base, int axis) {
    onnx::NodeProto dq;
    dq.set_op_type("DequantizeLinear");
    dq.set_name(base + "_DequantizeLinear");
    dq.add_input(base + "_quantized");
    dq.add_input(base + "_scale");
    dq.add_input(base + "_zero_point");
    dq.add_output(base + "_dequantized");
    if (axis >= 0) {
      auto* a = dq.add_attribute();
      a->set_name("axis");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(axis);
    }
    return dq;
  }

  static std::string add_activation_qdq(onnx::GraphProto& g, const std::string& act, const quantize::QuantParams& q,
                                        std::vector<onnx::NodeProto>& out, std::set<std::string>& used) {
    const int qtype = q.is_unsigned ? onnx::TensorProto::UINT8 : onnx::TensorProto::INT8;
    return add_qdq_pair(g, act, unique(g, act, used), q.scale, qtype, q.zero_point, out);
  }

  // Subtracts the mean shift that rounding `weight` into `dequantized` causes from `node`'s bias
  // (a new initializer; one is added where the node has none). Conv, and Gemm with beta 1 and a
  // 1-D bias or none; false where it does not apply.
  static bool correct_bias_of(onnx::GraphProto& g, onnx::NodeProto& node, const std::string& weight, const std::vector<float>& dequantized,
                              const std::vector<float>& means, std::set<std::string>& used) {
    if (means.empty()) return false;
    const auto* wt = find_constant(g, weight);
    if (!wt) return false;
    const std::vector<std::int64_t> dims(wt->dims().begin(), wt->dims().end());
    std::vector<float> shift;
    if (node.op_type() == "Conv") {
      shift = quantize::conv_bias_shift(to_floats(*wt), dequantized, dims, attr_int(node, "group", 1), means);
    } else if (node.op_type() == "Gemm") {
      for (const auto& a : node.attribute())
        if (a.name() == "beta" && a.f() != 1.f) return false;
      shift = quantize::matmul_bias_shift(to_floats(*wt), dequantized, dims, attr_int(node, "transB", 0) != 0, means);
    }
    if (shift.empty()) return false;
    std::vector<float> bias(shift.size(), 0.f);
    if (node.input_size() > 2 && !node.input(2).empty()) {
      const auto* bt = find_constant(g, node.input(2));
      if (!bt || bt->data_type() != onnx::TensorProto::FLOAT || bt->dims_size() != 1 || bt->dims(0) != static_cast<std::int64_t>(shift.size()))
        return false;
      bias = to_floats(*bt);
    }
    for (std::size_t c = 0; c < bias.size(); ++c) bias[c] -= shift[c];
    const std::string name = unique(g, weight + "_bias_corrected", used);
    onnx::TensorProto b;
    b.set_name(name);
    b.set_data_type(onnx::TensorProto::FLOAT);
    b.add_dims(static_cast<std::int64_t>(bias.size()));
    for (float v : bias) b.add_float_data(v);
    *g.add_initializer() = std::move(b);
    while (node.input_size() < 3) node.add_input("");
    node.set_input(2, name);
    return true;
  }

  std::string add_weight_dq(onnx::GraphProto& g, const std::string& weight, int axis, std::vector<onnx::NodeProto>& out,
                            std::set<std::string>& used, std::vector<float>* dequantized = nullptr) const {
    const auto& wt = *find_constant(g, weight);
    std::vector<std::int64_t> dims(wt.dims().begin(), wt.dims().end());
    auto w = to_floats(wt);
    std::int64_t outer = 1, channels = 1, inner = static_cast<std::int64_t>(w.size());
    if (axis >= 0) {
      outer = 1;
      for (int d = 0; d < axis; ++d) outer *= dims[static_cast<std::size_t>(d)];
      channels = dims[static_cast<std::size_t>(axis)];
      inner = static_cast<std::int64_t>(w.size()) / std::max<std::int64_t>(1, outer * channels);
    }
    std::vector<float> abs_max(static_cast<std::size_t>(channels), 0.f);
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t c = 0; c < channels; ++c)
        for (std::int64_t i = 0; i < inner; ++i)
          abs_max[static_cast<std::size_t>(c)] = std::max(abs_max[static_cast<std::size_t>(c)], std::abs(w[static_cast<std::size_t>((o * channels + c) * inner + i)]));
    std::vector<float> scales(static_cast<std::size_t>(channels));
    const int levels = opt_.weight_bits == 7 ? 63 : 127;
    for (std::int64_t c = 0; c < channels; ++c)
      scales[static_cast<std::size_t>(c)] = quantize::weight_scale(opt_.scheme, abs_max[static_cast<std::size_t>(c)], levels);
    const std::string base = unique(g, weight, used);
    onnx::TensorProto q;
    q.set_name(base + "_quantized");
    q.set_data_type(onnx::TensorProto::INT8);
    for (auto d : dims) q.add_dims(d);
    std::string raw(w.size(), '\0');
    if (dequantized) dequantized->assign(w.size(), 0.f);
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t c = 0; c < channels; ++c)
        for (std::int64_t i = 0; i < inner; ++i) {
          const auto k = static_cast<std::size_t>((o * channels + c) * inner + i);
          const auto limit = static_cast<float>(levels);
          raw[k] = static_cast<char>(static_cast<std::int8_t>(std::clamp(std::nearbyint(w[k] / scales[static_cast<std::size_t>(c)]), -limit, limit)));
          if (dequantized) {
            (*dequantized)[k] = static_cast<float>(static_cast<std::int8_t>(raw[k])) * scales[static_cast<std::size_t>(c)];
          }
        }
    q.set_raw_data(raw);
    *g.add_initializer() = std::move(q);
    onnx::TensorProto s, z;
    s.set_name(base + "_scale");
    s.set_data_type(onnx::TensorProto::FLOAT);
    z.set_name(base + "_zero_point");
    z.set_data_type(onnx::TensorProto::INT8);
    if (axis >= 0) {
      s.add_dims(channels);
      z.add_dims(channels);
    }
    for (float v : scales) s.add_float_data(v);
    for (std::int64_t c = 0; c < channels; ++c) z.add_int32_data(0);
    *g.add_initializer() = std::move(s);
    *g.add_initializer() = std::move(z);
    out.push_back(dequantize_node(base, axis));
    return base + "_dequantized";
  }

  // A name prefix no existing value uses (weights shared by two quantized nodes get two copies).
  static std::string unique(const onnx::GraphProto& g, const std::string& base, std::set<std::string>& used) {
    std::string name = base;
    for (int k = 1; !used.insert(name).second || find_initializer(g, name + "_scale") >= 0; ++k) name = base + "_" + std::to_string(k);
    return name;
  }

  Options opt_;
  std::string options_key_;  // the options as given, in order: part of the result's cache key
  PassEnv env_;
  nlohmann::json details_;
};

}  // namespace

std::unique_ptr<Pass> make_quantize_int8_pass(const PassOptions& options, const PassEnv& env) {
  return std::make_unique<QuantizeInt8Pass>(parse_options(options), options, env);
}

}  // namespace aifgen

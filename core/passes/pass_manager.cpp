// The pass registry (one line per pass) and the pipeline runner.
#include "core/passes/pass_manager.h"

#include <onnx/checker.h>

#include <chrono>

#include "core/base/error.h"

namespace aifgen {

std::unique_ptr<Pass> make_infer_shapes_pass();
std::unique_ptr<Pass> make_eliminate_identity_pass(const PassOptions& options, const PassEnv& env);
std::unique_ptr<Pass> make_eliminate_dead_nodes_pass();
std::unique_ptr<Pass> make_fold_batchnorm_pass();
std::unique_ptr<Pass> make_fold_constants_pass();
std::unique_ptr<Pass> make_fuse_matmul_add_pass();
std::unique_ptr<Pass> make_fuse_conv_activation_pass();
std::unique_ptr<Pass> make_convert_fp16_pass(const PassOptions& options, const PassEnv& env);
std::unique_ptr<Pass> make_quantize_int8_pass(const PassOptions& options, const PassEnv& env);
std::unique_ptr<Pass> make_unroll_static_sequences_pass();

namespace {

using Factory = std::unique_ptr<Pass> (*)(const PassOptions&, const PassEnv&);

struct Entry {
  const char* name;
  Factory make;
};

// Adapts a pass without options.
template <std::unique_ptr<Pass> (*Make)()>
std::unique_ptr<Pass> no_options(const PassOptions& options, const PassEnv&) {
  auto pass = Make();
  check_pass_options(pass->name(), options, {});
  return pass;
}

std::unique_ptr<Pass> convert_fp16(const PassOptions& options, const PassEnv& env) { return make_convert_fp16_pass(options, env); }

const Entry kPasses[] = {
    {"infer_shapes", no_options<make_infer_shapes_pass>},
    {"eliminate_identity", make_eliminate_identity_pass},
    {"eliminate_dead_nodes", no_options<make_eliminate_dead_nodes_pass>},
    {"fold_batchnorm", no_options<make_fold_batchnorm_pass>},
    {"fold_constants", no_options<make_fold_constants_pass>},
    {"fuse_matmul_add", no_options<make_fuse_matmul_add_pass>},
    {"fuse_conv_activation", no_options<make_fuse_conv_activation_pass>},
    {"convert_fp16", convert_fp16},
    {"quantize_int8", make_quantize_int8_pass},
    {"unroll_static_sequences", no_options<make_unroll_static_sequences_pass>},
};

}  // namespace

std::vector<std::string> registered_passes() {
  std::vector<std::string> names;
  for (const auto& e : kPasses) names.emplace_back(e.name);
  return names;
}

void check_pass_options(const std::string& pass, const PassOptions& options, std::initializer_list<const char*> known) {
  for (const auto& [key, _] : options) {
    bool ok = false;
    for (const char* k : known) ok = ok || key == k;
    if (!ok)
      throw Error(ErrorCode::kInvalidArgument, "bad-pass-option", "pass '" + pass + "' has no option '" + key + "'",
                  std::vector<std::string>(known.begin(), known.end()));
  }
}

std::unique_ptr<Pass> make_pass(const PassSpec& spec, const PassEnv& env) {
  for (const auto& e : kPasses)
    if (spec.name == e.name) return e.make(spec.options, env);
  throw Error(ErrorCode::kInvalidArgument, "unknown-pass", "no pass named '" + spec.name + "'",
              registered_passes());
}

std::vector<PassRecord> run_pipeline(onnx::ModelProto& model, const std::vector<PassSpec>& pipeline, const PassEnv& env,
                                     const std::function<void(std::size_t)>& before_each) {
  std::vector<PassRecord> records;
  for (std::size_t i = 0; i < pipeline.size(); ++i) {
    if (before_each) before_each(i);
    auto pass = make_pass(pipeline[i], env);
    auto start = std::chrono::steady_clock::now();
    PassRecord rec{pass->name(), pipeline[i].options, pass->run(model), 0, nullptr};
    rec.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    rec.details = pass->details();
    records.push_back(std::move(rec));
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInternal, "pass-produced-invalid-model",
                std::string("the optimized model fails the ONNX checker: ") + e.what());
  }
  return records;
}

}  // namespace aifgen

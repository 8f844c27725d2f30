// The pass registry (one line per pass) and the pipeline runner.
#include "core/passes/pass_manager.h"

#include <onnx/checker.h>

#include <chrono>

#include "core/error.h"

namespace aifgen {

std::unique_ptr<Pass> make_infer_shapes_pass();
std::unique_ptr<Pass> make_eliminate_identity_pass();
std::unique_ptr<Pass> make_eliminate_dead_nodes_pass();
std::unique_ptr<Pass> make_fold_batchnorm_pass();
std::unique_ptr<Pass> make_fold_constants_pass();
std::unique_ptr<Pass> make_fuse_matmul_add_pass();

namespace {

struct Entry {
  const char* name;
  std::unique_ptr<Pass> (*make)();
};

const Entry kPasses[] = {
    {"infer_shapes", make_infer_shapes_pass},
    {"eliminate_identity", make_eliminate_identity_pass},
    {"eliminate_dead_nodes", make_eliminate_dead_nodes_pass},
    {"fold_batchnorm", make_fold_batchnorm_pass},
    {"fold_constants", make_fold_constants_pass},
    {"fuse_matmul_add", make_fuse_matmul_add_pass},
};

}  // namespace

std::vector<std::string> registered_passes() {
  std::vector<std::string> names;
  for (const auto& e : kPasses) names.emplace_back(e.name);
  return names;
}

std::unique_ptr<Pass> make_pass(const std::string& name) {
  for (const auto& e : kPasses)
    if (name == e.name) return e.make();
  throw Error(ErrorCode::kInvalidArgument, "unknown-pass", "no pass named '" + name + "'",
              registered_passes());
}

std::vector<PassRecord> run_pipeline(onnx::ModelProto& model, const std::vector<std::string>& pipeline,
                                     const std::function<void(std::size_t)>& before_each) {
  std::vector<PassRecord> records;
  for (std::size_t i = 0; i < pipeline.size(); ++i) {
    if (before_each) before_each(i);
    auto pass = make_pass(pipeline[i]);
    auto start = std::chrono::steady_clock::now();
    PassRecord rec{pass->name(), pass->run(model), 0};
    rec.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
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

// The command line: convert, run, bench and inspect on real files, exit codes on bad input.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "core/engine/npy.h"
#include "tests/e2e/bundle_reader.h"
#include "tests/e2e/http.h"
#include "tests/e2e/run_command.h"
#include "tests/support/model_builder.h"
#include "tests/support/temp_dir.h"

namespace aifgen::e2e {
namespace {

CommandResult aifgen_cli(const std::string& args) { return run_command(std::string(AIFGEN_BINARY) + " " + args); }

TEST(Cli, ConvertWritesAValidatedBundle) {
  testing::TempDir dir;
  auto model = dir.file("convbn.onnx", testing::serialize(testing::conv_bn_relu_model(true)));
  auto r = aifgen_cli("convert " + model + " --targets x86_64-cpu --out " + dir.path() + "/out");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("validated"), std::string::npos) << r.output;
  auto files = read_bundle(read_file(dir.path() + "/out/convbn-x86_64-cpu-fp32.tar.gz"));
  bool found = false;
  for (const auto& [name, entry] : files)
    if (name.size() > 12 && name.substr(name.size() - 12) == "variant.json") {
      found = true;
      auto j = nlohmann::json::parse(entry.bytes);
      EXPECT_EQ(j["validation"]["status"], "validated");
      EXPECT_EQ(j["benchmarks"].size(), 2u);
    }
  EXPECT_TRUE(found);
}

// --threads sets the cores of the calibration probes and validation runs; the bundle's model
// must not depend on it.
TEST(Cli, ConvertThreadsChangeNoModelAndRefuseNegativeCounts) {
  testing::TempDir dir;
  auto model = dir.file("convbn.onnx", testing::serialize(testing::conv_bn_relu_model()));
  auto model_of = [&](const std::string& threads) {
    const auto out = dir.path() + "/out" + threads;
    auto r = aifgen_cli("convert " + model + " --targets x86_64-cpu arm64-cpu --precisions int8 --threads " + threads + " --out " + out);
    EXPECT_EQ(r.status, 0) << r.output;
    std::string onnx;
    for (const auto& bundle : {"convbn-x86_64-cpu-int8.tar.gz", "convbn-arm64-cpu-int8.tar.gz"})
      for (const auto& [name, entry] : read_bundle(read_file(out + "/" + bundle)))
        if (name.size() > 10 && name.substr(name.size() - 10) == "model.onnx") onnx += entry.bytes;
    return onnx;
  };
  const auto one = model_of("1");
  EXPECT_GT(one.size(), 200u);
  EXPECT_EQ(model_of("3"), one);
  auto bad = aifgen_cli("convert " + model + " --targets x86_64-cpu --threads -2 --out " + dir.path() + "/bad");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.output.find("--threads"), std::string::npos) << bad.output;
}

// Device-plugin resource names are the deployer's: a named FPGA resource replaces the privileged
// device mount, a GPU resource can be renamed, and names Kubernetes would refuse are refused here.
TEST(Cli, ConvertTakesTheClustersDeviceResourceNames) {
  testing::TempDir dir;
  auto model = dir.file("convbn.onnx", testing::serialize(testing::conv_bn_relu_model()));
  auto r = aifgen_cli("convert " + model + " --targets xilinx-zynq nvidia-gpu --precisions int8 --k8s-fpga-resource example.com/kv260-dpu" +
                      " --k8s-gpu-resource nvidia.com/mig-1g.10gb --out " + dir.path() + "/out");
  ASSERT_EQ(r.status, 0) << r.output;
  auto manifest = [&](const std::string& bundle) {
    for (const auto& [name, entry] : read_bundle(read_file(dir.path() + "/out/" + bundle)))
      if (name.find("/k8s/deployment.yaml") != std::string::npos) return entry.bytes;
    return std::string();
  };
  const auto dpu = manifest("convbn-xilinx-zynq-int8.tar.gz");
  EXPECT_NE(dpu.find("example.com/kv260-dpu: \"1\""), std::string::npos) << dpu;
  EXPECT_EQ(dpu.find("privileged"), std::string::npos) << dpu;
  EXPECT_EQ(dpu.find("hostPath"), std::string::npos) << dpu;
  const auto gpu = manifest("convbn-nvidia-gpu-int8.tar.gz");
  EXPECT_NE(gpu.find("nvidia.com/mig-1g.10gb: \"1\""), std::string::npos) << gpu;
  auto bad = aifgen_cli("convert " + model + " --targets xilinx-zynq --k8s-fpga-resource 'kubernetes.io/dpu' --out " + dir.path() + "/bad");
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.output.find("not a Kubernetes extended resource name"), std::string::npos) << bad.output;
}

TEST(Cli, ConvertRefusesUnknownTargetsAndInvalidModels) {
  testing::TempDir dir;
  auto model = dir.file("convbn.onnx", testing::serialize(testing::conv_bn_relu_model()));
  auto r = aifgen_cli("convert " + model + " --targets tpu-v9 --out " + dir.path() + "/out");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("x86_64-cpu/fp32"), std::string::npos) << r.output;  // lists what is available
  auto bad = dir.file("bad.onnx", "definitely not a model");
  EXPECT_EQ(aifgen_cli("convert " + bad + " --targets x86_64-cpu --out " + dir.path() + "/out").status, 3);
  EXPECT_EQ(aifgen_cli("inspect " + bad).status, 3);
}

TEST(Cli, RunWritesOutputsThatMatchTheReference) {
  testing::TempDir dir;
  const std::string refs = std::string(AIFGEN_SHARED_DIR) + "/models/refs/ch_ppocr_mobile_v2.0_cls_infer/";
  auto r = aifgen_cli("run " + std::string(AIFGEN_SHARED_DIR) + "/models/ch_ppocr_mobile_v2.0_cls_infer.onnx --input x=" + refs +
                      "input_x.npy --output-dir " + dir.path());
  ASSERT_EQ(r.status, 0) << r.output;
  auto got = engine::read_npy(dir.path() + "/softmax_0.tmp_0.npy");
  auto want = engine::read_npy(refs + "output_softmax_0.tmp_0.npy");
  ASSERT_EQ(got.shape, want.shape);
  for (std::int64_t i = 0; i < want.numel(); ++i) EXPECT_NEAR(got.as<float>()[i], want.as<float>()[i], 1e-4f);
  EXPECT_EQ(aifgen_cli("run " + std::string(AIFGEN_SHARED_DIR) + "/models/ch_ppocr_mobile_v2.0_cls_infer.onnx --input x=" +
                       dir.path() + "/missing.npy --output-dir " + dir.path()).status, 2);
}

TEST(Cli, BenchPrintsJson) {
  auto r = aifgen_cli("bench " + std::string(AIFGEN_SHARED_DIR) + "/models/mobilenet_v2.onnx --warmup 1 --iterations 3 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  for (const char* key : {"p50_ms", "p90_ms", "p99_ms", "plan_ms", "peak_bytes"}) EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_GT(j["p50_ms"].get<double>(), 0.0);
  EXPECT_LE(j["p50_ms"].get<double>(), j["p99_ms"].get<double>());
}

TEST(Cli, BenchTimesOnAGivenInputAndRefusesNamesTheModelLacks) {
  // A detector's speed depends on its image, so a comparison passes the same .npy to both
  // runtimes. The file also binds the input's dims: this model's width is free.
  const std::string model = std::string(AIFGEN_SHARED_DIR) + "/models/ch_ppocr_mobile_v2.0_cls_infer.onnx";
  const std::string input = std::string(AIFGEN_SHARED_DIR) + "/models/refs/ch_ppocr_mobile_v2.0_cls_infer/input_x.npy";
  auto r = aifgen_cli("bench " + model + " --warmup 0 --iterations 1 --json --input x=" + input);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_GT(nlohmann::json::parse(r.output)["p50_ms"].get<double>(), 0.0);
  auto stranger = aifgen_cli("bench " + model + " --warmup 0 --iterations 1 --input image=" + input);
  EXPECT_EQ(stranger.status, 2) << stranger.output;
  EXPECT_NE(stranger.output.find("'image', which is not an input of the model"), std::string::npos) << stranger.output;
  testing::TempDir dir;
  auto wrong = engine::Tensor::allocate(engine::DType::kF32, {1, 3, 48, 7});
  engine::write_npy(dir.path() + "/wrong.npy", wrong);
  auto bad_shape = aifgen_cli("bench " + model + " --warmup 0 --iterations 1 --input x=" + dir.path() + "/wrong.npy --shape x=1x3x48x192");
  EXPECT_NE(bad_shape.status, 0) << bad_shape.output;
}

TEST(Cli, BenchTakesAnActivationLayoutAndRefusesUnknownOnes) {
  // A fixed layout is planned as asked and not raced, so the session has no choice to report.
  const std::string model = std::string(AIFGEN_SHARED_DIR) + "/models/mobilenet_v2.onnx";
  for (const char* layout : {"onednn", "blocked"}) {
    auto r = aifgen_cli("bench " + model + " --warmup 0 --iterations 1 --json --activation-layout " + layout);
    ASSERT_EQ(r.status, 0) << r.output;
    auto j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j["activation_layout"], layout);
    EXPECT_EQ(j["activation_layout_choice"], "") << layout;
  }
  auto bad = aifgen_cli("bench " + model + " --activation-layout sideways");
  EXPECT_NE(bad.status, 0) << bad.output;
  EXPECT_NE(bad.output.find("--activation-layout"), std::string::npos) << bad.output;
}

// --recurrence fixes which kernel runs an LSTM both can run, and bench reports it.
TEST(Cli, BenchTakesARecurrenceKernelAndRefusesUnknownOnes) {
  constexpr std::int64_t steps = 5, inputs = 3, hidden = 8;
  auto m = testing::empty_model("lstm");
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("X", onnx::TensorProto::FLOAT, {std::to_string(steps), "1", std::to_string(inputs)});
  *g->add_initializer() = testing::random_tensor("W", {1, 4 * hidden, inputs}, 1, -0.5f, 0.5f);
  *g->add_initializer() = testing::random_tensor("R", {1, 4 * hidden, hidden}, 2, -0.5f, 0.5f);
  auto lstm = testing::node("LSTM", {"X", "W", "R"}, {"Y"}, "cell");
  testing::add_int_attr(lstm, "hidden_size", hidden);
  *g->add_node() = lstm;
  *g->add_output() = testing::tensor_value("Y", onnx::TensorProto::FLOAT, {});
  testing::TempDir dir;
  const auto model = dir.file("lstm.onnx", testing::serialize(m));
  for (const auto& [kernel, layers] : {std::pair<std::string, int>{"engine", 1}, {"onednn", 0}}) {
    auto r = aifgen_cli("bench " + model + " --warmup 0 --iterations 1 --json --recurrence " + kernel);
    ASSERT_EQ(r.status, 0) << r.output;
    auto j = nlohmann::json::parse(r.output);
    EXPECT_EQ(j["recurrence"], kernel);
    EXPECT_EQ(j["engine_recurrences"], layers) << kernel;
  }
  auto bad = aifgen_cli("bench " + model + " --recurrence sideways");
  EXPECT_NE(bad.status, 0) << bad.output;
  EXPECT_NE(bad.output.find("--recurrence"), std::string::npos) << bad.output;
}

TEST(Cli, BenchProfileStepsListsEveryStepWithItsShapeAndThreads) {
  // --profile-steps: one row per planned step in plan order; in --json a "steps" array whose
  // length is the kernel count and whose last step writes the classifier's [1, 1000].
  const std::string model = std::string(AIFGEN_SHARED_DIR) + "/models/mobilenet_v2.onnx";
  auto r = aifgen_cli("bench " + model + " --warmup 0 --iterations 2 --json --profile-steps");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  ASSERT_TRUE(j["steps"].is_array());
  ASSERT_EQ(j["steps"].size(), j["kernels"].get<std::size_t>());
  for (std::size_t k = 0; k < j["steps"].size(); ++k) {
    EXPECT_EQ(j["steps"][k]["index"], k);
    EXPECT_EQ(j["steps"][k]["ran_threads"], j["steps"][k]["threads"]) << "step " << k << " ran with another thread count than planned";
  }
  EXPECT_EQ(j["steps"].back()["output"], nlohmann::json({1, 1000}));
  EXPECT_GT(j["steps"].back()["ms"].get<double>(), 0.0);
  auto text = aifgen_cli("bench " + model + " --warmup 0 --iterations 1 --threads 2 --profile-steps");
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("ms/run"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("[1x1000]"), std::string::npos) << text.output;
}

// --input-sets N runs N random inputs in turn (a detector's tail meets that many proposal
// counts); it is reported in the text and the JSON, and 0 is refused.
TEST(Cli, BenchRunsSeveralInputSetsInTurnAndSaysSo) {
  const std::string model = std::string(AIFGEN_SHARED_DIR) + "/models/mobilenet_v2.onnx";
  auto r = aifgen_cli("bench " + model + " --warmup 1 --iterations 3 --input-sets 3 --json");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["input_sets"], 3);
  EXPECT_EQ(j["iterations"], 3);
  auto text = aifgen_cli("bench " + model + " --warmup 0 --iterations 2 --input-sets 2");
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find("2 input sets in turn"), std::string::npos) << text.output;
  auto zero = aifgen_cli("bench " + model + " --input-sets 0");
  EXPECT_NE(zero.status, 0) << zero.output;
  EXPECT_NE(zero.output.find("--input-sets"), std::string::npos) << zero.output;
}

TEST(Cli, ServeAndKeysRefuseADatabaseThatIsNotAPostgresUrlAndUnknownTargets) {
  for (const char* bad : {"mysql://db/aifgen", "/var/lib/aifgen/aifgen.db", "postgresql"}) {
    auto serve = aifgen_cli(std::string("serve --database '") + bad + "'");
    EXPECT_EQ(serve.status, 2) << bad << "\n" << serve.output;
    EXPECT_NE(serve.output.find("not a postgresql:// URL"), std::string::npos) << serve.output;
    auto keys = aifgen_cli(std::string("keys list --database '") + bad + "'");
    EXPECT_EQ(keys.status, 2) << bad << "\n" << keys.output;
  }
  // The password never shows in the refusal.
  auto secret = aifgen_cli("serve --database 'mysql://aifgen:s3cret@db/aifgen'");
  EXPECT_EQ(secret.output.find("s3cret"), std::string::npos) << secret.output;
  auto worker = aifgen_cli("worker --data-dir /tmp/nowhere-aifgen");
  EXPECT_EQ(worker.status, 2) << worker.output;
  EXPECT_NE(worker.output.find("--database"), std::string::npos) << worker.output;
  auto targets = aifgen_cli("serve --targets x86_64-cpu,tpu-v9");
  EXPECT_EQ(targets.status, 2) << targets.output;
  EXPECT_NE(targets.output.find("unknown target tpu-v9"), std::string::npos) << targets.output;
}

}  // namespace
}  // namespace aifgen::e2e

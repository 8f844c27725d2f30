// The accelerator bundles against their vendors' rules, for models with fixed, batch-only and fully
// dynamic inputs (the shared OCR models included):
// - config.pbtxt parsed with Triton's ModelConfig schema: free dims -1, batching as the profile says;
// - build_engine.sh run with a stand-in trtexec and nvidia-smi: the shape flags trtexec receives
//   cover the config and the models' real input sizes, and the engine cache is keyed per model,
//   precision, GPU and TensorRT version;
// - the DPU partition against UG1414's operator limits;
// - Kubernetes extended resource names.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/base/error.h"
#include "core/onnx_model.h"
#include "core/quantize/dpu_rules.h"
#include "service/build_options.h"
#include "targets/common/deploy_files.h"
#include "targets/common/dpu_partition.h"
#include "targets/common/nvidia_target.h"
#include "targets/common/tensorrt_profile.h"
#include "tests/support/model_builder.h"
#include "tests/support/temp_dir.h"
#include "triton_model_config.pb.h"

namespace aifgen {
namespace {

using Shape = std::vector<std::int64_t>;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

onnx::ModelProto shared(const std::string& name) { return load_model_file(std::string(AIFGEN_SHARED_DIR) + "/models/" + name + ".onnx"); }

inference::ModelConfig parse_config(const std::string& text) {
  inference::ModelConfig c;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &c)) << text;
  return c;
}

bool within(const ShapeRange& r, const Shape& s) {
  if (s.size() != r.min.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (s[i] < r.min[i] || s[i] > r.max[i]) return false;
  return true;
}

// Triton accepts a request shape when every config dim is -1 or equal (batch dim dropped when
// the model batches, and then at most max_batch_size).
bool config_accepts(const inference::ModelConfig& c, const Shape& s) {
  std::size_t first = c.max_batch_size() > 0 ? 1 : 0;
  if (first && (s[0] < 1 || s[0] > c.max_batch_size())) return false;
  if (static_cast<int>(s.size() - first) != c.input(0).dims_size()) return false;
  for (int i = 0; i < c.input(0).dims_size(); ++i)
    if (c.input(0).dims(i) != -1 && c.input(0).dims(i) != s[first + static_cast<std::size_t>(i)]) return false;
  return true;
}

TEST(TensorrtProfile, FixedShapesNeedNoProfileAndNoBatching) {
  auto model = shared("mobilenet_v2");
  auto p = tensorrt_profile(model, 8, {}, {});
  EXPECT_FALSE(p.dynamic());
  EXPECT_FALSE(p.batched);
  EXPECT_EQ(trtexec_shape_args(p), "");
  auto c = parse_config(triton_config(model, "m", p));
  EXPECT_EQ(c.max_batch_size(), 0);
  EXPECT_FALSE(c.has_dynamic_batching());
  ASSERT_EQ(c.input(0).dims_size(), 4);
  EXPECT_EQ(c.input(0).dims(3), 224);
  EXPECT_TRUE(config_accepts(c, {1, 3, 224, 224}));
}

TEST(TensorrtProfile, BatchOnlyDynamicModelIsBatchedByTriton) {
  auto model = testing::conv_bn_relu_model();  // x[N,3,8,8] -> y[N,4,8,8]
  auto p = tensorrt_profile(model, 8, {}, {});
  ASSERT_TRUE(p.batched);
  EXPECT_EQ(p.max_batch, 8);
  EXPECT_EQ(trtexec_shape_args(p), "'--minShapes=x:1x3x8x8' '--optShapes=x:1x3x8x8' '--maxShapes=x:8x3x8x8'");
  auto c = parse_config(triton_config(model, "m", p));
  EXPECT_EQ(c.max_batch_size(), 8);
  EXPECT_TRUE(c.has_dynamic_batching());
  ASSERT_EQ(c.input(0).dims_size(), 3);
  ASSERT_EQ(c.output(0).dims_size(), 3);
  EXPECT_EQ(c.output(0).dims(0), 4);
  EXPECT_TRUE(config_accepts(c, {8, 3, 8, 8}));
  EXPECT_FALSE(config_accepts(c, {9, 3, 8, 8}));
}

// The OCR models take variable sizes; the engine must take the sizes PaddleOCR feeds them.
TEST(TensorrtProfile, OcrModelsAcceptTheirRealInputSizes) {
  struct Case {
    std::string model;
    std::map<std::string, Shape> calibration_sample;  // one sample's shape, as from shared/calibration
    std::vector<Shape> real;
  };
  const std::vector<Case> cases = {
      {"ch_PP-OCRv4_det_infer", {}, {{1, 3, 640, 640}, {1, 3, 320, 480}}},
      {"ch_PP-OCRv4_det_infer", {{"x", {1, 3, 320, 320}}}, {{1, 3, 640, 640}, {1, 3, 960, 736}, {4, 3, 320, 320}}},
      {"ch_PP-OCRv4_rec_infer", {{"x", {1, 3, 48, 320}}}, {{1, 3, 48, 320}, {6, 3, 48, 800}, {1, 3, 48, 1280}}},
      {"ch_ppocr_mobile_v2.0_cls_infer", {}, {{1, 3, 48, 192}, {6, 3, 48, 192}}},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.model + (k.calibration_sample.empty() ? "" : " with a calibration set"));
    auto model = shared(k.model);
    auto p = tensorrt_profile(model, 8, {}, k.calibration_sample);
    ASSERT_EQ(p.inputs.size(), 1u);
    EXPECT_TRUE(p.dynamic());
    EXPECT_EQ(p.inputs[0].source, k.calibration_sample.empty() ? "default" : "calibration set");
    auto c = parse_config(triton_config(model, "m", p));
    for (const auto& s : k.real) {
      EXPECT_TRUE(within(p.inputs[0].range, s)) << "profile refuses " << s[2] << "x" << s[3];
      EXPECT_TRUE(config_accepts(c, s)) << "config refuses " << s[2] << "x" << s[3];
    }
    // Every free dim is -1 in the config; fixed ones keep their size.
    for (int i = 0; i < c.input(0).dims_size(); ++i) {
      const auto model_dim = p.inputs[0].dims[static_cast<std::size_t>(i) + (p.batched ? 1 : 0)];
      EXPECT_EQ(c.input(0).dims(i), model_dim > 0 ? model_dim : -1);
    }
  }
}

TEST(TensorrtProfile, JobShapeProfilesOverrideTheDefaultsAndAreChecked) {
  auto model = shared("ch_PP-OCRv4_rec_infer");
  auto options = parse_build_options(nlohmann::json::parse(
      R"({"shape_profiles": {"x": {"min": [1, 3, 48, 32], "opt": [4, 3, 48, 320], "max": [16, 3, 48, 2048]}}})"));
  auto p = tensorrt_profile(model, 8, options.shape_profiles, {{"x", {1, 3, 48, 320}}});
  EXPECT_EQ(p.inputs[0].source, "job option");
  EXPECT_TRUE(p.batched);
  EXPECT_EQ(p.max_batch, 16);
  EXPECT_EQ(parse_config(triton_config(model, "m", p)).max_batch_size(), 16);
  EXPECT_NE(trtexec_shape_args(p).find("'--maxShapes=x:16x3x48x2048'"), std::string::npos);

  // A batch range that does not start at 1 cannot be Triton's batch: no batching, dims -1.
  options = parse_build_options(nlohmann::json::parse(R"({"shape_profiles": {"x": {"min": [2, 3, 48, 32], "opt": [2, 3, 48, 320], "max": [4, 3, 48, 640]}}})"));
  p = tensorrt_profile(model, 8, options.shape_profiles, {});
  EXPECT_FALSE(p.batched);
  auto c = parse_config(triton_config(model, "m", p));
  EXPECT_EQ(c.max_batch_size(), 0);
  EXPECT_EQ(c.input(0).dims(0), -1);

  auto type_of = [&](const std::string& json) {
    try {
      auto o = parse_build_options(nlohmann::json::parse(json));
      tensorrt_profile(model, 8, o.shape_profiles, {});
    } catch (const Error& e) {
      return e.type() + ": " + e.what();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(type_of(R"({"shape_profiles": {"y": {"min": [1,3,48,32], "opt": [1,3,48,32], "max": [1,3,48,32]}}})").substr(0, 21), "invalid-shape-profile");
  EXPECT_NE(type_of(R"({"shape_profiles": {"x": {"min": [1,3,48], "opt": [1,3,48], "max": [1,3,48]}}})").find("rank 4"), std::string::npos);
  EXPECT_NE(type_of(R"({"shape_profiles": {"x": {"min": [1,3,32,32], "opt": [1,3,32,32], "max": [1,3,32,32]}}})").find("fixed at 48"), std::string::npos);
  EXPECT_EQ(type_of(R"({"shape_profiles": {"x": {"min": [1,3,48,64], "opt": [1,3,48,32], "max": [1,3,48,640]}}})").substr(0, 13), "invalid-field");
  EXPECT_EQ(type_of(R"({"shape_profiles": {"x": {"min": [1,3,48,0], "opt": [1,3,48,32], "max": [1,3,48,640]}}})").substr(0, 13), "invalid-field");
  EXPECT_EQ(type_of(R"({"shape_profiles": {"x": {"min": [1,3,48,8], "opt": [1,3,48,32]}}})").substr(0, 13), "invalid-field");
  EXPECT_EQ(type_of(R"({"shape_profiles": {"x": {"min": [1,3,48,8], "opt": [1,3,48,32], "max": [1,3,48,64]}}})"), "accepted");
}

TEST(TensorrtProfile, IoTypesTensorrtCannotBindAreRefused) {
  auto model = testing::empty_model();
  auto* g = model.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::DOUBLE, {"N", "4"});
  *g->add_output() = testing::tensor_value("y", onnx::TensorProto::DOUBLE, {"N", "4"});
  *g->add_node() = testing::node("Relu", {"x"}, {"y"});
  auto p = tensorrt_profile(model, 8, {}, {});
  try {
    triton_config(model, "m", p);
    FAIL() << "FP64 I/O accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.type(), "target-unsupported-type");
    EXPECT_NE(std::string(e.what()).find("DOUBLE"), std::string::npos) << e.what();
  }
}

// build_engine.sh, run: a stand-in trtexec records its arguments and writes the engine file; a
// stand-in nvidia-smi names the GPU.
class BuildEngineScript : public ::testing::Test {
 protected:
  void SetUp() override {
    namespace fs = std::filesystem;
    fs::create_directories(dir_.path() + "/bin");
    fs::create_directories(dir_.path() + "/repo/rec/1");
    std::ofstream(dir_.path() + "/repo/rec/1/model.onnx") << "model bytes v1";
    write_exec("bin/trtexec",
               "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" >> \"$TRTEXEC_LOG\"\necho END >> \"$TRTEXEC_LOG\"\n"
               "for a in \"$@\"; do case $a in --saveEngine=*) echo plan > \"${a#--saveEngine=}\";; esac; done\n");
    gpu("NVIDIA H100 80GB HBM3, 9.0");
  }
  void write_exec(const std::string& rel, const std::string& text) {
    const auto p = dir_.path() + "/" + rel;
    std::ofstream(p) << text;
    std::filesystem::permissions(p, std::filesystem::perms::owner_all);
  }
  void gpu(const std::string& line) { write_exec("bin/nvidia-smi", "#!/usr/bin/env bash\necho '" + line + "'\n"); }
  int run(const std::string& script, const std::string& trt_version) {
    std::ofstream(dir_.path() + "/build_engine.sh") << script;
    const std::string cmd = "cd " + dir_.path() + " && PATH=" + dir_.path() + "/bin:$PATH TRTEXEC=" + dir_.path() + "/bin/trtexec TRTEXEC_LOG=" +
                            dir_.path() + "/trtexec.log TRT_VERSION=" + trt_version + " ENGINE_CACHE=" + dir_.path() + "/cache MODEL_REPOSITORY=" +
                            dir_.path() + "/repo bash build_engine.sh >" + dir_.path() + "/out.txt 2>&1";
    return std::system(cmd.c_str());
  }
  // The argument lists trtexec was called with, one per call.
  std::vector<std::vector<std::string>> calls() const {
    std::ifstream in(dir_.path() + "/trtexec.log");
    std::vector<std::vector<std::string>> out(1);
    for (std::string line; std::getline(in, line);) {
      if (line == "END") out.emplace_back();
      else out.back().push_back(line);
    }
    out.pop_back();
    return out;
  }
  std::size_t plans() const {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path() + "/cache")) n += e.path().extension() == ".plan";
    return n;
  }
  testing::TempDir dir_;
};

Shape parse_shape_flag(const std::vector<std::string>& args, const std::string& flag) {
  for (const auto& a : args)
    if (a.rfind(flag + "=x:", 0) == 0) {
      Shape s;
      std::stringstream ss(a.substr(flag.size() + 3));
      for (std::string d; std::getline(ss, d, 'x');) s.push_back(std::stoll(d));
      return s;
    }
  return {};
}

TEST_F(BuildEngineScript, TrtexecGetsTheProfileAndEnginesAreCachedPerModelGpuAndTensorrt) {
  auto model = shared("ch_PP-OCRv4_rec_infer");
  auto profile = tensorrt_profile(model, 8, {}, {{"x", {1, 3, 48, 320}}});
  const auto config = parse_config(triton_config(model, "rec", profile));
  const auto script = build_engine_script("rec", "int8", profile);
  ASSERT_EQ(run(script, "10.0.1.6"), 0) << read_file(dir_.path() + "/out.txt");
  auto c = calls();
  ASSERT_EQ(c.size(), 1u);
  const auto& args = c[0];
  auto has = [&](const std::string& a) { return std::find(args.begin(), args.end(), a) != args.end(); };
  EXPECT_TRUE(has("--onnx=" + dir_.path() + "/repo/rec/1/model.onnx"));
  EXPECT_TRUE(has("--int8") && has("--fp16") && has("--skipInference"));
  // The three shapes trtexec receives are the profile, and every shape in it is one the config
  // lets through (and the other way round at the edges).
  const Shape mn = parse_shape_flag(args, "--minShapes"), opt = parse_shape_flag(args, "--optShapes"), mx = parse_shape_flag(args, "--maxShapes");
  EXPECT_EQ(mn, profile.inputs[0].range.min);
  EXPECT_EQ(opt, (Shape{1, 3, 48, 320}));
  EXPECT_EQ(mx, profile.inputs[0].range.max);
  EXPECT_EQ(mx[0], config.max_batch_size());
  for (const auto& s : {mn, opt, mx}) EXPECT_TRUE(config_accepts(config, s));
  const auto plan = std::filesystem::read_symlink(dir_.path() + "/repo/rec/1/model.plan").string();
  EXPECT_NE(plan.find("rec-int8-"), std::string::npos) << plan;
  EXPECT_NE(plan.find("H100"), std::string::npos) << plan;
  EXPECT_NE(plan.find("trt10.0.1.6"), std::string::npos) << plan;

  ASSERT_EQ(run(script, "10.0.1.6"), 0);
  EXPECT_EQ(calls().size(), 1u) << "the cached engine was rebuilt";
  gpu("Tesla T4, 7.5");
  ASSERT_EQ(run(script, "10.0.1.6"), 0);
  EXPECT_EQ(calls().size(), 2u) << "another GPU reused an H100 engine";
  ASSERT_EQ(run(script, "10.3.0.26"), 0);
  EXPECT_EQ(calls().size(), 3u) << "another TensorRT reused an engine";
  std::ofstream(dir_.path() + "/repo/rec/1/model.onnx") << "model bytes v2";
  ASSERT_EQ(run(script, "10.3.0.26"), 0);
  EXPECT_EQ(calls().size(), 4u) << "a changed model reused the old engine";
  EXPECT_EQ(plans(), 4u);
  std::filesystem::remove(dir_.path() + "/bin/trtexec");
  EXPECT_NE(run(script, "10.3.0.26"), 0);  // cached, but a missing trtexec is still reported
  EXPECT_NE(read_file(dir_.path() + "/out.txt").find("no trtexec"), std::string::npos);
}

TEST_F(BuildEngineScript, FixedShapeModelsGetNoShapeFlags) {
  auto model = shared("mobilenet_v2");
  ASSERT_EQ(run(build_engine_script("rec", "fp16", tensorrt_profile(model, 8, {}, {})), "10.0.1.6"), 0) << read_file(dir_.path() + "/out.txt");
  const auto c = calls();
  ASSERT_EQ(c.size(), 1u);
  for (const auto& a : c[0]) EXPECT_EQ(a.find("Shapes="), std::string::npos) << a;
  EXPECT_EQ(trtexec_precision_flags("fp32"), "");
}

// DPU placement against UG1414 3.5's limits for the DPUCZDX8G (and one DPUCV2DX8G rule).
class DpuPartition : public ::testing::Test {
 protected:
  // x[1,ic,32,32] -> Conv(W[oc, ic/group, k, k]) -> y
  onnx::ModelProto conv(std::int64_t ic, std::int64_t oc, std::int64_t k, std::int64_t stride, std::int64_t group) {
    auto m = testing::empty_model();
    auto* g = m.mutable_graph();
    *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", std::to_string(ic), "32", "32"});
    *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
    *g->add_initializer() = testing::random_tensor("W", {oc, ic / group, k, k}, 3);
    auto n = testing::node("Conv", {"x", "W"}, {"y"}, "conv");
    testing::add_ints_attr(n, "strides", {stride, stride});
    testing::add_int_attr(n, "group", group);
    *g->add_node() = n;
    return m;
  }
  DpuPlacement only(const onnx::ModelProto& m, const DpuLimits& l) {
    auto p = partition_for_dpu(m, l);
    EXPECT_EQ(p.size(), 1u);
    return p.empty() ? DpuPlacement{} : p[0];
  }
  DpuLimits zynq{"DPUCZDX8G_ISA1_B4096", 16, 2048, 16, 8, 0, 16, 8, 8, 8, "UG1414"};
};

TEST_F(DpuPartition, ConvolutionsWithinTheLimitsGoToTheDpuOthersSayWhyNot) {
  EXPECT_TRUE(only(conv(16, 32, 3, 1, 1), zynq).on_dpu);
  auto dw = only(conv(32, 32, 3, 2, 32), zynq);
  EXPECT_TRUE(dw.on_dpu);
  EXPECT_EQ(dw.reason, "depthwise convolution engine");
  auto grouped = only(conv(32, 32, 3, 1, 4), zynq);
  EXPECT_FALSE(grouped.on_dpu);
  EXPECT_NE(grouped.reason.find("group 4"), std::string::npos);
  auto big = only(conv(16, 16, 17, 1, 1), zynq);
  EXPECT_FALSE(big.on_dpu);
  EXPECT_NE(big.reason.find("kernel 17"), std::string::npos);
  EXPECT_NE(only(conv(16, 16, 3, 9, 1), zynq).reason.find("stride 9"), std::string::npos);
  // 16 x 16 x ceil(256 / 16) = 4096 words do not fit a 2048-deep bank.
  auto deep = only(conv(256, 16, 16, 1, 1), zynq);
  EXPECT_FALSE(deep.on_dpu);
  EXPECT_NE(deep.reason.find("bank depth"), std::string::npos) << deep.reason;
  DpuLimits versal{"DPUCV2DX8G_ISA1_C20B1", 32, 65528, 16, 8, 53, 16, 8, 8, 8, "UG1414"};
  EXPECT_TRUE(only(conv(16, 16, 7, 1, 1), versal).on_dpu);
  EXPECT_NE(only(conv(16, 16, 9, 1, 1), versal).reason.find("kernel area 81"), std::string::npos);
}

TEST_F(DpuPartition, PoolingAndOtherOps) {
  auto m = testing::empty_model();
  auto* g = m.mutable_graph();
  *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "8", "32", "32"});
  *g->add_output() = testing::tensor_value("z", onnx::TensorProto::FLOAT, {});
  auto pool = [&](const std::string& op, std::vector<std::int64_t> k, const std::string& in, const std::string& out) {
    auto n = testing::node(op, {in}, {out}, out);
    testing::add_ints_attr(n, "kernel_shape", k);
    *g->add_node() = n;
  };
  pool("MaxPool", {2, 2}, "x", "a");
  pool("MaxPool", {9, 9}, "a", "b");
  pool("AveragePool", {2, 3}, "b", "c");
  *g->add_node() = testing::node("Softmax", {"c"}, {"d"}, "d");
  *g->add_node() = testing::node("MatMul", {"d", "d"}, {"e"}, "e");
  *g->add_node() = testing::node("Relu", {"e"}, {"z"}, "z");
  auto p = partition_for_dpu(m, zynq);
  ASSERT_EQ(p.size(), 6u);
  EXPECT_TRUE(p[0].on_dpu);
  EXPECT_FALSE(p[1].on_dpu);
  EXPECT_NE(p[1].reason.find("kernel 9"), std::string::npos);
  EXPECT_FALSE(p[2].on_dpu);
  EXPECT_NE(p[2].reason.find("square"), std::string::npos);
  EXPECT_FALSE(p[3].on_dpu);
  EXPECT_FALSE(p[4].on_dpu);
  EXPECT_NE(p[4].reason.find("activation x activation"), std::string::npos);
  EXPECT_TRUE(p[5].on_dpu);
}

// A convolution whose weight is a graph input (as in ONNX's own node tests) cannot be compiled for
// the DPU: the partition keeps it on the CPU and the DPU rules do not ask anything of it.
TEST_F(DpuPartition, ConvolutionsWithRuntimeWeightsStayOnTheCpu) {
  for (const char* op : {"Conv", "ConvTranspose", "Gemm"}) {
    auto m = testing::empty_model();
    auto* g = m.mutable_graph();
    *g->add_input() = testing::tensor_value("x", onnx::TensorProto::FLOAT, {"1", "4", "8", "8"});
    *g->add_input() = testing::tensor_value("w", onnx::TensorProto::FLOAT, {"4", "4", "3", "3"});
    *g->add_output() = testing::tensor_value("y", onnx::TensorProto::FLOAT, {});
    *g->add_node() = testing::node(op, {"x", "w"}, {"y"}, "runtime_weight");
    auto p = only(m, zynq);
    EXPECT_FALSE(p.on_dpu) << op;
    EXPECT_NE(p.reason.find("run time"), std::string::npos) << op << ": " << p.reason;
    EXPECT_EQ(quantize::check_dpu_qdq(m.graph()), std::vector<std::string>{}) << op;
  }
}

TEST(DeployFiles, ExtendedResourceNamesFollowKubernetesRules) {
  for (const char* ok : {"nvidia.com/gpu", "amd.com/xilinx_u50_gen3x16_xdma_base_5-0", "example.org/dpu.kv260", "a/b"})
    EXPECT_TRUE(is_extended_resource_name(ok)) << ok;
  for (const char* bad : {"gpu", "nvidia.com/", "/gpu", "kubernetes.io/gpu", "node.kubernetes.io/x", "Nvidia.com/gpu", "nvidia.com/-gpu",
                          "nvidia.com/gpu/x", "nvidia.com/g pu"})
    EXPECT_FALSE(is_extended_resource_name(bad)) << bad;
}

}  // namespace
}  // namespace aifgen

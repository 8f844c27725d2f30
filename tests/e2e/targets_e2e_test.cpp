// All six targets in one request, each bundle fetched through its signed link and checked the
// way a deployer would: checksums, Kubernetes YAML, Triton's config.pbtxt against Triton's
// schema, shell scripts with `bash -n`, Dockerfiles with a linter. Then the links themselves:
// tampered and expired links are refused, byte ranges resume downloads.
#include <google/protobuf/text_format.h>
#include <onnx/onnx_pb.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/base/sha256.h"
#include "service/link_signer.h"
#include "tests/e2e/bundle_reader.h"
#include "tests/e2e/fixture.h"
#include "triton_model_config.pb.h"

namespace aifgen::e2e {
namespace {

class TargetsE2E : public ServerTest {
 protected:
  std::string upload_cls() {
    auto r = http().upload(shared_model("ch_ppocr_mobile_v2.0_cls_infer"), "cls");
    EXPECT_TRUE(r.status == 201 || r.status == 200) << r.body;
    return r.json()["id"].get<std::string>();
  }
};

// Runs `cmd` with `text` in a temp file appended as the last argument; returns the exit status.
int run_on_text(const std::string& cmd, const std::string& text, const std::string& suffix, std::string* output = nullptr) {
  static int counter = 0;
  auto dir = std::filesystem::temp_directory_path() / ("aifgen-check-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  auto file = dir / ("file" + suffix);
  std::ofstream(file) << text;
  auto out = dir / "out.txt";
  int rc = std::system((cmd + " '" + file.string() + "' >'" + out.string() + "' 2>&1").c_str());
  if (output) {
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    *output = ss.str();
  }
  std::filesystem::remove_all(dir);
  return rc;
}

void check_sha256sums(const std::map<std::string, BundleEntry>& files, const std::string& top) {
  ASSERT_TRUE(files.count(top + "SHA256SUMS"));
  std::istringstream sums(files.at(top + "SHA256SUMS").bytes);
  std::string line;
  std::set<std::string> listed;
  while (std::getline(sums, line)) {
    const auto sha = line.substr(0, 64), name = line.substr(66);
    ASSERT_TRUE(files.count(top + name)) << name;
    EXPECT_EQ(Sha256::of(files.at(top + name).bytes), sha) << name;
    listed.insert(name);
  }
  for (const auto& [path, _] : files)
    if (path != top + "SHA256SUMS") {
      EXPECT_TRUE(listed.count(path.substr(top.size()))) << path << " missing from SHA256SUMS";
    }
}

void check_k8s(const std::string& yaml, const std::string& target, const std::string& file) {
  // The Kubernetes schemas first (types, required fields, unknown field names), with the
  // kubernetes-models / client-node validator the test tools install.
  std::string report;
  EXPECT_EQ(run_on_text("node " + std::string(AIFGEN_SOURCE_DIR) + "/tests/tools/validate-k8s.mjs", yaml, ".yaml", &report), 0)
      << file << ":\n" << report;
  auto docs = YAML::LoadAll(yaml);
  ASSERT_FALSE(docs.empty()) << file;
  bool workload = false;
  for (const auto& d : docs) {
    ASSERT_TRUE(d["apiVersion"] && d["kind"] && d["metadata"]["name"]) << file;
    const auto name = d["metadata"]["name"].as<std::string>();
    EXPECT_LE(name.size(), 63u);
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-"), std::string::npos) << name;
    const std::string kind = d["kind"].as<std::string>();
    if (kind != "Deployment" && kind != "InferenceService") continue;
    const YAML::Node pod = kind == "Deployment" ? d["spec"]["template"]["spec"] : d["spec"]["predictor"];
    ASSERT_TRUE(pod.IsMap()) << file;
    workload = true;
    const auto c = pod["containers"][0];
    ASSERT_TRUE(c["image"]) << file;
    ASSERT_TRUE(c["resources"]["requests"]["cpu"] && c["resources"]["requests"]["memory"]) << file;
    // Every probe asks the port the container serves, on the KServe v2 health routes.
    const int port = c["ports"][0]["containerPort"].as<int>();
    EXPECT_EQ(port, 8000) << file;
    EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/v2/health/ready") << file;
    EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/v2/health/live") << file;
    for (const char* p : {"readinessProbe", "livenessProbe", "startupProbe"})
      if (c[p]) {
        EXPECT_EQ(c[p]["httpGet"]["port"].as<int>(), port) << file << " " << p;
      }
    if (kind == "InferenceService") {
      std::map<std::string, std::string> env;
      for (const auto& e : c["env"]) env[e["name"].as<std::string>()] = e["value"].as<std::string>();
      EXPECT_EQ(env["PROTOCOL"], "v2") << file << ": KServe must know the container speaks the v2 protocol";
    }
    const auto limits = c["resources"]["limits"];
    if (target.rfind("nvidia", 0) == 0) {
      EXPECT_EQ(limits["nvidia.com/gpu"].as<std::string>(), "1") << file;
      // The engine is built at first start: a startupProbe long enough for a Jetson INT8 build.
      ASSERT_TRUE(c["startupProbe"]) << file;
      EXPECT_GE(c["startupProbe"]["periodSeconds"].as<int>() * c["startupProbe"]["failureThreshold"].as<int>(), 900) << file;
      EXPECT_EQ(c["volumeMounts"][0]["mountPath"].as<std::string>(), "/cache") << file;
    }
    if (target == "nvidia-jetson") {
      EXPECT_LE(std::stoi(limits["memory"].as<std::string>()), 6) << "an Orin NX 8GB must fit it";
    }
    if (target.rfind("xilinx", 0) == 0) {
      // No upstream plugin exposes these DPUs: the default is the device node, privileged.
      ASSERT_TRUE(c["startupProbe"]) << file;
      EXPECT_TRUE(c["securityContext"]["privileged"].as<bool>()) << file;
      bool dri = false;
      for (const auto& v : pod["volumes"]) dri = dri || (v["hostPath"] && v["hostPath"]["path"].as<std::string>() == "/dev/dri");
      EXPECT_TRUE(dri) << file;
      EXPECT_EQ(pod["nodeSelector"]["kubernetes.io/arch"].as<std::string>(), "arm64");
    }
    if (target == "x86_64-cpu") {
  EXPECT_EQ(pod["nodeSelector"]["kubernetes.io/arch"].as<std::string>(), "amd64");
    }
    if (target == "arm64-cpu") {
  EXPECT_EQ(pod["nodeSelector"]["kubernetes.io/arch"].as<std::string>(), "arm64");
    }
  }
  EXPECT_TRUE(workload) << file << " has no Deployment or InferenceService";
}

TEST_F(TargetsE2E, EveryTargetAtEveryPrecisionBecomesADeployableBundle) {
  const auto model_id = upload_cls();
  auto targets = http().get("/v1/targets?model_id=" + model_id).json()["items"];
  // The six the project ships, and any target added since (ARCHITECTURE.md's recipe): each one
  // listed is built at every precision below.
  std::set<std::string> listed;
  for (const auto& t : targets) listed.insert(t["id"].get<std::string>());
  for (const char* id : {"x86_64-cpu", "arm64-cpu", "nvidia-gpu", "nvidia-jetson", "xilinx-alveo", "xilinx-zynq"})
    EXPECT_TRUE(listed.count(id)) << id << " is not listed";
  for (const auto& t : targets) {
    const auto id = t["id"].get<std::string>();
    const auto verdict = t["support"]["verdict"].get<std::string>();
    // Which targets the tests execute and which are only checked against vendor documents.
    EXPECT_EQ(t["verification"], id == "x86_64-cpu" ? "executed" : "reference-checked") << id;
    EXPECT_FALSE(t["references"].empty()) << id;
    if (id.rfind("xilinx", 0) == 0) {
      EXPECT_EQ(verdict, "partial") << t.dump();  // Softmax and friends run on the CPU next to the DPU
      EXPECT_GT(t["support"]["fallback_nodes"].get<int>(), 0);
    } else {
      EXPECT_EQ(verdict, "native") << t.dump();
    }
  }

  const std::vector<std::string> all = {"x86_64-cpu", "arm64-cpu", "nvidia-gpu", "nvidia-jetson", "xilinx-alveo", "xilinx-zynq"};
  auto created = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", all}});
  ASSERT_EQ(created.status, 202) << created.body;
  auto job = wait_finished(created.json()["id"].get<std::string>(), 300);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  ASSERT_EQ(job["variants"].size(), 12u);  // 2 + 3 + 3 + 2 + 1 + 1

  const std::string dockerfilelint = std::string(AIFGEN_SOURCE_DIR) + "/tests/tools/node_modules/.bin/dockerfilelint";
  ASSERT_TRUE(std::filesystem::exists(dockerfilelint)) << "run scripts/setup.sh --with-test-tools";
  for (const auto& v : job["variants"]) {
    const auto target = v["target"].get<std::string>(), precision = v["precision"].get<std::string>();
    SCOPED_TRACE(target + "/" + precision);
    EXPECT_NE(v["validation"], "skipped");
    auto dl = http().fetch_bundle(v["artifact"]["download"].get<std::string>());
    ASSERT_EQ(dl.status, 200);
    EXPECT_EQ(Sha256::of(dl.body), v["artifact"]["sha256"]);
    auto files = read_bundle(dl.body);
    const std::string top = "aifgen-" + v["id"].get<std::string>() + "/";
    for (const char* f : {"README.md", "variant.json", "Dockerfile", "entrypoint.sh", "client/run_loadgen.sh", "client/README.md",
                          "k8s/deployment.yaml", "k8s/kserve.yaml"})
      ASSERT_TRUE(files.count(top + f)) << f;
    check_sha256sums(files, top);
    auto manifest = nlohmann::json::parse(files[top + "variant.json"].bytes);
    EXPECT_EQ(manifest["target"]["id"], target);
    EXPECT_EQ(manifest["precision"], precision);
    EXPECT_TRUE(manifest.contains("validation"));
    if (target != "x86_64-cpu") {
  EXPECT_EQ(manifest["validation"]["by_emulation"], true);
    }
    for (const auto& [path, entry] : files) {
      if (path.size() > 3 && path.compare(path.size() - 3, 3, ".sh") == 0) {
        EXPECT_EQ(entry.mode, 0755) << path;
        std::string out;
        EXPECT_EQ(run_on_text("bash -n", entry.bytes, ".sh", &out), 0) << path << ": " << out;
      }
      if (path.find("/k8s/") != std::string::npos) check_k8s(entry.bytes, target, path);
    }
    std::string lint;
    EXPECT_EQ(run_on_text(dockerfilelint, files[top + "Dockerfile"].bytes, "", &lint), 0) << lint;

    if (target.rfind("nvidia", 0) == 0) {
      std::string config_path;
      for (const auto& [path, _] : files)
        if (path.size() > 13 && path.compare(path.size() - 13, 13, "/config.pbtxt") == 0) config_path = path;
      ASSERT_FALSE(config_path.empty());
      inference::ModelConfig config;
      ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(files[config_path].bytes, &config)) << files[config_path].bytes;
      EXPECT_EQ(config.platform(), "tensorrt_plan");
      EXPECT_EQ(config.max_batch_size(), target == "nvidia-gpu" ? 8 : 4);  // the cls model's batch dim is free
      EXPECT_TRUE(config.has_dynamic_batching());
      ASSERT_EQ(config.input_size(), 1);
      EXPECT_EQ(config.input(0).name(), "x");
      EXPECT_EQ(config.input(0).data_type(), inference::TYPE_FP32);
      // Batch dim left to Triton; free height and width -1, the engine's profile covering the
      // 48x192 crops PaddleOCR feeds this classifier.
      ASSERT_EQ(config.input(0).dims_size(), 3);
      EXPECT_EQ(config.input(0).dims(0), 3);
      EXPECT_EQ(config.input(0).dims(1), -1);
      EXPECT_EQ(config.input(0).dims(2), -1);
      const auto& range = manifest["tensorrt"]["profile"][0];
      EXPECT_LE(range["min"][2].get<int>(), 48);
      EXPECT_GE(range["max"][2].get<int>(), 48);
      EXPECT_LE(range["min"][3].get<int>(), 192);
      EXPECT_GE(range["max"][3].get<int>(), 192);
      ASSERT_TRUE(files.count(config_path.substr(0, config_path.size() - 12) + "1/model.onnx"));
      const auto& build = files[top + "build_engine.sh"].bytes;
      EXPECT_NE(build.find("/usr/src/tensorrt/bin/trtexec"), std::string::npos);
      EXPECT_NE(build.find("--timingCacheFile"), std::string::npos);
      EXPECT_NE(build.find("--maxShapes=x:" + std::to_string(config.max_batch_size()) + "x3x"), std::string::npos) << build;
      if (precision == "fp16") {
        // Strongly typed: TensorRT keeps the fp32 ops the fp16 pass kept, which --fp16 would not.
        EXPECT_NE(build.find("--stronglyTyped"), std::string::npos);
        EXPECT_EQ(build.find("--fp16"), std::string::npos);
      }
      if (precision == "int8") {
  EXPECT_NE(build.find("--int8 --fp16"), std::string::npos);
      }
      EXPECT_EQ(manifest["tensorrt"]["profile"][0]["input"], "x");
      if (target == "nvidia-jetson") {
        EXPECT_NE(files[top + "Dockerfile"].bytes.find("tritonserver:24.05-py3-igpu"), std::string::npos);
        EXPECT_NE(files[top + "README.md"].bytes.find("docker run --rm --runtime nvidia"), std::string::npos) << "JetPack's container runtime";
      } else {
        EXPECT_NE(files[top + "Dockerfile"].bytes.find("FROM nvcr.io/nvidia/tritonserver:24.05-py3\n"), std::string::npos);
      }
      EXPECT_NE(manifest["target"]["runtime"].get<std::string>().find(target == "nvidia-gpu" ? "TensorRT 10.0.1" : "JetPack 6.0"), std::string::npos);
    } else if (target.rfind("xilinx", 0) == 0) {
      auto partition = nlohmann::json::parse(files[top + "partition.json"].bytes);
      EXPECT_GT(partition["dpu_nodes"].get<int>(), 0);
      EXPECT_GT(partition["cpu_nodes"].get<int>(), 0);  // Softmax and friends
      EXPECT_EQ(partition["nodes"].size(), partition["dpu_nodes"].get<std::size_t>() + partition["cpu_nodes"].get<std::size_t>());
      for (const auto& n : partition["nodes"]) EXPECT_FALSE(n["reason"].get<std::string>().empty()) << n.dump();
      EXPECT_NE(files[top + "compile.sh"].bytes.find(target == "xilinx-alveo" ? "DPUCV2DX8G" : "DPUCZDX8G"), std::string::npos);
      EXPECT_TRUE(files.count(top + "serve_kserve.py"));
      // No made-up base image: the board's runtime image is the deployer's to name.
      const auto& dockerfile = files[top + "Dockerfile"].bytes;
      EXPECT_NE(dockerfile.find("ARG VITIS_AI_RUNTIME_IMAGE\n"), std::string::npos) << dockerfile;
      EXPECT_EQ(dockerfile.find("vitis-ai-pytorch"), std::string::npos) << dockerfile;
      EXPECT_EQ(partition["boards"], target == "xilinx-alveo" ? "VEK280 (Versal AI Edge)" : "ZCU102, ZCU104, KV260");
      EXPECT_EQ(manifest["quantization"]["scheme"], "pow2");
    } else {
      ASSERT_TRUE(files.count(top + "model.onnx") && files.count(top + "k8s/kserve.yaml"));
      EXPECT_NE(files[top + "entrypoint.sh"].bytes.find("infer-server"), std::string::npos);
      if (precision == "int8") {
        EXPECT_EQ(manifest["quantization"]["scheme"], "u8s8");
      }
    }
  }
}

TEST_F(TargetsE2E, ATargetThatCannotRunTheModelIsRefusedUpFront) {
  // Det (matrix determinant) is valid ONNX that TensorRT's parser does not import.
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("det");
  auto io = [](const std::string& name, std::vector<int> dims) {
    onnx::ValueInfoProto v;
    v.set_name(name);
    auto* t = v.mutable_type()->mutable_tensor_type();
    t->set_elem_type(onnx::TensorProto::FLOAT);
    for (int d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
    return v;
  };
  *g->add_input() = io("x", {2, 3, 3});
  *g->add_output() = io("y", {2});
  auto* n = g->add_node();
  n->set_op_type("Det");
  n->add_input("x");
  n->add_output("y");
  std::string bytes;
  m.SerializeToString(&bytes);
  auto id = http().upload(bytes, "det").json()["id"].get<std::string>();
  auto r = http().post_json("/v1/jobs", {{"model_id", id}, {"targets", {"xilinx-zynq", "nvidia-gpu"}}});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.problem_type(), "target-cannot-run-model");
  EXPECT_NE(r.json()["detail"].get<std::string>().find("nvidia-gpu: TensorRT cannot run Det"), std::string::npos) << r.body;
  auto ok = http().post_json("/v1/jobs", {{"model_id", id}, {"targets", {"xilinx-zynq"}}});  // Det falls back to the CPU there
  EXPECT_EQ(ok.status, 202) << ok.body;
}

// Shape profiles are checked against the model when the job is submitted, not when its engine
// is built on a GPU, and a valid one reaches the bundle: config.pbtxt and trtexec's flags.
TEST_F(TargetsE2E, ShapeProfilesAreCheckedAtSubmissionAndReachTheEngineBuild) {
  const auto model_id = upload_cls();
  auto submit = [&](const nlohmann::json& profiles) {
    return http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"nvidia-gpu"}}, {"precisions", {"fp16"}},
                                         {"options", {{"shape_profiles", profiles}}}});
  };
  auto wrong_name = submit({{"image", {{"min", {1, 3, 48, 96}}, {"opt", {1, 3, 48, 192}}, {"max", {4, 3, 48, 384}}}}});
  EXPECT_EQ(wrong_name.status, 422);
  EXPECT_EQ(wrong_name.problem_type(), "invalid-shape-profile");
  auto fixed_dim = submit({{"x", {{"min", {1, 1, 48, 96}}, {"opt", {1, 1, 48, 192}}, {"max", {4, 1, 48, 384}}}}});
  EXPECT_EQ(fixed_dim.problem_type(), "invalid-shape-profile");
  EXPECT_NE(fixed_dim.json()["detail"].get<std::string>().find("fixed at 3"), std::string::npos) << fixed_dim.body;
  auto unordered = submit({{"x", {{"min", {1, 3, 48, 400}}, {"opt", {1, 3, 48, 192}}, {"max", {4, 3, 48, 384}}}}});
  EXPECT_EQ(unordered.status, 400);
  EXPECT_EQ(unordered.problem_type(), "invalid-field");

  auto ok = submit({{"x", {{"min", {1, 3, 48, 96}}, {"opt", {2, 3, 48, 192}}, {"max", {16, 3, 48, 384}}}}});
  ASSERT_EQ(ok.status, 202) << ok.body;
  auto job = wait_finished(ok.json()["id"].get<std::string>(), 120);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  auto files = read_bundle(http().fetch_bundle(job["variants"][0]["artifact"]["download"].get<std::string>()).body);
  const std::string top = "aifgen-" + job["variants"][0]["id"].get<std::string>() + "/";
  inference::ModelConfig config;
  ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(files[top + "model_repository/cls/config.pbtxt"].bytes, &config));
  EXPECT_EQ(config.max_batch_size(), 16);
  const auto& build = files[top + "build_engine.sh"].bytes;
  EXPECT_NE(build.find("'--minShapes=x:1x3x48x96' '--optShapes=x:2x3x48x192' '--maxShapes=x:16x3x48x384'"), std::string::npos) << build;

  // A CPU bundle of the same profile declares it, so its infer-server serves only those shapes.
  auto cpu = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}, {"precisions", {"fp32"}},
                                           {"options", {{"shape_profiles", {{"x", {{"min", {1, 3, 48, 96}}, {"opt", {2, 3, 48, 192}}, {"max", {16, 3, 48, 384}}}}}}}}});
  ASSERT_EQ(cpu.status, 202) << cpu.body;
  auto cpu_job = wait_finished(cpu.json()["id"].get<std::string>(), 120);
  ASSERT_EQ(cpu_job["state"], "succeeded") << cpu_job.dump();
  auto cpu_files = read_bundle(http().fetch_bundle(cpu_job["variants"][0]["artifact"]["download"].get<std::string>()).body);
  const auto variant = nlohmann::json::parse(cpu_files["aifgen-" + cpu_job["variants"][0]["id"].get<std::string>() + "/variant.json"].bytes);
  EXPECT_EQ(variant["serving"]["input_ranges"]["x"]["min"], nlohmann::json({1, 3, 48, 96}));
  EXPECT_EQ(variant["serving"]["input_ranges"]["x"]["max"], nlohmann::json({16, 3, 48, 384}));
}

TEST_F(TargetsE2E, SignedLinksExpireRefuseTamperingAndServeRanges) {
  auto model = http().upload(shared_model("ch_ppocr_mobile_v2.0_cls_infer"), "cls").json()["id"].get<std::string>();
  auto created = http().post_json("/v1/jobs", {{"model_id", model}, {"targets", {"x86_64-cpu"}}, {"precisions", {"fp32"}}});
  auto job = wait_finished(created.json()["id"].get<std::string>());
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  const auto vid = job["variants"][0]["id"].get<std::string>();
  auto link = http().get("/v1/variants/" + vid + "/download");
  ASSERT_EQ(link.status, 200);
  const auto url = link.json()["url"].get<std::string>();
  EXPECT_EQ(link.header("location"), url);
  auto full = http().get(url);
  ASSERT_EQ(full.status, 200);
  EXPECT_EQ(full.header("accept-ranges"), "bytes");
  EXPECT_EQ(std::to_string(full.body.size()), full.header("content-length"));

  auto part = http().get(url, {{"Range", "bytes=10-19"}});
  ASSERT_EQ(part.status, 206);
  EXPECT_EQ(part.body, full.body.substr(10, 10));
  EXPECT_EQ(part.header("content-range"), "bytes 10-19/" + std::to_string(full.body.size()));
  auto tail = http().get(url, {{"Range", "bytes=-7"}});
  EXPECT_EQ(tail.body, full.body.substr(full.body.size() - 7));
  auto beyond = http().get(url, {{"Range", "bytes=" + std::to_string(full.body.size()) + "-"}});
  EXPECT_EQ(beyond.status, 416);

  // Tampering: another variant's path, a changed expiry, a changed signature.
  std::string tampered = url;
  tampered[tampered.size() - 1] = tampered.back() == '0' ? '1' : '0';
  EXPECT_EQ(http().get(tampered).problem_type(), "link-invalid");
  auto later = url;
  later.replace(later.find("expires=") + 8, 1, "9");
  EXPECT_EQ(http().get(later).status, 403);
  EXPECT_EQ(http().get("/v1/bundles/" + vid).problem_type(), "link-invalid");
  // A correctly signed link whose time is up (signed here with the server's own secret).
  LinkSigner signer(LinkSigner::load_or_create_secret(data_dir(), ""), 3600);
  auto old = signer.sign("GET", "/v1/bundles/" + vid, 1000);
  auto expired = http().get(old.url);
  EXPECT_EQ(expired.status, 403);
  EXPECT_EQ(expired.problem_type(), "link-expired");
  EXPECT_EQ(http().get(signer.sign("GET", "/v1/bundles/" + vid, std::time(nullptr)).url).status, 200);
}

}  // namespace
}  // namespace aifgen::e2e

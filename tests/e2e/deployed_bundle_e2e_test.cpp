// The CPU bundle as deployed: unpacked, its entrypoint (aifgen infer-server) started, queried
// over the KServe v2 protocol (JSON and binary tensors, batching of concurrent requests), then
// its client (aifgen loadgen) run with --report-to the service: the field benchmark appears on
// the variant and the recommendation switches to it. Also the on-demand route.
#include <cpprest/http_client.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>

#include "api/kserve/kserve_codec.h"
#include "core/engine/random_inputs.h"
#include "core/engine/session.h"
#include "core/onnx_model.h"
#include "tests/e2e/bundle_reader.h"
#include "tests/e2e/child_process.h"
#include "tests/e2e/fixture.h"
#include "tests/e2e/run_command.h"
#include "tests/e2e/stalled_senders.h"

namespace aifgen::e2e {
namespace {

class DeployedBundleE2E : public ServerTest {};

int run(const std::string& command, std::string* output) {
  auto r = run_command(command);
  if (output) *output = r.output;
  return r.status;
}

void unpack(const std::string& tar_gz, const std::string& dir) {
  for (const auto& [path, entry] : read_bundle(tar_gz)) {
    auto rel = path.substr(path.find('/') + 1);
    auto target = std::filesystem::path(dir) / rel;
    std::filesystem::create_directories(target.parent_path());
    std::ofstream(target, std::ios::binary) << entry.bytes;
    std::filesystem::permissions(target, static_cast<std::filesystem::perms>(entry.mode));
  }
}

TEST_F(DeployedBundleE2E, InferServerServesTheBundleAndLoadgenReportsBack) {
  auto model_id = http().upload(shared_model("ch_ppocr_mobile_v2.0_cls_infer"), "cls").json()["id"].get<std::string>();
  auto created = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}, {"precisions", {"fp32"}}});
  auto job = wait_finished(created.json()["id"].get<std::string>());
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  const auto vid = job["variants"][0]["id"].get<std::string>();
  const std::string dir = data_dir() + "/../deployed";
  unpack(http().fetch_bundle(job["variants"][0]["artifact"]["download"].get<std::string>()).body, dir);
  std::string out;
  ASSERT_EQ(run("cd " + dir + " && sha256sum -c --quiet SHA256SUMS", &out), 0) << out;

  // Before any field report the recommendation uses this host's benchmark.
  auto before = http().get("/v1/models/" + model_id + "/recommendation?objective=latency").json();
  ASSERT_EQ(before["ranked"].size(), 1u) << before.dump();
  EXPECT_EQ(before["ranked"][0]["figure"]["origin"], "local");

  const int port = free_port();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  Child server("AIFGEN=" + std::string(AIFGEN_BINARY) + " AIFGEN_LISTEN=127.0.0.1:" + std::to_string(port) + " AIFGEN_THREADS=1 ./entrypoint.sh", dir,
               dir + "/server.log");
  web::http::client::http_client client(url);
  bool ready = false;
  for (int i = 0; i < 200 && !ready; ++i) {
    try {
      ready = client.request(web::http::methods::GET, "/v2/health/ready").get().status_code() == 200;
    } catch (const std::exception&) {
    }
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(ready) << read_file(dir + "/server.log");
  auto meta = nlohmann::json::parse(client.request(web::http::methods::GET, "/v2/models/cls").get().extract_string().get());
  ASSERT_EQ(meta["inputs"][0]["name"], "x");
  EXPECT_EQ(meta["parameters"]["batched"], true);  // the batch dim is free

  // One JSON request, checked against the engine running the bundle's model here.
  auto model = load_model_file(dir + "/model.onnx");
  engine::SessionOptions so;
  so.input_shapes["x"] = {1, 3, 48, 192};
  engine::Session local(model, so);
  auto x = engine::random_inputs(local.inputs(), 3)[0];
  auto expected = local.run({x})[0];
  nlohmann::json data = nlohmann::json::array();
  for (std::int64_t i = 0; i < x.numel(); ++i) data.push_back(x.as<float>()[i]);
  nlohmann::json body = {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 3, 48, 192}}, {"data", data}}}}};
  // ...sent while more senders than cpprest has I/O threads (40) stall mid-body: waiting for
  // their bodies must not hold the threads every other caller needs.
  auto stalled = open_stalled_posts(port, 48, "/v2/models/cls/infer", "application/json", 100000);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto pending = std::async(std::launch::async, [&] {
    return client.request(web::http::methods::POST, "/v2/models/cls/infer", body.dump(), "application/json").get();
  });
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(10)), std::future_status::ready) << "stalled senders blocked the server";
  auto resp = pending.get();
  hang_up(stalled);
  ASSERT_EQ(resp.status_code(), 200);
  auto answer = nlohmann::json::parse(resp.extract_string().get());
  ASSERT_EQ(answer["outputs"][0]["shape"], nlohmann::json({1, 2}));
  for (int i = 0; i < 2; ++i) EXPECT_NEAR(answer["outputs"][0]["data"][i].get<float>(), expected.as<float>()[i], 1e-5);

  // Bad requests get the protocol's {"error": ...} with 400.
  auto bad = client.request(web::http::methods::POST, "/v2/models/cls/infer", R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":[1,2]}]})",
                            "application/json").get();
  EXPECT_EQ(bad.status_code(), 400);
  EXPECT_TRUE(nlohmann::json::parse(bad.extract_string().get()).contains("error"));

  // Concurrent binary requests are batched: fewer engine runs than requests, same answers.
  auto encoded = api::encode_binary_request({{"x", x}});
  std::vector<std::future<std::vector<float>>> results;
  for (int i = 0; i < 16; ++i)
    results.push_back(std::async(std::launch::async, [&] {
      web::http::client::http_client c(url);
      web::http::http_request req(web::http::methods::POST);
      req.set_request_uri("/v2/models/cls/infer");
      req.headers().add("Inference-Header-Content-Length", std::to_string(encoded.header_length));
      req.set_body(std::vector<unsigned char>(encoded.body.begin(), encoded.body.end()));
      auto r = c.request(req).get();
      auto bytes = r.extract_vector().get();
      std::size_t hl = std::stoull(r.headers().find("Inference-Header-Content-Length")->second);
      auto outs = api::decode_response(std::string(bytes.begin(), bytes.end()), hl);
      const auto& y = outs.at(meta["outputs"][0]["name"].get<std::string>());
      return std::vector<float>(y.as<float>(), y.as<float>() + y.numel());
    }));
  for (auto& f : results) {
    auto y = f.get();
    ASSERT_EQ(y.size(), 2u);
    for (int i = 0; i < 2; ++i) EXPECT_NEAR(y[static_cast<std::size_t>(i)], expected.as<float>()[i], 1e-5);
  }
  auto stats = nlohmann::json::parse(client.request(web::http::methods::GET, "/v2/models/cls/stats").get().extract_string().get());
  const auto requests = stats["model_stats"][0]["inference_count"].get<int>(), runs = stats["model_stats"][0]["execution_count"].get<int>();
  EXPECT_EQ(requests, 17);  // 1 JSON + 16 binary; the malformed one never reached the model
  EXPECT_LT(runs, requests) << "concurrent requests were not batched";

  // The bundle's client, reporting to the service.
  int status = run("cd " + dir + " && AIFGEN=" + std::string(AIFGEN_BINARY) + " URL=" + url + " DURATION=1.5 CONCURRENCY=2 SERVICE_URL=" +
                       server_->base_url() + " client/run_loadgen.sh", &out);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("p99"), std::string::npos) << out;
  EXPECT_NE(out.find("reported"), std::string::npos) << out;
  auto variant = http().get("/v1/variants/" + vid).json();
  nlohmann::json field;
  for (const auto& b : variant["benchmarks"])
    if (b["origin"] == "field") field = b;
  ASSERT_FALSE(field.is_null()) << variant["benchmarks"].dump();
  EXPECT_EQ(field["concurrency"], 2);
  EXPECT_GT(field["throughput_per_s"].get<double>(), 0.0);
  EXPECT_GT(field["hardware"]["cores"].get<int>(), 0);
  auto after = http().get("/v1/models/" + model_id + "/recommendation?objective=latency").json();
  ASSERT_EQ(after["ranked"].size(), 1u);
  EXPECT_EQ(after["ranked"][0]["figure"]["origin"], "field");
  EXPECT_DOUBLE_EQ(after["ranked"][0]["value"].get<double>(), field["p50_ms"].get<double>());
  // An accuracy budget tighter than the variant's drop excludes it.
  auto strict = http().get("/v1/models/" + model_id + "/recommendation?max_accuracy_drop=0").json();
  EXPECT_EQ(strict["ranked"].size() + strict["excluded"].size(), 1u);
}

// The Vitis AI bundle as deployed, minus the DPU: its entrypoint runs serve_kserve.py with a
// stand-in for ONNX Runtime's Vitis AI provider (tests/support/fake_onnxruntime), and every probe
// its manifests declare is asked of that process; then KServe v2 JSON and the bundle's own client
// (binary tensors) go through it.
TEST_F(DeployedBundleE2E, VitisBundleServesKserveV2OnTheProbedPort) {
  if (run("/usr/bin/python3 -c 'import numpy'", nullptr) != 0) GTEST_SKIP() << "Debian's python3-numpy is missing (scripts/setup.sh --with-test-tools)";
  auto model_id = http().upload(shared_model("ch_ppocr_mobile_v2.0_cls_infer"), "cls").json()["id"].get<std::string>();
  auto created = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"xilinx-zynq"}}});
  auto job = wait_finished(created.json()["id"].get<std::string>(), 120);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  const std::string dir = data_dir() + "/../vitis";
  unpack(http().fetch_bundle(job["variants"][0]["artifact"]["download"].get<std::string>()).body, dir);

  // What Kubernetes will ask of the container.
  std::vector<std::pair<std::string, std::string>> probes;  // kind, path
  int manifest_port = 0;
  for (const char* file : {"/k8s/deployment.yaml", "/k8s/kserve.yaml"})
    for (const auto& doc : YAML::LoadAllFromFile(dir + file)) {
      const auto kind = doc["kind"].as<std::string>();
      if (kind != "Deployment" && kind != "InferenceService") continue;
      const auto c = kind == "Deployment" ? doc["spec"]["template"]["spec"]["containers"][0] : doc["spec"]["predictor"]["containers"][0];
      manifest_port = c["ports"][0]["containerPort"].as<int>();
      for (const char* p : {"startupProbe", "readinessProbe", "livenessProbe"}) {
        ASSERT_TRUE(c[p]) << file << " has no " << p;
        EXPECT_EQ(c[p]["httpGet"]["port"].as<int>(), manifest_port) << file << " " << p;
        probes.emplace_back(p, c[p]["httpGet"]["path"].as<std::string>());
      }
    }
  ASSERT_EQ(manifest_port, 8000);
  EXPECT_NE(read_file(dir + "/entrypoint.sh").find("${PORT:-8000}"), std::string::npos) << "the entrypoint must serve the probed port";

  auto model = load_model_file(dir + "/model.onnx");
  const std::string output = model.graph().output(0).name();
  const nlohmann::json io = {{"inputs", {{"x", "tensor(float)", {nullptr, 3, 48, nullptr}}}}, {"outputs", {{output, "tensor(float)", {nullptr, 2}}}}};
  std::ofstream(dir + "/vaip_config.json") << "{}";
  const int port = free_port();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  Child server("PYTHON=/usr/bin/python3 PYTHONPATH=" + std::string(AIFGEN_SOURCE_DIR) + "/tests/support/fake_onnxruntime VAIP_CONFIG=" + dir +
                   "/vaip_config.json COMPILE_CACHE=" + dir + "/cache FAKE_ORT_COMPILE_SECONDS=2 FAKE_ORT_LOG=" + dir +
                   "/ort.log FAKE_ORT_IO='" + io.dump() + "' PORT=" + std::to_string(port) + " ./entrypoint.sh",
               dir, dir + "/server.log");
  web::http::client::http_client client(url);
  auto status_of = [&](const std::string& path) {
    try {
      return static_cast<int>(client.request(web::http::methods::GET, path).get().status_code());
    } catch (const std::exception&) {
      return 0;
    }
  };
  int live = 0;
  for (int i = 0; i < 200 && live != 200; ++i) {
    live = status_of("/v2/health/live");
    if (live != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(live, 200) << read_file(dir + "/server.log");
  EXPECT_EQ(status_of("/v2/health/ready"), 503) << "ready before the DPU subgraphs were compiled";
  int ready = 0;
  for (int i = 0; i < 200 && ready != 200; ++i) {
    ready = status_of("/v2/health/ready");
    if (ready != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(ready, 200) << read_file(dir + "/server.log");
  for (const auto& [kind, path] : probes) EXPECT_EQ(status_of(path), 200) << kind << " " << path;

  auto meta = nlohmann::json::parse(client.request(web::http::methods::GET, "/v2/models/cls").get().extract_string().get());
  EXPECT_EQ(meta["inputs"][0]["shape"], nlohmann::json({-1, 3, 48, -1}));
  nlohmann::json data = nlohmann::json::array();
  double sum = 0;
  for (int i = 0; i < 3 * 48 * 4; ++i) {
    data.push_back(i * 0.5);
    sum += i * 0.5;
  }
  nlohmann::json body = {{"inputs", {{{"name", "x"}, {"datatype", "FP32"}, {"shape", {1, 3, 48, 4}}, {"data", data}}}}};
  auto resp = client.request(web::http::methods::POST, "/v2/models/cls/infer", body.dump(), "application/json").get();
  ASSERT_EQ(resp.status_code(), 200);
  auto answer = nlohmann::json::parse(resp.extract_string().get());
  ASSERT_EQ(answer["outputs"][0]["name"], output);
  ASSERT_EQ(answer["outputs"][0]["shape"], nlohmann::json({1, 2}));
  EXPECT_DOUBLE_EQ(answer["outputs"][0]["data"][1].get<double>(), sum);
  auto bad = client.request(web::http::methods::POST, "/v2/models/cls/infer",
                            R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,2],"data":[1]}]})", "application/json").get();
  EXPECT_EQ(bad.status_code(), 400);
  EXPECT_TRUE(nlohmann::json::parse(bad.extract_string().get()).contains("error"));

  std::string out;
  int status = run("cd " + dir + " && AIFGEN=" + std::string(AIFGEN_BINARY) + " URL=" + url + " DURATION=1 CONCURRENCY=2 client/run_loadgen.sh", &out);
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find(" 0 errors"), std::string::npos) << out;
  // The provider was asked for the DPU with the compile cache the manifests mount.
  auto log = read_file(dir + "/ort.log");
  EXPECT_NE(log.find("\"cacheDir\": \"" + dir + "/cache\""), std::string::npos) << log;
}

TEST_F(DeployedBundleE2E, OnDemandStartsOneJobAndThenAnswersWithTheVariant) {
  auto model_id = http().upload(shared_model("ch_ppocr_mobile_v2.0_cls_infer"), "cls").json()["id"].get<std::string>();
  const std::string path = "/v1/models/" + model_id + "/variants/x86_64-cpu/int8";
  auto first = http().get(path);
  ASSERT_EQ(first.status, 202) << first.body;
  const auto job_id = first.json()["id"].get<std::string>();
  EXPECT_EQ(first.header("location"), "/v1/jobs/" + job_id);
  auto second = http().get(path);
  if (second.status == 202) {
    EXPECT_EQ(second.json()["id"], job_id);  // joined, not a second job
  }
  // Concurrent asks for another variant: no lock serializes them, yet they all join one job.
  const std::string fp32 = "/v1/models/" + model_id + "/variants/x86_64-cpu/fp32";
  std::vector<std::future<std::string>> asks;
  for (int i = 0; i < 12; ++i)
    asks.push_back(std::async(std::launch::async, [&] {
      Http own(server_->base_url());
      auto r = own.get(fp32);
      return r.status == 202 ? r.json()["id"].get<std::string>() : "status " + std::to_string(r.status);
    }));
  std::set<std::string> joined;
  for (auto& a : asks) joined.insert(a.get());
  EXPECT_EQ(joined.size(), 1u) << ::testing::PrintToString(joined);
  wait_finished(job_id);
  wait_finished(*joined.begin());
  auto ready = http().get(path);
  ASSERT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.json()["target"], "x86_64-cpu");
  EXPECT_EQ(ready.json()["precision"], "int8");
  EXPECT_EQ(http().get("/v1/jobs").json()["items"].size(), 2u);
  EXPECT_EQ(http().get("/v1/models/" + model_id + "/variants/x86_64-cpu/int4").problem_type(), "unsupported-target-precision");
  EXPECT_EQ(http().get("/v1/models/" + model_id + "/recommendation?objective=fast").problem_type(), "invalid-parameter");
}

}  // namespace
}  // namespace aifgen::e2e

namespace aifgen::e2e {
namespace {

class FieldBenchmarksE2E : public ServerTest {};

TEST_F(FieldBenchmarksE2E, ReportsAreCheckedAndOnlyBuiltVariantsTakeThem) {
  auto model_id = http().upload(shared_model("ch_ppocr_mobile_v2.0_cls_infer"), "cls").json()["id"].get<std::string>();
  auto created = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}, {"precisions", {"fp32"}}});
  auto job = wait_finished(created.json()["id"].get<std::string>());
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  const std::string path = "/v1/variants/" + job["variants"][0]["id"].get<std::string>() + "/benchmarks";
  const nlohmann::json good = {{"host", "test rig"}, {"p50_ms", 1.0}, {"p90_ms", 2.0}, {"p99_ms", 3.0}, {"throughput_per_s", 100.0},
                               {"concurrency", 4}, {"hardware", {{"cores", 8}}}};
  auto ok = http().post_json(path, good);
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(ok.json()["origin"], "field");
  EXPECT_EQ(ok.json()["concurrency"], 4);
  auto without = [&](const char* key) {
    auto b = good;
    b.erase(key);
    return http().post_json(path, b);
  };
  EXPECT_EQ(without("host").problem_type(), "invalid-field");
  EXPECT_EQ(without("p99_ms").problem_type(), "invalid-field");
  auto unordered = good;
  unordered["p50_ms"] = 5.0;  // above p90
  EXPECT_EQ(http().post_json(path, unordered).problem_type(), "invalid-field");
  auto negative = good;
  negative["throughput_per_s"] = -1;
  EXPECT_EQ(http().post_json(path, negative).problem_type(), "invalid-field");
  auto extra = good;
  extra["gpu_temperature"] = 80;
  EXPECT_EQ(http().post_json(path, extra).problem_type(), "unknown-field");
  EXPECT_EQ(http().post_json("/v1/variants/var_nope/benchmarks", good).status, 404);
  // Only the accepted report was stored.
  int field = 0;
  const auto variant = http().get("/v1/variants/" + job["variants"][0]["id"].get<std::string>()).json();
  for (const auto& b : variant["benchmarks"]) field += b["origin"] == "field";
  EXPECT_EQ(field, 1);
}

}  // namespace
}  // namespace aifgen::e2e

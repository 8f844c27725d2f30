// Scaled out on PostgreSQL: several serve processes on one database and one shared data dir.
// An API-only replica (--workers 0) takes the upload and the job, a worker process elsewhere
// builds it, and the bundle downloads through the replica that never touched it. A worker
// killed mid-job loses it after its lease, and another finishes it.
// Registered only in the "Postgres/" run (tests/CMakeLists.txt): SQLite allows one serve per
// data dir (DataDirLockE2E checks that).
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>

#include "core/base/sha256.h"
#include "tests/e2e/fixture.h"
#include "tests/e2e/run_command.h"
#include "tests/support/model_builder.h"

namespace aifgen::e2e {
namespace {

class ScaleOutE2E : public ServerTest {
 protected:
  // The fixture's own server is the API replica. Every process requeues jobs whose lease
  // expired and fails them past its --max-attempts, so it gets the chaos test's cap too: with
  // the default (3), a job whose worker was killed three times failed there, when the other
  // processes would have requeued it (seen once in a CI run under load).
  std::vector<std::string> server_args() const override { return {"--workers", "0", "--max-attempts", "50"}; }

  void SetUp() override {
    if (!on_postgres()) GTEST_SKIP() << "PostgreSQL only: SQLite allows one serve per data dir";
    ServerTest::SetUp();
  }

  // Another API replica (--workers 0) on the same database and data dir.
  std::unique_ptr<ServerProcess> start_api_replica() {
    std::vector<std::string> args = {"--workers", "0"};
    for (auto& a : database_args()) args.push_back(a);
    auto replica = std::make_unique<ServerProcess>(data_dir(), args);
    replica->set_log_path(dir_.path() + "/api-replica-" + std::to_string(++replicas_started_) + ".log");
    replica->start();
    return replica;
  }
  int replicas_started_ = 0;

  std::unique_ptr<ServerProcess> start_worker(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--workers", "1", "--lease-s", "3"};
    args.insert(args.end(), extra.begin(), extra.end());
    for (auto& a : database_args()) args.push_back(a);
    auto worker = std::make_unique<ServerProcess>(data_dir(), args);
    worker->set_command("worker");
    worker->start();
    return worker;
  }
};

TEST_F(ScaleOutE2E, AnApiOnlyReplicaQueuesAndAWorkerElsewhereBuilds) {
  auto bytes = testing::serialize(testing::conv_bn_relu_model());
  auto model_id = http().upload(bytes).json()["id"].get<std::string>();
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  // Nothing runs it yet: the replica has no workers.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(http().get("/v1/jobs/" + job_id).json()["state"], "queued");

  auto worker = start_worker();
  auto job = wait_finished(job_id);
  ASSERT_EQ(job["state"], "succeeded") << job.dump() << "\n--- worker log ---\n" << worker->log();
  EXPECT_EQ(job["attempts"], 1);
  // The worker stored the bundle in the shared data dir; the replica serves it.
  auto dl = http().fetch_bundle("/v1/variants/" + job["variants"][0]["id"].get<std::string>() + "/download");
  ASSERT_EQ(dl.status, 200);
  EXPECT_EQ(Sha256::of(dl.body), job["variants"][0]["artifact"]["sha256"].get<std::string>());
  // The worker process serves probes and metrics only: no public API.
  Http on_worker(worker->base_url());
  EXPECT_EQ(on_worker.get("/healthz").status, 200);
  EXPECT_EQ(on_worker.get("/readyz").status, 200);
  // (curl, not the test client: the client holds every answer to openapi.yaml, which describes
  // the API these paths have on an API replica.)
  for (const char* path : {"/v1/models", "/v1/jobs/x", "/v1/targets", "/"}) {
    auto r = run_command("curl -s -w ' %{http_code}' '" + worker->base_url() + path + "'");
    EXPECT_NE(r.output.find("route-not-found"), std::string::npos) << path << " " << r.output;
    EXPECT_EQ(r.output.substr(r.output.size() - 4), " 404") << path << " " << r.output;
  }
}

TEST_F(ScaleOutE2E, ALongPollOnOneReplicaWakesWhenAWorkerElsewhereChangesTheJob) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto worker = start_worker({"--debug-stage-delay-ms", "300"});
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  // Each stage of the build (300 ms apart) is a change made by the worker process; every long
  // poll parked on the API replica must return with it, long before its 20 s wait runs out.
  auto etag = http().get("/v1/jobs/" + job_id).header("etag");
  int answered = 0;
  std::string state;
  for (int i = 0; i < 40 && state != "succeeded"; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = http().get("/v1/jobs/" + job_id + "?wait=20", {{"If-None-Match", etag}});
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(r.status, 200) << "the poll ran out its wait: the replica missed the worker's change";
    EXPECT_LT(took, 5.0);
    EXPECT_NE(r.header("etag"), etag);
    etag = r.header("etag");
    state = r.json()["state"].get<std::string>();
    ++answered;
  }
  EXPECT_EQ(state, "succeeded");
  EXPECT_GE(answered, 3);  // queued -> running -> stages -> succeeded, each seen as it happened
}

TEST_F(ScaleOutE2E, AModelUploadedThroughOneReplicaIsListedByEveryOther) {
  auto other = start_api_replica();
  Http on_other(other->base_url());
  EXPECT_EQ(http().get("/v1/models").json()["items"].size(), 0u);  // listed once: a cache would keep this
  auto model_id = on_other.upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto listed = http().get("/v1/models").json()["items"];
  ASSERT_EQ(listed.size(), 1u) << listed.dump();
  EXPECT_EQ(listed[0]["id"], model_id);
  EXPECT_EQ(http().get("/v1/models/" + model_id).status, 200);
}

TEST_F(ScaleOutE2E, AKeyCreatedInTheDatabaseGuardsEveryReplica) {
  auto other = start_api_replica();
  Http on_other(other->base_url());
  EXPECT_EQ(http().get("/v1/models").status, 200);  // no key anywhere yet: local-only mode
  std::string cmd = std::string(AIFGEN_BINARY) + " keys create --name ops --scope admin";
  for (const auto& a : database_args()) cmd += " '" + a + "'";
  auto created = run_command(cmd);
  ASSERT_EQ(created.status, 0) << created.output;
  std::string out = created.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  const std::string token = out.substr(out.rfind('\n') + 1);  // printed alone on the last line
  // Both processes see the key in the shared database (each rereads within a second).
  for (const Http* replica : {&http(), static_cast<const Http*>(&on_other)}) {
    int status = 0;
    for (int i = 0; i < 40 && status != 401; ++i) {
      status = replica->get("/v1/models").status;
      if (status != 401) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(status, 401);
    EXPECT_EQ(replica->get("/v1/models", {{"Authorization", "Bearer " + token}}).status, 200);
  }
}

TEST_F(ScaleOutE2E, AJobOfAKilledWorkerIsFinishedByAnotherAfterItsLease) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto first = start_worker({"--debug-stage-delay-ms", "400"});
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  poll_job(job_id, [](const nlohmann::json& j) { return j["state"] == "running" && j["stage"] != "starting"; });
  first->kill9();
  auto second = start_worker();
  auto job = wait_finished(job_id, 60);
  EXPECT_EQ(job["state"], "succeeded") << job.dump() << "\n--- second worker log ---\n" << second->log();
  EXPECT_EQ(job["attempts"], 2);
}

TEST_F(ScaleOutE2E, AWorkerRestrictedToOtherTargetsLeavesTheJobForOneThatHasThem) {
  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  auto gpu_node = start_worker({"--targets", "nvidia-gpu,nvidia-jetson"});
  auto job_id = http().post_json("/v1/jobs", {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}}).json()["id"].get<std::string>();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_EQ(http().get("/v1/jobs/" + job_id).json()["state"], "queued");
  auto cpu_node = start_worker({"--targets", "x86_64-cpu"});
  EXPECT_EQ(wait_finished(job_id)["state"], "succeeded");
}

// The service's log time format (spdlog "%Y-%m-%dT%H:%M:%S.%e", local time), for comparing the
// test's own moments with the lines the processes wrote.
std::string log_time_now() {
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03d", buf, static_cast<int>(ms));
  return out;
}

// One run of one worker process: its log, and when the test killed it (empty: still running).
struct WorkerRun {
  std::string log_path;
  std::string killed_at;
};

TEST_F(ScaleOutE2E, ChaosThreeApiReplicasThreeWorkersSixtyJobsAndRandomKills) {
  constexpr int kJobs = 60;
  constexpr int kKills = 8;
  // Every process may requeue an expired job, so every process gets the same attempt cap
  // (server_args above for the fixture's replica); high enough that the kills below cannot use
  // it up.
  const std::vector<std::string> common = {"--lease-s", "3", "--max-attempts", "50"};
  std::vector<std::unique_ptr<ServerProcess>> api;  // replicas 2 and 3 (the fixture's server is 1)
  for (int i = 0; i < 2; ++i) {
    std::vector<std::string> args = {"--workers", "0"};
    args.insert(args.end(), common.begin(), common.end());
    for (auto& a : database_args()) args.push_back(a);
    api.push_back(std::make_unique<ServerProcess>(data_dir(), args));
    api.back()->set_log_path(dir_.path() + "/api" + std::to_string(i + 2) + ".log");
    api.back()->start();
  }
  std::vector<Http> replicas = {http(), Http(api[0]->base_url()), Http(api[1]->base_url())};

  std::vector<WorkerRun> runs;
  std::vector<std::unique_ptr<ServerProcess>> workers(3);
  std::vector<std::size_t> current_run(3);
  auto start_worker_slot = [&](int slot) {
    std::vector<std::string> args = {"--workers", "1", "--debug-stage-delay-ms", "60"};
    args.insert(args.end(), common.begin(), common.end());
    for (auto& a : database_args()) args.push_back(a);
    workers[slot] = std::make_unique<ServerProcess>(data_dir(), args);
    workers[slot]->set_command("worker");
    runs.push_back({dir_.path() + "/worker-run" + std::to_string(runs.size()) + ".log", ""});
    current_run[slot] = runs.size() - 1;
    workers[slot]->set_log_path(runs.back().log_path);
    workers[slot]->start();
  };
  for (int slot = 0; slot < 3; ++slot) start_worker_slot(slot);

  auto model_id = http().upload(testing::serialize(testing::conv_bn_relu_model())).json()["id"].get<std::string>();
  std::vector<std::string> ids;
  for (int i = 0; i < kJobs; ++i) {
    const std::string key = "chaos-" + std::to_string(i);
    const nlohmann::json body = {{"model_id", model_id}, {"targets", {"x86_64-cpu"}}, {"precisions", {"fp32"}}};
    auto r = replicas[i % 3].post_json("/v1/jobs", body, {{"Idempotency-Key", key}});
    ASSERT_TRUE(r.status == 201 || r.status == 202) << r.status << " " << r.body;
    ids.push_back(r.json()["id"].get<std::string>());
    // The same request retried through another replica is the same job.
    if (i % 5 == 0) {
      EXPECT_EQ(replicas[(i + 1) % 3].post_json("/v1/jobs", body, {{"Idempotency-Key", key}}).json()["id"], ids.back());
    }
  }

  // Kill a random worker every 0.4-1.2 s, restarting it at once (a new process, a new lease owner).
  std::mt19937 rng(20261203);
  for (int k = 0; k < kKills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400 + rng() % 800));
    const int slot = static_cast<int>(rng() % 3);
    workers[slot]->kill9();
    runs[current_run[slot]].killed_at = log_time_now();
    start_worker_slot(slot);
  }

  // A long poll on replica 3 wakes when a worker (another process) changes a job still open.
  for (const auto& id : ids) {
    auto r = replicas[2].get("/v1/jobs/" + id);
    const auto state = r.json()["state"].get<std::string>();
    if (state == "succeeded" || state == "failed") continue;
    const auto t0 = std::chrono::steady_clock::now();
    auto polled = replicas[2].get("/v1/jobs/" + id + "?wait=20", {{"If-None-Match", r.header("etag")}});
    EXPECT_EQ(polled.status, 200);
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 10.0);
    break;
  }

  std::map<std::string, nlohmann::json> finished;
  for (const auto& id : ids) finished[id] = wait_finished(id, 240);
  // A worker records a job's end in the database before it logs the line, so a job can read as
  // finished while its line is still to come (seen once in CI: "its last holder neither logged
  // the success nor was killed"). Stop the live workers (SIGTERM: they finish what they were
  // saying and exit) before their logs are read.
  for (auto& w : workers) EXPECT_EQ(w->terminate(), 0);

  // What each worker run logged: starts and ends of jobs, with their times.
  struct Event {
    std::string time;
    std::size_t run;
    bool start;
  };
  std::map<std::string, std::vector<Event>> events;
  std::map<std::string, int> successes;
  const std::regex start_re(R"(^(\S+) \S+ job (\S+) started by \S+ \(attempt)");
  const std::regex end_re(R"(^(\S+) \S+ job ([^\s:]+):? (succeeded in|failed in|failed:|abandoned|lease lost|cancelled|interrupted by a storage fault))");
  for (std::size_t run = 0; run < runs.size(); ++run) {
    std::ifstream in(runs[run].log_path);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
      // Strip the colour codes spdlog puts around the level.
      line = std::regex_replace(line, std::regex("\x1b\\[[0-9;]*m"), "");
      if (std::regex_search(line, m, start_re)) events[m[2]].push_back({m[1], run, true});
      else if (std::regex_search(line, m, end_re)) {
        events[m[2]].push_back({m[1], run, false});
        if (m[3] == "succeeded in") ++successes[m[2]];
      }
    }
  }
  auto lines_about = [&](std::size_t run, const std::string& id) {
    std::ifstream in(runs[run].log_path);
    std::string line, out;
    while (std::getline(in, line))
      if (line.find(id) != std::string::npos && line.find(" GET ") == std::string::npos) out += line + "\n";
    return out;
  };
  for (const auto& id : ids) {
    const auto& job = finished[id];
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
    // One success line at most; none only when the process that finished it was killed between
    // its commit and its log line (checked below).
    EXPECT_LE(successes[id], 1) << id << ": must end exactly once";
    auto& ev = events[id];
    std::stable_sort(ev.begin(), ev.end(), [](const Event& a, const Event& b) { return a.time < b.time; });
    int starts = 0;
    std::optional<std::size_t> running;  // the run holding the job now
    for (const auto& e : ev) {
      if (e.start) {
        ++starts;
        // Whoever ran it before must have ended it or been killed first: never two at once.
        if (running) {
          const auto& previous = runs[*running];
          EXPECT_TRUE(!previous.killed_at.empty() && previous.killed_at <= e.time)
              << id << ": started by run " << e.run << " at " << e.time << " while run " << *running << " still held it"
              << " (killed at '" << previous.killed_at << "')\n--- run " << *running << " ---\n" << lines_about(*running, id)
              << "--- run " << e.run << " ---\n" << lines_about(e.run, id);
        }
        running = e.run;
      } else if (running == e.run) {
        running.reset();
      }
    }
    if (successes[id] == 0) {
      ASSERT_TRUE(running) << id << ": succeeded, but no run logged holding it";
      EXPECT_FALSE(runs[*running].killed_at.empty()) << id << ": its last holder neither logged the success nor was killed";
    }
    // Every start is a counted attempt (a claim whose process was killed before it logged the
    // start is an attempt without a line).
    EXPECT_LE(starts, job["attempts"].get<int>()) << id;
    EXPECT_GE(starts, 1) << id;
    // The bundle is whole, through any replica.
    const auto& variant = job["variants"][0];
    auto dl = replicas[std::hash<std::string>{}(id) % 3].fetch_bundle("/v1/variants/" + variant["id"].get<std::string>() + "/download");
    ASSERT_EQ(dl.status, 200) << id;
    EXPECT_EQ(Sha256::of(dl.body), variant["artifact"]["sha256"].get<std::string>()) << id;
  }
  int retried = 0;
  for (const auto& [id, job] : finished) retried += job["attempts"].get<int>() > 1;
  std::printf("chaos: %d jobs, %d kills, %d job(s) ran more than once, %zu worker runs\n", kJobs, kKills, retried, runs.size());
}

}  // namespace
}  // namespace aifgen::e2e

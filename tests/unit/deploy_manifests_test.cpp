// deploy/k8s/aifgen.yaml parses and wires together: probes on the service's health routes, the
// PVC mounted at the data dir, the Service selecting the pods. The scaled layout
// (deploy/k8s/scaled*) wires API replicas and workers to one database and one shared volume.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>

namespace {

std::map<std::string, YAML::Node> load_by_kind() {
  std::map<std::string, YAML::Node> out;
  for (const auto& doc : YAML::LoadAllFromFile(std::string(AIFGEN_SOURCE_DIR) + "/deploy/k8s/aifgen.yaml"))
    out[doc["kind"].as<std::string>()] = doc;
  return out;
}

TEST(DeployManifests, KubernetesObjectsFitTogether) {
  auto docs = load_by_kind();
  ASSERT_TRUE(docs.count("Deployment") && docs.count("Service") && docs.count("PersistentVolumeClaim"));
  auto pod = docs["Deployment"]["spec"]["template"];
  auto container = pod["spec"]["containers"][0];
  EXPECT_EQ(container["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(container["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");

  std::map<std::string, std::string> env;
  for (const auto& e : container["env"]) env[e["name"].as<std::string>()] = e["value"].as<std::string>();
  EXPECT_EQ(env["AIFGEN_LISTEN"], "0.0.0.0:8080");
  EXPECT_EQ(container["ports"][0]["containerPort"].as<int>(), 8080);
  EXPECT_EQ(container["volumeMounts"][0]["mountPath"].as<std::string>(), env["AIFGEN_DATA_DIR"]);
  EXPECT_EQ(pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"].as<std::string>(),
            docs["PersistentVolumeClaim"]["metadata"]["name"].as<std::string>());
  EXPECT_EQ(docs["Deployment"]["spec"]["strategy"]["type"].as<std::string>(), "Recreate");
  // Without a key the service serves loopback only, so the pod creates its first key itself.
  auto init = pod["spec"]["initContainers"][0];
  std::string args;
  for (const auto& a : init["args"]) args += a.as<std::string>() + " ";
  EXPECT_NE(args.find("keys create --if-none"), std::string::npos) << args;
  EXPECT_EQ(init["volumeMounts"][0]["mountPath"].as<std::string>(), env["AIFGEN_DATA_DIR"]);

  auto selector = docs["Service"]["spec"]["selector"];
  for (const auto& kv : selector)
    EXPECT_EQ(pod["metadata"]["labels"][kv.first.as<std::string>()].as<std::string>(), kv.second.as<std::string>());
}

// Every object of the scaled layout with its Kustomize resources expanded, keyed "Kind/name".
std::map<std::string, YAML::Node> load_scaled() {
  std::map<std::string, YAML::Node> out;
  const std::string root = std::string(AIFGEN_SOURCE_DIR) + "/deploy/k8s/";
  for (const char* dir : {"scaled", "scaled-with-postgres"}) {
    for (const auto& r : YAML::LoadFile(root + dir + "/kustomization.yaml")["resources"]) {
      const auto name = r.as<std::string>();
      if (name.find(".yaml") == std::string::npos) continue;  // ../scaled, loaded above
      for (const auto& doc : YAML::LoadAllFromFile(root + dir + "/" + name))
        out[doc["kind"].as<std::string>() + "/" + doc["metadata"]["name"].as<std::string>()] = doc;
    }
  }
  return out;
}

std::map<std::string, YAML::Node> env_of(const YAML::Node& container) {
  std::map<std::string, YAML::Node> env;
  for (const auto& e : container["env"]) env[e["name"].as<std::string>()] = YAML::Node(e);
  return env;
}

bool selects(const YAML::Node& selector, const YAML::Node& labels) {
  for (const auto& kv : selector)
    if (!labels[kv.first.as<std::string>()] || labels[kv.first.as<std::string>()].as<std::string>() != kv.second.as<std::string>())
      return false;
  return true;
}

TEST(DeployManifests, ScaledApiReplicasAndWorkersShareOneDatabaseAndOneVolume) {
  auto docs = load_scaled();
  ASSERT_TRUE(docs.count("Deployment/aifgen-api") && docs.count("Deployment/aifgen-worker") && docs.count("Service/aifgen") &&
              docs.count("PersistentVolumeClaim/aifgen-artifacts") && docs.count("StatefulSet/aifgen-postgres"));
  EXPECT_EQ(docs["PersistentVolumeClaim/aifgen-artifacts"]["spec"]["accessModes"][0].as<std::string>(), "ReadWriteMany");
  auto api = docs["Deployment/aifgen-api"];
  auto worker = docs["Deployment/aifgen-worker"];
  EXPECT_GE(api["spec"]["replicas"].as<int>(), 2);
  EXPECT_EQ(api["spec"]["strategy"]["type"].as<std::string>(), "RollingUpdate");
  for (const auto& [name, deployment] : {std::pair{"api", api}, std::pair{"worker", worker}}) {
    auto pod = deployment["spec"]["template"];
    auto env = env_of(pod["spec"]["containers"][0]);
    ASSERT_TRUE(env.count("AIFGEN_DATABASE_URL")) << name;
    EXPECT_EQ(env["AIFGEN_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"].as<std::string>(), "aifgen-database") << name;
    EXPECT_EQ(env["AIFGEN_LINK_SECRET"]["valueFrom"]["secretKeyRef"]["name"].as<std::string>(), "aifgen-link-secret") << name;
    EXPECT_EQ(pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"].as<std::string>(), "aifgen-artifacts") << name;
    EXPECT_EQ(pod["spec"]["containers"][0]["volumeMounts"][0]["mountPath"].as<std::string>(),
              env["AIFGEN_DATA_DIR"]["value"].as<std::string>()) << name;
    // Each role has a disruption budget selecting exactly its pods.
    int budgets = 0;
    for (const auto& [key, doc] : docs)
      if (key.starts_with("PodDisruptionBudget/") && selects(doc["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])) ++budgets;
    EXPECT_EQ(budgets, 1) << name;
  }
  EXPECT_EQ(env_of(api["spec"]["template"]["spec"]["containers"][0])["AIFGEN_WORKERS"]["value"].as<std::string>(), "0");
  EXPECT_NE(env_of(worker["spec"]["template"]["spec"]["containers"][0])["AIFGEN_WORKERS"]["value"].as<std::string>(), "0");
  EXPECT_EQ(api["spec"]["template"]["spec"]["containers"][0]["args"][0].as<std::string>(), "serve");
  EXPECT_EQ(worker["spec"]["template"]["spec"]["containers"][0]["args"][0].as<std::string>(), "worker");
  // The Service sends traffic to API replicas only.
  EXPECT_TRUE(selects(docs["Service/aifgen"]["spec"]["selector"], api["spec"]["template"]["metadata"]["labels"]));
  EXPECT_FALSE(selects(docs["Service/aifgen"]["spec"]["selector"], worker["spec"]["template"]["metadata"]["labels"]));
  // The in-cluster database: the URL's host is its Service and the URL's password its Secret's.
  const auto url = docs["Secret/aifgen-database"]["stringData"]["url"].as<std::string>();
  EXPECT_NE(url.find("@aifgen-postgres:5432/"), std::string::npos) << url;
  EXPECT_NE(url.find(":" + docs["Secret/aifgen-postgres"]["stringData"]["password"].as<std::string>() + "@"), std::string::npos);
  EXPECT_TRUE(selects(docs["Service/aifgen-postgres"]["spec"]["selector"],
                      docs["StatefulSet/aifgen-postgres"]["spec"]["template"]["metadata"]["labels"]));
}

}  // namespace

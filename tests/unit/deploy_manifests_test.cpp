// deploy/k8s/aifgen.yaml parses and wires together: probes on the service's health routes, the
// PVC mounted at the data dir, the Service selecting the pods.
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

}  // namespace

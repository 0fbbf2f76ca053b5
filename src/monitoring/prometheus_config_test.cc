#include "src/monitoring/prometheus_config.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "src/common/subprocess.h"
#include "src/spec/load.h"
#include "testing/test_env.h"
#include "yaml-cpp/yaml.h"

namespace hut::monitoring {
namespace {

PrometheusConfigOptions Options(const std::string& dir) {
  PrometheusConfigOptions o;
  o.environment = "staging";
  o.targets = {{.job = "hut", .address = "127.0.0.1:7480", .labels = {}},
               {.job = "load-balancer", .address = "127.0.0.1:41000",
                .labels = {{"component", "haproxy"}}}};
  o.replicas_file = dir + "/replicas.json";
  o.rules_file = ::hut::testing::SourceDir() + "/monitoring/prometheus/rules/staging.yml";
  return o;
}

TEST(PrometheusConfigTest, EveryJobCarriesTheEnvironment) {
  const YAML::Node config = YAML::Load(PrometheusConfig(Options("/state/prometheus")));
  EXPECT_EQ(config["global"]["scrape_interval"].as<std::string>(), "5s");
  EXPECT_EQ(config["global"]["external_labels"]["environment"].as<std::string>(), "staging");
  std::map<std::string, YAML::Node> jobs;
  for (const YAML::Node& job : config["scrape_configs"]) jobs[job["job_name"].as<std::string>()] = job;
  ASSERT_EQ(jobs.size(), 3u);
  const YAML::Node lb = jobs["load-balancer"]["static_configs"][0];
  EXPECT_EQ(lb["targets"][0].as<std::string>(), "127.0.0.1:41000");
  EXPECT_EQ(lb["labels"]["environment"].as<std::string>(), "staging");
  EXPECT_EQ(lb["labels"]["component"].as<std::string>(), "haproxy");
  EXPECT_EQ(jobs["replicas"]["file_sd_configs"][0]["files"][0].as<std::string>(),
            "/state/prometheus/replicas.json");
}

TEST(PrometheusConfigTest, EachReplicaIsATargetWithItsLabels) {
  const nlohmann::json groups = nlohmann::json::parse(ReplicaTargets(
      "staging", {{"127.0.0.1:40001", "backend", "1.2.0", 3, "backend-r3-a1"},
                  {"127.0.0.1:40002", "frontend", "0.9.0", 1, "frontend-r1-b2"}}));
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0]["targets"], nlohmann::json::array({"127.0.0.1:40001"}));
  EXPECT_EQ(groups[0]["labels"], (nlohmann::json{{"environment", "staging"},
                                                 {"service", "backend"},
                                                 {"version", "1.2.0"},
                                                 {"revision", "3"},
                                                 {"replica", "backend-r3-a1"}}));
  EXPECT_EQ(nlohmann::json::parse(ReplicaTargets("staging", {})), nlohmann::json::array());
}

TEST(PrometheusConfigTest, TheCommittedKubernetesConfigIsFoohutYamls) {
  const std::string source = ::hut::testing::SourceDir();
  spec::LoadResult loaded = spec::LoadSpecFile(source + "/foohut.yaml");
  ASSERT_TRUE(loaded.ok());
  absl::StatusOr<std::string> config =
      KubernetesPrometheusConfig(*loaded.spec, "production", "rules/production.yml");
  ASSERT_TRUE(config.ok()) << config.status();
  std::ifstream in(source + "/monitoring/prometheus/production.yml");
  const std::string committed{std::istreambuf_iterator<char>(in), {}};
  EXPECT_EQ(*config, committed) << "monitoring/prometheus/production.yml is stale: run "
                                   "`build/bin/hut monitoring config --env production > "
                                   "monitoring/prometheus/production.yml`";
  const YAML::Node jobs = YAML::Load(*config)["scrape_configs"];
  ASSERT_EQ(jobs.size(), 2u);
  const YAML::Node pods = jobs[0];
  EXPECT_EQ(pods["job_name"].as<std::string>(), "pods");
  EXPECT_EQ(pods["kubernetes_sd_configs"][0]["namespaces"]["names"][0].as<std::string>(),
            "foohut-production");
  // hut's own pod, where the hut chart puts it, on its port http.
  const YAML::Node hut = jobs[1];
  EXPECT_EQ(hut["job_name"].as<std::string>(), "hut");
  EXPECT_EQ(hut["kubernetes_sd_configs"][0]["namespaces"]["names"][0].as<std::string>(),
            "hut-system");
  EXPECT_EQ(hut["relabel_configs"][0]["source_labels"][0].as<std::string>(),
            "__meta_kubernetes_pod_label_app_kubernetes_io_name");
  EXPECT_EQ(hut["relabel_configs"][0]["regex"].as<std::string>(), "hut");
  EXPECT_EQ(hut["relabel_configs"][1]["regex"].as<std::string>(), "http");
  // Alerts go to the monitoring chart's Alertmanager.
  EXPECT_EQ(YAML::Load(*config)["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
                .as<std::string>(),
            "alertmanager.foohut-monitoring.svc:9093");
  // A local environment's is `hut up`'s to write.
  absl::StatusOr<std::string> local =
      KubernetesPrometheusConfig(*loaded.spec, "staging", "rules/staging.yml");
  EXPECT_EQ(local.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KubernetesPrometheusConfig(*loaded.spec, "prod", "").status().code(),
            absl::StatusCode::kNotFound);
}

// Prometheus' own tool accepts the configuration, with the rules it names
// and a target file as hut writes it.
TEST(PrometheusConfigTest, PromtoolAcceptsIt) {
  ::hut::testing::TempDir dir;
  const PrometheusConfigOptions o = Options(dir.path());
  std::ofstream(o.replicas_file) << ReplicaTargets(
      "staging", {{"127.0.0.1:40001", "backend", "1.2.0", 3, "backend-r3-a1"}});
  const std::string config = dir.path() + "/prometheus.yml";
  std::ofstream(config) << PrometheusConfig(o);
  ProcessOptions run;
  run.argv = {"promtool", "check", "config", config};
  auto result = RunCommand(run, std::chrono::seconds(60));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->status.exited && result->status.code == 0) << result->output;
  EXPECT_THAT(result->output, ::testing::HasSubstr("SUCCESS"));
}

}  // namespace
}  // namespace hut::monitoring

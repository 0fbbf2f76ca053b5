#include "src/monitoring/alertmanager_config.h"

#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/common/subprocess.h"
#include "src/spec/load.h"
#include "testing/test_env.h"
#include "yaml-cpp/yaml.h"

namespace hut::monitoring {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

spec::Spec FoohutSpec() {
  spec::LoadResult r = spec::LoadSpecFile(testing::SourceDir() + "/foohut.yaml");
  for (const spec::Problem& p : r.problems) ADD_FAILURE() << p.ToString();
  return r.spec ? *r.spec : spec::Spec{};
}

std::string Generate(const spec::Spec& spec, const std::string& env) {
  absl::StatusOr<std::string> text = AlertmanagerConfigFor(
      spec, env, "http://127.0.0.1:7480/api/v1/alerts/webhook", "/run/hut/token");
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

// The route of `severity` in a generated configuration.
YAML::Node Route(const YAML::Node& config, const std::string& severity) {
  for (const YAML::Node& r : config["route"]["routes"]) {
    if (r["matchers"][0].as<std::string>() == "severity=\"" + severity + "\"") return r;
  }
  ADD_FAILURE() << "no route for " << severity;
  return YAML::Node();
}

// A spec whose policies.alerting.severities is `severities` (YAML, indented 6).
spec::LoadResult ParseWithSeverities(const std::string& severities) {
  return spec::ParseSpec(absl::StrCat(R"(
services:
  backend:
    release: {command: [app]}
policies:
  alerting:
    severities:
)", severities, R"(
environments:
  staging: {runtime: local}
)"), "test.yaml");
}

TEST(AlertmanagerConfigTest, RoutesEachSeverityToItsChannelWithItsTimings) {
  const YAML::Node c = YAML::Load(Generate(FoohutSpec(), "production"));
  const YAML::Node route = c["route"];
  EXPECT_EQ(route["group_by"].as<std::vector<std::string>>(),
            (std::vector<std::string>{"alertname", "environment", "service"}));
  EXPECT_EQ(route["routes"].size(), 6u);
  EXPECT_EQ(Route(c, "critical")["receiver"].as<std::string>(), "hut-page");
  EXPECT_EQ(Route(c, "critical")["group_wait"].as<std::string>(), "10s");
  EXPECT_EQ(Route(c, "critical")["group_interval"].as<std::string>(), "1m");
  EXPECT_EQ(Route(c, "critical")["repeat_interval"].as<std::string>(), "1h");
  EXPECT_EQ(Route(c, "high")["receiver"].as<std::string>(), "hut-page");
  EXPECT_EQ(Route(c, "medium")["receiver"].as<std::string>(), "hut-chat");
  EXPECT_EQ(Route(c, "warning")["receiver"].as<std::string>(), "hut-chat");
  EXPECT_EQ(Route(c, "info")["receiver"].as<std::string>(), "hut-digest");
  EXPECT_EQ(Route(c, "info")["repeat_interval"].as<std::string>(), "1d");
  EXPECT_EQ(route["receiver"].as<std::string>(), "hut-chat");  // no severity: as a warning
}

TEST(AlertmanagerConfigTest, ACriticalAlertInhibitsTheLesserOnesOfItsService) {
  const YAML::Node c = YAML::Load(Generate(FoohutSpec(), "staging"));
  ASSERT_EQ(c["inhibit_rules"].size(), 1u);
  const YAML::Node rule = c["inhibit_rules"][0];
  EXPECT_EQ(rule["source_matchers"][0].as<std::string>(), "severity=\"critical\"");
  EXPECT_EQ(rule["target_matchers"][0].as<std::string>(),
            "severity=~\"high|medium|low|warning|info\"");
  EXPECT_EQ(rule["equal"].as<std::vector<std::string>>(),
            (std::vector<std::string>{"environment", "service"}));
}

TEST(AlertmanagerConfigTest, EveryReceiverIsHutsWebhookWithItsToken) {
  const YAML::Node c = YAML::Load(Generate(FoohutSpec(), "staging"));
  std::set<std::string> names;
  for (const YAML::Node& r : c["receivers"]) {
    names.insert(r["name"].as<std::string>());
    const YAML::Node hook = r["webhook_configs"][0];
    EXPECT_EQ(hook["url"].as<std::string>(), "http://127.0.0.1:7480/api/v1/alerts/webhook");
    EXPECT_TRUE(hook["send_resolved"].as<bool>());
    EXPECT_EQ(hook["http_config"]["authorization"]["credentials_file"].as<std::string>(),
              "/run/hut/token");
  }
  EXPECT_EQ(names, (std::set<std::string>{"hut-chat", "hut-digest", "hut-page"}));
}

TEST(AlertmanagerConfigTest, TheSpecsTimingsAndChannelsAreWhatItWrites) {
  spec::LoadResult r = ParseWithSeverities(R"(
      critical: {notify: page, group_wait: 2s, group_interval: 5s, repeat_interval: 30m}
      info: {notify: chat}
)");
  for (const spec::Problem& p : r.problems) ADD_FAILURE() << p.ToString();
  ASSERT_TRUE(r.spec);
  const YAML::Node c = YAML::Load(Generate(*r.spec, "staging"));
  EXPECT_EQ(Route(c, "critical")["group_wait"].as<std::string>(), "2s");
  EXPECT_EQ(Route(c, "critical")["group_interval"].as<std::string>(), "5s");
  EXPECT_EQ(Route(c, "critical")["repeat_interval"].as<std::string>(), "30m");
  EXPECT_EQ(Route(c, "info")["receiver"].as<std::string>(), "hut-chat");
  std::set<std::string> names;
  for (const YAML::Node& rc : c["receivers"]) names.insert(rc["name"].as<std::string>());
  EXPECT_EQ(names, (std::set<std::string>{"hut-chat", "hut-page"}));  // no digest: none routed there
}

TEST(AlertmanagerConfigTest, BadTimingsInTheSpecAreClearErrors) {
  spec::LoadResult r = ParseWithSeverities(R"(
      critical: {group_wait: 0s, repeat_intervall: 1h}
)");
  ASSERT_FALSE(r.ok());
  std::string all;
  for (const spec::Problem& p : r.problems) all += p.ToString() + "\n";
  EXPECT_THAT(all, HasSubstr("group_wait"));
  EXPECT_THAT(all, HasSubstr("repeat_intervall"));
}

TEST(AlertmanagerConfigTest, AnUnknownEnvironmentIsNotFound) {
  auto text = AlertmanagerConfigFor(FoohutSpec(), "moon", "http://x/", "");
  EXPECT_EQ(text.status().code(), absl::StatusCode::kNotFound);
}

// The monitoring chart ships the committed file: it must be what the
// generator makes of foohut.yaml, reaching hut where the hut chart runs it.
TEST(AlertmanagerConfigTest, TheCommittedKubernetesConfigIsFoohutYamls) {
  absl::StatusOr<std::string> config = KubernetesAlertmanagerConfig(FoohutSpec(), "production");
  ASSERT_TRUE(config.ok()) << config.status();
  std::ifstream in(testing::SourceDir() + "/monitoring/alertmanager/production.yml");
  const std::string committed{std::istreambuf_iterator<char>(in), {}};
  EXPECT_EQ(*config, committed) << "monitoring/alertmanager/production.yml is stale: run "
                                   "`build/bin/hut monitoring alertmanager --env production > "
                                   "monitoring/alertmanager/production.yml`";
  const YAML::Node hook = YAML::Load(*config)["receivers"][0]["webhook_configs"][0];
  EXPECT_EQ(hook["url"].as<std::string>(),
            "http://hut.hut-system.svc:7480/api/v1/alerts/webhook");
  EXPECT_EQ(hook["http_config"]["authorization"]["credentials_file"].as<std::string>(),
            "/etc/alertmanager/hut-token/token");
  // A local environment's is `hut up`'s to write.
  EXPECT_EQ(KubernetesAlertmanagerConfig(FoohutSpec(), "staging").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KubernetesAlertmanagerConfig(FoohutSpec(), "moon").status().code(),
            absl::StatusCode::kNotFound);
}

// Alertmanager's own checker (Debian's amtool) accepts what is written for
// every environment of foohut.yaml.
TEST(AlertmanagerConfigTest, AmtoolAcceptsEveryEnvironmentsConfiguration) {
  testing::TempDir dir;
  const std::string token = dir.path() + "/token";
  std::ofstream(token) << "t0ken\n";
  const spec::Spec spec = FoohutSpec();
  for (const spec::Environment& env : spec.environments) {
    auto text = AlertmanagerConfigFor(spec, env.name, "http://127.0.0.1:7480/api/v1/alerts/webhook",
                                      token);
    ASSERT_TRUE(text.ok()) << text.status();
    const std::string file = dir.path() + "/" + env.name + ".yml";
    std::ofstream(file) << *text;
    ProcessOptions o;
    o.argv = {"amtool", "check-config", file};
    auto result = RunCommand(o, std::chrono::seconds(30));
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->status.success()) << env.name << ":\n" << result->output << "\n" << *text;
    EXPECT_THAT(result->output, HasSubstr("SUCCESS")) << result->output;
  }
}

}  // namespace
}  // namespace hut::monitoring

#include "src/monitoring/prometheus_rules.h"

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/spec/load.h"
#include "testing/test_env.h"
#include "yaml-cpp/yaml.h"

namespace hut::monitoring {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

spec::Spec MustParse(const std::string& yaml) {
  spec::LoadResult r = spec::ParseSpec(yaml, "test.yaml");
  for (const spec::Problem& p : r.problems) ADD_FAILURE() << p.ToString();
  return r.spec ? *r.spec : spec::Spec{};
}

// The rule of `group` named `name` (record or alert).
YAML::Node FindRule(const std::string& rules, const std::string& group, const std::string& name) {
  for (const YAML::Node& g : YAML::Load(rules)["groups"]) {
    if (g["name"].as<std::string>() != group) continue;
    for (const YAML::Node& r : g["rules"]) {
      const YAML::Node n = r["alert"] ? r["alert"] : r["record"];
      if (n.as<std::string>() == name) return r;
    }
  }
  ADD_FAILURE() << "no rule " << name << " in group " << group;
  return YAML::Node();
}

constexpr char kSpec[] = R"(
services:
  backend:
    release: {command: [app]}
  search:
    port: 9000
    release: {command: [app]}
    metrics: {requests: search_requests_total, latency: search_seconds_bucket,
              error_codes: "5..|429", exclude_routes: ""}
policies:
  alerting:
    rules:
      error_rate: {threshold: 3%, for: 7m}
      high_latency: {p99: 1500ms, for: 1m}
environments:
  staging: {runtime: local}
  production:
    runtime: local
    policies:
      alerting:
        rules:
          error_rate: {threshold: 2%}
)";

TEST(PrometheusRulesTest, TheCommittedRulesAreFoohutYamls) {
  spec::LoadResult loaded = spec::LoadSpecFile(::hut::testing::SourceDir() + "/foohut.yaml");
  ASSERT_TRUE(loaded.ok());
  for (const spec::Environment& env : loaded.spec->environments) {
    absl::StatusOr<std::string> rules = PrometheusRules(*loaded.spec, env.name);
    ASSERT_TRUE(rules.ok()) << rules.status();
    const std::string file = "monitoring/prometheus/rules/" + env.name + ".yml";
    EXPECT_EQ(*rules, ReadFile(::hut::testing::SourceDir() + "/" + file))
        << file << " is stale: run `build/bin/hut monitoring rules --env " << env.name << " > "
        << file << "`";
  }
}

TEST(PrometheusRulesTest, ThresholdsAreTheEnvironmentsPolicies) {
  const std::string rules = *PrometheusRules(MustParse(kSpec));
  YAML::Node staging = FindRule(rules, "hut:staging:alerts", "HighErrorRate");
  EXPECT_EQ(staging["expr"].as<std::string>(),
            "service:http_error_ratio:rate1m{environment=\"staging\"} > 0.03");
  EXPECT_EQ(staging["for"].as<std::string>(), "7m");
  EXPECT_EQ(staging["labels"]["severity"].as<std::string>(), "critical");
  // production overrides the threshold and inherits the sustain period.
  YAML::Node production = FindRule(rules, "hut:production:alerts", "HighErrorRate");
  EXPECT_THAT(production["expr"].as<std::string>(), HasSubstr("> 0.02"));
  EXPECT_EQ(production["for"].as<std::string>(), "7m");
  YAML::Node latency = FindRule(rules, "hut:production:alerts", "HighLatency");
  EXPECT_THAT(latency["expr"].as<std::string>(), HasSubstr("> 1.5"));
  EXPECT_EQ(latency["labels"]["severity"].as<std::string>(), "high");
  // Defaults where the spec is silent.
  YAML::Node elevated = FindRule(rules, "hut:production:alerts", "ElevatedErrorRate");
  EXPECT_THAT(elevated["expr"].as<std::string>(), HasSubstr("> 0.01"));
  EXPECT_EQ(elevated["for"].as<std::string>(), "10m");
  EXPECT_EQ(elevated["labels"]["severity"].as<std::string>(), "medium");
}

TEST(PrometheusRulesTest, EachServiceIsReadFromItsOwnSeries) {
  const std::string rules = *PrometheusRules(MustParse(kSpec), "production");
  // One group pair per environment asked for.
  EXPECT_THAT(rules, Not(HasSubstr("hut:staging:")));
  std::set<std::string> requests;
  for (const YAML::Node& r : YAML::Load(rules)["groups"][0]["rules"]) {
    if (r["record"].as<std::string>() == "service:http_errors:rate1m") {
      requests.insert(r["expr"].as<std::string>());
    }
  }
  EXPECT_EQ(requests, (std::set<std::string>{
                          "sum by (environment, service) (rate(http_requests_total{environment="
                          "\"production\",service=\"backend\",route!~\"/healthz|/readyz|/"
                          "metrics\",code=~\"5..\"}[1m]))",
                          "sum by (environment, service) (rate(search_requests_total{"
                          "environment=\"production\",service=\"search\",code=~\"5..|429\"}[1m]"
                          "))"}));
  EXPECT_THAT(rules, HasSubstr("search_seconds_bucket{environment=\"production\",service="
                               "\"search\"}[1m]"));
  // ServiceDown sees a service with no target at all, not only failing ones.
  YAML::Node down = FindRule(rules, "hut:production:alerts", "ServiceDown");
  EXPECT_THAT(down["expr"].as<std::string>(),
              HasSubstr("absent(up{environment=\"production\",service=\"search\"})"));
}

// docs/runbooks: every alert links its page, and the page says what it
// means, how to check, how to fix and how to roll back.
TEST(PrometheusRulesTest, EveryAlertLinksARunbookThatHasItsFourParts) {
  spec::LoadResult loaded = spec::LoadSpecFile(::hut::testing::SourceDir() + "/foohut.yaml");
  ASSERT_TRUE(loaded.ok());
  const std::string rules = *PrometheusRules(*loaded.spec, "production");
  int alerts = 0;
  for (const YAML::Node& g : YAML::Load(rules)["groups"]) {
    for (const YAML::Node& r : g["rules"]) {
      if (!r["alert"]) continue;
      ++alerts;
      const std::string name = r["alert"].as<std::string>();
      const std::string url = r["annotations"]["runbook_url"].as<std::string>("");
      ASSERT_TRUE(url.starts_with("docs/runbooks/")) << name << ": " << url;
      const std::string page = ReadFile(::hut::testing::SourceDir() + "/" + url);
      ASSERT_FALSE(page.empty()) << name << ": no runbook at " << url;
      EXPECT_THAT(page, HasSubstr("# " + name + " (" + r["labels"]["severity"].as<std::string>()))
          << url;
      for (const char* part :
           {"## What it means", "## How to check", "## How to fix", "## How to roll back"}) {
        EXPECT_THAT(page, HasSubstr(part)) << url;
      }
    }
  }
  EXPECT_EQ(alerts, 6);
  // The spec says where the pages are for the team.
  const std::string elsewhere = *PrometheusRules(MustParse(R"(
services:
  backend:
    release: {command: [app]}
policies:
  alerting:
    runbooks: https://git.example.com/foohut/hut/blob/main/docs/runbooks/
environments:
  staging: {runtime: local}
)"));
  EXPECT_EQ(FindRule(elsewhere, "hut:staging:alerts", "HighErrorRate")["annotations"]["runbook_url"]
                .as<std::string>(),
            "https://git.example.com/foohut/hut/blob/main/docs/runbooks/high-error-rate.md");
  spec::LoadResult bad = spec::ParseSpec(R"(
services:
  backend:
    release: {command: [app]}
policies:
  alerting: {runbooks: docs/runbooks}
environments:
  staging: {runtime: local}
)", "test.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.problems[0].ToString(), HasSubstr("does not end in /"));
}

TEST(PrometheusRulesTest, AnUnknownEnvironmentIsNamed) {
  absl::StatusOr<std::string> rules = PrometheusRules(MustParse(kSpec), "prod");
  ASSERT_FALSE(rules.ok());
  EXPECT_EQ(rules.status().message(), "no environment prod in the spec");
}

// promtool test rules (ctest monitoring_promtool_test_rules) proves each alert at
// its threshold: this checks that every alert has a case where it fires and
// one where it does not.
TEST(PrometheusRulesTest, EveryAlertHasAPromtoolCaseFiringAndOneNot) {
  const YAML::Node tests =
      YAML::LoadFile(::hut::testing::SourceDir() + "/monitoring/prometheus/production_test.yml");
  std::set<std::string> fires, silent;
  for (const YAML::Node& t : tests["tests"]) {
    for (const YAML::Node& a : t["alert_rule_test"]) {
      const std::string name = a["alertname"].as<std::string>();
      (a["exp_alerts"] && a["exp_alerts"].size() > 0 ? fires : silent).insert(name);
    }
  }
  // Every alert production's rules define.
  std::set<std::string> alerts;
  const YAML::Node rules = YAML::LoadFile(::hut::testing::SourceDir() +
                                          "/monitoring/prometheus/rules/production.yml");
  for (const YAML::Node& group : rules["groups"]) {
    for (const YAML::Node& r : group["rules"]) {
      if (r["alert"]) alerts.insert(r["alert"].as<std::string>());
    }
  }
  EXPECT_EQ(alerts.size(), 6u);
  for (const std::string& name : alerts) {
    EXPECT_TRUE(fires.count(name)) << name << " has no promtool case where it fires";
    EXPECT_TRUE(silent.count(name)) << name << " has no promtool case where it stays silent";
  }
}

}  // namespace
}  // namespace hut::monitoring

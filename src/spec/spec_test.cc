#include "src/spec/spec.h"

#include <string>

#include "gtest/gtest.h"
#include "src/spec/load.h"
#include "testing/test_env.h"

namespace hut::spec {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

Spec MustParse(const std::string& yaml) {
  LoadResult r = ParseSpec(yaml, "test.yaml");
  for (const Problem& p : r.problems) ADD_FAILURE() << p.ToString();
  if (!r.spec) return Spec{};
  return *r.spec;
}

constexpr char kMinimal[] = R"(
services:
  backend:
    release:
      command: [app]
      image: "app:{{version}}"
environments:
  production:
    runtime: kubernetes
)";

// The policy defaults are ADR-009's numbers (DESIGN.md table), spelled out
// here so that changing a default in spec.h fails a test.
TEST(SpecDefaultsTest, PoliciesAreAdrValues) {
  const Policies p;
  EXPECT_DOUBLE_EQ(p.canary.weight, 0.10);
  EXPECT_EQ(p.canary.analysis, minutes(5));
  EXPECT_TRUE(p.canary.steps.empty());
  EXPECT_EQ(p.canary.EffectiveSteps(), (std::vector<CanaryStep>{{0.10, minutes(5)}}));
  EXPECT_EQ(p.canary.rollback_window, minutes(5));
  EXPECT_EQ(p.canary.inconclusive, InconclusiveAction::kFail);
  EXPECT_DOUBLE_EQ(p.canary.max_false_rollback_rate, 0.01);

  EXPECT_EQ(p.rolling.max_surge, 1);
  EXPECT_EQ(p.rolling.max_unavailable, 0);
  EXPECT_EQ(p.rolling.progress_deadline, minutes(10));

  EXPECT_TRUE(p.rollback.automatic);
  EXPECT_EQ(p.rollback.health_check_failures, 3);
  EXPECT_DOUBLE_EQ(p.rollback.error_rate.threshold, 0.05);
  EXPECT_EQ(p.rollback.error_rate.for_, minutes(2));
  EXPECT_EQ(p.rollback.p99_latency.threshold, seconds(2));

  EXPECT_TRUE(p.autoscaling.enabled);
  EXPECT_EQ(p.autoscaling.min_replicas, 3);
  EXPECT_EQ(p.autoscaling.max_replicas, 20);
  EXPECT_DOUBLE_EQ(p.autoscaling.target_cpu, 0.70);
  EXPECT_DOUBLE_EQ(p.autoscaling.target_memory, 0.80);

  EXPECT_EQ(p.cluster_autoscaling.min_nodes, 3);
  EXPECT_EQ(p.cluster_autoscaling.max_nodes, 20);
  EXPECT_EQ(p.cluster_autoscaling.scale_down_delay, minutes(10));

  EXPECT_EQ(p.secrets.database.rotation, Duration(days(30)));
  EXPECT_EQ(p.secrets.jwt.rotation, Duration(days(90)));
  EXPECT_EQ(p.secrets.api_keys.rotation, std::nullopt);

  const AlertingPolicy& a = p.alerting;
  EXPECT_EQ(a.For(Severity::kCritical),
            (SeverityPolicy{AlertChannel::kPage, minutes(5), false, std::chrono::seconds(10),
                            minutes(1), hours(1)}));
  EXPECT_EQ(a.For(Severity::kHigh).response_time, Duration(minutes(30)));
  EXPECT_EQ(a.For(Severity::kMedium).response_time, Duration(hours(4)));
  EXPECT_TRUE(a.For(Severity::kLow).next_business_day);
  EXPECT_EQ(a.For(Severity::kWarning).notify, AlertChannel::kChat);
  EXPECT_EQ(a.For(Severity::kInfo).notify, AlertChannel::kDigest);
  EXPECT_EQ(a.rules.service_down_for, minutes(1));
  EXPECT_EQ(a.rules.error_rate, (RateAlert{0.05, minutes(2)}));
  EXPECT_EQ(a.rules.elevated_error_rate, (RateAlert{0.01, minutes(10)}));
  EXPECT_EQ(a.rules.high_latency, (LatencyAlert{seconds(2), minutes(5)}));
  EXPECT_EQ(a.rules.performance_degradation, (LatencyAlert{milliseconds(500), minutes(30)}));
  EXPECT_EQ(a.rules.low_disk, (RateAlert{0.10, minutes(5)}));

  EXPECT_EQ(p.logging.format, LogFormat::kJson);
  EXPECT_EQ(p.logging.level, LogLevel::kInfo);
  EXPECT_EQ(p.logging.hot_retention, days(30));
  EXPECT_EQ(p.logging.cold_retention, days(365));

  EXPECT_TRUE(p.database.reversible_migrations);
  EXPECT_TRUE(p.database.backup_before_deploy);
  EXPECT_EQ(p.database.point_in_time_recovery, days(35));
}

TEST(SpecDefaultsTest, MinimalSpecGetsEveryDefault) {
  const Spec spec = MustParse(kMinimal);
  EXPECT_EQ(spec.version, 1);
  EXPECT_EQ(spec.project, "foohut");
  EXPECT_EQ(spec.policies, Policies{});

  ASSERT_EQ(spec.services.size(), 1u);
  const Service& backend = spec.services[0];
  EXPECT_EQ(backend.name, "backend");
  EXPECT_EQ(backend.release.command, std::vector<std::string>{"app"});
  EXPECT_TRUE(backend.release.env.empty());
  EXPECT_EQ(backend.port, 8080);
  EXPECT_EQ(backend.replicas, std::nullopt);
  EXPECT_EQ(backend.health, HealthCheck{});
  EXPECT_EQ(backend.health.liveness_path, "/healthz");
  EXPECT_EQ(backend.health.readiness_path, "/readyz");
  EXPECT_EQ(backend.health.interval, seconds(2));
  EXPECT_EQ(backend.health.timeout, seconds(1));
  EXPECT_FALSE(backend.health.failure_threshold.has_value());  // the rollback policy's
  EXPECT_EQ(HealthCheckFailures(spec.policies, backend), 3);
  EXPECT_EQ(backend.termination_grace_period, seconds(30));

  ASSERT_EQ(spec.environments.size(), 1u);
  const Environment& prod = spec.environments[0];
  EXPECT_EQ(prod.name, "production");
  EXPECT_EQ(prod.runtime, Runtime::kKubernetes);
  EXPECT_EQ(prod.strategy, Strategy::kRolling);
  EXPECT_EQ(prod.trigger, Trigger{});
  EXPECT_EQ(prod.namespace_, "foohut-production");
  EXPECT_EQ(prod.router.kind, RouterKind::kGatewayApi);
  EXPECT_EQ(prod.router.name, "foohut");
  EXPECT_FALSE(prod.multi_az);
  EXPECT_TRUE(prod.backing_services.empty());
  EXPECT_EQ(prod.services, (std::vector<ServiceDeployment>{{"backend", 3}}));
  EXPECT_EQ(prod.policies, Policies{});
  ASSERT_NE(spec.PoliciesFor("production"), nullptr);
  EXPECT_EQ(*spec.PoliciesFor("production"), Policies{});
  EXPECT_EQ(spec.PoliciesFor("staging"), nullptr);
}

TEST(SpecDefaultsTest, FrontendPortAndDisabledAutoscalingReplicas) {
  const Spec spec = MustParse(R"(
services:
  frontend: {release: {command: [web]}}
environments:
  dev: {runtime: local, policies: {autoscaling: {enabled: false}}}
)");
  EXPECT_EQ(spec.services.at(0).port, 8081);
  EXPECT_EQ(spec.environments.at(0).services.at(0).replicas, 1);
}

TEST(SpecDefaultsTest, TriggerShorthandsGetDefaults) {
  const Spec spec = MustParse(R"(
services: {backend: {release: {command: [app]}}}
environments:
  a: {runtime: local, trigger: push}
  b: {runtime: local, trigger: tag}
  c: {runtime: local, trigger: {event: push, branch: release}}
)");
  EXPECT_EQ(spec.environments.at(0).trigger, (Trigger{TriggerEvent::kPush, "main", ""}));
  EXPECT_EQ(spec.environments.at(1).trigger, (Trigger{TriggerEvent::kTag, "", "v*"}));
  EXPECT_EQ(spec.environments.at(2).trigger, (Trigger{TriggerEvent::kPush, "release", ""}));
}

TEST(SpecMergeTest, EnvironmentPoliciesMergeOverTopLevel) {
  const Spec spec = MustParse(R"(
services:
  backend: {release: {command: [app]}, replicas: 4}
policies:
  canary: {analysis: 10m}
  rollback:
    error_rate: {threshold: 3%}
  alerting:
    severities:
      high: {notify: chat}
environments:
  staging:
    runtime: local
  production:
    runtime: kubernetes
    strategy: canary
    services: {backend: {replicas: 6}}
    policies:
      canary:
        weight: 20%
      rollback:
        error_rate: {for: 1m}
      autoscaling: {min_replicas: 5, max_replicas: 30}
      alerting:
        severities:
          high: {response_time: 15m}
)");
  // Top level: defaults with the top-level keys applied.
  EXPECT_DOUBLE_EQ(spec.policies.canary.weight, 0.10);
  EXPECT_EQ(spec.policies.canary.analysis, minutes(10));
  EXPECT_DOUBLE_EQ(spec.policies.rollback.error_rate.threshold, 0.03);
  EXPECT_EQ(spec.policies.rollback.error_rate.for_, minutes(2));

  // staging has no overrides: exactly the top level.
  EXPECT_EQ(*spec.PoliciesFor("staging"), spec.policies);
  EXPECT_EQ(spec.FindEnvironment("staging")->services.at(0).replicas, 4);

  // production: its keys over the top level, key by key.
  const Policies& prod = *spec.PoliciesFor("production");
  Policies expected = spec.policies;
  expected.canary.weight = 0.20;
  expected.rollback.error_rate.for_ = minutes(1);
  expected.autoscaling.min_replicas = 5;
  expected.autoscaling.max_replicas = 30;
  expected.alerting.For(Severity::kHigh).response_time = minutes(15);
  EXPECT_EQ(prod, expected);
  EXPECT_EQ(prod.canary.analysis, minutes(10));                               // inherited
  EXPECT_DOUBLE_EQ(prod.rollback.error_rate.threshold, 0.03);                 // inherited
  EXPECT_EQ(prod.alerting.For(Severity::kHigh).notify, AlertChannel::kChat);  // inherited
  EXPECT_EQ(spec.FindEnvironment("production")->services.at(0).replicas, 6);
}

TEST(SpecMergeTest, StepsListIsReplacedWhole) {
  const Spec spec = MustParse(R"(
services: {backend: {release: {command: [app]}}}
policies:
  canary:
    steps:
      - {weight: 5%, hold: 1m}
      - {weight: 25%, hold: 2m}
      - {weight: 50%, hold: 2m}
environments:
  a: {runtime: local}
  b:
    runtime: local
    policies:
      canary:
        steps: [{weight: 30%, hold: 10m}]
)");
  const std::vector<CanaryStep> top = {{0.05, minutes(1)}, {0.25, minutes(2)}, {0.5, minutes(2)}};
  EXPECT_EQ(spec.PoliciesFor("a")->canary.EffectiveSteps(), top);
  EXPECT_EQ(spec.PoliciesFor("b")->canary.steps, (std::vector<CanaryStep>{{0.30, minutes(10)}}));
}

TEST(SpecMergeTest, RelationCheckedOnMergedValues) {
  // min_replicas 25 is fine with max 30 at the top level, but production lowers
  // max to 20: reported at production's key.
  LoadResult r = ParseSpec(R"(services: {backend: {release: {command: [app]}}}
policies: {autoscaling: {min_replicas: 25, max_replicas: 30}}
environments:
  production:
    runtime: kubernetes
    policies: {autoscaling: {max_replicas: 20}}
)",
                           "t.yaml");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].ToString(),
            "t.yaml:6:44: environments.production.policies.autoscaling.max_replicas: "
            "min_replicas 25 is above max_replicas 20 (expected min_replicas <= max_replicas)");
}

TEST(ExpandTest, BackingServicesNamedByARelease) {
  Release r;
  r.command = {"app", "--db={{backing.postgres.url}}"};
  r.env = {{"R", "{{ backing.redis.password_file }}"}, {"V", "{{version}}"},
           {"J", "{{secrets.jwt.file}}"}};
  EXPECT_EQ(BackingServicesNamed(r), (std::set<std::string>{"postgres", "redis"}));
  EXPECT_TRUE(BackingServicesNamed(Release{{"app"}, {}, ""}).empty());
}

TEST(ExpandTest, ReplacesEveryPlaceholder) {
  ReleaseContext c;
  c.version = "1.2.3";
  c.port = 41000;
  c.replica = 2;
  c.service = "backend";
  c.environment = "staging";
  c.backing_urls = {{"postgres", "postgresql://127.0.0.1:5432/foohut"}};
  EXPECT_EQ(
      ExpandPlaceholders("v{{version}}-{{ port }}/{{replica}}/{{service}}.{{environment}}", c),
      "v1.2.3-41000/2/backend.staging");
  EXPECT_EQ(ExpandPlaceholders("{{backing.postgres.url}}", c),
            "postgresql://127.0.0.1:5432/foohut");
  EXPECT_EQ(ExpandPlaceholders("{{backing.redis.url}} {{x}} {{open", c),
            "{{backing.redis.url}} {{x}} {{open");
  EXPECT_EQ(ExpandPlaceholders("{{secrets.jwt.file}}", c), "{{secrets.jwt.file}}");
  c.backing_password_files = {{"redis", "/state/replicas/backend-1/secrets/backing-redis"}};
  EXPECT_EQ(ExpandPlaceholders("{{ backing.redis.password_file }}", c),
            "/state/replicas/backend-1/secrets/backing-redis");
  c.secret_files = {{"jwt", "/state/replicas/backend-1/secrets/jwt"}};
  EXPECT_EQ(ExpandPlaceholders("{{secrets.jwt.file}}", c), "/state/replicas/backend-1/secrets/jwt");
  EXPECT_EQ(ExpandPlaceholders("", c), "");

  Release r{{"app", "--v={{version}}"}, {{"FOOHUT_VERSION", "{{version}}"}}, "img:{{version}}"};
  EXPECT_EQ(ExpandRelease(r, c),
            (Release{{"app", "--v=1.2.3"}, {{"FOOHUT_VERSION", "1.2.3"}}, "img:1.2.3"}));
}

// foohut.yaml at the repository root is valid and says what the ADR says.
TEST(FoohutSpecTest, RepositorySpecIsValidAndMatchesAdr) {
  const std::string path = hut::testing::SourceDir() + "/foohut.yaml";
  LoadResult r = LoadSpecFile(path);
  for (const Problem& p : r.problems) ADD_FAILURE() << p.ToString();
  ASSERT_TRUE(r.ok());
  const Spec& spec = *r.spec;

  // Its policies are written out, and they are exactly the ADR defaults.
  EXPECT_EQ(spec.policies, Policies{});

  ASSERT_EQ(spec.services.size(), 2u);
  EXPECT_EQ(spec.services[0].name, "backend");
  EXPECT_EQ(spec.services[0].port, 8080);
  EXPECT_EQ(spec.services[0].release.command,
            (std::vector<std::string>{"build/bin/foohut-api", "serve", "--migrate"}));
  EXPECT_EQ(spec.services[0].release.env.at("FOOHUT_VERSION"), "{{version}}");
  EXPECT_EQ(spec.services[1].name, "frontend");
  EXPECT_EQ(spec.services[1].port, 8081);

  ASSERT_EQ(spec.environments.size(), 3u);
  const Environment& dev = spec.environments[0];
  EXPECT_EQ(dev.name, "development");
  EXPECT_EQ(dev.runtime, Runtime::kLocal);
  EXPECT_EQ(dev.strategy, Strategy::kReplace);
  EXPECT_EQ(dev.trigger.event, TriggerEvent::kManual);
  EXPECT_TRUE(dev.hot_reload);
  EXPECT_TRUE(dev.debug_ports);
  EXPECT_EQ(dev.services.at(0).replicas, 1);

  const Environment& staging = spec.environments[1];
  EXPECT_EQ(staging.name, "staging");
  EXPECT_EQ(staging.strategy, Strategy::kRolling);
  EXPECT_EQ(staging.trigger, (Trigger{TriggerEvent::kPush, "main", ""}));
  EXPECT_EQ(staging.domain, "staging.foohut.com");

  const Environment& prod = spec.environments[2];
  EXPECT_EQ(prod.name, "production");
  EXPECT_EQ(prod.runtime, Runtime::kKubernetes);
  EXPECT_EQ(prod.strategy, Strategy::kCanary);
  EXPECT_EQ(prod.trigger, (Trigger{TriggerEvent::kTag, "", "v*"}));
  EXPECT_EQ(prod.domain, "foohut.com");
  EXPECT_TRUE(prod.multi_az);
  // The ADR's defaults, but secrets in AWS Secrets Manager (its source of truth).
  Policies adr;
  adr.secrets.backend = SecretBackendKind::kAwsSecretsManager;
  EXPECT_EQ(prod.policies, adr);
  ASSERT_EQ(prod.backing_services.size(), 2u);
  EXPECT_EQ(prod.backing_services[0],
            (BackingService{"postgres", BackingKind::kPostgresql, "15", {"pgvector"}}));
  EXPECT_EQ(prod.backing_services[1], (BackingService{"redis", BackingKind::kRedis, "7", {}}));
}

}  // namespace
}  // namespace hut::spec

#include "src/spec/load.h"

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "src/spec/yaml_limits.h"
#include "testing/test_env.h"

namespace hut::spec {
namespace {

// The problems of `yaml` as "LINE:COLUMN: PATH: MESSAGE", without the file name.
std::vector<std::string> ProblemsOf(const std::string& yaml) {
  LoadResult r = ParseSpec(yaml, "t.yaml");
  EXPECT_EQ(r.ok(), r.spec.has_value());
  std::vector<std::string> out;
  for (const Problem& p : r.problems) {
    EXPECT_EQ(p.file, "t.yaml");
    out.push_back(p.ToString().substr(std::string("t.yaml:").size()));
  }
  return out;
}

// Two valid lines; a row's text usually follows them, from line 3.
constexpr char kBase[] =
    "services: {backend: {release: {command: [app]}}}\n"
    "environments: {dev: {runtime: local}}\n";

struct BadSpec {
  const char* name;
  std::string yaml;
  std::string problem;  // the one expected problem: "LINE:COLUMN: PATH: MESSAGE"
};

// Names a row in test output (and in ctest's test names) instead of its bytes.
void PrintTo(const BadSpec& row, std::ostream* os) { *os << row.name; }

std::string Base(const std::string& rest) { return kBase + rest; }

const std::vector<BadSpec>& BadSpecs() {
  static const auto* rows = new std::vector<BadSpec>{
      {"BadDuration", Base("policies:\n  canary:\n    analysis: 5min\n"),
       "5:15: policies.canary.analysis: unknown unit \"min\" in duration \"5min\" (expected one "
       "of ms, s, m, h, d, w, y)"},
      {"DurationWithoutUnit", Base("policies:\n  rolling: {progress_deadline: 600}\n"),
       "4:32: policies.rolling.progress_deadline: duration \"600\" has no unit (expected one of "
       "ms, s, m, h, d, w, y)"},
      {"PercentWithoutSign", Base("policies:\n  rollback:\n    error_rate:\n      threshold: 5\n"),
       "6:18: policies.rollback.error_rate.threshold: invalid percentage \"5\" (expected a "
       "number and %, e.g. 5%)"},
      {"PercentAbove100", Base("policies:\n  canary: {weight: 150%}\n"),
       "4:20: policies.canary.weight: percentage \"150%\" is out of range (expected 0% to "
       "100%)"},
      {"CanaryWeightAll", Base("policies:\n  canary: {weight: 100%}\n"),
       "4:20: policies.canary.weight: \"100%\" is out of range (expected above 0% and below "
       "100%)"},
      {"UnknownKeyWithSuggestion",
       "services:\n  backend:\n    replicass: 3\n    release: {command: [app]}\n"
       "environments: {dev: {runtime: local}}\n",
       "3:5: services.backend.replicass: unknown key (did you mean \"replicas\"?)"},
      {"UnknownPolicyWithSuggestion", Base("policies:\n  rollbak: {}\n"),
       "4:3: policies.rollbak: unknown key (did you mean \"rollback\"?)"},
      {"UnknownKeyWithoutSuggestion", Base("policies:\n  frobnicate: 1\n"),
       "4:3: policies.frobnicate: unknown key (expected one of canary, rolling, rollback, "
       "autoscaling, cluster_autoscaling, secrets, alerting, logging, database)"},
      {"ListWhereMapExpected", Base("policies:\n  canary: [10%]\n"),
       "4:11: policies.canary: expected a map of canary settings, got a list"},
      {"MapWhereScalarExpected", Base("policies:\n  canary: {weight: {value: 10%}}\n"),
       "4:20: policies.canary.weight: expected a percentage, e.g. 5%, got a map"},
      {"MinAboveMaxReplicas",
       Base("policies:\n  autoscaling: {min_replicas: 10, max_replicas: 5}\n"),
       "4:31: policies.autoscaling.min_replicas: min_replicas 10 is above max_replicas 5 "
       "(expected min_replicas <= max_replicas)"},
      {"MinAboveMaxNodes", Base("policies:\n  cluster_autoscaling: {min_nodes: 30}\n"),
       "4:36: policies.cluster_autoscaling.min_nodes: min_nodes 30 is above max_nodes 20 "
       "(expected min_nodes <= max_nodes)"},
      {"UnknownStrategy",
       "services: {backend: {release: {command: [app]}}}\n"
       "environments:\n  dev:\n    runtime: local\n    strategy: blue-green\n",
       "5:15: environments.dev.strategy: unknown strategy \"blue-green\" (expected one of "
       "replace, rolling, canary)"},
      {"UnknownRuntime",
       "services: {backend: {release: {command: [app]}}}\n"
       "environments:\n  dev:\n    runtime: docker\n",
       "4:14: environments.dev.runtime: unknown runtime \"docker\" (expected one of local, "
       "kubernetes)"},
      {"UnknownServiceInEnvironment",
       "services: {backend: {release: {command: [app]}}}\n"
       "environments:\n  dev:\n    runtime: local\n    services:\n      backnd: {replicas: 1}\n",
       "6:7: environments.dev.services.backnd: unknown service \"backnd\" (did you mean "
       "\"backend\"?)"},
      {"UnknownServiceNoSuggestion",
       "services: {backend: {release: {command: [app]}}}\n"
       "environments:\n  dev:\n    runtime: local\n    services: {database: {}}\n",
       "5:16: environments.dev.services.database: unknown service \"database\" (expected one "
       "of backend)"},
      {"MissingServices", "environments: {dev: {runtime: local}}\n",
       "1:1: services: missing required key (expected a map from service name to service, "
       "e.g. backend)"},
      {"MissingEnvironments", "services: {backend: {release: {command: [app]}}}\n",
       "1:1: environments: missing required key (expected a map from environment name to "
       "environment, e.g. production)"},
      {"MissingRuntime",
       "services: {backend: {release: {command: [app]}}}\nenvironments:\n  dev:\n"
       "    strategy: replace\n",
       "4:5: environments.dev.runtime: missing required key (expected one of local, "
       "kubernetes)"},
      {"MissingReleaseCommand",
       "services:\n  backend:\n    release:\n      env: {A: b}\n"
       "environments: {dev: {runtime: local}}\n",
       "4:7: services.backend.release.command: missing required key (expected the program and "
       "its arguments, e.g. [build/bin/foohut-api, serve])"},
      {"MissingPortForOtherService",
       "services:\n  worker:\n    release: {command: [w]}\n"
       "environments: {dev: {runtime: local}}\n",
       "3:5: services.worker.port: missing required key (expected the load balancer port, 1 "
       "to 65535; only backend and frontend have defaults)"},
      {"YamlSyntaxError", "services: [backend\nenvironments: {}\n",
       "2:13: invalid YAML: end of sequence flow not found"},
      {"EmptyFile", "", "1:1: spec is empty (expected a map with services and environments)"},
      {"TopLevelList", "- services\n",
       "1:1: expected a map with services and environments at the top level, got a list"},
      {"ZeroHealthCheckFailures", Base("policies:\n  rollback: {health_check_failures: 0}\n"),
       "4:37: policies.rollback.health_check_failures: 0 is out of range (expected a whole "
       "number >= 1)"},
      {"NegativeSurge", Base("policies:\n  rolling: {max_surge: -1}\n"),
       "4:24: policies.rolling.max_surge: -1 is out of range (expected a whole number >= 0)"},
      {"SurgeAndUnavailableZero", Base("policies:\n  rolling: {max_surge: 0}\n"),
       "4:24: policies.rolling.max_surge: max_surge and max_unavailable are both 0, so no "
       "replica can ever be replaced (expected at least one of them above 0)"},
      {"ZeroDuration", Base("policies:\n  canary: {analysis: 0s}\n"),
       "4:22: policies.canary.analysis: \"0s\" is out of range (expected a duration above 0)"},
      {"NotANumber", Base("policies:\n  autoscaling: {max_replicas: many}\n"),
       "4:31: policies.autoscaling.max_replicas: invalid number \"many\" (expected a whole "
       "number >= 1)"},
      {"CanaryStepsNotIncreasing",
       Base("policies:\n  canary:\n    steps:\n      - {weight: 20%, hold: 1m}\n"
            "      - {weight: 10%, hold: 1m}\n"),
       "7:18: policies.canary.steps[1].weight: 10% is not above the previous step's 20% "
       "(expected increasing weights)"},
      {"CanaryStepMissingHold", Base("policies:\n  canary:\n    steps: [{weight: 20%}]\n"),
       "5:13: policies.canary.steps[0].hold: missing required key (expected a duration, e.g. "
       "5m)"},
      {"PortOutOfRange",
       "services:\n  backend:\n    port: 70000\n    release: {command: [app]}\n"
       "environments: {dev: {runtime: local}}\n",
       "3:11: services.backend.port: 70000 is out of range (expected a whole number from 1 to "
       "65535)"},
      {"DuplicatePort",
       "services:\n  backend: {release: {command: [app]}}\n"
       "  frontend: {port: 8080, release: {command: [web]}}\n"
       "environments: {dev: {runtime: local}}\n",
       "3:13: services.frontend.port: port 8080 is already used by service \"backend\" "
       "(expected a port of its own)"},
      {"UnknownPlaceholder",
       "services:\n  backend:\n    release:\n      command: [app]\n"
       "      env: {FOOHUT_VERSION: \"{{vesion}}\"}\n"
       "environments: {dev: {runtime: local}}\n",
       "5:29: services.backend.release.env.FOOHUT_VERSION: unknown placeholder \"{{vesion}}\" "
       "(expected one of {{version}}, {{port}}, {{replica}}, {{service}}, {{environment}}, "
       "{{backing.NAME.url}}, {{backing.NAME.password_file}}, {{secrets.database.file}}, "
       "{{secrets.jwt.file}})"},
      {"UnknownSecretFile",
       "services:\n  backend:\n    release:\n      command: [app]\n"
       "      env: {KEYS: \"{{secrets.stripe.file}}\"}\n"
       "environments: {dev: {runtime: local}}\n",
       "5:19: services.backend.release.env.KEYS: unknown secret \"stripe\" in "
       "\"{{secrets.stripe.file}}\" (secret files: {{secrets.database.file}}, {{secrets.jwt.file}})"},
      {"MissingBackingService",
       "services:\n  backend:\n    release:\n      command: [app]\n"
       "      env: {DB: \"{{backing.postgres.url}}\"}\n"
       "environments:\n  dev: {runtime: local}\n",
       "7:3: environments.dev: service \"backend\" uses {{backing.postgres.url}} but this "
       "environment has no backing service \"postgres\" (expected it under backing_services)"},
      {"InvalidBoolean",
       "services: {backend: {release: {command: [app]}}}\n"
       "environments:\n  dev: {runtime: local, multi_az: yes}\n",
       "3:35: environments.dev.multi_az: invalid boolean \"yes\" (expected true or false)"},
      {"UnknownTriggerEvent",
       "services: {backend: {release: {command: [app]}}}\n"
       "environments:\n  dev: {runtime: local, trigger: {event: cron}}\n",
       "3:42: environments.dev.trigger.event: unknown trigger event \"cron\" (expected one of "
       "manual, push, tag)"},
      {"ReplicasOutsideAutoscalingRange",
       "services: {backend: {release: {command: [app]}}}\n"
       "environments:\n  prod:\n    runtime: kubernetes\n    services: {backend: {replicas: 2}}\n",
       "5:36: environments.prod.services.backend.replicas: 2 is outside environment prod's "
       "autoscaling range 3 to 20 (expected a count in that range, or autoscaling disabled)"},
      {"ColdShorterThanHot", Base("policies:\n  logging: {cold_retention: 7d}\n"),
       "4:29: policies.logging.cold_retention: cold_retention 7d is shorter than hot_retention "
       "30d (expected cold_retention >= hot_retention)"},
      {"UnknownSecretBackend", Base("policies:\n  secrets: {backend: vault}\n"),
       "4:22: policies.secrets.backend: unknown secret backend \"vault\" (expected one of local, "
       "aws-secrets-manager)"},
      {"ColdStoreNotABucket", Base("policies:\n  logging: {cold_store: s3://Logs/x}\n"),
       "4:25: policies.logging.cold_store: \"s3://Logs/x\": \"Logs\" is not an S3 bucket name "
       "(3-63 characters: a-z, 0-9, '.', '-')"},
      {"ColdStoreUnknownScheme", Base("policies:\n  logging: {cold_store: gs://logs}\n"),
       "4:25: policies.logging.cold_store: \"gs://logs\" is neither s3://BUCKET[/PREFIX] nor a "
       "folder"},
      {"HealthTimeoutAboveInterval",
       "services:\n  backend:\n    release: {command: [app]}\n    health: {timeout: 5s}\n"
       "environments: {dev: {runtime: local}}\n",
       "4:23: services.backend.health.timeout: timeout 5s is longer than interval 2s (expected "
       "timeout <= interval)"},
      {"BadRotation", Base("policies:\n  secrets:\n    jwt: {rotation: never}\n"),
       "5:21: policies.secrets.jwt.rotation: invalid rotation period \"never\" (expected a "
       "duration such as 30d, or on-demand)"},
      {"UnknownLogLevel", Base("policies:\n  logging: {level: TRACE}\n"),
       "4:20: policies.logging.level: unknown log level \"TRACE\" (expected one of ERROR, WARN, "
       "INFO, DEBUG)"},
      {"UnknownInconclusiveAction", Base("policies:\n  canary: {inconclusive: retry}\n"),
       "4:26: policies.canary.inconclusive: unknown inconclusive action \"retry\" (expected one "
       "of extend, pause, fail)"},
      {"UnknownAlertChannel",
       Base("policies:\n  alerting:\n    severities:\n      critical: {notify: email}\n"),
       "6:26: policies.alerting.severities.critical.notify: unknown channel \"email\" (expected "
       "one of page, chat, digest)"},
      {"ElevatedErrorRateNotBelowCritical",
       Base("policies:\n  alerting:\n    rules:\n      elevated_error_rate: {threshold: 5%}\n"),
       "6:28: policies.alerting.rules.elevated_error_rate: elevated_error_rate's threshold 5% is "
       "not below error_rate's 5% (expected the medium alert below the critical one)"},
      {"AlertOnEveryRequest",
       Base("policies:\n  alerting:\n    rules:\n      error_rate: {threshold: 100%}\n"),
       "6:31: policies.alerting.rules.error_rate.threshold: \"100%\" is out of range (expected "
       "above 0% and below 100%)"},
      {"UnknownAlertSeverity", Base("policies:\n  rollback: {on_alerts: [critical, urgent]}\n"),
       "4:36: policies.rollback.on_alerts[1]: unknown severity \"urgent\" (expected one of "
       "critical, high, medium, low, warning, info)"},
      {"UnknownTimeZone",
       Base("policies:\n  alerting:\n    calendar: {time_zone: Europe/Berlinn}\n"),
       "5:27: policies.alerting.calendar.time_zone: unknown time zone \"Europe/Berlinn\" "
       "(expected an IANA name such as Europe/Berlin)"},
      {"BadHoliday",
       Base("policies:\n  alerting:\n    calendar: {holidays: [2026-12-24, 2026-13-01]}\n"),
       "5:39: policies.alerting.calendar.holidays[1]: holiday \"2026-13-01\" is not a date "
       "(expected YYYY-MM-DD)"},
      {"BadDigestTime", Base("policies:\n  alerting:\n    digest: {at: \"25:00\"}\n"),
       "5:18: policies.alerting.digest.at: \"25:00\" is not a time of day (expected HH:MM, 00:00 "
       "to 23:59)"},
      {"SlackUrlTwice",
       Base("policies:\n  alerting:\n    slack: {webhook_url: \"http://x/y\", webhook_url_file: "
            "f}\n"),
       "5:58: policies.alerting.slack.webhook_url_file: webhook_url and webhook_url_file both "
       "given (expected one: the file for a real webhook, whose URL is a secret)"},
      {"PagerDutyUrlNotHttp",
       Base("policies:\n  alerting:\n    pagerduty: {events_url: ftp://x}\n"),
       "5:29: policies.alerting.pagerduty.events_url: \"ftp://x\" is not an http(s) URL "
       "(expected e.g. https://events.pagerduty.com/v2/enqueue)"},
      {"DuplicateKey",
       "services: {backend: {release: {command: [app]}}}\n"
       "environments:\n  dev: {runtime: local}\n  dev: {runtime: local}\n",
       "4:3: environments.dev: duplicate key (each key may appear once)"},
      {"InvalidServiceName",
       "services:\n  Back_End: {port: 9000, release: {command: [app]}}\n"
       "environments: {dev: {runtime: local}}\n",
       "2:3: services.Back_End: invalid service name \"Back_End\" (expected lowercase letters, "
       "digits and -, at most 63 characters)"},
      {"MissingValue", Base("policies:\n  canary:\n    weight:\n"),
       "5:5: policies.canary.weight: missing value (expected a percentage, e.g. 5%)"},
      {"UnsupportedVersion", Base("version: 2\n"),
       "3:10: version: 2 is out of range (expected a whole number from 1 to 1)"},
      {"ExtensionsOnRedis",
       "services: {backend: {release: {command: [app]}}}\n"
       "environments:\n  dev:\n    runtime: local\n    backing_services:\n"
       "      cache: {kind: redis, version: \"7\", extensions: [pgvector]}\n",
       "6:54: environments.dev.backing_services.cache.extensions: extensions apply only to kind "
       "postgresql (expected no extensions here)"},
      {"BadRouterKind",
       "services: {backend: {release: {command: [app], image: \"x:{{version}}\"}}}\n"
       "environments: {prod: {runtime: kubernetes, router: {kind: nginx}}}\n",
       "2:59: environments.prod.router.kind: unknown router kind \"nginx\" (expected one of "
       "gateway-api, alb, replicas)"},
      {"BadRouterName",
       "services: {backend: {release: {command: [app], image: \"x:{{version}}\"}}}\n"
       "environments: {prod: {runtime: kubernetes, router: {name: Edge_1}}}\n",
       "2:59: environments.prod.router.name: invalid router name \"Edge_1\" (expected a DNS "
       "label)"},
      {"BadMetricName",
       "services:\n  backend:\n    release: {command: [app]}\n    metrics: {requests: 2xx-total}\n"
       "environments: {dev: {runtime: local}}\n",
       "4:25: services.backend.metrics.requests: invalid metric name \"2xx-total\" (expected "
       "letters, digits, _ and :, not starting with a digit)"},
      {"EmptyErrorCodes",
       "services:\n  backend:\n    release: {command: [app]}\n    metrics: {error_codes: \"\"}\n"
       "environments: {dev: {runtime: local}}\n",
       "4:28: services.backend.metrics.error_codes: empty (expected a regex over the code label, "
       "such as 5..)"},
      {"EmptyCommand",
       "services:\n  backend: {release: {command: []}}\nenvironments: {dev: {runtime: local}}\n",
       "2:32: services.backend.release.command: empty command (expected the program and its "
       "arguments, e.g. [app, serve])"},
  };
  return *rows;
}

// Each problem of `yaml` under the line it points at, with a caret at its column.
std::string Pointed(const std::string& yaml) {
  std::vector<std::string> lines = absl::StrSplit(yaml, '\n');
  std::string out;
  for (const Problem& p : ParseSpec(yaml, "t.yaml").problems) {
    if (p.line >= 1 && p.line <= static_cast<int>(lines.size())) {
      out += lines[p.line - 1] + "\n" + std::string(p.column - 1, ' ') + "^ " + p.message + "\n";
    }
  }
  return out;
}

class BadSpecTest : public ::testing::TestWithParam<BadSpec> {};

TEST_P(BadSpecTest, ReportsExactlyThisProblem) {
  const BadSpec& row = GetParam();
  EXPECT_EQ(ProblemsOf(row.yaml), std::vector<std::string>{row.problem})
      << row.yaml << "--- where:\n"
      << Pointed(row.yaml);
}

INSTANTIATE_TEST_SUITE_P(Table, BadSpecTest, ::testing::ValuesIn(BadSpecs()),
                         [](const ::testing::TestParamInfo<BadSpec>& info) {
                           return std::string(info.param.name);
                         });

TEST(LoadTest, BaseOfTheTableIsValid) { EXPECT_TRUE(ProblemsOf(kBase).empty()); }

TEST(LoadTest, ReportsEveryProblemInFileOrder) {
  const std::string yaml =
      "services:\n"                              // 1
      "  backend:\n"                             // 2
      "    replicass: 3\n"                       // 3
      "    release: {command: [app]}\n"          // 4
      "policies:\n"                              // 5
      "  canary: {weight: 5, analysis: 5min}\n"  // 6
      "  autoscaling: {min_replicas: 0}\n"       // 7
      "environments:\n"                          // 8
      "  production:\n"                          // 9
      "    runtime: docker\n"                    // 10
      "    strategy: canary\n"                   // 11
      "    services: {api: {replicas: 3}}\n";    // 12
  EXPECT_EQ(ProblemsOf(yaml),
            (std::vector<std::string>{
                "3:5: services.backend.replicass: unknown key (did you mean \"replicas\"?)",
                "6:20: policies.canary.weight: invalid percentage \"5\" (expected a number and "
                "%, e.g. 5%)",
                "6:33: policies.canary.analysis: unknown unit \"min\" in duration \"5min\" "
                "(expected one of ms, s, m, h, d, w, y)",
                "7:31: policies.autoscaling.min_replicas: 0 is out of range (expected a whole "
                "number >= 1)",
                "10:14: environments.production.runtime: unknown runtime \"docker\" (expected "
                "one of local, kubernetes)",
                "12:16: environments.production.services.api: unknown service \"api\" "
                "(expected one of backend)",
            }));
}

TEST(LoadTest, ProblemFormat) {
  EXPECT_EQ((Problem{"f.yaml", 12, 14, "a.b", "bad (expected good)"}).ToString(),
            "f.yaml:12:14: a.b: bad (expected good)");
  EXPECT_EQ((Problem{"f.yaml", 2, 1, "", "invalid YAML: x"}).ToString(),
            "f.yaml:2:1: invalid YAML: x");
  EXPECT_EQ((Problem{"f.yaml", 0, 0, "", "cannot read file: No such file or directory"}).ToString(),
            "f.yaml: cannot read file: No such file or directory");
}

TEST(LoadTest, UnreadableFileIsOneProblemWithoutPosition) {
  LoadResult r = LoadSpecFile("/nonexistent/foohut.yaml");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_FALSE(r.spec.has_value());
  EXPECT_EQ(r.problems[0].ToString(),
            "/nonexistent/foohut.yaml: cannot read file: No such file or directory");
}

TEST(LoadTest, FixtureFileReportsItsName) {
  const std::string path = hut::testing::SourceDir() + "/src/spec/testdata/bad.yaml";
  LoadResult r = LoadSpecFile(path);
  ASSERT_FALSE(r.ok());
  for (const Problem& p : r.problems) {
    EXPECT_EQ(p.file, path);
    EXPECT_GT(p.line, 0);
  }
}

TEST(LoadTest, NeverThrowsOnOddYaml) {
  for (const char* yaml : {"*alias", "&a [*a]", "? [a, b]\n: c\n", "services: !!binary xx",
                           "---\na: 1\n---\nb: 2\n", "\t", "{", "services: {backend: null}",
                           "services: {backend: {release: {command: [[a]]}}}"}) {
    LoadResult r = ParseSpec(yaml, "t.yaml");
    EXPECT_FALSE(r.ok()) << yaml;
  }
}

// One health knob: the rollback policy. The old per-service key is still
// accepted, overrides it for its service, and is flagged.
TEST(LoadTest, HealthFailureThresholdIsADeprecatedOverride) {
  const std::string yaml =
      "services:\n"
      "  backend:\n"
      "    release: {command: [app]}\n"
      "    health: {failure_threshold: 5}\n"
      "  frontend:\n"
      "    release: {command: [app]}\n"
      "policies:\n"
      "  rollback: {health_check_failures: 2}\n"
      "environments: {dev: {runtime: local}}\n";
  LoadResult r = ParseSpec(yaml, "t.yaml");
  ASSERT_TRUE(r.ok()) << r.problems[0].ToString();
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].ToString(),
            "t.yaml:4:33: services.backend.health.failure_threshold: deprecated: hut judges "
            "replica health by policies.rollback.health_check_failures (3 by default); this "
            "value still overrides it for this service");
  const Policies& dev = *r.spec->PoliciesFor("dev");
  EXPECT_EQ(HealthCheckFailures(dev, *r.spec->FindService("backend")), 5);
  EXPECT_EQ(HealthCheckFailures(dev, *r.spec->FindService("frontend")), 2);
}

TEST(LoadTest, DeviceWithoutEndIsRefusedAtTheSizeCap) {
  LoadResult r = LoadSpecFile("/dev/zero");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].ToString(), "/dev/zero: cannot read file: it is larger than 1 MiB");
}

TEST(LoadTest, FileOverTheSizeCapIsRefused) {
  const std::string path = ::testing::TempDir() + "/big.yaml";
  {
    std::ofstream out(path, std::ios::trunc);
    const std::string line = "# " + std::string(1000, 'x') + "\n";
    for (size_t written = 0; written <= kMaxSpecBytes; written += line.size()) out << line;
  }
  LoadResult r = LoadSpecFile(path);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].message, "cannot read file: it is larger than 1 MiB");
  std::remove(path.c_str());
}

TEST(LoadTest, DirectoryIsOneProblem) {
  LoadResult r = LoadSpecFile(::testing::TempDir());
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].message, "cannot read file: it is a directory");
}

TEST(LoadTest, DeepNestingIsRefusedWithItsPlace) {
  // 10,000 nested flow sequences, and 1,000 block maps (10,000 would be
  // 50 MB of indentation, over the size cap).
  const std::string flow = "services: " + std::string(10'000, '[') + std::string(10'000, ']');
  LoadResult r = ParseSpec(flow, "t.yaml");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].ToString(),
            "t.yaml:1:74: YAML nested deeper than 64 levels (a spec is far shallower)");
  std::string block;
  for (int i = 0; i < 1'000; ++i) block += std::string(i, ' ') + "k:\n";
  r = ParseSpec(block, "t.yaml");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_EQ(r.problems[0].line, 65);
  EXPECT_EQ(r.problems[0].message, "YAML nested deeper than 64 levels (a spec is far shallower)");
}

TEST(LoadTest, NestingWithinTheLimitIsParsed) {
  // 60 levels is odd for a spec but allowed: the loader names the key instead.
  const std::string yaml = "version: 1\nx: " + std::string(60, '[') + std::string(60, ']');
  LoadResult r = ParseSpec(yaml, "t.yaml");
  ASSERT_FALSE(r.ok());
  for (const Problem& p : r.problems) {
    EXPECT_EQ(p.message.find("nested deeper"), std::string::npos) << p.ToString();
  }
}

TEST(LoadTest, TooManyNodesAreRefused) {
  std::string yaml = "x: [";
  for (size_t i = 0; i <= kMaxYamlNodes; ++i) yaml += "1,";
  yaml += "1]";
  LoadResult r = ParseSpec(yaml, "t.yaml");
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].message.find("more than 100000 YAML nodes"), std::string::npos);
}

}  // namespace
}  // namespace hut::spec

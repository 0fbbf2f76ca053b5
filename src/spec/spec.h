#ifndef HUT_SPEC_SPEC_H_
#define HUT_SPEC_SPEC_H_

// The deployment spec (foohut.yaml) as plain values (STYLE.md rule 9).
//
// Every default below is ADR-009's number where the ADR gives one (the table in
// DESIGN.md); where the ADR is silent the default is hut's choice and says so.
// A spec is parsed and validated once (src/spec/load.h); a Spec obtained from
// the loader satisfies every rule documented here. Units: durations are
// hut::Duration (milliseconds); percentages are fractions (5% == 0.05).
// docs/spec.md is the reference for the YAML form of each field.

#include <array>
#include <chrono>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/clock.h"
#include "src/common/log.h"

namespace hut::spec {

// ---------------------------------------------------------------- enums

// Where an environment's replicas run.
enum class Runtime {
  kLocal,       // processes on this machine behind HAProxy
  kKubernetes,  // Deployments on a Kubernetes cluster (EKS in the ADR)
};

// How a Kubernetes environment splits traffic between a service's revisions.
enum class RouterKind {
  kGatewayApi,  // a Gateway API HTTPRoute's backendRefs weights (the default)
  kAlb,         // the AWS Load Balancer Controller's weighted forward action on an Ingress
  kReplicas,    // no router: one Service over every pod, shares by pod count
};

// How a new version replaces the old one.
enum class Strategy {
  kReplace,  // stop all old replicas, start the new ones (development)
  kRolling,  // a few replicas at a time, each healthy before the next (staging)
  kCanary,   // a share of traffic first, analysed, then promoted (production)
};

// What starts a deployment to an environment.
enum class TriggerEvent {
  kManual,  // `hut deploy` by hand
  kPush,    // a push to a branch
  kTag,     // a release tag matching a pattern
};

// What a canary analysis does when the metrics neither pass nor fail (e.g. too
// little traffic to judge).
enum class InconclusiveAction {
  kExtend,  // keep analysing for another analysis period, once; then fail
  kPause,   // hold the rollout at its current weight for a human to promote or abort
  kFail,    // treat it as failed: roll back (the default; an unproven canary is not promoted)
};

// Kind of a backing service. Locally a real server from Debian's packages; in
// the cloud the managed equivalent (RDS PostgreSQL, ElastiCache Redis).
enum class BackingKind { kPostgresql, kRedis };

// Alert severities, most urgent first.
enum class Severity { kCritical, kHigh, kMedium, kLow, kWarning, kInfo };
inline constexpr int kSeverityCount = 6;

// Where an alert of a severity goes.
enum class AlertChannel {
  kPage,    // PagerDuty: someone is woken up
  kChat,    // Slack message
  kDigest,  // collected into the daily digest
};

enum class LogFormat { kJson };  // JSON lines; the only format the ADR allows

// Where an environment's secrets live (docs/secrets.md).
enum class SecretBackendKind {
  kLocal,              // an encrypted file in the state folder
  kAwsSecretsManager,  // AWS Secrets Manager (ADR-009)
};

// Names as written in the spec ("canary", "kubernetes", "next-business-day"…).
std::string_view Name(Runtime v);
std::string_view Name(Strategy v);
std::string_view Name(RouterKind v);
std::string_view Name(TriggerEvent v);
std::string_view Name(InconclusiveAction v);
std::string_view Name(BackingKind v);
std::string_view Name(Severity v);
std::string_view Name(AlertChannel v);
std::string_view Name(LogFormat v);
std::string_view Name(SecretBackendKind v);

// ---------------------------------------------------------------- policies

// One canary step: send `weight` of traffic/pods to the new version and
// analyse it for `hold` before going on.
struct CanaryStep {
  double weight = 0.10;                     // fraction, in (0, 1)
  Duration hold = std::chrono::minutes(5);  // > 0
  bool operator==(const CanaryStep&) const = default;
};

struct CanaryPolicy {
  double weight = 0.10;  // share of traffic/pods for the canary, (0, 1); ADR: 10%
  // How long the canary is analysed, > 0; ADR: 5 min.
  Duration analysis = std::chrono::minutes(5);
  // Optional explicit steps; weights strictly increasing, each in (0, 1). When
  // empty the rollout is the single step {weight, analysis}. When set, the steps
  // replace weight/analysis. After the last step the new version is promoted to 100%.
  std::vector<CanaryStep> steps;
  // After promotion the previous revision is kept and the rollback triggers keep
  // watching for this long; a trigger firing inside it rolls back. >= 0. hut's choice: 5 min.
  Duration rollback_window = std::chrono::minutes(5);
  InconclusiveAction inconclusive = InconclusiveAction::kFail;  // hut's choice
  // Upper bound on the chance that the analysis rolls back a healthy canary; the
  // judge sizes its statistical test to it. (0, 0.5]. hut's choice: 1%.
  double max_false_rollback_rate = 0.01;

  // The steps the rollout walks: `steps`, or {weight, analysis} when empty.
  std::vector<CanaryStep> EffectiveSteps() const;
  bool operator==(const CanaryPolicy&) const = default;
};

struct RollingPolicy {
  int max_surge = 1;        // extra replicas above the desired count, >= 0; ADR: one at a time
  int max_unavailable = 0;  // replicas that may be down, >= 0; not both 0
  // No progress for this long fails the rollout, > 0. hut's choice: 10 min.
  Duration progress_deadline = std::chrono::minutes(10);
  bool operator==(const RollingPolicy&) const = default;
};

// A metric over a threshold for a sustained time.
struct ErrorRateTrigger {
  double threshold = 0.05;                  // fraction of requests answered 5xx, (0, 1]; ADR: 5%
  Duration for_ = std::chrono::minutes(2);  // sustained for this long, >= 0; ADR: 2 min
  bool operator==(const ErrorRateTrigger&) const = default;
};

struct LatencyTrigger {
  Duration threshold = std::chrono::seconds(2);  // P99 request latency, > 0; ADR: 2 s
  Duration for_ = Duration(0);  // sustained for, >= 0; ADR: none (fires at once)
  bool operator==(const LatencyTrigger&) const = default;
};

// The automatic rollback triggers; any one firing rolls a rollout back.
struct RollbackPolicy {
  bool automatic = true;          // false: a firing trigger pauses instead of rolling back
  int health_check_failures = 3;  // consecutive failed readiness checks, >= 1; ADR: 3
  ErrorRateTrigger error_rate;
  LatencyTrigger p99_latency;
  // A rollout under way (canary, rolling update, rollback window) listens to
  // the alerts that fire for its service: these severities roll it back
  // (pause it when automatic is false), these pause a canary.
  std::vector<Severity> on_alerts = {Severity::kCritical};
  std::vector<Severity> pause_on_alerts;
  bool operator==(const RollbackPolicy&) const = default;
};

// The Horizontal Pod Autoscaler's rule (local runtime: hut's own autoscaler).
struct AutoscalingPolicy {
  bool enabled = true;
  int min_replicas = 3;         // >= 1; ADR: 3
  int max_replicas = 20;        // >= min_replicas; ADR: 20
  double target_cpu = 0.70;     // average CPU utilisation, (0, 1]; ADR: 70%
  double target_memory = 0.80;  // average memory utilisation, (0, 1]; ADR: 80%
  bool operator==(const AutoscalingPolicy&) const = default;
};

// The cluster autoscaler's node group bounds (Kubernetes runtime only).
struct ClusterAutoscalingPolicy {
  int min_nodes = 3;                                     // >= 1; ADR: 3
  int max_nodes = 20;                                    // >= min_nodes; ADR: 20
  Duration scale_down_delay = std::chrono::minutes(10);  // >= 0; ADR: 10 min
  bool operator==(const ClusterAutoscalingPolicy&) const = default;
};

// How often one secret is rotated; nullopt: only on demand (`hut secrets rotate`).
struct SecretPolicy {
  std::optional<Duration> rotation;  // > 0 when set
  // How long the version a rotation replaces stays valid: for JWT keys the
  // longest token lifetime (foohut-api's 1 h) and its clock leeway.
  Duration overlap = std::chrono::minutes(61);
  bool operator==(const SecretPolicy&) const = default;
};

struct SecretsPolicy {
  SecretBackendKind backend = SecretBackendKind::kLocal;
  SecretPolicy database{std::chrono::days(30)};  // database credentials; ADR: 30 days
  SecretPolicy jwt{std::chrono::days(90)};       // JWT signing keys; ADR: 90 days
  SecretPolicy api_keys{std::nullopt};           // third-party API keys; ADR: on demand
  bool operator==(const SecretsPolicy&) const = default;
};

// How alerts of one severity are routed and how fast someone must respond.
struct SeverityPolicy {
  AlertChannel notify = AlertChannel::kChat;
  // Time to respond; nullopt: none promised. Ignored when next_business_day.
  std::optional<Duration> response_time;
  bool next_business_day = false;  // respond by the next business day
  // Alertmanager's route for the severity (monitoring/alertmanager): how
  // long a new group waits for more alerts before it is sent, how long a
  // group waits to send what changed in it (new alerts, resolved ones), and
  // how often a group still firing is sent again. Each > 0.
  Duration group_wait = std::chrono::seconds(30);
  Duration group_interval = std::chrono::minutes(5);
  Duration repeat_interval = std::chrono::hours(4);
  bool operator==(const SeverityPolicy&) const = default;
};

// Alerting rules Prometheus evaluates (generated by `hut monitoring rules`,
// monitoring/README.md); each fires with the severity in its comment.
struct RateAlert {
  double threshold = 0.05;                  // fraction, (0, 1); fires above it
  Duration for_ = std::chrono::minutes(2);  // sustained for this long, >= 0
  bool operator==(const RateAlert&) const = default;
};

struct LatencyAlert {
  Duration p99 = std::chrono::seconds(2);   // P99 request latency, > 0; fires above it
  Duration for_ = std::chrono::minutes(5);  // sustained for this long, >= 0
  bool operator==(const LatencyAlert&) const = default;
};

struct AlertRules {
  Duration service_down_for = std::chrono::minutes(1);  // critical: no replica of a service up
  RateAlert error_rate{0.05, std::chrono::minutes(2)};  // critical; ADR: > 5% error rate
  RateAlert elevated_error_rate{0.01, std::chrono::minutes(10)};  // medium; < error_rate
  LatencyAlert high_latency{std::chrono::seconds(2), std::chrono::minutes(5)};  // high
  // low: performance degradation, a P99 below high_latency's sustained longer.
  LatencyAlert performance_degradation{std::chrono::milliseconds(500), std::chrono::minutes(30)};
  RateAlert low_disk{0.10, std::chrono::minutes(5)};  // high: free fraction of a filesystem
  bool operator==(const AlertRules&) const = default;
};

// Where alerts go (src/alerting). Files are relative to the spec's folder
// and hold a secret each; a channel without its secret is not used.
struct PagerDutySettings {
  std::string events_url = "https://events.pagerduty.com/v2/enqueue";  // Events API v2
  std::string routing_key_file;  // the integration key of the first level; "": no paging
  bool operator==(const PagerDutySettings&) const = default;
};

struct SlackSettings {
  std::string webhook_url;       // an incoming webhook as is (a local receiver), or
  std::string webhook_url_file;  // a file holding it (the real URL is a secret); "": no chat
  bool operator==(const SlackSettings&) const = default;
};

// The daily digest of info alerts, sent to chat at a local time.
struct DigestSettings {
  int at_minutes = 9 * 60;  // 09:00
  std::string time_zone = "UTC";
  bool operator==(const DigestSettings&) const = default;
};

// Business days for "next business day" deadlines.
struct CalendarSettings {
  std::string time_zone = "UTC";
  std::vector<std::string> weekend = {"saturday", "sunday"};
  std::vector<std::string> holidays;  // YYYY-MM-DD, local
  int day_ends_minutes = 17 * 60;     // a next-business-day alert is due at 17:00
  bool operator==(const CalendarSettings&) const = default;
};

struct AlertingPolicy {
  // Indexed by Severity. ADR: critical page, 5 min; high 30 min; medium 4 h; low
  // next business day; warning to chat; info to the daily digest. Channels for
  // high (page), medium and low (chat) are hut's choice.
  std::array<SeverityPolicy, kSeverityCount> severities = {{
      // notify, response_time, next_business_day, group_wait, group_interval, repeat_interval
      {AlertChannel::kPage, std::chrono::minutes(5), false, std::chrono::seconds(10),
       std::chrono::minutes(1), std::chrono::hours(1)},  // critical
      {AlertChannel::kPage, std::chrono::minutes(30), false, std::chrono::seconds(30),
       std::chrono::minutes(5), std::chrono::hours(4)},  // high
      {AlertChannel::kChat, std::chrono::hours(4), false, std::chrono::minutes(1),
       std::chrono::minutes(5), std::chrono::hours(12)},  // medium
      {AlertChannel::kChat, std::nullopt, true, std::chrono::minutes(5),
       std::chrono::minutes(5), std::chrono::hours(24)},  // low
      {AlertChannel::kChat, std::nullopt, false, std::chrono::minutes(1),
       std::chrono::minutes(5), std::chrono::hours(12)},  // warning
      {AlertChannel::kDigest, std::nullopt, false, std::chrono::minutes(5),
       std::chrono::minutes(5), std::chrono::hours(24)},  // info
  }};
  AlertRules rules;
  // Where the runbooks are (docs/runbooks/): each alert's runbook_url is
  // this followed by its page's name, e.g. high-error-rate.md.
  std::string runbooks = "docs/runbooks/";
  PagerDutySettings pagerduty;
  SlackSettings slack;
  // Who is paged when an alert is not acknowledged by its deadline: first
  // the first level again, then each of these routing key files in turn
  // (the last one again after that).
  std::vector<std::string> escalation;
  DigestSettings digest;
  CalendarSettings calendar;
  const SeverityPolicy& For(Severity s) const { return severities[static_cast<int>(s)]; }
  SeverityPolicy& For(Severity s) { return severities[static_cast<int>(s)]; }
  bool operator==(const AlertingPolicy&) const = default;
};

struct LoggingPolicy {
  LogFormat format = LogFormat::kJson;  // ADR: structured JSON
  LogLevel level = LogLevel::kInfo;     // least severe level written (ERROR WARN INFO DEBUG)
  Duration hot_retention = std::chrono::days(30);    // searchable storage, > 0; ADR: 30 days
  Duration cold_retention = std::chrono::days(365);  // archive, >= hot_retention; ADR: 1 year
  // Where the cold archives go: s3://BUCKET[/PREFIX] (credentials, region and
  // endpoint from the AWS environment variables), or a folder (relative to
  // the spec); "" : the state folder's logs/cold.
  std::string cold_store;
  bool operator==(const LoggingPolicy&) const = default;
};

struct DatabasePolicy {
  bool reversible_migrations = true;  // every migration must have a down step; ADR
  bool backup_before_deploy = true;   // back up before each deploy; ADR (production)
  Duration point_in_time_recovery = std::chrono::days(35);  // >= 0; ADR: 35 days
  bool operator==(const DatabasePolicy&) const = default;
};

// Everything an environment may override. Top-level `policies` apply to every
// environment; `environments.E.policies` merges over them key by key (a list,
// such as canary steps, is replaced whole).
struct Policies {
  CanaryPolicy canary;
  RollingPolicy rolling;
  RollbackPolicy rollback;
  AutoscalingPolicy autoscaling;
  ClusterAutoscalingPolicy cluster_autoscaling;
  SecretsPolicy secrets;
  AlertingPolicy alerting;
  LoggingPolicy logging;
  DatabasePolicy database;
  bool operator==(const Policies&) const = default;
};

// ---------------------------------------------------------------- services

// How to start one replica of a version. Strings may contain the placeholders
// {{version}}, {{port}}, {{replica}}, {{service}}, {{environment}} and
// {{backing.NAME.url}} (the URL of the environment's backing service NAME, e.g.
// postgresql://… or redis://…, without the password), {{backing.NAME.password_file}}
// (a file, readable by the replica only, holding that URL's user's password)
// and {{secrets.NAME.file}} (a file, readable by the replica only, with the
// environment's secret NAME: jwt, its JWT signing keys; database, its
// database login as JSON, which a rotation rewrites in place); the runtime
// substitutes them per replica with ExpandRelease() and also sets PORT. Every
// environment provides each NAME used.
struct Release {
  std::vector<std::string> command;        // argv, required, not empty
  std::map<std::string, std::string> env;  // extra environment variables
  std::string image;  // container image for the Kubernetes runtime; "" when unused
  bool operator==(const Release&) const = default;
};

struct HealthCheck {
  std::string liveness_path = "/healthz";       // alive; failing restarts the replica
  std::string readiness_path = "/readyz";       // ready for traffic
  Duration interval = std::chrono::seconds(2);  // between checks, > 0
  Duration timeout = std::chrono::seconds(1);   // per check, > 0 and <= interval
  // Deprecated: consecutive failed checks that mark a replica down, for this
  // service only. The one knob is policies.rollback.health_check_failures
  // (HealthCheckFailures); when set, this overrides it, with a warning.
  std::optional<int> failure_threshold;
  // A replica that is still not ready this long after it started, and has
  // failed its last HealthCheckFailures() checks, has failed (as Docker's
  // HEALTHCHECK --start-period): a broken release is rolled back without
  // waiting for the progress deadline. >= 0.
  Duration start_period = std::chrono::seconds(10);
  bool operator==(const HealthCheck&) const = default;
};

// The series of a service's replicas that the canary analysis reads from
// Prometheus (`hut server --prometheus`, on Kubernetes): a request counter
// with labels code and route, and a latency histogram. The defaults are
// foohut-api's metrics.
struct MetricQueries {
  std::string requests = "http_requests_total";                   // a metric name
  std::string latency = "http_request_duration_seconds_bucket";   // a metric name (le buckets)
  std::string error_codes = "5..";                                // regex over code: errors
  std::string exclude_routes = "/healthz|/readyz|/metrics";       // regex over route; "": none
  bool operator==(const MetricQueries&) const = default;
};

struct Service {
  std::string name;  // DNS label: [a-z0-9-], at most 63 characters
  Release release;
  // Port the load balancer listens on for this service, 1..65535, unique. Default
  // 8080 for "backend" and 8081 for "frontend"; other services must set it.
  int port = 0;
  // Desired replicas in every environment unless the environment says otherwise;
  // nullopt: the environment's default (see ServiceDeployment::replicas). >= 1.
  std::optional<int> replicas;
  HealthCheck health;
  MetricQueries metrics;
  // After SIGTERM a replica gets this long to drain before SIGKILL, >= 0.
  Duration termination_grace_period = std::chrono::seconds(30);
  bool operator==(const Service&) const = default;
};

// ---------------------------------------------------------------- environments

struct Trigger {
  TriggerEvent event = TriggerEvent::kManual;
  std::string branch;       // for kPush; default "main"
  std::string tag_pattern;  // for kTag: a glob; default "v*"
  bool operator==(const Trigger&) const = default;
};

// A database or cache the environment provides to its services.
struct BackingService {
  std::string name;  // e.g. "postgres"
  BackingKind kind = BackingKind::kPostgresql;
  std::string version;                  // major version, e.g. "15"; required
  std::vector<std::string> extensions;  // PostgreSQL extensions, e.g. pgvector
  bool operator==(const BackingService&) const = default;
};

// Per-environment settings of one service.
struct ServiceDeployment {
  std::string service;  // a name from Spec::services
  // Desired replicas (the autoscaler's starting point). Default: Service::replicas,
  // else the effective autoscaling.min_replicas, or 1 when autoscaling is disabled.
  // >= 1, and within [min_replicas, max_replicas] when autoscaling is enabled.
  int replicas = 1;
  bool operator==(const ServiceDeployment&) const = default;
};

// The Kubernetes runtime's traffic router (ignored by the local runtime).
struct Router {
  RouterKind kind = RouterKind::kGatewayApi;
  // gateway-api: the Gateway the HTTPRoutes attach to; alb: the Ingress
  // holding the forward actions. Default: the project's name.
  std::string name;
  bool operator==(const Router&) const = default;
};

struct Environment {
  std::string name;                   // DNS label
  Runtime runtime = Runtime::kLocal;  // required in the YAML
  Strategy strategy = Strategy::kRolling;
  Trigger trigger;           // default manual
  std::string domain;        // public host name; "" when none
  std::string namespace_;    // Kubernetes namespace; default "<project>-<name>"
  Router router;             // Kubernetes only
  bool multi_az = false;     // spread replicas across availability zones
  bool hot_reload = false;   // development: restart on rebuilt binaries
  bool debug_ports = false;  // development: expose replicas' ports directly
  std::vector<BackingService> backing_services;
  // One entry per service of the spec, in the spec's service order.
  std::vector<ServiceDeployment> services;
  // Effective policies: the top-level policies with this environment's overrides.
  Policies policies;

  const ServiceDeployment* FindService(std::string_view name) const;
  bool operator==(const Environment&) const = default;
};

// The values a runtime substitutes into a Release for one replica.
struct ReleaseContext {
  std::string version;
  int port = 0;
  int replica = 0;
  std::string service;
  std::string environment;
  std::map<std::string, std::string> backing_urls;  // backing service name -> URL
  // backing service name -> a file holding the password of its URL's user
  std::map<std::string, std::string> backing_password_files;
  std::map<std::string, std::string> secret_files;  // secret name ("jwt") -> file path
};

// Secrets a release can name as {{secrets.NAME.file}}.
inline constexpr std::string_view kSecretFiles[] = {"database", "jwt"};

// `text` with each {{placeholder}} (see Release) replaced by its value from
// `context`. A placeholder without a value (which a loaded spec cannot contain)
// is left as written.
std::string ExpandPlaceholders(std::string_view text, const ReleaseContext& context);

// The backing services `release` names: NAME of every {{backing.NAME.url}}
// and {{backing.NAME.password_file}} in its command and env.
std::set<std::string> BackingServicesNamed(const Release& release);
// Whether `release` names {{secrets.SECRET.…}} in its command or env.
bool NamesSecret(const Release& release, std::string_view secret);

// `release` with every string expanded by ExpandPlaceholders.
Release ExpandRelease(const Release& release, const ReleaseContext& context);

// ---------------------------------------------------------------- the spec

struct Spec {
  int version = 1;  // schema version; only 1 exists
  std::string project = "foohut";
  std::vector<Service> services;          // file order; at least one
  Policies policies;                      // top level, before environment overrides
  std::vector<Environment> environments;  // file order; at least one

  const Service* FindService(std::string_view name) const;
  const Environment* FindEnvironment(std::string_view name) const;
  // The effective policies of environment `env`; nullptr if there is no such environment.
  const Policies* PoliciesFor(std::string_view env) const;
  bool operator==(const Spec&) const = default;
};

// Consecutive failed readiness checks that mark a replica of `service` down
// in an environment with `policies`: policies.rollback.health_check_failures
// (ADR-009: 3), unless the service still sets the deprecated
// health.failure_threshold. Every judge of replica health uses this one
// number: the load balancer's checks, the runtime, the rollout, the analysis.
int HealthCheckFailures(const Policies& policies, const Service& service);

}  // namespace hut::spec

#endif  // HUT_SPEC_SPEC_H_

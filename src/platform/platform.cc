#include "src/platform/platform.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"
#include "src/alerting/alertmanager_api.h"
#include "src/alerting/dispatcher.h"
#include "src/alerting/notifier.h"
#include "src/alerting/router.h"
#include "src/alerting/webhook.h"
#include "src/common/ports.h"
#include "src/common/resources.h"
#include "src/common/secret.h"
#include "src/common/status.h"
#include "src/kubernetes/config_sync.h"
#include "src/kubernetes/kubernetes_runtime.h"
#include "src/local/postgres_server.h"
#include "src/metrics/prometheus_source.h"
#include "src/metrics/service_traffic.h"
#include "src/logs/log_service.h"
#include "src/http/client.h"
#include "src/http/url.h"
#include "src/tracing/jaeger_query.h"
#include "src/objectstore/object_store.h"
#include "src/objectstore/s3_object_store.h"
#include "src/platform/control_plane.h"
#include "src/controller/service_controller.h"
#include "src/platform/lease_keeper.h"
#include "src/secrets/aws_backend.h"
#include "src/secrets/database_rotation.h"
#include "src/secrets/jwt_rotation.h"
#include "src/secrets/local_backend.h"
#include "src/secrets/rotation_scheduler.h"
#include "src/secrets/sync.h"
#include "src/store/open.h"

namespace hut::platform {
namespace fs = std::filesystem;

namespace {

// A LogSink appending to a file it owns, and passing each line on to the
// others given (the central log store, a terminal).
class FileLogSink final : public LogSink {
 public:
  static absl::StatusOr<std::unique_ptr<FileLogSink>> Open(const std::string& path,
                                                          std::vector<LogSink*> also) {
    FILE* f = std::fopen(path.c_str(), "ae");  // e: O_CLOEXEC
    if (f == nullptr) {
      return absl::InternalError(absl::StrCat("cannot open log file ", path, ": ",
                                              std::strerror(errno)));
    }
    std::erase(also, nullptr);
    return std::unique_ptr<FileLogSink>(new FileLogSink(f, std::move(also)));
  }
  ~FileLogSink() override { std::fclose(file_); }
  void Write(std::string_view line) override {
    stream_.Write(line);
    for (LogSink* s : also_) s->Write(line);
  }

 private:
  FileLogSink(FILE* f, std::vector<LogSink*> also) : file_(f), stream_(f), also_(std::move(also)) {}
  FILE* file_;
  StreamLogSink stream_;
  const std::vector<LogSink*> also_;
};

// An exclusive lock on <state>/hut.lock for the server's lifetime; the file
// holds the holder's pid for the message the next one gets.
absl::StatusOr<int> LockStateDir(const std::string& state_dir) {
  const std::string path = absl::StrCat(state_dir, "/hut.lock");
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return absl::FailedPreconditionError(absl::StrCat(
        "another hut server (pid ", holder, ") is using the state folder ", state_dir,
        "; stop it with `hut down` or choose another folder with --state"));
  }
  std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The lock is what matters; the pid is for messages only.
  }
  return fd;
}

// hut_replica_*: what each local replica's process tree uses, for services
// that do not report their own (and a like-for-like view of those that do).
std::vector<telemetry::ControlPlaneMetrics::SeriesFamily> ReplicaUsageSeries(
    const std::vector<local::LocalEnvironment::ReplicaUsage>& replicas) {
  using Family = telemetry::ControlPlaneMetrics::SeriesFamily;
  Family cpu{.name = "hut_replica_cpu_seconds_total",
             .help = "CPU time of the replica's processes (user and system), from /proc.",
             .counter = true, .series = {}};
  Family memory{.name = "hut_replica_resident_memory_bytes",
                .help = "Resident memory of the replica's processes, from /proc.",
                .counter = false, .series = {}};
  Family fds{.name = "hut_replica_open_fds",
             .help = "Open file descriptors of the replica's processes.", .counter = false,
             .series = {}};
  Family processes{.name = "hut_replica_processes",
                   .help = "Processes of the replica (its workload and what it started).",
                   .counter = false, .series = {}};
  for (const local::LocalEnvironment::ReplicaUsage& r : replicas) {
    if (r.usage.processes == 0) continue;  // exited since it was listed
    const std::map<std::string, std::string> labels = {{"service", r.service},
                                                       {"version", r.version},
                                                       {"revision", std::to_string(r.revision)},
                                                       {"replica", r.replica}};
    const auto add = [&labels](Family& f, double value) {
      f.series.push_back({.labels = labels, .value = value});
    };
    add(cpu, r.usage.cpu_seconds);
    add(memory, static_cast<double>(r.usage.resident_bytes));
    if (r.usage.open_fds >= 0) add(fds, r.usage.open_fds);
    add(processes, r.usage.processes);
  }
  return {std::move(cpu), std::move(memory), std::move(fds), std::move(processes)};
}

}  // namespace

// Everything that runs, in start order; destroyed in reverse.
struct Platform::Parts {
  RealClock clock;
  int lock_fd = -1;
  // The central log store outlives every writer of logs (declared first).
  std::unique_ptr<objectstore::ObjectStore> log_archive;
  std::unique_ptr<logs::LogService> logs;
  std::unique_ptr<FileLogSink> hut_log;
  std::unique_ptr<FileLogSink> replica_log;
  std::optional<Logger> log;
  std::unique_ptr<store::Store> store;
  // The environment's secrets: their backend, and the service over it.
  std::unique_ptr<secrets::SecretBackend> secret_backend;
  std::unique_ptr<secrets::SecretsService> secrets;
  std::unique_ptr<secrets::JwtRotator> jwt_rotator;  // local runtime: it hands out the keys
  std::unique_ptr<secrets::DatabaseRotator> database_rotator;  // local, with a PostgreSQL
  std::unique_ptr<secrets::RotationScheduler> rotation;  // their schedule
  std::optional<Secret> token;  // until the control plane takes it
  std::unique_ptr<LeaseKeeper> lease;
  // Alerts: the router (fed by the control plane's webhook) queues, the
  // dispatcher sends through the notifiers.
  std::unique_ptr<alerting::PagerDutyNotifier> pagerduty;
  std::unique_ptr<alerting::SlackNotifier> slack;
  std::unique_ptr<alerting::AlertRouter> alerts;
  std::unique_ptr<alerting::Dispatcher> dispatcher;
  // Where a firing alert goes for the rollouts to react: the control plane
  // once it runs (alerts arrive through its own API, so it outlives them).
  std::atomic<ControlPlane*> alert_reactor{nullptr};
  std::unique_ptr<local::LocalEnvironment> local;  // runtime: local
  std::unique_ptr<kubernetes::KubernetesRuntime> kubernetes;  // runtime: kubernetes
  std::unique_ptr<kubernetes::ApiClient> config_api;          // its Secrets and ConfigMap
  std::unique_ptr<kubernetes::ConfigSync> config_sync;
  std::unique_ptr<tracing::Exporter> tracer;  // hut's own spans (rollouts)
  std::unique_ptr<ControlPlane> control_plane;

  ~Parts() {
    // First the thread that may still be taking over (it calls Activate).
    if (lease) lease->StopRenewing();
    // The dispatcher's thread may be telling the control plane of an alert:
    // stopped first. (The webhook's handlers finish as the control plane's
    // API stops; they may still kick the dispatcher, which is harmless.)
    alert_reactor.store(nullptr);
    if (dispatcher) dispatcher->Stop();
    rotation.reset();  // before the runtime it hands keys to, and the sync it ticks
    config_sync.reset();
    config_api.reset();
    control_plane.reset();
    jwt_rotator.reset();
    database_rotator.reset();
    secrets.reset();
    secret_backend.reset();
    dispatcher.reset();
    alerts.reset();
    tracer.reset();  // sends the last spans while Jaeger still runs
    local.reset();
    kubernetes.reset();
    lease.reset();  // releases the lease: a standby takes over at once
    store.reset();
    if (log) log->Info("stopped");
    if (lock_fd >= 0) close(lock_fd);
  }
};

Platform::Platform() : parts_(std::make_unique<Parts>()) {}
Platform::~Platform() { Stop(); }

store::Store& Platform::store() { return *parts_->store; }

const std::vector<Endpoint>& Platform::endpoints() const {
  static const std::vector<Endpoint> kNone;
  absl::MutexLock lock(&mu_);
  return parts_ && parts_->local && standby_.empty() ? parts_->local->endpoints() : kNone;
}

std::string Platform::prometheus_url() const {
  absl::MutexLock lock(&mu_);
  return parts_ && parts_->local && standby_.empty() ? parts_->local->prometheus_url() : "";
}

std::string Platform::alertmanager_url() const {
  absl::MutexLock lock(&mu_);
  if (!parts_ || !standby_.empty()) return "";
  return parts_->local ? parts_->local->alertmanager_url() : options_.alertmanager;
}

std::string Platform::jaeger_url() const {
  absl::MutexLock lock(&mu_);
  return parts_ && parts_->local && standby_.empty() ? parts_->local->jaeger_url() : "";
}

std::string Platform::standby() const {
  absl::MutexLock lock(&mu_);
  return standby_;
}

std::string Platform::address() const {
  absl::MutexLock lock(&mu_);
  return address_;
}

void Platform::Stop() {
  if (stopped_) return;
  stopped_ = true;
  parts_.reset();
  std::string pointer;
  {
    absl::MutexLock lock(&mu_);
    pointer = pointer_file_;
  }
  if (!pointer.empty()) {  // last: `hut down` reads it until the end
    std::error_code ec;
    fs::remove(pointer, ec);
  }
}

namespace {

// What the supervisor saw, as an event of the environment.
std::function<void(const local::SupervisorEvent&)> RecordIn(store::Store& store,
                                                           std::string environment,
                                                           const Clock& clock) {
  return [&store, environment = std::move(environment), &clock](const local::SupervisorEvent& e) {
    store::Event event;
    event.at = clock.Now();
    event.environment = environment;
    event.service = e.name;
    event.type = e.Type();
    event.message = e.Message();
    event.data = {{"name", e.name}, {"detail", e.detail}, {"restarts", e.restarts}};
    (void)store.AppendEvent(std::move(event));
  };
}

// The log archive policies.logging.cold_store names.
absl::StatusOr<std::unique_ptr<objectstore::ObjectStore>> OpenColdStore(
    const std::string& where, const std::string& state, const std::string& spec_dir,
    const aws::GetEnv& getenv) {
  if (where.empty()) return objectstore::FolderObjectStore::Open(state + "/logs/cold");
  if (!objectstore::IsS3Url(where)) {
    return objectstore::FolderObjectStore::Open(
        where.front() == '/' || spec_dir.empty() ? where : absl::StrCat(spec_dir, "/", where));
  }
  const auto fail = [&where](const absl::Status& s) {
    return absl::Status(s.code(),
                        absl::StrCat("policies.logging.cold_store ", where, ": ", s.message()));
  };
  absl::StatusOr<objectstore::S3Location> location = objectstore::ParseS3Url(where);
  if (!location.ok()) return fail(location.status());
  absl::StatusOr<aws::AwsConfig> config = aws::ConfigFromEnvironment(getenv);
  if (!config.ok()) return fail(config.status());
  auto store = objectstore::S3ObjectStore::Open(*location, *config);
  if (!store.ok()) return fail(store.status());
  return std::unique_ptr<objectstore::ObjectStore>(std::move(*store));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Platform>> Platform::Start(spec::Spec spec,
                                                         PlatformOptions options) {
  std::unique_ptr<Platform> p(new Platform());
  p->spec_ = std::move(spec);
  p->environment_ = p->spec_.FindEnvironment(options.environment);
  if (p->environment_ == nullptr) {
    std::string known;
    for (const spec::Environment& e : p->spec_.environments) {
      absl::StrAppend(&known, known.empty() ? "" : ", ", e.name);
    }
    return absl::NotFoundError(absl::StrCat("the spec has no environment \"",
                                            options.environment, "\" (environments: ", known,
                                            ")"));
  }
  if (!options.getenv) {
    options.getenv = [](const std::string& name) -> std::optional<std::string> {
      const char* v = std::getenv(name.c_str());
      return v == nullptr ? std::nullopt : std::optional<std::string>(v);
    };
  }
  const spec::Environment& env = *p->environment_;
  Parts& parts = *p->parts_;

  std::error_code ec;
  fs::create_directories(options.state_dir, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot create state folder ", options.state_dir,
                                            ": ", ec.message()));
  }
  const std::string state = fs::absolute(options.state_dir).lexically_normal().string();
  // PostgreSQL runs as "postgres" and must reach its folder under ours.
  chmod(state.c_str(), 0755);
  HUT_ASSIGN_OR_RETURN(parts.lock_fd, LockStateDir(state));
  fs::create_directories(state + "/logs", ec);
  // docs/logs.md: the hot tier in the state folder, the cold archives in S3
  // or a folder laid out as the object store's keys.
  HUT_ASSIGN_OR_RETURN(parts.log_archive,
                       OpenColdStore(env.policies.logging.cold_store, state, options.spec_dir,
                                     options.getenv));
  {
    logs::LogServiceOptions lo;
    lo.hot_dir = state + "/logs/hot";
    lo.cold = parts.log_archive.get();
    lo.cold_prefix = absl::StrCat("logs/", env.name, "/");
    lo.policy = env.policies.logging;
    HUT_ASSIGN_OR_RETURN(parts.logs, logs::LogService::Start(std::move(lo), parts.clock));
  }
  HUT_ASSIGN_OR_RETURN(parts.hut_log, FileLogSink::Open(state + "/logs/hut.log",
                                                        {&parts.logs->SinkFor("hut"), options.log_echo}));
  HUT_ASSIGN_OR_RETURN(parts.replica_log, FileLogSink::Open(state + "/logs/replicas.log",
                                                            {&parts.logs->SinkFor("")}));
  parts.log.emplace(*parts.hut_log, parts.clock, "hut");
  const int open_files = RaiseOpenFileLimit();
  parts.log->Info("starting",
                  {{"environment", env.name}, {"state_dir", state}, {"open_file_limit", open_files}});

  HUT_ASSIGN_OR_RETURN(Secret token, server::LoadOrCreateToken(state));
  parts.token.emplace(std::move(token));
  p->token_file_ = absl::StrCat(state, "/", server::kTokenFileName);
  {
    const std::string url = options.store.empty() ? state + "/hut.db" : options.store;
    auto opened = store::OpenStore(url, parts.clock);
    if (!opened.ok()) {
      return absl::Status(opened.status().code(),
                          absl::StrCat("store: ", opened.status().message()));
    }
    parts.store = std::move(*opened);
  }
  p->options_ = std::move(options);
  p->state_ = state;
  p->open_files_ = open_files;

  // One active control plane per environment and store.
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  LeaseOptions lease;
  lease.name = absl::StrCat("controller/", env.name);
  lease.holder = absl::StrCat(host, "/", getpid(), "/", p->options_.listen.ToString());
  parts.lease = std::make_unique<LeaseKeeper>(*parts.store, parts.clock,
                                              parts.log->ForComponent("lease"), lease);
  std::string holder;
  HUT_ASSIGN_OR_RETURN(bool held, parts.lease->TryAcquire(&holder));
  Platform* raw = p.get();
  auto lost = [raw](const std::string& who) {
    raw->parts_->log->Error("lost the lease: stopping", {{"holder", who}});
    raw->shutdown_requested_.store(true);
  };
  if (held) {
    HUT_RETURN_IF_ERROR(p->Activate());
    parts.lease->Run([] {}, lost);
    return p;
  }
  {
    absl::MutexLock lock(&p->mu_);
    p->standby_ = holder;
  }
  parts.log->Info("standing by", {{"why", holder}});
  parts.lease->Run(
      [raw] {
        if (absl::Status s = raw->Activate(); !s.ok()) {
          raw->parts_->log->Error("cannot take over", {{"error", s.ToString()}});
          raw->shutdown_requested_.store(true);
        }
      },
      lost);
  return p;
}

namespace {

// A file the spec names, relative to the spec's folder.
std::string SpecPath(const std::string& spec_dir, const std::string& path) {
  if (path.empty() || path.front() == '/' || spec_dir.empty()) return path;
  return absl::StrCat(spec_dir, "/", path);
}

}  // namespace

absl::Status Platform::StartAlerting(const std::string& alert_token_file,
                                     ControlPlaneOptions& cp) {
  Parts& parts = *parts_;
  const spec::Environment& env = *environment_;
  const spec::AlertingPolicy& policy = env.policies.alerting;
  alerting::RouterOptions ro;
  ro.environment = env.name;
  ro.policy = policy;
  const spec::CalendarSettings& c = policy.calendar;
  HUT_ASSIGN_OR_RETURN(
      ro.calendar,
      alerting::MakeBusinessCalendar(
          c.time_zone, c.weekend, c.holidays,
          absl::StrFormat("%02d:%02d", c.day_ends_minutes / 60, c.day_ends_minutes % 60)));
  if (!absl::LoadTimeZone(policy.digest.time_zone, &ro.digest_zone)) {
    return absl::InvalidArgumentError(
        absl::StrCat("policies.alerting.digest.time_zone: unknown time zone \"",
                     policy.digest.time_zone, "\""));
  }
  std::map<std::string, alerting::Notifier*> notifiers;
  if (!policy.pagerduty.routing_key_file.empty()) {
    alerting::PagerDutyOptions po;
    po.events_url = policy.pagerduty.events_url;
    po.routing_key_files[""] = SpecPath(options_.spec_dir, policy.pagerduty.routing_key_file);
    for (size_t i = 0; i < policy.escalation.size(); ++i) {
      po.routing_key_files[absl::StrCat("escalation-", i + 1)] =
          SpecPath(options_.spec_dir, policy.escalation[i]);
    }
    parts.pagerduty = std::make_unique<alerting::PagerDutyNotifier>(std::move(po));
    notifiers[alerting::kPagerDuty] = parts.pagerduty.get();
    ro.pagerduty = true;
  }
  if (!policy.slack.webhook_url.empty() || !policy.slack.webhook_url_file.empty()) {
    alerting::SlackOptions so;
    so.webhook_url = policy.slack.webhook_url;
    so.webhook_url_file = SpecPath(options_.spec_dir, policy.slack.webhook_url_file);
    parts.slack = std::make_unique<alerting::SlackNotifier>(std::move(so));
    notifiers[alerting::kSlack] = parts.slack.get();
    ro.slack = true;
  }
  if (!ro.pagerduty && !ro.slack) {
    warnings_.push_back(absl::StrCat(
        "environment ", env.name, " has no policies.alerting.pagerduty nor slack: alerts are "
        "recorded (hut alerts list), not sent"));
  }
  ro.on_firing = [&parts](const store::Alert& a) {
    ControlPlane* plane = parts.alert_reactor.load();
    if (plane == nullptr || a.service.empty()) return;
    controller::AlertSignal signal;
    signal.name = a.name;
    signal.severity = a.severity;
    if (auto v = a.labels.find("version"); v != a.labels.end() && v->is_string()) {
      signal.version = v->get<std::string>();
    }
    signal.starts_at = a.starts_at;
    signal.alert_id = a.id;
    absl::StatusOr<std::string> done = plane->ReactToAlert(a.service, signal);
    if (!done.ok()) {
      parts.log->Warn("a rollout could not react to an alert",
                      {{"service", a.service}, {"alert", a.name}, {"error", done.status().ToString()}});
    }
  };
  alerting::DispatcherOptions dopt;
  dopt.environment = env.name;
  parts.dispatcher = std::make_unique<alerting::Dispatcher>(
      *parts.store, parts.clock, parts.log->ForComponent("notify"), std::move(notifiers), dopt);
  parts.alerts = std::make_unique<alerting::AlertRouter>(
      *parts.store, parts.clock, parts.log->ForComponent("alerts"), std::move(ro),
      [d = parts.dispatcher.get()] { d->Kick(); });
  parts.dispatcher->Start([router = parts.alerts.get()](TimePoint now) { return router->Tick(now); });
  // Alertmanager's notifications (with its own token): read, tracked, routed.
  if (options_.alert_token_file.empty()) {
    HUT_ASSIGN_OR_RETURN(cp.alert_token, server::LoadOrCreateTokenFile(alert_token_file));
  } else {
    absl::StatusOr<Secret> mounted = server::ReadMountedToken(alert_token_file);
    if (!mounted.ok()) {
      return absl::Status(mounted.status().code(),
                          absl::StrCat("--alert-token-file: ", mounted.status().message()));
    }
    cp.alert_token = *std::move(mounted);
  }
  cp.alerts = [router = parts.alerts.get()](std::string_view body) -> absl::StatusOr<int> {
    HUT_ASSIGN_OR_RETURN(alerting::WebhookNotification n,
                         alerting::ParseWebhookNotification(body));
    return router->Receive(n);
  };
  cp.acknowledge = [router = parts.alerts.get()](int64_t id, const std::string& by) {
    return router->Acknowledge(id, by);
  };
  // Silences and test alerts go to the environment's Alertmanager: the local
  // runtime's, or the one --alertmanager names (the monitoring chart's).
  const bool local = options_.runtime.value_or(env.runtime) == spec::Runtime::kLocal;
  const auto alertmanager = [this, local]() -> absl::StatusOr<std::string> {
    const std::string url = alertmanager_url();
    if (url.empty()) {
      return absl::UnavailableError(
          local ? "no Alertmanager of this environment is running: hut up starts one "
                          "once the control plane runs (try again in a moment), unless "
                          "--alertmanager-port off"
                        : "this server knows no Alertmanager: start it with --alertmanager URL "
                          "(docs/kubernetes.md)");
    }
    return url;
  };
  cp.alertmanager.silence = [alertmanager, &parts](const std::vector<std::string>& matchers,
                                                   Duration length, const std::string& comment,
                                                   const std::string& by)
      -> absl::StatusOr<std::string> {
    HUT_ASSIGN_OR_RETURN(std::string url, alertmanager());
    alerting::SilenceRequest s;
    for (const std::string& text : matchers) {
      HUT_ASSIGN_OR_RETURN(s.matchers.emplace_back(), alerting::ParseMatcher(text));
    }
    s.starts_at = parts.clock.Now();
    s.ends_at = s.starts_at + length;
    s.comment = comment;
    s.created_by = by;
    HUT_ASSIGN_OR_RETURN(std::string id, alerting::CreateSilence(url, s));
    parts.log->Info("silence created", {{"silence", id}, {"by", by}, {"comment", comment}});
    return id;
  };
  cp.alertmanager.test = [alertmanager, &parts, env = env.name,
                          runbooks = policy.runbooks](const std::string& severity,
                                                      const std::string& service)
      -> absl::StatusOr<nlohmann::json> {
    HUT_ASSIGN_OR_RETURN(std::string url, alertmanager());
    const TimePoint now = parts.clock.Now();
    alerting::Labels labels = {{"alertname", "HutTestAlert"},
                               {"severity", severity},
                               {"environment", env},
                               // A new label set each time: a new alert, never a repeat.
                               {"test_id", std::to_string(now.time_since_epoch().count())}};
    if (!service.empty()) labels["service"] = service;
    const alerting::Labels annotations = {
        {"summary", absl::StrCat("Test alert (", severity, ") sent by hut alerts test",
                                 service.empty() ? "" : absl::StrCat(" for ", service))},
        {"runbook_url", absl::StrCat(runbooks, "hut-test-alert.md")}};
    HUT_RETURN_IF_ERROR(alerting::PostAlert(url, labels, annotations, now,
                                            now + std::chrono::minutes(5)));
    return nlohmann::json{{"labels", labels}, {"annotations", annotations},
                          {"alertmanager", url}};
  };
  return absl::OkStatus();
}

absl::Status Platform::OpenSecrets() {
  Parts& parts = *parts_;
  const spec::SecretBackendKind kind =
      options_.secret_backend.value_or(environment_->policies.secrets.backend);
  switch (kind) {
    case spec::SecretBackendKind::kLocal: {
      secrets::LocalBackendOptions o;
      o.file = state_ + "/secrets/store.json";
      o.key_file = state_ + "/secrets/master.key";
      o.key = Secret(options_.getenv("HUT_SECRETS_MASTER_KEY").value_or(""));
      HUT_ASSIGN_OR_RETURN(parts.secret_backend, secrets::LocalSecretBackend::Open(o, parts.clock));
      break;
    }
    case spec::SecretBackendKind::kAwsSecretsManager: {
      absl::StatusOr<aws::AwsConfig> config = aws::ConfigFromEnvironment(options_.getenv);
      if (!config.ok()) {
        return absl::Status(config.status().code(),
                            absl::StrCat("policies.secrets.backend aws-secrets-manager: ",
                                         config.status().message()));
      }
      parts.secret_backend = std::make_unique<secrets::AwsSecretsManagerBackend>(*config);
      break;
    }
  }
  parts.secrets = std::make_unique<secrets::SecretsService>(secrets::SecretsServiceOptions{
      .project = spec_.project, .environment = environment_->name,
      .backend = parts.secret_backend.get(), .store = parts.store.get(), .clock = &parts.clock});
  parts.log->Info("secrets", {{"backend", parts.secret_backend->kind()}});
  return absl::OkStatus();
}

absl::Status Platform::StartRotation(const std::string& jwt_file, const std::string& database_file,
                                     ControlPlaneOptions& cp) {
  Parts& parts = *parts_;
  if (!parts.local) {
    cp.rotate_secret = [](const std::string& name, const std::string&) -> absl::StatusOr<nlohmann::json> {
      return absl::UnimplementedError(absl::StrCat(
          "rotating ", name, " on the kubernetes runtime is not built yet (docs/secrets.md)"));
    };
    if (!parts.config_sync) return absl::OkStatus();
    // The Secrets and the ConfigMap, at once (pods need them to start), then
    // every 5 s: a hand edit lasts one such reconcile (4 GETs, no write when
    // nothing changed).
    auto sync = [this] { return SyncKubernetesConfig(); };
    if (absl::Status first = sync(); !first.ok()) {
      warnings_.push_back(absl::StrCat("kubernetes Secrets and ConfigMap: ", first.message()));
    }
    parts.rotation = std::make_unique<secrets::RotationScheduler>(
        sync, std::chrono::seconds(5), parts.clock, *parts.log);
    return absl::OkStatus();
  }
  local::LocalEnvironment* local = parts.local.get();
  const spec::SecretPolicy& policy = environment_->policies.secrets.jwt;
  secrets::JwtRotationOptions o;
  o.secrets = parts.secrets.get();
  o.clock = &parts.clock;
  o.period = policy.rotation;
  o.overlap = policy.overlap;
  o.deliver = [local, jwt_file](const Secret& keys) {
    HUT_RETURN_IF_ERROR(WritePrivateFile(jwt_file, keys.Reveal() + "\n"));
    return local->local_runtime().RefreshSecretFile(secrets::kJwtSecret);
  };
  // Every ready replica of the services that read the keys reports the kid
  // (foohut_jwt_keys{kid, active} on its /metrics, in that label order).
  o.loaded = [local, spec = &spec_](const std::string& kid, bool signing) -> absl::StatusOr<bool> {
    const std::string wanted =
        signing ? absl::StrCat("kid=\"", kid, "\",active=\"true\"") : absl::StrCat("kid=\"", kid, "\"");
    for (const spec::Service& service : spec->services) {
      if (!spec::NamesSecret(service.release, secrets::kJwtSecret)) continue;
      for (const local::LocalReplica& r : local->local_runtime().Processes(service.name)) {
        if (!r.ready) continue;
        http::ClientRequest request;
        request.port = r.port;
        request.target = "/metrics";
        absl::StatusOr<http::ClientResponse> answer = http::Fetch(request);
        if (!answer.ok() || answer->status != 200 ||
            answer->body.find(wanted) == std::string::npos) {
          return false;
        }
      }
    }
    return true;
  };
  parts.jwt_rotator = std::make_unique<secrets::JwtRotator>(std::move(o));
  if (local::PostgresServer* pg = local->database()) {
    const spec::SecretPolicy& db = environment_->policies.secrets.database;
    secrets::DatabaseRotationOptions d;
    d.secrets = parts.secrets.get();
    d.clock = &parts.clock;
    d.users = &pg->logins();
    d.period = db.rotation;
    d.overlap = db.overlap;
    // Every replica's copy, and the password file the server sets its login
    // from when it starts again.
    d.deliver = [local, pg, database_file](const Secret& credentials) {
      HUT_RETURN_IF_ERROR(
          secrets::WriteDatabaseCredentials(credentials, pg->password_file(), database_file));
      return local->local_runtime().RefreshSecretFile(secrets::kDatabaseSecret);
    };
    parts.database_rotator = std::make_unique<secrets::DatabaseRotator>(std::move(d));
  }
  // Each rotating secret, and the name of what its rotation makes current.
  struct Rotating {
    secrets::SecretRotator* rotator;
    const char* result;
  };
  std::map<std::string, Rotating> rotating = {{secrets::kJwtSecret, {parts.jwt_rotator.get(), "kid"}}};
  if (parts.database_rotator) {
    rotating[secrets::kDatabaseSecret] = {parts.database_rotator.get(), "user"};
  }
  cp.rotate_secret = [rotating](const std::string& name,
                                const std::string& by) -> absl::StatusOr<nlohmann::json> {
    const auto it = rotating.find(name);
    if (it == rotating.end()) {
      return absl::UnimplementedError(absl::StrCat(
          "rotating ", name, " is not built yet: jwt and database (with a PostgreSQL backing "
          "service) rotate (docs/secrets.md)"));
    }
    HUT_ASSIGN_OR_RETURN(std::string current, it->second.rotator->Rotate(by));
    return nlohmann::json{{"name", name}, {it->second.result, current}};
  };
  parts.rotation = std::make_unique<secrets::RotationScheduler>(
      [rotating] {
        absl::Status first;  // every rotator ticks; the first error is logged
        for (const auto& [name, r] : rotating) {
          if (absl::Status s = r.rotator->Tick(); !s.ok() && first.ok()) first = s;
        }
        return first;
      },
      std::chrono::seconds(5), parts.clock, *parts.log);
  return absl::OkStatus();
}

absl::Status Platform::SyncKubernetesConfig() {
  Parts& parts = *parts_;
  secrets::SecretsService* secrets = parts.secrets.get();
  HUT_ASSIGN_OR_RETURN(
      std::vector<kubernetes::SyncedObject> desired,
      kubernetes::DesiredObjects({.spec = spec_, .env = *environment_},
                                 [secrets](const std::string& name) -> absl::StatusOr<Secret> {
                                   HUT_ASSIGN_OR_RETURN(secrets::SecretValue v, secrets->Current(name));
                                   return v.value;
                                 }));
  HUT_ASSIGN_OR_RETURN(std::vector<kubernetes::SyncChange> changes,
                       parts.config_sync->Reconcile(desired));
  for (const kubernetes::SyncChange& c : changes) {
    HUT_RETURN_IF_ERROR(secrets->Record(
        c.created ? "secret.synced" : "secret.drift-reverted",
        absl::StrCat(c.object, " in namespace ", environment_->namespace_, ": ", c.what),
        {{"object", c.object}, {"namespace", environment_->namespace_}, {"what", c.what}}));
  }
  return absl::OkStatus();
}

absl::Status Platform::Activate() {
  Parts& parts = *parts_;
  const spec::Environment& env = *environment_;
  const std::string& state = state_;
  HUT_RETURN_IF_ERROR(OpenSecrets());
  // The runtime hands replicas this file; the backend holds the keys.
  const std::string jwt_keys = state + "/secrets/jwt-keys.json";
  const std::string database_credentials = state + "/secrets/database.json";
  HUT_RETURN_IF_ERROR(secrets::SyncJwtKeys(*parts.secrets, jwt_keys, parts.clock));

  ControlPlaneOptions cp;
  cp.secrets = parts.secrets.get();
  cp.listen = options_.listen;
  cp.tick_interval = options_.tick_interval;
  cp.scrape_interval = options_.scrape_interval;
  // A quarter of the descriptors at most for API clients: the rest stay for
  // replicas, probes, the load balancer and the store, whatever the clients do.
  cp.max_connections = std::clamp(open_files_ / 4, 16, 4096);
  cp.logs = [logs = parts.logs.get()](const logs::LogQuery& q) { return logs->Query(q); };
  const std::string alert_token_file = options_.alert_token_file.empty()
                                           ? state + "/secrets/alertmanager-token"
                                           : options_.alert_token_file;
  HUT_RETURN_IF_ERROR(StartAlerting(alert_token_file, cp));
  cp.log_lines = [logs = parts.logs.get()] {
    const logs::LogService::Stats s = logs->stats();
    return std::map<std::string, uint64_t>{
        {"received", s.received}, {"stored", s.stored}, {"dropped", s.dropped}, {"failed", s.store_errors}};
  };
  runtime::Runtime* runtime = nullptr;
  switch (options_.runtime.value_or(env.runtime)) {
    case spec::Runtime::kLocal: {
      local::LocalEnvironmentOptions lo;
      lo.state_dir = state;
      lo.spec_dir = options_.spec_dir;
      lo.sandbox = options_.sandbox;
      lo.secret_files = {{"jwt", jwt_keys}};
      for (const spec::BackingService& b : env.backing_services) {
        if (b.kind == spec::BackingKind::kPostgresql) lo.secret_files["database"] = database_credentials;
      }
      lo.sync_database = [secrets = parts.secrets.get(), database_credentials](
                             const std::string& password_file, const std::string& database) {
        return secrets::SyncDatabaseCredentials(*secrets, password_file, database_credentials,
                                                database);
      };
      lo.unsafe_fast_database = options_.unsafe_fast_database;
      lo.prometheus_port = options_.prometheus_port;
      lo.jaeger_port = options_.jaeger_port;
      lo.alertmanager_port = options_.alertmanager_port;
      lo.alert_token_file = alert_token_file;
      lo.otlp_port = options_.otlp_port;
      lo.server_logs = &parts.logs->SinkFor("");  // each line names its service
      HUT_ASSIGN_OR_RETURN(parts.local, local::LocalEnvironment::Start(
                                            spec_, env, lo, *parts.replica_log, parts.clock,
                                            *parts.log, RecordIn(*parts.store, env.name,
                                                                 parts.clock)));
      for (const std::string& w : parts.local->warnings()) warnings_.push_back(w);
      if (!options_.alertmanager.empty()) {
        warnings_.push_back("--alertmanager is for the kubernetes runtime: the local runtime "
                            "runs its own Alertmanager (--alertmanager-port)");
      }
      runtime = &parts.local->runtime();
      cp.metrics = parts.local->metrics();
      cp.dependencies = parts.local->dependencies();
      cp.series = [local = parts.local.get()] {
        return ReplicaUsageSeries(local->ReplicaUsages());
      };
      cp.traffic = [local = parts.local.get(), name = env.name](const std::string& service)
          -> absl::StatusOr<std::optional<metrics::ServiceTraffic>> {
        const std::string url = local->prometheus_url();  // "" until it runs, or without one
        if (url.empty()) return std::nullopt;
        HUT_ASSIGN_OR_RETURN(metrics::PrometheusClient client,
                             metrics::PrometheusClient::Create(url, std::chrono::seconds(1)));
        return metrics::ReadServiceTraffic(client, name, service);
      };
      break;
    }
    case spec::Runtime::kKubernetes: {
      HUT_ASSIGN_OR_RETURN(kubernetes::ClusterAccess access,
                           kubernetes::FindClusterAccess(options_.kubeconfig));
      parts.log->Info("kubernetes", {{"server", access.server},
                                     {"credentials", access.source},
                                     {"namespace", env.namespace_}});
      parts.config_api = std::make_unique<kubernetes::ApiClient>(access);
      parts.config_sync = std::make_unique<kubernetes::ConfigSync>(
          *parts.config_api, env.namespace_,
          nlohmann::json{{std::string(kubernetes::kLabelManagedBy), "hut"},
                         {std::string(kubernetes::kLabelPartOf), spec_.project}});
      HUT_ASSIGN_OR_RETURN(parts.kubernetes, kubernetes::KubernetesRuntime::Start(
                                                 spec_, env, std::move(access), parts.clock));
      runtime = parts.kubernetes.get();
      if (const std::string& am = options_.alertmanager;
          !am.empty() && !am.starts_with("http://") && !am.starts_with("https://")) {
        return absl::InvalidArgumentError(
            absl::StrCat("--alertmanager: \"", am, "\" is not an http:// or https:// URL"));
      }
      if (!options_.prometheus.empty()) {
        metrics::PrometheusSourceOptions po;
        po.url = options_.prometheus;
        po.namespace_ = env.namespace_;
        HUT_RETURN_IF_ERROR(metrics::PrometheusSource::Create(po).status());  // the URL is sound
        cp.metrics = [po, spec = &spec_](const std::string& service, int canary, int baseline)
            -> std::unique_ptr<analysis::MetricsSource> {
          metrics::PrometheusSourceOptions o = po;
          o.service = service;
          if (const spec::Service* s = spec->FindService(service)) o.queries = s->metrics;
          o.canary_revision = canary;
          o.baseline_revision = baseline;
          auto source = metrics::PrometheusSource::Create(o);
          if (!source.ok()) return nullptr;
          return std::move(*source);
        };
      } else {
        warnings_.push_back(absl::StrCat(
            "environment ", env.name, " has no --prometheus: a canary finds no metrics and "
            "is rolled back"));
      }
      break;
    }
  }
  HUT_RETURN_IF_ERROR(StartRotation(jwt_keys, database_credentials, cp));
  // Traces: the flags, else the local runtime's Jaeger.
  std::string otlp = options_.otlp_endpoint, query = options_.trace_query;
  if (parts.local) {
    if (otlp.empty()) otlp = parts.local->otlp_endpoint();
    if (query.empty()) query = parts.local->jaeger_url();
  }
  if (!query.empty() && !http::ParseHttpUrl(query).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--trace-query \"", query, "\": expected a Jaeger query URL, http://HOST:PORT"));
  }
  if (!query.empty()) {
    cp.traces = [query](const std::string& id) { return tracing::ReadTrace(query, id); };
  }
  if (!otlp.empty()) {
    tracing::ExporterOptions eo;
    eo.endpoint = otlp;
    eo.resource = {{"service.name", "hut"}, {"deployment.environment.name", env.name}};
    auto exporter = tracing::Exporter::Start(eo);
    if (!exporter.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--otlp-endpoint: ", exporter.status().message()));
    }
    parts.tracer = std::move(*exporter);
    cp.rollout_spans = [x = parts.tracer.get()](tracing::Span s) { x->Export(std::move(s)); };
  }
  HUT_ASSIGN_OR_RETURN(parts.control_plane,
                       ControlPlane::Start(spec_, env, *runtime, *parts.store, parts.clock,
                                           *parts.log, std::move(*parts.token), std::move(cp)));
  parts.control_plane->OnShutdownRequest([this] { shutdown_requested_.store(true); });
  parts.alert_reactor.store(parts.control_plane.get());
  const std::string address =
      absl::StrCat(options_.listen.host, ":", parts.control_plane->port());
  if (parts.local) {
    HUT_RETURN_IF_ERROR(parts.local->StartMonitoring(address));
    parts.local->Supervise();
  }
  std::string pointer_file;
  if (auto pointer =
          server::PointerPath(options_.home, {options_.listen.host, parts.control_plane->port()})) {
    server::ServerInfo info{address, state, token_file_, env.name, static_cast<int>(getpid())};
    if (absl::Status s = server::WritePointer(*pointer, info); s.ok()) {
      pointer_file = *pointer;
    } else {
      warnings_.push_back(absl::StrCat("the CLI will not find this server by itself: ",
                                       s.message()));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    address_ = address;
    pointer_file_ = pointer_file;
    standby_.clear();
  }
  parts.log->Info("ready", {{"address", address}, {"environment", env.name}});
  return absl::OkStatus();
}

}  // namespace hut::platform

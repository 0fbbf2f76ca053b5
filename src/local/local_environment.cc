#include "src/local/local_environment.h"

#include <pwd.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "src/common/ports.h"
#include "src/common/status.h"
#include "src/local/canary_source.h"
#include "src/local/exporter.h"
#include "src/local/haproxy.h"
#include "src/local/jaeger_server.h"
#include "src/local/postgres_server.h"
#include "src/local/prometheus_server.h"
#include "src/local/redis_server.h"
#include "src/local/server_log_lines.h"
#include "src/local/replica_traffic.h"
#include "src/local/server_util.h"
#include "src/monitoring/alertmanager_config.h"
#include "src/monitoring/prometheus_config.h"
#include "src/monitoring/prometheus_rules.h"

namespace hut::local {
namespace fs = std::filesystem;

namespace {

// A server that did not start, and the flag that would help.
absl::Status WithPortHint(const absl::Status& s, const char* what, const char* flag,
                          uint16_t port) {
  return absl::Status(s.code(), absl::StrCat(what, " (", flag, " ", port,
                                             " picks another port, off runs none): ",
                                             s.message()));
}

// Where PostgreSQL keeps `name`'s data: <state>/backing/<name>, or a folder
// the "postgres" user can reach when it cannot reach the state folder (we run
// the server as that user when we are root).
absl::StatusOr<std::string> PostgresDataDir(const std::string& state, const std::string& name,
                                            std::vector<std::string>* warnings) {
  const std::string in_state = absl::StrCat(state, "/backing/", name);
  const passwd* pg = geteuid() == 0 ? getpwnam("postgres") : nullptr;
  if (pg == nullptr) return in_state;
  std::string note;
  HUT_ASSIGN_OR_RETURN(std::string dir,
                       ReachableFolder(in_state, pg->pw_uid, pg->pw_gid, &note));
  if (!note.empty()) warnings->push_back(absl::StrCat("PostgreSQL data: ", note));
  return dir;
}

// The load balancer and the backing services each service's release names,
// as the supervisor sees them. A service is blocked while one is down and,
// once it is back, for as long as the service's checks need to pass again
// (its failure threshold of health intervals, and one more).
class LocalDependencies final : public controller::Dependencies {
 public:
  static constexpr char kLoadBalancer[] = "load-balancer";

  LocalDependencies(const spec::Spec& spec, const spec::Environment& env,
                    const Supervisor& supervisor, const Clock& clock)
      : supervisor_(supervisor), clock_(clock) {
    for (const spec::ServiceDeployment& d : env.services) {
      const spec::Service& svc = *spec.FindService(d.service);
      Needs& needs = needs_[svc.name];
      needs.names.push_back(kLoadBalancer);
      for (const std::string& b : spec::BackingServicesNamed(svc.release)) {
        needs.names.push_back(b);
      }
      needs.settle = svc.health.interval * (spec::HealthCheckFailures(env.policies, svc) + 1) +
                     svc.health.timeout;
    }
  }

  std::optional<std::string> Blocked(const std::string& service) const override {
    auto it = needs_.find(service);
    if (it == needs_.end()) return std::nullopt;
    for (const std::string& name : it->second.names) {
      std::optional<SupervisedState> state = supervisor_.State(name);
      if (!state) continue;
      const std::string what =
          name == kLoadBalancer ? std::string("the load balancer")
                                : absl::StrCat("backing service ", name);
      if (!state->up) {
        return absl::StrCat(what, " is down (", state->last_down, "); hut is restarting it");
      }
      if (state->restarts > 0 && clock_.Now() - state->since < it->second.settle) {
        return absl::StrCat(what, " is back; waiting for the replicas' checks to pass again");
      }
    }
    return std::nullopt;
  }

 private:
  struct Needs {
    std::vector<std::string> names;
    Duration settle{0};
  };
  const Supervisor& supervisor_;
  const Clock& clock_;
  std::map<std::string, Needs> needs_;
};

}  // namespace

LocalEnvironment::LocalEnvironment(const spec::Spec& spec, const spec::Environment& environment,
                                   const Clock& clock, Logger logger)
    : spec_(spec), environment_(environment), clock_(clock), logger_(std::move(logger)) {}

LocalEnvironment::~LocalEnvironment() {
  // Before anything it watches is stopped on purpose.
  if (supervisor_) supervisor_->Stop();
  {
    absl::MutexLock lock(&targets_mu_);
    targets_stopped_ = true;  // replicas stopping below leave the file as it is
  }
  runtime_.reset();  // drains and stops every replica
  if (prometheus_) prometheus_->Stop();
  if (alertmanager_) alertmanager_->Stop();
  if (jaeger_) jaeger_->Stop();
  exporters_.clear();
  if (haproxy_) haproxy_->Stop();
  haproxy_.reset();
  for (auto& r : redis_) r->Stop();
  for (auto& p : postgres_) p->Stop();
}

absl::StatusOr<std::unique_ptr<LocalEnvironment>> LocalEnvironment::Start(
    const spec::Spec& spec, const spec::Environment& environment,
    LocalEnvironmentOptions options, LogSink& replica_log, const Clock& clock, Logger logger,
    std::function<void(const SupervisorEvent&)> on_event) {
  std::unique_ptr<LocalEnvironment> env(
      new LocalEnvironment(spec, environment, clock, std::move(logger)));
  HUT_ASSIGN_OR_RETURN(auto backing, env->StartBackingServices(options));
  if (options.server_logs) {
    HUT_RETURN_IF_ERROR(env->FollowServerLogs(options.state_dir, *options.server_logs));
  }
  HUT_RETURN_IF_ERROR(env->StartLoadBalancer(options.state_dir));
  LocalRuntimeOptions ro;
  HUT_ASSIGN_OR_RETURN(ro.env, env->StartTracing(options));
  ro.environment = environment.name;
  ro.state_dir = options.state_dir;
  ro.working_dir = fs::absolute(options.spec_dir.empty() ? "." : options.spec_dir)
                       .lexically_normal()
                       .string();
  ro.backing = std::move(backing);
  ro.secret_files = options.secret_files;
  ro.sandbox = options.sandbox;
  env->prometheus_port_ = options.prometheus_port;
  env->alertmanager_port_ = options.alertmanager_port;
  env->alert_token_file_ = options.alert_token_file;
  env->prometheus_dir_ = options.state_dir + "/prometheus";
  if (env->prometheus_port_) {
    LocalEnvironment* self = env.get();
    ro.on_replicas_changed = [self] { self->WriteReplicaTargets(); };
  }
  env->runtime_ = std::make_unique<LocalRuntime>(ro, *env->haproxy_, replica_log, clock,
                                                 env->logger_.ForComponent("runtime"));
  for (const spec::ServiceDeployment& d : environment.services) {
    const spec::Service& svc = *spec.FindService(d.service);
    // Canary analysis reads what HAProxy saw of each replica and the
    // replica's own latency histogram, probes left out.
    TrafficOptions traffic;
    traffic.latency_filter.exclude["route"] = {svc.health.liveness_path,
                                               svc.health.readiness_path, traffic.metrics_path};
    env->traffic_[svc.name] = std::make_unique<TrafficObserver>(*env->haproxy_, traffic);
  }
  env->MakeSupervisor(std::move(on_event));
  return env;
}

runtime::Runtime& LocalEnvironment::runtime() { return *runtime_; }
LocalRuntime& LocalEnvironment::local_runtime() { return *runtime_; }

controller::MetricsSourceFactory LocalEnvironment::metrics() {
  return [this](const std::string& service, int canary,
                int baseline) -> std::unique_ptr<analysis::MetricsSource> {
    auto observer = traffic_.find(service);
    if (observer == traffic_.end()) return nullptr;
    return std::make_unique<ReplicaTrafficSource>(*runtime_, *observer->second, service, canary,
                                                  baseline);
  };
}

const controller::Dependencies* LocalEnvironment::dependencies() const {
  return dependencies_.get();
}

void LocalEnvironment::Supervise() { supervisor_->Start(); }

std::string LocalEnvironment::alertmanager_url() const {
  absl::MutexLock lock(&url_mu_);
  return alertmanager_url_;
}

std::string LocalEnvironment::prometheus_url() const {
  absl::MutexLock lock(&url_mu_);
  return prometheus_url_;
}

absl::StatusOr<std::map<std::string, std::string>> LocalEnvironment::StartTracing(
    const LocalEnvironmentOptions& options) {
  if (!options.jaeger_port) return std::map<std::string, std::string>{};
  absl::StatusOr<std::string> binary = FindJaeger();
  if (!binary.ok()) {
    warnings_.push_back(absl::StrCat("traces are off: ", binary.status().message()));
    return std::map<std::string, std::string>{};
  }
  JaegerOptions o;
  o.binary = *binary;
  o.dir = options.state_dir + "/jaeger";
  HUT_ASSIGN_OR_RETURN(o.query_port, PortOrFree(*options.jaeger_port));
  HUT_ASSIGN_OR_RETURN(o.otlp_port, PortOrFree(options.otlp_port));
  auto server = JaegerServer::Start(o);
  if (!server.ok()) {
    return absl::Status(server.status().code(),
                        absl::StrCat("Jaeger (--jaeger-port ", o.query_port, ", --otlp-port ", o.otlp_port,
                                     " pick other ports, --jaeger-port off runs none): ",
                                     server.status().message()));
  }
  jaeger_ = std::move(*server);
  logger_.Info("jaeger", {{"query", jaeger_->query_url()}, {"otlp", jaeger_->otlp_endpoint()}});
  return std::map<std::string, std::string>{
      {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", jaeger_->otlp_endpoint()},
      {"OTEL_SERVICE_NAME", "{{service}}"}};
}

std::string LocalEnvironment::jaeger_url() const { return jaeger_ ? jaeger_->query_url() : ""; }
std::string LocalEnvironment::otlp_endpoint() const { return jaeger_ ? jaeger_->otlp_endpoint() : ""; }

absl::Status LocalEnvironment::StartMonitoring(const std::string& hut_address) {
  if (!prometheus_port_) return absl::OkStatus();
  std::error_code ec;
  fs::create_directories(prometheus_dir_, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", prometheus_dir_, ": ", ec.message()));
  }
  monitoring::PrometheusConfigOptions c;
  c.environment = environment_.name;
  HUT_ASSIGN_OR_RETURN(c.targets, StartExporters());
  c.targets.push_back(
      {.job = "hut", .address = hut_address, .metrics_path = "/metrics", .labels = {}});
  c.targets.push_back({.job = "load-balancer",
                       .address = absl::StrCat("127.0.0.1:", haproxy_->stats_port()),
                       .metrics_path = "/metrics",
                       .labels = {}});
  if (alertmanager_port_) {
    HUT_RETURN_IF_ERROR(StartAlertmanager(hut_address));
    c.alertmanagers = {absl::StrCat("127.0.0.1:", alertmanager_->port())};
  }
  c.replicas_file = prometheus_dir_ + "/replicas.json";
  c.rules_file = prometheus_dir_ + "/rules.yml";
  HUT_ASSIGN_OR_RETURN(std::string rules, monitoring::PrometheusRules(spec_, environment_.name));
  HUT_RETURN_IF_ERROR(WriteFileAtomically(c.rules_file, rules));
  WriteReplicaTargets();
  PrometheusOptions o;
  o.dir = prometheus_dir_;
  HUT_ASSIGN_OR_RETURN(o.port, PortOrFree(*prometheus_port_));
  o.config = monitoring::PrometheusConfig(c);
  auto server = PrometheusServer::Start(o);
  if (!server.ok()) return WithPortHint(server.status(), "Prometheus", "--prometheus-port", o.port);
  prometheus_ = std::move(*server);
  Supervise("prometheus", *prometheus_, [this](std::string url) {
    absl::MutexLock lock(&url_mu_);
    prometheus_url_ = std::move(url);
  });
  return absl::OkStatus();
}

void LocalEnvironment::Supervise(const std::string& name, ReloadableServer& server,
                                 const std::function<void(std::string)>& publish_url) {
  publish_url(server.url());
  supervisor_->Add({name, [&server] { return server.Down(); },
                    [&server] { return server.Restart(); }});
  logger_.Info(name + " ready", {{"url", server.url()}});
}

absl::Status LocalEnvironment::StartAlertmanager(const std::string& hut_address) {
  AlertmanagerOptions o;
  o.dir = fs::path(prometheus_dir_).parent_path().string() + "/alertmanager";
  HUT_ASSIGN_OR_RETURN(o.port, PortOrFree(*alertmanager_port_));
  HUT_ASSIGN_OR_RETURN(
      o.config, monitoring::AlertmanagerConfigFor(
                    spec_, environment_.name,
                    absl::StrCat("http://", hut_address, monitoring::kAlertWebhookPath),
                    alert_token_file_));
  auto server = AlertmanagerServer::Start(o);
  if (!server.ok()) {
    return WithPortHint(server.status(), "Alertmanager", "--alertmanager-port", o.port);
  }
  alertmanager_ = std::move(*server);
  Supervise("alertmanager", *alertmanager_, [this](std::string url) {
    absl::MutexLock lock(&url_mu_);
    alertmanager_url_ = std::move(url);
  });
  return absl::OkStatus();
}

absl::StatusOr<std::vector<monitoring::StaticTarget>> LocalEnvironment::StartExporters() {
  std::vector<monitoring::StaticTarget> targets;
  const auto start = [&](std::string name, std::vector<std::string> argv,
                         std::string listen_flag, std::map<std::string, std::string> env,
                         std::string job, std::map<std::string, std::string> labels) {
    ExporterOptions o;
    o.name = name;
    o.argv = std::move(argv);
    o.listen_flag = std::move(listen_flag);
    o.env = std::move(env);
    HUT_ASSIGN_OR_RETURN(o.port, FreeLoopbackPort());
    o.log_file = absl::StrCat(prometheus_dir_, "/", name, ".log");
    HUT_ASSIGN_OR_RETURN(std::unique_ptr<Exporter> e, Exporter::Start(std::move(o)));
    Exporter* exporter = e.get();
    supervisor_->Add({name, [exporter] { return exporter->Down(); },
                      [exporter] { return exporter->Restart(); }});
    targets.push_back({.job = std::move(job), .address = e->address(), .metrics_path = "/metrics",
                       .labels = std::move(labels)});
    exporters_.push_back(std::move(e));
    return absl::OkStatus();
  };
  // This machine: CPU, memory, disks (the LowDiskSpace alert).
  HUT_RETURN_IF_ERROR(start("node-exporter", {"prometheus-node-exporter"},
                            "--web.listen-address=", {}, "node", {}));
  size_t pg_index = 0, redis_index = 0;
  for (const spec::BackingService& b : environment_.backing_services) {
    if (b.kind == spec::BackingKind::kPostgresql) {
      const PostgresServer& pg = *postgres_[pg_index++];
      // Its own login (the application's rotates), the password from its
      // libpq password file, not the command line.
      HUT_RETURN_IF_ERROR(start(b.name + "-exporter", {"prometheus-postgres-exporter"},
                                "--web.listen-address=",
                                {{"DATA_SOURCE_NAME", pg.monitor_url() + "?sslmode=disable"},
                                 {"PGPASSFILE", pg.monitor_password_file()}},
                                "postgres", {{"backing", b.name}}));
    } else {
      const RedisServer& redis = *redis_[redis_index++];
      HUT_RETURN_IF_ERROR(start(b.name + "-exporter", {"prometheus-redis-exporter"},
                                "-web.listen-address=",
                                {{"REDIS_ADDR", absl::StrCat("redis://127.0.0.1:", redis.port())},
                                 {"REDIS_USER", redis.user()},
                                 {"REDIS_PASSWORD", redis.password().Reveal()}},
                                "redis", {{"backing", b.name}}));
    }
  }
  return targets;
}

absl::Status LocalEnvironment::FollowServerLogs(const std::string& state, LogSink& sink) {
  server_logs_ = std::make_unique<LogFollower>(state + "/logs/followed.json", sink, clock_);
  const auto as = [](auto convert, ServerLogOrigin origin) {
    return [convert, origin = std::move(origin)](std::string_view line) {
      return convert(line, origin);
    };
  };
  const auto haproxy = as(HaproxyLogLine, {.service = "load-balancer", .component = "haproxy"});
  const std::string lb_dir = state + "/haproxy";
  std::error_code ec;
  fs::create_directories(lb_dir, ec);
  HUT_ASSIGN_OR_RETURN(lb_log_, LogSocket::Open(lb_dir + "/log.sock", haproxy, sink));
  server_logs_->Follow(lb_dir + "/haproxy.log", haproxy);  // the master's messages
  size_t pg_index = 0, redis_index = 0;
  for (const spec::BackingService& b : environment_.backing_services) {
    if (b.kind == spec::BackingKind::kPostgresql) {
      server_logs_->Follow(postgres_[pg_index++]->json_log_file(),
                           as(PostgresLogLine, {.service = b.name, .component = "postgresql"}));
    } else {
      server_logs_->Follow(redis_[redis_index++]->log_file(),
                           as(RedisLogLine, {.service = b.name, .component = "redis"}));
    }
  }
  server_logs_->Start();
  return absl::OkStatus();
}

std::vector<LocalEnvironment::ReplicaUsage> LocalEnvironment::ReplicaUsages() const {
  std::vector<ReplicaUsage> out;
  const ProcessTable table = ProcessTable::Read();
  for (const spec::ServiceDeployment& d : environment_.services) {
    for (const LocalReplica& r : runtime_->Processes(d.service)) {
      if (r.pid <= 0) continue;  // waiting to restart
      out.push_back({.service = d.service, .version = r.version, .replica = r.name,
                     .revision = r.revision, .usage = table.Usage(r.pid)});
    }
  }
  return out;
}

void LocalEnvironment::WriteReplicaTargets() {
  absl::MutexLock lock(&targets_mu_);
  if (targets_stopped_ || !runtime_) return;
  std::vector<monitoring::ReplicaTarget> targets;
  for (const spec::ServiceDeployment& d : environment_.services) {
    for (const LocalReplica& r : runtime_->Processes(d.service)) {
      targets.push_back({.address = absl::StrCat(r.address, ":", r.port),
                         .service = d.service,
                         .version = r.version,
                         .revision = r.revision,
                         .replica = r.name});
    }
  }
  const std::string file = prometheus_dir_ + "/replicas.json";
  if (absl::Status s = WriteFileAtomically(file, monitoring::ReplicaTargets(environment_.name, targets));
      !s.ok()) {
    logger_.Warn("prometheus targets not written", {{"error", std::string(s.message())}});
  }
}

absl::StatusOr<std::map<std::string, BackingAccess>> LocalEnvironment::StartBackingServices(
    const LocalEnvironmentOptions& options) {
  const std::string& state = options.state_dir;
  // Standing in for RDS and ElastiCache.
  std::map<std::string, BackingAccess> backing;
  for (const spec::BackingService& b : environment_.backing_services) {
    HUT_ASSIGN_OR_RETURN(uint16_t port, FreeLoopbackPort());
    if (b.kind == spec::BackingKind::kPostgresql) {
      PostgresOptions o;
      HUT_ASSIGN_OR_RETURN(o.data_dir, PostgresDataDir(state, b.name, &warnings_));
      o.port = port;
      o.database = spec_.project;
      o.user = spec_.project;
      o.unsafe_no_fsync = options.unsafe_fast_database;
      for (const std::string& ext : b.extensions) {
        warnings_.push_back(absl::StrCat(
            "backing service ", b.name, ": extension ", ext,
            " is not installed locally (Debian 12 has no package for it); it is skipped"));
      }
      o.password_file = o.data_dir + ".pgpass";  // PostgresServer's default, named for the sync
      const bool first = postgres_.empty() && options.sync_database;
      if (first) {
        if (absl::Status synced = options.sync_database(o.password_file, o.database); !synced.ok()) {
          return absl::Status(synced.code(), absl::StrCat("backing service ", b.name,
                                                          " (PostgreSQL) credentials: ",
                                                          synced.message()));
        }
      }
      auto server = PostgresServer::Start(o);
      if (!server.ok()) {
        return absl::Status(server.status().code(),
                            absl::StrCat("backing service ", b.name, " (PostgreSQL): ",
                                         server.status().message()));
      }
      backing[b.name] = {.url = (*server)->base_url(),
                         .password_file = (*server)->password_file(),
                         .passfile_in_url = true};
      postgres_.push_back(std::move(*server));
      if (first) HUT_RETURN_IF_ERROR(options.sync_database(o.password_file, o.database));
    } else {
      RedisOptions o;
      o.dir = absl::StrCat(state, "/backing/", b.name);
      o.port = port;
      auto server = RedisServer::Start(o);
      if (!server.ok()) {
        return absl::Status(server.status().code(),
                            absl::StrCat("backing service ", b.name, " (Redis): ",
                                         server.status().message()));
      }
      backing[b.name] = {.url = (*server)->url(), .password_file = (*server)->password_file()};
      redis_.push_back(std::move(*server));
    }
    logger_.Info("backing service ready", {{"name", b.name}, {"url", backing[b.name].url}});
  }
  return backing;
}

absl::Status LocalEnvironment::StartLoadBalancer(const std::string& state) {
  // One frontend per service of the environment.
  HaproxyOptions lb;
  lb.dir = state + "/haproxy";
  if (lb_log_) lb.log_socket = lb_log_->path();
  HUT_ASSIGN_OR_RETURN(lb.stats_port, FreeLoopbackPort());
  for (const spec::ServiceDeployment& d : environment_.services) {
    const spec::Service& svc = *spec_.FindService(d.service);
    lb.services.push_back({.name = svc.name,
                           .port = static_cast<uint16_t>(svc.port),
                           .health_path = svc.health.readiness_path,
                           .check_interval = svc.health.interval,
                           .fall = spec::HealthCheckFailures(environment_.policies, svc)});
    endpoints_.push_back({svc.name, absl::StrCat("http://127.0.0.1:", svc.port)});
  }
  auto haproxy = Haproxy::Start(lb);
  if (!haproxy.ok()) {
    return absl::Status(haproxy.status().code(),
                        absl::StrCat("load balancer (HAProxy): ", haproxy.status().message()));
  }
  haproxy_ = std::move(*haproxy);
  logger_.Info("load balancer ready", {{"pid", haproxy_->pid()}});
  return absl::OkStatus();
}

void LocalEnvironment::MakeSupervisor(std::function<void(const SupervisorEvent&)> on_event) {
  // HAProxy, PostgreSQL and Redis are watched like replicas: one that dies
  // is restarted with backoff, and its death and restart are events.
  std::vector<Supervised> supervised;
  Haproxy* lb = haproxy_.get();
  supervised.push_back({LocalDependencies::kLoadBalancer, [lb] { return lb->Down(); },
                        [lb] { return lb->Restart(); }});
  size_t pg_index = 0, redis_index = 0;
  for (const spec::BackingService& b : environment_.backing_services) {
    if (b.kind == spec::BackingKind::kPostgresql) {
      PostgresServer* server = postgres_[pg_index++].get();
      supervised.push_back(
          {b.name, [server] { return server->Down(); }, [server] { return server->Restart(); }});
    } else {
      RedisServer* server = redis_[redis_index++].get();
      supervised.push_back(
          {b.name, [server] { return server->Down(); }, [server] { return server->Restart(); }});
    }
  }
  if (jaeger_) {  // not a dependency of rollouts: watched and restarted only
    JaegerServer* jaeger = jaeger_.get();
    supervised.push_back({"jaeger", [jaeger] { return jaeger->Down(); },
                          [jaeger] { return jaeger->Restart(); }});
  }
  supervisor_ = std::make_unique<Supervisor>(std::move(supervised), clock_,
                                             logger_.ForComponent("supervisor"),
                                             std::move(on_event));
  dependencies_ = std::make_unique<LocalDependencies>(spec_, environment_, *supervisor_, clock_);
}

}  // namespace hut::local

#include "src/platform/local_platform.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "src/common/ports.h"
#include "src/common/resources.h"
#include "src/common/secret.h"
#include "src/common/status.h"
#include "src/controller/service_worker.h"
#include "src/http/server.h"
#include "src/local/canary_source.h"
#include "src/local/haproxy.h"
#include "src/local/local_runtime.h"
#include "src/local/postgres_server.h"
#include "src/local/redis_server.h"
#include "src/local/replica_traffic.h"
#include "src/local/server_util.h"
#include "src/local/supervisor.h"
#include "src/secrets/jwt_keys.h"
#include "src/server/control_api.h"
#include "src/store/sqlite_store.h"

namespace hut::platform {
namespace fs = std::filesystem;

namespace {

// A LogSink appending to a file it owns.
class FileLogSink final : public LogSink {
 public:
  static absl::StatusOr<std::unique_ptr<FileLogSink>> Open(const std::string& path,
                                                          LogSink* echo) {
    FILE* f = std::fopen(path.c_str(), "ae");  // e: O_CLOEXEC
    if (f == nullptr) {
      return absl::InternalError(absl::StrCat("cannot open log file ", path, ": ",
                                              std::strerror(errno)));
    }
    return std::unique_ptr<FileLogSink>(new FileLogSink(f, echo));
  }
  ~FileLogSink() override { std::fclose(file_); }
  void Write(std::string_view line) override {
    stream_.Write(line);
    if (echo_ != nullptr) echo_->Write(line);
  }

 private:
  FileLogSink(FILE* f, LogSink* echo) : file_(f), stream_(f), echo_(echo) {}
  FILE* file_;
  StreamLogSink stream_;
  LogSink* echo_;
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
                       local::ReachableFolder(in_state, pg->pw_uid, pg->pw_gid, &note));
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
                    const local::Supervisor& supervisor, const Clock& clock)
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
      std::optional<local::SupervisedState> state = supervisor_.State(name);
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
  const local::Supervisor& supervisor_;
  const Clock& clock_;
  std::map<std::string, Needs> needs_;
};

}  // namespace

// Everything that runs, in start order; destroyed in reverse.
struct LocalPlatform::Parts {
  RealClock clock;
  int lock_fd = -1;
  std::unique_ptr<FileLogSink> hut_log;
  std::unique_ptr<FileLogSink> replica_log;
  std::optional<Logger> log;
  std::vector<std::unique_ptr<local::PostgresServer>> postgres;
  std::vector<std::unique_ptr<local::RedisServer>> redis;
  std::unique_ptr<local::Haproxy> haproxy;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<local::Supervisor> supervisor;
  std::unique_ptr<LocalDependencies> dependencies;
  std::unique_ptr<local::LocalRuntime> runtime;
  std::map<std::string, std::unique_ptr<local::TrafficObserver>> traffic;  // by service
  std::map<std::string, std::unique_ptr<controller::ServiceWorker>> workers;
  std::unique_ptr<server::ControlApi> api;
  std::unique_ptr<http::Server> http;

  ~Parts() {
    if (http) http->Shutdown(std::chrono::milliseconds(2000));
    http.reset();
    api.reset();
    workers.clear();
    // Before anything it watches is stopped on purpose.
    if (supervisor) supervisor->Stop();
    runtime.reset();  // drains and stops every replica
    if (haproxy) haproxy->Stop();
    haproxy.reset();
    store.reset();
    for (auto& r : redis) r->Stop();
    for (auto& p : postgres) p->Stop();
    redis.clear();
    postgres.clear();
    if (log) log->Info("stopped");
    if (lock_fd >= 0) close(lock_fd);
  }
};

LocalPlatform::LocalPlatform() : parts_(std::make_unique<Parts>()) {}
LocalPlatform::~LocalPlatform() { Stop(); }

store::Store& LocalPlatform::store() { return *parts_->store; }

void LocalPlatform::Stop() {
  if (stopped_) return;
  stopped_ = true;
  parts_.reset();
  if (!pointer_file_.empty()) {  // last: `hut down` reads it until the end
    std::error_code ec;
    fs::remove(pointer_file_, ec);
  }
}

absl::StatusOr<std::unique_ptr<LocalPlatform>> LocalPlatform::Start(spec::Spec spec,
                                                                    PlatformOptions options) {
  std::unique_ptr<LocalPlatform> p(new LocalPlatform());
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
  HUT_ASSIGN_OR_RETURN(parts.hut_log, FileLogSink::Open(state + "/logs/hut.log", options.log_echo));
  HUT_ASSIGN_OR_RETURN(parts.replica_log, FileLogSink::Open(state + "/logs/replicas.log", nullptr));
  parts.log.emplace(*parts.hut_log, parts.clock, "hut");
  const int open_files = RaiseOpenFileLimit();
  parts.log->Info("starting",
                  {{"environment", env.name}, {"state_dir", state}, {"open_file_limit", open_files}});

  HUT_ASSIGN_OR_RETURN(Secret token, server::LoadOrCreateToken(state));
  p->token_file_ = absl::StrCat(state, "/", server::kTokenFileName);
  HUT_ASSIGN_OR_RETURN(auto backing, p->StartBackingServices(state, options));
  HUT_RETURN_IF_ERROR(p->StartLoadBalancer(state));
  HUT_ASSIGN_OR_RETURN(parts.store, store::SqliteStore::Open(state + "/hut.db", parts.clock));
  const std::string jwt_keys = state + "/secrets/jwt-keys.json";
  HUT_RETURN_IF_ERROR(secrets::EnsureJwtKeys(jwt_keys, parts.clock));

  local::LocalRuntimeOptions ro;
  ro.environment = env.name;
  ro.state_dir = state;
  ro.working_dir = fs::absolute(options.spec_dir.empty() ? "." : options.spec_dir)
                       .lexically_normal()
                       .string();
  ro.backing = std::move(backing);
  ro.secret_files = {{"jwt", jwt_keys}};
  ro.sandbox = options.sandbox;
  parts.runtime = std::make_unique<local::LocalRuntime>(
      ro, *parts.haproxy, *parts.replica_log, parts.clock, parts.log->ForComponent("runtime"));

  p->StartSupervisor();
  parts.api = std::make_unique<server::ControlApi>(
      env, p->StartWorkers(options), *parts.runtime, *parts.store, std::move(token),
      parts.log->ForComponent("api"), parts.dependencies.get());
  parts.supervisor->Start();
  HUT_RETURN_IF_ERROR(p->StartApi(options, open_files, state));
  parts.log->Info("ready", {{"address", p->address_}, {"environment", env.name}});
  return p;
}

absl::StatusOr<std::map<std::string, local::BackingAccess>> LocalPlatform::StartBackingServices(
    const std::string& state, const PlatformOptions& options) {
  // Standing in for RDS and ElastiCache.
  Parts& parts = *parts_;
  std::map<std::string, local::BackingAccess> backing;
  for (const spec::BackingService& b : environment_->backing_services) {
    HUT_ASSIGN_OR_RETURN(uint16_t port, FreeLoopbackPort());
    if (b.kind == spec::BackingKind::kPostgresql) {
      local::PostgresOptions o;
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
      auto server = local::PostgresServer::Start(o);
      if (!server.ok()) {
        return absl::Status(server.status().code(),
                            absl::StrCat("backing service ", b.name, " (PostgreSQL): ",
                                         server.status().message()));
      }
      backing[b.name] = {.url = (*server)->base_url(),
                         .password_file = (*server)->password_file(),
                         .passfile_in_url = true};
      parts.postgres.push_back(std::move(*server));
    } else {
      local::RedisOptions o;
      o.dir = absl::StrCat(state, "/backing/", b.name);
      o.port = port;
      auto server = local::RedisServer::Start(o);
      if (!server.ok()) {
        return absl::Status(server.status().code(),
                            absl::StrCat("backing service ", b.name, " (Redis): ",
                                         server.status().message()));
      }
      backing[b.name] = {.url = (*server)->url(), .password_file = (*server)->password_file()};
      parts.redis.push_back(std::move(*server));
    }
    parts.log->Info("backing service ready", {{"name", b.name}, {"url", backing[b.name].url}});
  }
  return backing;
}

absl::Status LocalPlatform::StartLoadBalancer(const std::string& state) {
  // One frontend per service of the environment.
  local::HaproxyOptions lb;
  lb.dir = state + "/haproxy";
  HUT_ASSIGN_OR_RETURN(lb.stats_port, FreeLoopbackPort());
  for (const spec::ServiceDeployment& d : environment_->services) {
    const spec::Service& svc = *spec_.FindService(d.service);
    lb.services.push_back({.name = svc.name,
                           .port = static_cast<uint16_t>(svc.port),
                           .health_path = svc.health.readiness_path,
                           .check_interval = svc.health.interval,
                           .fall = spec::HealthCheckFailures(environment_->policies, svc)});
    endpoints_.push_back({svc.name, absl::StrCat("http://127.0.0.1:", svc.port)});
  }
  auto haproxy = local::Haproxy::Start(lb);
  if (!haproxy.ok()) {
    return absl::Status(haproxy.status().code(),
                        absl::StrCat("load balancer (HAProxy): ", haproxy.status().message()));
  }
  parts_->haproxy = std::move(*haproxy);
  parts_->log->Info("load balancer ready", {{"pid", parts_->haproxy->pid()}});
  return absl::OkStatus();
}

void LocalPlatform::StartSupervisor() {
  // HAProxy, PostgreSQL and Redis are watched like replicas: one that dies
  // is restarted with backoff, and its death and restart are events.
  Parts& parts = *parts_;
  std::vector<local::Supervised> supervised;
  local::Haproxy* lb = parts.haproxy.get();
  supervised.push_back({LocalDependencies::kLoadBalancer, [lb] { return lb->Down(); },
                        [lb] { return lb->Restart(); }});
  size_t pg_index = 0, redis_index = 0;
  for (const spec::BackingService& b : environment_->backing_services) {
    if (b.kind == spec::BackingKind::kPostgresql) {
      local::PostgresServer* server = parts.postgres[pg_index++].get();
      supervised.push_back(
          {b.name, [server] { return server->Down(); }, [server] { return server->Restart(); }});
    } else {
      local::RedisServer* server = parts.redis[redis_index++].get();
      supervised.push_back(
          {b.name, [server] { return server->Down(); }, [server] { return server->Restart(); }});
    }
  }
  store::Store* store = parts.store.get();
  const std::string env_name = environment_->name;
  parts.supervisor = std::make_unique<local::Supervisor>(
      std::move(supervised), parts.clock, parts.log->ForComponent("supervisor"),
      [store, env_name, clock = &parts.clock](const local::SupervisorEvent& e) {
        store::Event event;
        event.at = clock->Now();
        event.environment = env_name;
        event.service = e.name;
        event.type = e.Type();
        event.message = e.Message();
        event.data = {{"name", e.name}, {"detail", e.detail}, {"restarts", e.restarts}};
        (void)store->AppendEvent(std::move(event));
      });
  parts.dependencies =
      std::make_unique<LocalDependencies>(spec_, *environment_, *parts.supervisor, parts.clock);
}

std::map<std::string, controller::ServiceWorker*> LocalPlatform::StartWorkers(
    const PlatformOptions& options) {
  Parts& parts = *parts_;
  std::map<std::string, controller::ServiceWorker*> workers;
  for (const spec::ServiceDeployment& d : environment_->services) {
    const spec::Service& svc = *spec_.FindService(d.service);
    // Canary analysis reads what HAProxy saw of each replica and the
    // replica's own latency histogram, probes left out.
    local::TrafficOptions traffic;
    traffic.latency_filter.exclude["route"] = {svc.health.liveness_path,
                                               svc.health.readiness_path, traffic.metrics_path};
    auto& observer = parts.traffic[svc.name] =
        std::make_unique<local::TrafficObserver>(*parts.haproxy, traffic);
    controller::RolloutAnalysisOptions analysis;
    analysis.scrape_interval = options.scrape_interval;
    analysis.metrics = [runtime = parts.runtime.get(), observer = observer.get()](
                           const std::string& service, int canary, int baseline) {
      return std::make_unique<local::ReplicaTrafficSource>(*runtime, *observer, service, canary,
                                                           baseline);
    };
    auto controller = std::make_unique<controller::ServiceController>(
        spec_, *environment_, svc, *parts.runtime, *parts.store, parts.clock,
        parts.log->ForComponent("controller"), std::move(analysis), parts.dependencies.get());
    auto worker = std::make_unique<controller::ServiceWorker>(
        std::move(controller), options.tick_interval, parts.log->ForComponent("worker"));
    workers[svc.name] = worker.get();
    parts.workers[svc.name] = std::move(worker);
  }
  return workers;
}

absl::Status LocalPlatform::StartApi(const PlatformOptions& options, int open_files,
                                     const std::string& state) {
  Parts& parts = *parts_;
  parts.api->OnShutdownRequest([this] { shutdown_requested_.store(true); });
  http::ServerOptions so;
  so.address = options.listen.host;
  so.port = options.listen.port;
  // A quarter of the descriptors at most for API clients: the rest stay for
  // replicas, probes, the load balancer and the store, whatever the clients do.
  so.max_connections = std::clamp(open_files / 4, 16, 4096);
  so.logger = parts.log->ForComponent("http");
  server::ControlApi* api = parts.api.get();
  auto http = http::Server::Start(so, [api](const http::Request& r) { return api->Handle(r); });
  if (!http.ok()) {
    return absl::Status(http.status().code(),
                        absl::StrCat("control API: ", http.status().message(),
                                     " (is another hut server running? `hut down` stops it; "
                                     "--listen or HUT_ADDR picks another address)"));
  }
  parts.http = std::move(*http);
  address_ = absl::StrCat(options.listen.host, ":", parts.http->port());
  if (auto pointer = server::PointerPath(options.home, {options.listen.host, parts.http->port()})) {
    server::ServerInfo info{address_, state, token_file_, environment_->name,
                            static_cast<int>(getpid())};
    if (absl::Status s = server::WritePointer(*pointer, info); s.ok()) {
      pointer_file_ = *pointer;
    } else {
      warnings_.push_back(absl::StrCat("the CLI will not find this server by itself: ",
                                       s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace hut::platform

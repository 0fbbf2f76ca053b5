#ifndef HUT_LOCAL_LOCAL_ENVIRONMENT_H_
#define HUT_LOCAL_LOCAL_ENVIRONMENT_H_

// One environment's world on this machine, what the control plane drives
// there: the backing services (real PostgreSQL and Redis standing in for RDS
// and ElastiCache), HAProxy with one frontend per service, the LocalRuntime,
// the canary metrics read from HAProxy and the replicas, a Prometheus that
// scrapes hut, HAProxy and every replica and evaluates the spec's rules
// (monitoring/), and the supervisor that restarts a server that dies (and
// holds rollouts meanwhile).

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/controller/dependencies.h"
#include "src/controller/rollout_analysis.h"
#include "src/local/local_runtime.h"
#include "src/local/log_follower.h"
#include "src/local/log_socket.h"
#include "src/local/process_usage.h"
#include "src/local/replica_process.h"
#include "src/local/supervisor.h"
#include "src/monitoring/prometheus_config.h"
#include "src/runtime/runtime.h"
#include "src/spec/spec.h"

namespace hut::local {

class Exporter;
class PostgresServer;
class AlertmanagerServer;
class PrometheusServer;
class ReloadableServer;
class JaegerServer;
class RedisServer;
class TrafficObserver;

struct LocalEnvironmentOptions {
  std::string state_dir;  // absolute; backing/, haproxy/, replicas/ go here
  std::string spec_dir;   // relative paths in releases resolve here
  SandboxMode sandbox = SandboxMode::kAuto;
  // Secret name -> file handed to the replicas whose release names it.
  std::map<std::string, std::string> secret_files;
  // Called with the first PostgreSQL's password file and database before
  // the server starts (to write it from the source of truth) and after (to
  // take the one a first start made): secrets::SyncDatabaseCredentials.
  std::function<absl::Status(const std::string& password_file, const std::string& database)>
      sync_database;
  bool unsafe_fast_database = false;  // tests only: PostgreSQL without fsync
  // The environment's Prometheus on 127.0.0.1: its port (0: a free one);
  // nullopt: none.
  std::optional<uint16_t> prometheus_port;
  // The environment's Alertmanager on 127.0.0.1, which its Prometheus sends
  // alerts to and which sends them on to hut's webhook: its port (0: a free
  // one); nullopt, or no Prometheus: none.
  std::optional<uint16_t> alertmanager_port;
  // The bearer token Alertmanager presents to hut's webhook (a file).
  std::string alert_token_file;
  // The environment's Jaeger (docs/traces.md): its query port (0: a free
  // one) and OTLP/HTTP port (0: a free one); nullopt: none, and replicas
  // send no spans. Without a Jaeger binary it runs none and warns.
  std::optional<uint16_t> jaeger_port;
  uint16_t otlp_port = 4318;
  // Where the lines of PostgreSQL, Redis and HAProxy go (the central log
  // store), each with its service; null: they stay in their files only.
  LogSink* server_logs = nullptr;
};

// A service's address behind the load balancer.
struct Endpoint {
  std::string service;
  std::string url;  // http://127.0.0.1:8080
};

class LocalEnvironment {
 public:
  // Starts the backing services, HAProxy and the runtime, or stops what it
  // started and says what failed. `spec`, `environment`, `replica_log` and
  // `clock` must outlive it; `on_event` records what the supervisor sees.
  static absl::StatusOr<std::unique_ptr<LocalEnvironment>> Start(
      const spec::Spec& spec, const spec::Environment& environment,
      LocalEnvironmentOptions options, LogSink& replica_log, const Clock& clock, Logger logger,
      std::function<void(const SupervisorEvent&)> on_event);
  // Stops supervising, then every replica (drained), HAProxy, the backing services.
  ~LocalEnvironment();

  runtime::Runtime& runtime();
  // The same, with what only the local runtime does (its processes, secret files).
  LocalRuntime& local_runtime();
  // The environment's first PostgreSQL (the database secret's), or null.
  PostgresServer* database() { return postgres_.empty() ? nullptr : postgres_.front().get(); }
  controller::MetricsSourceFactory metrics();
  const controller::Dependencies* dependencies() const;
  // Starts Prometheus (when the options ask for it) and the exporters of
  // this machine, PostgreSQL and Redis (Debian's), scraping them, hut's API
  // at `hut_address` (host:port), HAProxy and the replicas. Before Supervise().
  absl::Status StartMonitoring(const std::string& hut_address);
  // Begins watching HAProxy, the backing services, Prometheus and the exporters.
  void Supervise();
  // http://127.0.0.1:PORT of the Prometheus; "" when there is none (yet).
  // Thread-safe.
  std::string prometheus_url() const;
  // http://127.0.0.1:PORT of the Alertmanager; "" when there is none (yet).
  // Thread-safe.
  std::string alertmanager_url() const;
  // http://127.0.0.1:PORT of Jaeger's query API; "" without one.
  std::string jaeger_url() const;
  // Where spans go (http://127.0.0.1:PORT/v1/traces); "" without a Jaeger.
  std::string otlp_endpoint() const;

  // What each replica uses of the machine, read from /proc now (hut's
  // hut_replica_* series). Thread-safe.
  struct ReplicaUsage {
    std::string service, version, replica;
    int revision = 0;
    ProcessUsage usage;
  };
  std::vector<ReplicaUsage> ReplicaUsages() const;

  const std::vector<Endpoint>& endpoints() const { return endpoints_; }
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  LocalEnvironment(const spec::Spec& spec, const spec::Environment& environment,
                   const Clock& clock, Logger logger);
  absl::StatusOr<std::map<std::string, BackingAccess>> StartBackingServices(
      const LocalEnvironmentOptions& options);
  absl::Status StartLoadBalancer(const std::string& state);
  // Jaeger, when the options ask for it; the variables that send replicas' spans to it.
  absl::StatusOr<std::map<std::string, std::string>> StartTracing(const LocalEnvironmentOptions& options);
  void MakeSupervisor(std::function<void(const SupervisorEvent&)> on_event);
  // Follows PostgreSQL's, Redis's and HAProxy's logs into `sink`, and opens
  // the socket HAProxy's access lines go to. Before StartLoadBalancer.
  absl::Status FollowServerLogs(const std::string& state, LogSink& sink);
  // Rewrites Prometheus' target file from the runtime's replicas.
  void WriteReplicaTargets();
  // Has the supervisor restart `server` (a Prometheus or Alertmanager of
  // ours) when it dies; `publish_url` makes its URL known.
  void Supervise(const std::string& name, ReloadableServer& server,
                 const std::function<void(std::string)>& publish_url);
  // Starts the Alertmanager, sending to hut's webhook at `hut_address`.
  absl::Status StartAlertmanager(const std::string& hut_address);
  // Starts the exporters and says what Prometheus scrapes them as.
  absl::StatusOr<std::vector<monitoring::StaticTarget>> StartExporters();

  const spec::Spec& spec_;
  const spec::Environment& environment_;
  const Clock& clock_;
  Logger logger_;
  // Destroyed last: they read what the servers said as they stopped.
  std::unique_ptr<LogFollower> server_logs_;
  std::unique_ptr<LogSocket> lb_log_;  // HAProxy's access lines
  std::vector<std::unique_ptr<PostgresServer>> postgres_;
  std::vector<std::unique_ptr<RedisServer>> redis_;
  std::unique_ptr<Haproxy> haproxy_;
  std::optional<uint16_t> prometheus_port_;
  std::string prometheus_dir_;  // <state>/prometheus
  std::unique_ptr<PrometheusServer> prometheus_;
  std::optional<uint16_t> alertmanager_port_;
  std::string alert_token_file_;
  std::unique_ptr<AlertmanagerServer> alertmanager_;
  std::unique_ptr<JaegerServer> jaeger_;  // started before the runtime: replicas send to it
  mutable absl::Mutex url_mu_;
  std::string prometheus_url_ ABSL_GUARDED_BY(url_mu_);  // set once it serves
  std::string alertmanager_url_ ABSL_GUARDED_BY(url_mu_);
  std::vector<std::unique_ptr<Exporter>> exporters_;  // node, then one per backing service
  // Serialises target file writes; once stopping, nothing is written.
  absl::Mutex targets_mu_;
  bool targets_stopped_ ABSL_GUARDED_BY(targets_mu_) = false;
  std::unique_ptr<LocalRuntime> runtime_;
  std::map<std::string, std::unique_ptr<TrafficObserver>> traffic_;  // by service
  std::unique_ptr<Supervisor> supervisor_;
  std::unique_ptr<controller::Dependencies> dependencies_;
  std::vector<Endpoint> endpoints_;
  std::vector<std::string> warnings_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_LOCAL_ENVIRONMENT_H_

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
#include "src/local/replica_process.h"
#include "src/local/supervisor.h"
#include "src/monitoring/prometheus_config.h"
#include "src/runtime/runtime.h"
#include "src/spec/spec.h"

namespace hut::local {

class Exporter;
class PostgresServer;
class PrometheusServer;
class JaegerServer;
class RedisServer;
class TrafficObserver;

struct LocalEnvironmentOptions {
  std::string state_dir;  // absolute; backing/, haproxy/, replicas/ go here
  std::string spec_dir;   // relative paths in releases resolve here
  SandboxMode sandbox = SandboxMode::kAuto;
  // Secret name -> file handed to the replicas whose release names it.
  std::map<std::string, std::string> secret_files;
  bool unsafe_fast_database = false;  // tests only: PostgreSQL without fsync
  // The environment's Prometheus on 127.0.0.1: its port (0: a free one);
  // nullopt: none.
  std::optional<uint16_t> prometheus_port;
  // The environment's Jaeger (docs/traces.md): its query port (0: a free
  // one) and OTLP/HTTP port (0: a free one); nullopt: none, and replicas
  // send no spans. Without a Jaeger binary it runs none and warns.
  std::optional<uint16_t> jaeger_port;
  uint16_t otlp_port = 4318;
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
  // http://127.0.0.1:PORT of Jaeger's query API; "" without one.
  std::string jaeger_url() const;
  // Where spans go (http://127.0.0.1:PORT/v1/traces); "" without a Jaeger.
  std::string otlp_endpoint() const;

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
  // Rewrites Prometheus' target file from the runtime's replicas.
  void WriteReplicaTargets();
  // Starts the exporters and says what Prometheus scrapes them as.
  absl::StatusOr<std::vector<monitoring::StaticTarget>> StartExporters();

  const spec::Spec& spec_;
  const spec::Environment& environment_;
  const Clock& clock_;
  Logger logger_;
  std::vector<std::unique_ptr<PostgresServer>> postgres_;
  std::vector<std::unique_ptr<RedisServer>> redis_;
  std::unique_ptr<Haproxy> haproxy_;
  std::optional<uint16_t> prometheus_port_;
  std::string prometheus_dir_;  // <state>/prometheus
  std::unique_ptr<PrometheusServer> prometheus_;
  std::unique_ptr<JaegerServer> jaeger_;  // started before the runtime: replicas send to it
  mutable absl::Mutex url_mu_;
  std::string prometheus_url_ ABSL_GUARDED_BY(url_mu_);  // set once it serves
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

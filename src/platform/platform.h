#ifndef HUT_PLATFORM_PLATFORM_H_
#define HUT_PLATFORM_PLATFORM_H_

// The one place that wires hut together for an environment (`hut up`,
// `hut server`): the store, the environment's runtime world - picked by a
// switch on the runtime (local: LocalEnvironment) - and the ControlPlane over
// both; and stops all of it, in reverse, leaving no process behind.
//
// State folder layout (default .hut/ beside the spec):
//   admin-token          the API's bearer token, mode 0600
//   hut.db               revisions, rollouts, events (SQLite, unless --store)
//   hut.lock             held while a server uses the folder
//   logs/hut.log         hut's own JSON log lines
//   logs/replicas.log    every replica's output as JSON lines
//   prometheus/          its configuration, rules, replica targets and TSDB
//   backing/<name>/      PostgreSQL cluster or Redis files
//   haproxy/             configuration, admin socket, server state
//   secrets/jwt-keys.json  JWT signing keys handed to replicas
//   replicas/<name>/     each replica's private writable folder

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/aws/client.h"
#include "src/local/local_environment.h"
#include "src/local/replica_process.h"
#include "src/server/discovery.h"
#include "src/spec/spec.h"
#include "src/store/store.h"

namespace hut::platform {

struct ControlPlaneOptions;

struct PlatformOptions {
  std::string environment;  // a name from the spec
  std::string state_dir;    // created when missing
  std::string spec_dir;     // relative paths in releases resolve here; "" : current folder
  // Where replicas run; none: the environment's runtime (`hut up` runs any
  // environment locally and says so).
  std::optional<spec::Runtime> runtime;
  // Where its secrets live; none: the environment's policies.secrets.backend
  // (`hut up` keeps them in the local backend, as it runs the local runtime).
  std::optional<spec::SecretBackendKind> secret_backend;
  server::HostPort listen{"127.0.0.1", 7480};
  // hut's store (store/open.h: postgresql://… or a SQLite file); "" : SQLite
  // in the state folder (hut.db).
  std::string store;
  local::SandboxMode sandbox = local::SandboxMode::kAuto;
  std::chrono::milliseconds tick_interval{250};  // reconcile period per service
  std::chrono::milliseconds scrape_interval{1000};  // canary analysis: metrics read period
  // $HOME, for the pointer file the CLI reads (server/discovery.h); none: no pointer.
  std::optional<std::string> home;
  // Tests only: PostgreSQL without fsync.
  bool unsafe_fast_database = false;
  // The kubernetes runtime's cluster (kubernetes/kubeconfig.h): a kubeconfig
  // file; "" : $KUBECONFIG, ~/.kube/config, else the in-cluster account.
  std::string kubeconfig;
  // The kubernetes runtime's canary metrics: a Prometheus URL; "" : none.
  std::string prometheus;
  // The kubernetes runtime's Alertmanager (the monitoring chart's), where
  // `hut alerts silence|test` go: a URL; "" : none.
  std::string alertmanager;
  // The bearer token Alertmanager presents to hut's webhook: a file the
  // platform mounts (a Kubernetes Secret; group-readable is fine); "" : one
  // hut creates in the state folder (secrets/alertmanager-token).
  std::string alert_token_file;
  // The local runtime's own Prometheus on 127.0.0.1 (monitoring/): its port,
  // 0 for a free one; nullopt (the default here; `hut up`'s is 9090): none.
  std::optional<uint16_t> prometheus_port;
  // The local runtime's Jaeger: query port (0 for a free one; nullopt, the
  // default here, `hut up`'s is 16686: none) and OTLP/HTTP port (0: free).
  std::optional<uint16_t> jaeger_port;
  // The local runtime's Alertmanager (with its Prometheus): its port, 0 for
  // a free one; nullopt (the default here; `hut up`'s is 9093): none.
  std::optional<uint16_t> alertmanager_port;
  uint16_t otlp_port = 4318;
  // Where hut's own spans go (OTLP/HTTP) and the Jaeger query API `hut
  // trace` reads; "" : the local runtime's Jaeger, or none.
  std::string otlp_endpoint;
  std::string trace_query;
  // The environment hut's AWS clients read (AWS_REGION, AWS_ACCESS_KEY_ID,
  // AWS_ENDPOINT_URL…; aws/client.h); null: the process's.
  aws::GetEnv getenv;
  // Where hut's own log lines go besides logs/hut.log; null: only the file.
  LogSink* log_echo = nullptr;
};

using local::Endpoint;

class Platform {
 public:
  // Starts everything or, on any error, stops what it started and says what
  // failed. FailedPrecondition when another server holds the state folder.
  static absl::StatusOr<std::unique_ptr<Platform>> Start(spec::Spec spec,
                                                         PlatformOptions options);
  // Stops everything (Stop()).
  ~Platform();

  // Stops the API, the workers, every replica (drained), HAProxy and the
  // backing services. Idempotent; not from an API handler.
  void Stop();

  // Set when an API client asked the server to stop (`hut down`), or when
  // this server lost the lease or could not take over.
  bool shutdown_requested() const { return shutdown_requested_.load(); }

  // Another server drives the environment (it holds the store's lease, see
  // lease_keeper.h): this one waits to take over; says who holds it. Empty
  // once this server is active.
  std::string standby() const;

  std::string address() const;  // host:port of the API; "" while standing by
  const std::string& token_file() const { return token_file_; }
  const std::vector<Endpoint>& endpoints() const;  // none while standing by
  // The local runtime's Prometheus (http://127.0.0.1:PORT); "" when none.
  std::string prometheus_url() const;
  std::string alertmanager_url() const;
  // The local runtime's Jaeger query API (http://127.0.0.1:PORT); "" when none.
  std::string jaeger_url() const;
  const spec::Environment& environment() const { return *environment_; }
  store::Store& store();
  const std::vector<std::string>& warnings() const { return warnings_; }

 private:
  struct Parts;
  Platform();
  // Starts the environment's runtime world and the control plane: once this
  // server holds the lease.
  absl::Status Activate();
  // The alert router, the notifiers of the spec's channels and the
  // dispatcher; fills in the control plane's alert endpoints.
  absl::Status StartAlerting(const std::string& alert_token_file, ControlPlaneOptions& cp);
  // The environment's secret backend (the spec's, or options_.secret_backend)
  // and the service over it.
  absl::Status OpenSecrets();
  // The JWT keys' and the database login's rotation (local runtime): on
  // demand (the API) and on the spec's schedule; the files at `jwt_file`
  // and `database_file` are what replicas get.
  // On the kubernetes runtime: the Secrets and ConfigMap sync instead.
  absl::Status StartRotation(const std::string& jwt_file, const std::string& database_file,
                             ControlPlaneOptions& cp);
  // One reconcile of the kubernetes runtime's Secrets and ConfigMap; the
  // changes it made recorded as events.
  absl::Status SyncKubernetesConfig();

  std::unique_ptr<Parts> parts_;
  spec::Spec spec_;
  const spec::Environment* environment_ = nullptr;
  PlatformOptions options_;
  std::string state_;  // the state folder, absolute
  std::string token_file_;
  int open_files_ = 0;
  mutable absl::Mutex mu_;
  std::string address_ ABSL_GUARDED_BY(mu_);
  std::string pointer_file_ ABSL_GUARDED_BY(mu_);
  std::string standby_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> warnings_;
  std::atomic<bool> shutdown_requested_{false};
  bool stopped_ = false;
};

}  // namespace hut::platform

#endif  // HUT_PLATFORM_PLATFORM_H_

#ifndef HUT_PLATFORM_CONTROL_PLANE_H_
#define HUT_PLATFORM_CONTROL_PLANE_H_

// The part of hut that decides, over any Runtime and Store: one reconcile
// worker per service of the environment (ServiceWorker owning its
// ServiceController) and the control API in front of them, with hut's own
// metrics on the API's /metrics (the workers and the API reach the runtime
// and the store through telemetry's metered decorators). It knows nothing
// of where replicas run; platform.h wires it to an environment.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/common/secret.h"
#include "src/controller/dependencies.h"
#include "src/controller/rollout_analysis.h"
#include "src/runtime/runtime.h"
#include "src/server/control_api.h"
#include "src/server/discovery.h"
#include "src/spec/spec.h"
#include "src/store/store.h"
#include "src/telemetry/control_plane_metrics.h"

namespace hut::controller {
class ServiceWorker;
struct AlertSignal;
}  // namespace hut::controller
namespace hut::http {
class Server;
}  // namespace hut::http
namespace hut::telemetry {
class ControlPlaneMetrics;
class MeteredRuntime;
class MeteredStore;
}  // namespace hut::telemetry

namespace hut::platform {

struct ControlPlaneOptions {
  server::HostPort listen{"127.0.0.1", 7480};
  std::chrono::milliseconds tick_interval{250};     // reconcile period per service
  std::chrono::milliseconds scrape_interval{1000};  // canary analysis: metrics read period
  int max_connections = 1024;                       // API clients at once
  // A canary's metrics (platform-specific); none: analysis without metrics.
  controller::MetricsSourceFactory metrics;
  // What rollouts wait for (the local platform's supervised servers); may be null.
  const controller::Dependencies* dependencies = nullptr;
  // The traffic the rollout status shows (the environment's Prometheus); may be unset.
  server::ControlApi::TrafficReader traffic;
  // The central log store `hut logs` reads; may be unset.
  server::ControlApi::LogReader logs;
  // The spans `hut trace` shows (the environment's Jaeger); may be unset.
  server::ControlApi::TraceReader traces;
  // Where each rollout's spans go (the environment's trace backend); may be unset.
  controller::SpanSink rollout_spans;
  // The central log store's counts, for hut_log_lines_total{result}; may be unset.
  std::function<std::map<std::string, uint64_t>()> log_lines;
  // Alertmanager's notifications, and the token it presents; may be unset.
  server::ControlApi::AlertReceiver alerts;
  Secret alert_token;
  // `hut alerts ack`: the alert router's; may be unset.
  server::ControlApi::AlertAcknowledger acknowledge;
  // `hut alerts silence|test`, through the environment's Alertmanager; may be unset.
  server::ControlApi::AlertmanagerActions alertmanager;
  // The environment's secrets (the API's /api/v1/secrets); null: none.
  secrets::SecretsService* secrets = nullptr;
  server::ControlApi::SecretRotator rotate_secret;
  // More series for hut's /metrics (the local replicas' usage); may be unset.
  telemetry::ControlPlaneMetrics::FamilyReader series;
};

class ControlPlane {
 public:
  // Starts the workers and the API. `spec`, `environment`, `runtime`,
  // `store`, `clock` and options.dependencies must outlive it.
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Start(
      const spec::Spec& spec, const spec::Environment& environment, runtime::Runtime& runtime,
      store::Store& store, const Clock& clock, Logger logger, Secret admin_token,
      ControlPlaneOptions options);
  // Stops the API (clients get their answers), then the workers.
  ~ControlPlane();

  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  uint16_t port() const;  // of the API
  // Called (on an API thread) when a client asks the server to stop.
  void OnShutdownRequest(std::function<void()> fn);
  // An alert fired for `service`: its rollout under way reacts
  // (ServiceController::React), on the service's worker. Returns what it did.
  absl::StatusOr<std::string> ReactToAlert(const std::string& service,
                                           const controller::AlertSignal& alert);

 private:
  ControlPlane() = default;

  // Declared before what uses them: destroyed after the workers and the API.
  std::unique_ptr<telemetry::ControlPlaneMetrics> metrics_;
  std::unique_ptr<telemetry::MeteredStore> store_;
  std::unique_ptr<telemetry::MeteredRuntime> runtime_;
  std::map<std::string, std::unique_ptr<controller::ServiceWorker>> workers_;
  std::unique_ptr<server::ControlApi> api_;
  std::unique_ptr<http::Server> http_;
};

}  // namespace hut::platform

#endif  // HUT_PLATFORM_CONTROL_PLANE_H_

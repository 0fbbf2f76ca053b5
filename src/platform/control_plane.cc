#include "src/platform/control_plane.h"

#include "absl/strings/str_cat.h"
#include "src/controller/service_worker.h"
#include "src/http/server.h"
#include "src/server/control_api.h"
#include "src/telemetry/control_plane_metrics.h"
#include "src/telemetry/metered.h"

namespace hut::platform {

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Start(
    const spec::Spec& spec, const spec::Environment& environment, runtime::Runtime& bare_runtime,
    store::Store& bare_store, const Clock& clock, Logger logger, Secret admin_token,
    ControlPlaneOptions options) {
  std::unique_ptr<ControlPlane> plane(new ControlPlane());
  plane->metrics_ =
      std::make_unique<telemetry::ControlPlaneMetrics>(environment.name, HUT_VERSION);
  telemetry::ControlPlaneMetrics& metrics = *plane->metrics_;
  if (options.log_lines) {
    metrics.ReadCountersWith("hut_log_lines_total",
                             "Log lines the central log store received, stored, dropped (its "
                             "queue full) or failed to store",
                             "result", std::move(options.log_lines));
  }
  if (options.series) metrics.ReadFamiliesWith(std::move(options.series));
  plane->store_ = std::make_unique<telemetry::MeteredStore>(bare_store, metrics);
  plane->runtime_ = std::make_unique<telemetry::MeteredRuntime>(bare_runtime, metrics);
  store::Store& store = *plane->store_;
  runtime::Runtime& runtime = *plane->runtime_;
  // The phases of the rollouts before this server started.
  for (const spec::ServiceDeployment& d : environment.services) {
    absl::StatusOr<std::optional<store::Rollout>> latest =
        store.LatestRollout(environment.name, d.service);
    if (latest.ok() && *latest) metrics.ObserveRollout(**latest, /*written=*/false);
  }
  std::map<std::string, controller::ServiceWorker*> workers;
  for (const spec::ServiceDeployment& d : environment.services) {
    const spec::Service& svc = *spec.FindService(d.service);
    controller::RolloutAnalysisOptions analysis;
    analysis.scrape_interval = options.scrape_interval;
    analysis.metrics = options.metrics;
    auto controller = std::make_unique<controller::ServiceController>(
        spec, environment, svc, runtime, store, clock, logger.ForComponent("controller"),
        std::move(analysis), options.dependencies);
    if (options.rollout_spans) controller->TraceRolloutsTo(options.rollout_spans);
    auto worker = std::make_unique<controller::ServiceWorker>(
        std::move(controller), clock, options.tick_interval, logger.ForComponent("worker"),
        [&metrics, name = svc.name](std::chrono::nanoseconds took, bool ok) {
          metrics.ObserveTick(name, took, ok);
        });
    workers[svc.name] = worker.get();
    plane->workers_[svc.name] = std::move(worker);
  }
  plane->api_ = std::make_unique<server::ControlApi>(environment, std::move(workers), runtime,
                                                     store, std::move(admin_token),
                                                     logger.ForComponent("api"),
                                                     options.dependencies, &clock);
  plane->api_->ServeMetrics([&metrics] { return metrics.Serialize(); });
  if (options.traffic) plane->api_->ReadTrafficWith(std::move(options.traffic));
  if (options.alerts) {
    plane->api_->ReceiveAlertsWith(std::move(options.alerts), std::move(options.alert_token));
  }
  if (options.acknowledge) plane->api_->AcknowledgeAlertsWith(std::move(options.acknowledge));
  plane->api_->ActOnAlertmanagerWith(std::move(options.alertmanager));
  plane->api_->ServeSecretsWith(options.secrets, std::move(options.rotate_secret));
  if (options.logs) plane->api_->ReadLogsWith(std::move(options.logs));
  if (options.traces) plane->api_->ReadTracesWith(std::move(options.traces));
  http::ServerOptions so;
  so.address = options.listen.host;
  so.port = options.listen.port;
  so.max_connections = options.max_connections;
  so.logger = logger.ForComponent("http");
  server::ControlApi* api = plane->api_.get();
  auto http = http::Server::Start(so, [api](const http::Request& r) { return api->Handle(r); });
  if (!http.ok()) {
    return absl::Status(http.status().code(),
                        absl::StrCat("control API: ", http.status().message(),
                                     " (is another hut server running? `hut down` stops it; "
                                     "--listen or HUT_ADDR picks another address)"));
  }
  plane->http_ = std::move(*http);
  return plane;
}

ControlPlane::~ControlPlane() {
  if (http_) http_->Shutdown(std::chrono::milliseconds(2000));
  http_.reset();
  api_.reset();
  workers_.clear();
}

uint16_t ControlPlane::port() const { return http_->port(); }

void ControlPlane::OnShutdownRequest(std::function<void()> fn) {
  api_->OnShutdownRequest(std::move(fn));
}

absl::StatusOr<std::string> ControlPlane::ReactToAlert(const std::string& service,
                                                       const controller::AlertSignal& alert) {
  auto it = workers_.find(service);
  if (it == workers_.end()) return std::string();  // not one of this environment's services
  return it->second->Run<absl::StatusOr<std::string>>(
      [alert](controller::ServiceController& c) { return c.React(alert); },
      absl::CancelledError("the server is stopping"));
}

}  // namespace hut::platform

#ifndef HUT_SERVER_CONTROL_API_H_
#define HUT_SERVER_CONTROL_API_H_

// hut's HTTP/JSON API, used by the CLI (and later the dashboard). Every
// request needs `Authorization: Bearer <admin token>`; a wrong or missing
// token gets 401 with a JSON error. One server runs one environment.
//
//   GET  /api/v1/services                          services, current revision, latest rollout
//   GET  /api/v1/services/{service}/rollout        latest rollout (with its trace_id when the
//                                                  server has a trace backend), the replicas, and the
//                                                  service's requests per second, error
//                                                  ratio and P99 of the last minute (Prometheus)
//   GET  /api/v1/services/{service}/history        revisions, newest first
//   POST /api/v1/services/{service}/deploy         {"version", "env": {..}, "strategy"}
//   POST /api/v1/services/{service}/undo           {"to_revision": N} (optional)
//   GET  /api/v1/events?after=ID&service=S&limit=N events after ID, oldest first,
//                                                  and last_id: the newest event's id
//   GET  /api/v1/events/stream?after=ID&service=S  the same as server-sent events, live:
//                                                  event: <type>, id: <event id>, data: <event
//                                                  JSON>; from the newest event on unless
//                                                  ?after= or Last-Event-ID says where
//   GET  /api/v1/services/{service}/logs           the service's log lines (docs/logs.md):
//                                                  ?since=10m | from=&to= (RFC 3339),
//                                                  level=WARN, grep=, trace=, version=,
//                                                  after=CURSOR (follow), limit=N; service
//                                                  "hut" is the control plane's own
//   GET  /api/v1/traces/{trace_id}                 the trace's spans (the trace backend's)
//                                                  and its log lines from every service
//   POST /api/v1/shutdown                          stop the server (`hut down`); 202
//   GET  /metrics                                  hut's own metrics (Prometheus text),
//                                                  the one path without a token: counts
//                                                  and names only, and a scraper holding
//                                                  the admin token could deploy
//
// Every service path also takes ?env=E, refused with 400 when E is not the
// environment this server runs.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/common/secret.h"
#include "src/controller/dependencies.h"
#include "src/controller/service_worker.h"
#include "src/http/router.h"
#include "src/logs/log_service.h"
#include "src/tracing/jaeger_query.h"
#include "src/metrics/service_traffic.h"
#include "src/runtime/runtime.h"
#include "src/secrets/service.h"
#include "src/spec/spec.h"
#include "src/store/store.h"

namespace hut::server {

class ControlApi {
 public:
  // `workers` maps service name to its worker; all references outlive this.
  ControlApi(const spec::Environment& environment,
             std::map<std::string, controller::ServiceWorker*> workers,
             runtime::Runtime& runtime, store::Store& store, Secret admin_token, Logger logger,
             const controller::Dependencies* dependencies = nullptr,
             const Clock* clock = nullptr);  // null: real time

  // Called (on a handler thread) when a client asks the server to stop; set
  // before serving. Without it, /api/v1/shutdown answers 501.
  void OnShutdownRequest(std::function<void()> fn) { on_shutdown_ = std::move(fn); }
  // Where the rollout status reads the service's traffic of the last minute
  // ("requests": null when this is unset or knows nothing); set before serving.
  using TrafficReader = std::function<absl::StatusOr<std::optional<metrics::ServiceTraffic>>(
      const std::string& service)>;
  void ReadTrafficWith(TrafficReader reader) { traffic_ = std::move(reader); }
  // Where GET .../logs reads; set before serving. Without it, 501.
  using LogReader = std::function<absl::StatusOr<logs::LogQueryResult>(const logs::LogQuery&)>;
  void ReadLogsWith(LogReader reader) { logs_ = std::move(reader); }
  // Where GET /api/v1/traces/ID reads spans (Jaeger); set before serving.
  using TraceReader =
      std::function<absl::StatusOr<std::vector<tracing::TraceSpan>>(const std::string& trace_id)>;
  void ReadTracesWith(TraceReader reader) { traces_ = std::move(reader); }
  // Where POST /api/v1/alerts/webhook (Alertmanager's notifications) goes:
  // the alerts taken, InvalidArgument for a body it cannot read (400), any
  // other error for one it could not keep (503: Alertmanager retries). The
  // request carries `token` (its own, so Alertmanager holds no admin token)
  // or the admin token. Set before serving; without it, 501.
  using AlertReceiver = std::function<absl::StatusOr<int>(std::string_view body)>;
  void ReceiveAlertsWith(AlertReceiver receiver, Secret token) {
    alerts_ = std::move(receiver);
    alert_token_ = std::move(token);
  }
  // What POST /api/v1/alerts/{id}/ack does (the alert router): the alert
  // acknowledged by `by`, NotFound, FailedPrecondition (resolved). Set
  // before serving; without it, 501.
  using AlertAcknowledger =
      std::function<absl::StatusOr<store::Alert>(int64_t id, const std::string& by)>;
  void AcknowledgeAlertsWith(AlertAcknowledger fn) { acknowledge_ = std::move(fn); }
  // What POST /api/v1/alerts/silences and /api/v1/alerts/test do, through
  // the environment's Alertmanager: a silence of the alerts matching
  // `matchers` ("service=backend") for `length` (its id), and a test alert
  // of `severity` (for `service` when not ""; what was sent). Set before
  // serving; without them, 501.
  struct AlertmanagerActions {
    std::function<absl::StatusOr<std::string>(const std::vector<std::string>& matchers,
                                              Duration length, const std::string& comment,
                                              const std::string& by)>
        silence;
    std::function<absl::StatusOr<nlohmann::json>(const std::string& severity,
                                                 const std::string& service)>
        test;
  };
  void ActOnAlertmanagerWith(AlertmanagerActions actions) { alertmanager_ = std::move(actions); }
  // The environment's secrets (GET/PUT /api/v1/secrets…); null: none (501).
  // `rotate` carries out POST /api/v1/secrets/{name}/rotate: what it
  // reports (e.g. the new key id), or why not.
  using SecretRotator =
      std::function<absl::StatusOr<nlohmann::json>(const std::string& name, const std::string& by)>;
  void ServeSecretsWith(secrets::SecretsService* secrets, SecretRotator rotate = nullptr) {
    secrets_ = secrets;
    rotate_ = std::move(rotate);
  }
  // What GET /metrics answers (the exposition text); set before serving.
  // Without it, /metrics is 404 like any unknown path.
  void ServeMetrics(std::function<std::string()> fn) { metrics_ = std::move(fn); }

  // Thread-safe.
  http::Response Handle(const http::Request& request) const;

 private:
  http::Response Services(const http::Request& request) const;
  http::Response Rollout(const http::Request& request) const;
  http::Response History(const http::Request& request) const;
  http::Response Deploy(const http::Request& request) const;
  http::Response Undo(const http::Request& request) const;
  http::Response RestartRollout(const http::Request& request) const;
  // GET /api/v1/rollouts[?service=S&limit=N]: the newest rollouts, newest first.
  http::Response Rollouts(const http::Request& request) const;
  // POST .../rollout/{promote,abort,retry}: an operator's command.
  http::Response Promote(const http::Request& request) const;
  http::Response Abort(const http::Request& request) const;
  http::Response Retry(const http::Request& request) const;
  http::Response Command(const http::Request& request, rollout::Command command) const;
  // GET .../revisions/{revision}/analysis: the recorded analysis run.
  http::Response Analysis(const http::Request& request) const;
  http::Response Events(const http::Request& request) const;
  http::Response EventStream(const http::Request& request) const;
  http::Response Shutdown(const http::Request& request) const;
  http::Response Logs(const http::Request& request) const;
  http::Response Trace(const http::Request& request) const;
  http::Response AlertWebhook(const http::Request& request) const;
  // GET /api/v1/alerts[?state=firing|acked|resolved&limit=N], newest first.
  http::Response Alerts(const http::Request& request) const;
  // POST /api/v1/alerts/{id}/ack {"by": NAME}.
  http::Response AcknowledgeAlert(const http::Request& request) const;
  // POST /api/v1/alerts/silences {"matchers": [...], "for": "2h", "comment", "by"}.
  http::Response Silence(const http::Request& request) const;
  // POST /api/v1/alerts/test {"severity", "service"?}.
  http::Response TestAlert(const http::Request& request) const;
  // GET /api/v1/secrets: every secret's versions and stages, no values.
  http::Response Secrets(const http::Request& request) const;
  // GET /api/v1/secrets/{name}[?reveal=true&by=WHO]: its versions; with
  // reveal, the current value too (recorded as an event).
  http::Response SecretOf(const http::Request& request) const;
  // PUT /api/v1/secrets/{name} {"value", "by"}: a new current version.
  http::Response SetSecret(const http::Request& request) const;
  // POST /api/v1/secrets/{name}/rotate {"by"}: a rotation, to its end.
  http::Response RotateSecret(const http::Request& request) const;

  // The worker of the request's {service}, or an error response.
  controller::ServiceWorker* WorkerFor(const http::Request& request,
                                       http::Response* error) const;

  const spec::Environment& environment_;
  std::map<std::string, controller::ServiceWorker*> workers_;
  runtime::Runtime& runtime_;
  store::Store& store_;
  const controller::Dependencies* dependencies_;  // may be null: "waiting" is never set
  Secret admin_token_;
  Logger logger_;
  RealClock real_clock_;
  const Clock& clock_;  // the event stream's keepalive
  http::Router router_;
  std::function<void()> on_shutdown_;
  std::function<std::string()> metrics_;
  TrafficReader traffic_;
  LogReader logs_;
  TraceReader traces_;
  AlertReceiver alerts_;
  Secret alert_token_;
  AlertAcknowledger acknowledge_;
  AlertmanagerActions alertmanager_;
  secrets::SecretsService* secrets_ = nullptr;
  SecretRotator rotate_;
};

// JSON forms shared by the API and the CLI's `-o json`.
nlohmann::json RolloutJson(const store::Rollout& rollout);
nlohmann::json RevisionJson(const store::Revision& revision);
nlohmann::json EventJson(const store::Event& event);
nlohmann::json AlertJson(const store::Alert& alert);
nlohmann::json ReplicaJson(const runtime::Replica& replica);

}  // namespace hut::server

#endif  // HUT_SERVER_CONTROL_API_H_

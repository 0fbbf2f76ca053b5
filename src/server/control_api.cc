#include "src/server/control_api.h"

#include <condition_variable>
#include <mutex>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/common/log.h"
#include "src/common/units.h"
#include "src/controller/rollout_trace.h"
#include "src/logs/log_record.h"
#include "src/http/sse.h"

namespace hut::server {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

int HttpStatusOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

Response FromStatus(const absl::Status& s) {
  return Response::Error(HttpStatusOf(s), std::string(s.message()));
}

std::string Time(TimePoint t) { return FormatTimestamp(t); }

// The body as a JSON object; an empty body is an empty object.
absl::StatusOr<json> BodyObject(const Request& request) {
  if (request.body.empty()) return json::object();
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return absl::InvalidArgumentError("request body must be a JSON object");
  }
  return body;
}

}  // namespace

json RolloutJson(const store::Rollout& r) {
  json j = {{"id", r.id},
            {"environment", r.environment},
            {"service", r.service},
            {"from_revision", r.from_revision},
            {"to_revision", r.to_revision},
            {"strategy", std::string(spec::Name(r.strategy))},
            {"phase", std::string(store::PhaseName(r.phase))},
            {"reason", r.reason},
            {"created_at", Time(r.created_at)},
            {"updated_at", Time(r.updated_at)},
            {"finished_at", r.finished_at ? json(Time(*r.finished_at)) : json(nullptr)}};
  if (r.strategy == spec::Strategy::kCanary && r.state.is_object()) {
    // Where the canary is and what its analysis says (the controller keeps
    // both in the rollout's state).
    j["canary"] = {{"progress", r.state.value("progress", json::object())},
                   {"analysis", r.state.value("analysis", json(nullptr))}};
  }
  return j;
}

json RevisionJson(const store::Revision& r) {
  return {{"number", r.number},  {"version", r.version},
          {"env", r.env},        {"cause", r.cause},
          {"created_at", Time(r.created_at)}};
}

json EventJson(const store::Event& e) {
  return {{"id", e.id},           {"at", Time(e.at)},         {"environment", e.environment},
          {"service", e.service}, {"rollout_id", e.rollout_id}, {"type", e.type},
          {"message", e.message}, {"data", e.data}};
}

json AlertJson(const store::Alert& a) {
  const auto optional_time = [](const std::optional<TimePoint>& t) -> json {
    return t ? json(Time(*t)) : json(nullptr);
  };
  return {{"id", a.id},
          {"environment", a.environment},
          {"name", a.name},
          {"severity", a.severity},
          {"service", a.service},
          {"state", std::string(store::AlertStateName(a.state))},
          {"starts_at", Time(a.starts_at)},
          {"received_at", Time(a.received_at)},
          {"updated_at", Time(a.updated_at)},
          {"deadline", optional_time(a.deadline)},
          {"escalations", a.escalations},
          {"acked_at", optional_time(a.acked_at)},
          {"acked_by", a.acked_by},
          {"resolved_at", optional_time(a.resolved_at)},
          {"fingerprint", a.fingerprint},
          {"labels", a.labels},
          {"annotations", a.annotations}};
}

json ReplicaJson(const runtime::Replica& r) {
  json j = {{"name", r.name},
            {"revision", r.revision},
            {"version", r.version},
            {"state", std::string(runtime::ReplicaStateName(r.state))},
            {"serving", r.serving},
            {"started_at", Time(r.started_at)},
            {"restarts", r.restarts},
            {"reason", r.reason},
            // The fields of API v1 before the runtime classified replicas.
            {"ready", r.state == runtime::ReplicaState::kReady},
            {"draining", r.state == runtime::ReplicaState::kDraining},
            {"in_load_balancer", r.serving},
            {"last_failure", r.reason}};
  // What this runtime adds (local: address, pid, weight, ...).
  for (const auto& [key, value] : r.details.items()) j[key] = value;
  return j;
}

ControlApi::ControlApi(const spec::Environment& environment,
                       std::map<std::string, controller::ServiceWorker*> workers,
                       runtime::Runtime& runtime, store::Store& store, Secret admin_token,
                       Logger logger, const controller::Dependencies* dependencies,
                       const Clock* clock)
    : environment_(environment),
      workers_(std::move(workers)),
      runtime_(runtime),
      store_(store),
      dependencies_(dependencies),
      admin_token_(std::move(admin_token)),
      logger_(std::move(logger)),
      clock_(clock != nullptr ? *clock : real_clock_) {
  auto bind = [this](Response (ControlApi::*handler)(const Request&) const) {
    return [this, handler](const Request& r) { return (this->*handler)(r); };
  };
  router_.Add("GET", "/api/v1/services", bind(&ControlApi::Services));
  router_.Add("GET", "/api/v1/services/{service}/rollout", bind(&ControlApi::Rollout));
  router_.Add("GET", "/api/v1/services/{service}/history", bind(&ControlApi::History));
  router_.Add("POST", "/api/v1/services/{service}/deploy", bind(&ControlApi::Deploy));
  router_.Add("POST", "/api/v1/services/{service}/undo", bind(&ControlApi::Undo));
  router_.Add("POST", "/api/v1/services/{service}/rollout/restart",
              bind(&ControlApi::RestartRollout));
  router_.Add("POST", "/api/v1/services/{service}/rollout/promote", bind(&ControlApi::Promote));
  router_.Add("POST", "/api/v1/services/{service}/rollout/abort", bind(&ControlApi::Abort));
  router_.Add("POST", "/api/v1/services/{service}/rollout/retry", bind(&ControlApi::Retry));
  router_.Add("GET", "/api/v1/services/{service}/revisions/{revision}/analysis",
              bind(&ControlApi::Analysis));
  router_.Add("GET", "/api/v1/rollouts", bind(&ControlApi::Rollouts));
  router_.Add("GET", "/api/v1/events", bind(&ControlApi::Events));
  router_.Add("GET", "/api/v1/events/stream", bind(&ControlApi::EventStream));
  router_.Add("GET", "/api/v1/services/{service}/logs", bind(&ControlApi::Logs));
  router_.Add("GET", "/api/v1/traces/{trace_id}", bind(&ControlApi::Trace));
  router_.Add("POST", "/api/v1/shutdown", bind(&ControlApi::Shutdown));
  router_.Add("POST", "/api/v1/alerts/webhook", bind(&ControlApi::AlertWebhook));
  router_.Add("GET", "/api/v1/alerts", bind(&ControlApi::Alerts));
  router_.Add("POST", "/api/v1/alerts/{id}/ack", bind(&ControlApi::AcknowledgeAlert));
  router_.Add("POST", "/api/v1/alerts/silences", bind(&ControlApi::Silence));
  router_.Add("POST", "/api/v1/alerts/test", bind(&ControlApi::TestAlert));
  router_.Add("GET", "/api/v1/secrets", bind(&ControlApi::Secrets));
  router_.Add("GET", "/api/v1/secrets/{name}", bind(&ControlApi::SecretOf));
  router_.Add("PUT", "/api/v1/secrets/{name}", bind(&ControlApi::SetSecret));
  router_.Add("POST", "/api/v1/secrets/{name}/rotate", bind(&ControlApi::RotateSecret));
}

Response ControlApi::Handle(const Request& request) const {
  if (metrics_ && request.path == "/metrics" &&
      (request.method == "GET" || request.method == "HEAD")) {
    return Response::Text(200, metrics_(), "text/plain; version=0.0.4; charset=utf-8");
  }
  std::string header = request.Header("Authorization").value_or("");
  constexpr std::string_view kBearer = "Bearer ";
  const Secret presented(header.starts_with(kBearer) ? header.substr(kBearer.size()) : "");
  // Alertmanager's token opens its webhook, and nothing else.
  const bool alertmanager = request.path == "/api/v1/alerts/webhook" && !alert_token_.empty() &&
                            presented.Equals(alert_token_);
  if (!alertmanager && (!header.starts_with(kBearer) || !presented.Equals(admin_token_))) {
    Response r = Response::Error(401, "missing or wrong admin token (Authorization: Bearer ...)");
    r.SetHeader("WWW-Authenticate", "Bearer");
    return r;
  }
  auto env = request.query.find("env");
  if (env != request.query.end() && env->second != environment_.name) {
    return Response::Error(400, absl::StrCat("this server runs environment \"", environment_.name,
                                             "\", not \"", env->second, "\""));
  }
  return router_.Handle(request);
}

controller::ServiceWorker* ControlApi::WorkerFor(const Request& request, Response* error) const {
  const std::string& name = request.path_params.at("service");
  auto it = workers_.find(name);
  if (it == workers_.end()) {
    std::string known;
    for (const auto& [service, worker] : workers_) {
      absl::StrAppend(&known, known.empty() ? "" : ", ", service);
    }
    *error = Response::Error(404, absl::StrCat("unknown service \"", name, "\" (services: ",
                                               known, ")"));
    return nullptr;
  }
  return it->second;
}

Response ControlApi::Services(const Request&) const {
  json services = json::array();
  for (const auto& [name, worker] : workers_) {
    auto current = worker->Run<absl::StatusOr<int>>(
        [](controller::ServiceController& c) { return c.CurrentRevision(); },
        absl::CancelledError("server is stopping"));
    if (!current.ok()) return FromStatus(current.status());
    auto latest = store_.LatestRollout(environment_.name, name);
    if (!latest.ok()) return FromStatus(latest.status());
    auto observed = runtime_.Observe(name);
    if (!observed.ok()) return FromStatus(observed.status());
    const std::vector<runtime::Replica>& replicas = observed->replicas;
    int ready = 0, serving = 0;
    for (const runtime::Replica& r : replicas) {
      ready += r.state == runtime::ReplicaState::kReady ? 1 : 0;
      serving += r.serving ? 1 : 0;
    }
    const spec::ServiceDeployment* deployment = environment_.FindService(name);
    json service = {{"name", name},
                    {"current_revision", *current},
                    {"rollout", *latest ? RolloutJson(**latest) : json(nullptr)},
                    {"replicas", {{"desired", deployment ? deployment->replicas : 0},
                                  {"running", replicas.size()},
                                  {"ready", ready},
                                  {"serving", serving}}}};
    if (dependencies_ != nullptr) {
      std::optional<std::string> blocked = dependencies_->Blocked(name);
      service["waiting"] = blocked ? json(*blocked) : json(nullptr);
    }
    services.push_back(std::move(service));
  }
  return Response::Json(200, {{"environment", environment_.name}, {"services", services}});
}

Response ControlApi::Rollouts(const Request& request) const {
  int limit = 20;
  if (auto it = request.query.find("limit"); it != request.query.end()) {
    if (!absl::SimpleAtoi(it->second, &limit) || limit < 1 || limit > 1000) {
      return Response::Error(400, "\"limit\" must be an integer in 1..1000");
    }
  }
  std::string service;
  if (auto it = request.query.find("service"); it != request.query.end()) {
    service = it->second;
    if (!workers_.contains(service)) {
      return Response::Error(404, absl::StrCat("no service \"", service, "\" in ",
                                               environment_.name));
    }
  }
  auto rollouts = store_.ListRollouts(environment_.name, service, limit);
  if (!rollouts.ok()) return FromStatus(rollouts.status());
  json list = json::array();
  for (const store::Rollout& r : *rollouts) list.push_back(RolloutJson(r));
  return Response::Json(200, {{"environment", environment_.name}, {"rollouts", list}});
}

Response ControlApi::Rollout(const Request& request) const {
  Response error;
  if (WorkerFor(request, &error) == nullptr) return error;
  const std::string& service = request.path_params.at("service");
  auto latest = store_.LatestRollout(environment_.name, service);
  if (!latest.ok()) return FromStatus(latest.status());
  auto observed = runtime_.Observe(service);
  if (!observed.ok()) return FromStatus(observed.status());
  json list = json::array();
  for (const auto& r : observed->replicas) list.push_back(ReplicaJson(r));
  json traffic = json::object();  // revision -> its share of traffic now
  for (const auto& [revision, share] : observed->traffic) traffic[std::to_string(revision)] = share;
  json body = {{"rollout", *latest ? RolloutJson(**latest) : json(nullptr)},
               {"replicas", list},
               {"traffic", traffic}};
  // With a trace backend, where `hut trace` finds the rollout (rollout_trace.h).
  if (traces_ && *latest) body["rollout"]["trace_id"] = controller::RolloutTraceId(**latest);
  body["requests"] = nullptr;
  if (traffic_) {
    // What Prometheus saw of the service's requests; its being away is said, not fatal.
    absl::StatusOr<std::optional<metrics::ServiceTraffic>> t = traffic_(service);
    if (!t.ok()) {
      body["requests_error"] = std::string(t.status().message());
    } else if (*t) {
      body["requests"] = {{"window", "1m"},
                          {"per_second", (*t)->requests_per_second},
                          {"error_ratio", (*t)->error_ratio},
                          {"p99_seconds", (*t)->p99_seconds ? json(*(*t)->p99_seconds)
                                                            : json(nullptr)}};
    }
  }
  if (dependencies_ != nullptr) {
    // Why the service's rollouts are held now (a dependency down), if they are.
    std::optional<std::string> blocked = dependencies_->Blocked(service);
    body["waiting"] = blocked ? json(*blocked) : json(nullptr);
  }
  return Response::Json(200, body);
}

Response ControlApi::History(const Request& request) const {
  Response error;
  if (WorkerFor(request, &error) == nullptr) return error;
  auto revisions = store_.ListRevisions(environment_.name, request.path_params.at("service"));
  if (!revisions.ok()) return FromStatus(revisions.status());
  json list = json::array();
  for (const auto& r : *revisions) list.push_back(RevisionJson(r));
  return Response::Json(200, {{"revisions", list}});
}

Response ControlApi::Deploy(const Request& request) const {
  Response error;
  controller::ServiceWorker* worker = WorkerFor(request, &error);
  if (worker == nullptr) return error;
  auto body = BodyObject(request);
  if (!body.ok()) return FromStatus(body.status());
  controller::DeployRequest deploy;
  auto version = body->find("version");
  if (version == body->end() || !version->is_string() || version->get<std::string>().empty()) {
    return Response::Error(400, "\"version\" (a non-empty string) is required");
  }
  deploy.version = version->get<std::string>();
  if (auto env = body->find("env"); env != body->end()) {
    if (!env->is_object()) return Response::Error(400, "\"env\" must be an object of strings");
    for (const auto& [key, value] : env->items()) {
      if (!value.is_string()) {
        return Response::Error(400, absl::StrCat("\"env.", key, "\" must be a string"));
      }
      deploy.env[key] = value.get<std::string>();
    }
  }
  if (auto strategy = body->find("strategy"); strategy != body->end()) {
    std::string name = strategy->is_string() ? strategy->get<std::string>() : "";
    for (spec::Strategy s :
         {spec::Strategy::kReplace, spec::Strategy::kRolling, spec::Strategy::kCanary}) {
      if (spec::Name(s) == name) deploy.strategy = s;
    }
    if (!deploy.strategy) {
      return Response::Error(400, "\"strategy\" must be one of replace, rolling, canary");
    }
  }
  auto rollout = worker->Run<absl::StatusOr<store::Rollout>>(
      [&deploy](controller::ServiceController& c) { return c.Deploy(deploy); },
      absl::CancelledError("server is stopping"));
  if (!rollout.ok()) return FromStatus(rollout.status());
  return Response::Json(201, {{"rollout", RolloutJson(*rollout)}});
}

Response ControlApi::Undo(const Request& request) const {
  Response error;
  controller::ServiceWorker* worker = WorkerFor(request, &error);
  if (worker == nullptr) return error;
  auto body = BodyObject(request);
  if (!body.ok()) return FromStatus(body.status());
  std::optional<int> to;
  if (auto r = body->find("to_revision"); r != body->end() && !r->is_null()) {
    if (!r->is_number_integer() || r->get<int64_t>() < 1) {
      return Response::Error(400, "\"to_revision\" must be a positive integer");
    }
    to = r->get<int>();
  }
  auto rollout = worker->Run<absl::StatusOr<store::Rollout>>(
      [to](controller::ServiceController& c) { return c.Undo(to); },
      absl::CancelledError("server is stopping"));
  if (!rollout.ok()) return FromStatus(rollout.status());
  // An undo rollout is never a canary: a canary answered is the one whose
  // rollback window the undo flips back.
  const bool flip = rollout->strategy == spec::Strategy::kCanary;
  return Response::Json(flip ? 202 : 201, {{"rollout", RolloutJson(*rollout)}, {"flip", flip}});
}

Response ControlApi::RestartRollout(const Request& request) const {
  Response error;
  controller::ServiceWorker* worker = WorkerFor(request, &error);
  if (worker == nullptr) return error;
  auto rollout = worker->Run<absl::StatusOr<store::Rollout>>(
      [](controller::ServiceController& c) { return c.Restart(); },
      absl::CancelledError("server is stopping"));
  if (!rollout.ok()) return FromStatus(rollout.status());
  return Response::Json(201, {{"rollout", RolloutJson(*rollout)}});
}

Response ControlApi::Promote(const Request& request) const {
  auto body = BodyObject(request);
  if (!body.ok()) return FromStatus(body.status());
  auto full = body->find("full");
  if (full != body->end() && !full->is_boolean()) {
    return Response::Error(400, "\"full\" must be true or false");
  }
  const bool all = full != body->end() && full->get<bool>();
  return Command(request, all ? rollout::Command::kPromoteFull : rollout::Command::kPromote);
}

Response ControlApi::Abort(const Request& request) const {
  return Command(request, rollout::Command::kAbort);
}

Response ControlApi::Retry(const Request& request) const {
  return Command(request, rollout::Command::kRetry);
}

Response ControlApi::Command(const Request& request, rollout::Command command) const {
  Response error;
  controller::ServiceWorker* worker = WorkerFor(request, &error);
  if (worker == nullptr) return error;
  auto rollout = worker->Run<absl::StatusOr<store::Rollout>>(
      [command](controller::ServiceController& c) { return c.Command(command); },
      absl::CancelledError("server is stopping"));
  if (!rollout.ok()) return FromStatus(rollout.status());
  return Response::Json(202, {{"rollout", RolloutJson(*rollout)},
                              {"command", std::string(rollout::CommandName(command))}});
}

Response ControlApi::Analysis(const Request& request) const {
  Response error;
  if (WorkerFor(request, &error) == nullptr) return error;
  const std::string& service = request.path_params.at("service");
  int revision = 0;
  if (!absl::SimpleAtoi(request.path_params.at("revision"), &revision) || revision < 1) {
    return Response::Error(400, "the revision must be a positive integer");
  }
  int attempt = 0;
  if (auto it = request.query.find("attempt"); it != request.query.end()) {
    if (!absl::SimpleAtoi(it->second, &attempt) || attempt < 1) {
      return Response::Error(400, "\"attempt\" must be a positive integer");
    }
  }
  controller::AnalysisKind kind = controller::AnalysisKind::kCanary;
  if (auto it = request.query.find("kind"); it != request.query.end()) {
    if (it->second == "window") {
      kind = controller::AnalysisKind::kWindow;
    } else if (it->second != "canary") {
      return Response::Error(400, "\"kind\" must be canary or window");
    }
  }
  auto rollout = store_.LatestRolloutTo(environment_.name, service, revision);
  if (!rollout.ok()) return FromStatus(rollout.status());
  if (!*rollout) {
    return Response::Error(404, absl::StrCat("no rollout of ", service, " to revision ", revision,
                                             " in ", environment_.name));
  }
  auto run = controller::LoadRecordedRun(store_, (*rollout)->id, attempt, kind);
  if (!run.ok()) return FromStatus(run.status());
  if (!*run) {
    return Response::Error(
        404, absl::StrCat("rollout ", (*rollout)->id, " of ", service, " to revision ", revision,
                          " recorded no ", controller::AnalysisKindName(kind) == "canary"
                                               ? "canary analysis"
                                               : "rollback-window watch",
                          attempt > 0 ? absl::StrCat(" for attempt ", attempt) : "",
                          " (only canary rollouts with a previous revision are analysed)"));
  }
  return Response::Json(200, analysis::RunToJson(**run));
}

Response ControlApi::Events(const Request& request) const {
  int64_t after = 0;
  int limit = 100;
  if (auto it = request.query.find("after"); it != request.query.end()) {
    if (!absl::SimpleAtoi(it->second, &after) || after < 0) {
      return Response::Error(400, "\"after\" must be a non-negative integer");
    }
  }
  if (auto it = request.query.find("limit"); it != request.query.end()) {
    if (!absl::SimpleAtoi(it->second, &limit) || limit < 1 || limit > 1000) {
      return Response::Error(400, "\"limit\" must be an integer in 1..1000");
    }
  }
  std::string service;
  if (auto it = request.query.find("service"); it != request.query.end()) service = it->second;
  auto events = store_.EventsAfter(after, limit, environment_.name, service);
  if (!events.ok()) return FromStatus(events.status());
  auto last = store_.LastEventId(environment_.name, service);
  if (!last.ok()) return FromStatus(last.status());
  json list = json::array();
  for (const auto& e : *events) list.push_back(EventJson(e));
  return Response::Json(200, {{"events", list}, {"last_id", *last}});
}

Response ControlApi::EventStream(const Request& request) const {
  std::optional<std::string> from;
  if (auto it = request.query.find("after"); it != request.query.end()) {
    from = it->second;
  } else if (auto header = request.Header("Last-Event-ID")) {
    from = *header;  // a reconnecting EventSource resumes where it was
  }
  std::string service;
  if (auto it = request.query.find("service"); it != request.query.end()) service = it->second;
  int64_t after = 0;
  if (from) {
    if (!absl::SimpleAtoi(*from, &after) || after < 0) {
      return Response::Error(400, "\"after\" (or Last-Event-ID) must be a non-negative integer");
    }
  } else {
    auto last = store_.LastEventId(environment_.name, service);
    if (!last.ok()) return FromStatus(last.status());
    after = *last;
  }
  return http::SseResponse([this, after, service](http::StreamWriter& out) {
    // New events are found by polling the store; OnClose cuts the wait short.
    struct Closed {
      absl::Mutex mu;
      bool closed ABSL_GUARDED_BY(mu) = false;
    };
    auto closed = std::make_shared<Closed>();
    out.OnClose([closed] {
      absl::MutexLock lock(&closed->mu);
      closed->closed = true;
    });
    constexpr auto kPoll = std::chrono::milliseconds(200);
    constexpr auto kKeepalive = std::chrono::seconds(15);
    int64_t last = after;
    TimePoint last_write = clock_.Now();
    while (out.open()) {
      auto events = store_.EventsAfter(last, 100, environment_.name, service);
      if (!events.ok()) {
        out.Write(http::FormatSseEvent(
            "error", "", json{{"message", std::string(events.status().message())}}.dump()));
        return;
      }
      for (const store::Event& e : *events) {
        if (!out.Write(http::FormatSseEvent(e.type, std::to_string(e.id), EventJson(e).dump()))) {
          return;
        }
        last = e.id;
        last_write = clock_.Now();
      }
      if (clock_.Now() - last_write > kKeepalive) {
        if (!out.Write(http::kSseKeepalive)) return;
        last_write = clock_.Now();
      }
      if (events->size() == 100) continue;  // more are waiting
      // The store is polled on real time; the keepalive follows the clock.
      absl::MutexLock lock(&closed->mu);
      if (closed->mu.AwaitWithTimeout(absl::Condition(&closed->closed), absl::FromChrono(kPoll))) {
        return;
      }
    }
  });
}

Response ControlApi::Shutdown(const Request&) const {
  if (!on_shutdown_) return Response::Error(501, "this server cannot be stopped through the API");
  logger_.Info("shutdown requested through the API");
  on_shutdown_();
  return Response::Json(202, {{"stopping", true}});
}

Response ControlApi::AlertWebhook(const Request& request) const {
  if (!alerts_) return Response::Error(501, "this server receives no alerts");
  absl::StatusOr<int> taken = alerts_(request.body);
  if (!taken.ok()) {
    const bool bad = taken.status().code() == absl::StatusCode::kInvalidArgument;
    logger_.Warn("alert notification refused", {{"error", std::string(taken.status().message())}});
    return Response::Error(bad ? 400 : 503,
                           absl::StrCat(bad ? "not an Alertmanager notification (webhook "
                                              "version 4): "
                                            : "the alerts could not be recorded: ",
                                        taken.status().message()));
  }
  return Response::Json(200, {{"recorded", *taken}});
}

Response ControlApi::Alerts(const Request& request) const {
  store::AlertQuery q;
  q.environment = environment_.name;
  if (auto it = request.query.find("limit"); it != request.query.end()) {
    if (!absl::SimpleAtoi(it->second, &q.limit) || q.limit < 1 || q.limit > 1000) {
      return Response::Error(400, "\"limit\" must be an integer in 1..1000");
    }
  }
  if (auto it = request.query.find("state"); it != request.query.end()) {
    q.state = store::ParseAlertState(it->second);
    if (!q.state) {
      return Response::Error(400, absl::StrCat("unknown state \"", it->second,
                                               "\" (expected firing, acked or resolved)"));
    }
  }
  auto alerts = store_.ListAlerts(q);
  if (!alerts.ok()) return FromStatus(alerts.status());
  json list = json::array();
  for (const store::Alert& a : *alerts) list.push_back(AlertJson(a));
  return Response::Json(200, {{"environment", environment_.name}, {"alerts", list}});
}

Response ControlApi::AcknowledgeAlert(const Request& request) const {
  if (!acknowledge_) return Response::Error(501, "this server tracks no alerts");
  int64_t id = 0;
  if (!absl::SimpleAtoi(request.path_params.at("id"), &id) || id < 1) {
    return Response::Error(400, absl::StrCat("alert id \"", request.path_params.at("id"),
                                             "\" is not a positive integer"));
  }
  absl::StatusOr<json> body = BodyObject(request);
  if (!body.ok()) return FromStatus(body.status());
  if (body->contains("by") && !(*body)["by"].is_string()) {
    return Response::Error(400, "\"by\" must be a string: who acknowledges");
  }
  auto acked = acknowledge_(id, body->value("by", ""));
  if (!acked.ok()) return FromStatus(acked.status());
  return Response::Json(200, AlertJson(*acked));
}

Response ControlApi::Silence(const Request& request) const {
  if (!alertmanager_.silence) return Response::Error(501, "this server knows no Alertmanager");
  absl::StatusOr<json> body = BodyObject(request);
  if (!body.ok()) return FromStatus(body.status());
  std::vector<std::string> matchers;
  if (!body->contains("matchers") || !(*body)["matchers"].is_array() ||
      (*body)["matchers"].empty()) {
    return Response::Error(400, "\"matchers\" must be a non-empty list such as [\"service=backend\"]");
  }
  for (const json& m : (*body)["matchers"]) {
    if (!m.is_string()) return Response::Error(400, "each matcher must be a string NAME=VALUE");
    matchers.push_back(m.get<std::string>());
  }
  const std::string length_text = body->value("for", "");
  absl::StatusOr<Duration> length = ParseDuration(length_text);
  if (!length.ok() || length->count() <= 0) {
    return Response::Error(400, absl::StrCat("\"for\": \"", length_text,
                                             "\" is not a duration above 0 such as 2h"));
  }
  const std::string comment = body->value("comment", "");
  if (comment.empty()) return Response::Error(400, "\"comment\" is required: say why");
  auto id = alertmanager_.silence(matchers, *length, comment, body->value("by", "hut"));
  if (!id.ok()) return FromStatus(id.status());
  return Response::Json(200, {{"silence_id", *id}});
}

namespace {

json SecretInfoJson(const secrets::SecretInfo& info) {
  json versions = json::array();
  for (const secrets::VersionInfo& v : info.versions) {
    versions.push_back({{"id", v.id}, {"stages", v.stages}, {"created", FormatTimestamp(v.created)}});
  }
  return {{"name", info.name}, {"versions", versions}};
}

}  // namespace

Response ControlApi::Secrets(const Request&) const {
  if (secrets_ == nullptr) return Response::Error(501, "this server keeps no secrets");
  auto list = secrets_->List();
  if (!list.ok()) return FromStatus(list.status());
  json out = json::array();
  for (const secrets::SecretInfo& info : *list) out.push_back(SecretInfoJson(info));
  return Response::Json(200, {{"environment", environment_.name},
                              {"backend", secrets_->backend().kind()},
                              {"secrets", out}});
}

Response ControlApi::SecretOf(const Request& request) const {
  if (secrets_ == nullptr) return Response::Error(501, "this server keeps no secrets");
  const std::string& name = request.path_params.at("name");
  auto info = secrets_->Describe(name);
  if (!info.ok()) return FromStatus(info.status());
  json out = SecretInfoJson(*info);
  out["backend"] = secrets_->backend().kind();
  if (auto it = request.query.find("reveal"); it != request.query.end() && it->second == "true") {
    auto by = request.query.find("by");
    auto value = secrets_->Reveal(name, by == request.query.end() ? "(unknown)" : by->second);
    if (!value.ok()) return FromStatus(value.status());
    out["version"] = value->version_id;
    out["value"] = value->value.Reveal();
  }
  return Response::Json(200, out);
}

Response ControlApi::SetSecret(const Request& request) const {
  if (secrets_ == nullptr) return Response::Error(501, "this server keeps no secrets");
  absl::StatusOr<json> body = BodyObject(request);
  if (!body.ok()) return FromStatus(body.status());
  if (!body->contains("value") || !(*body)["value"].is_string()) {
    return Response::Error(400, "\"value\" must be a string: the secret's new value");
  }
  Secret value((*body)["value"].get<std::string>());
  WipeString((*body)["value"].get_ref<std::string&>());
  auto version = secrets_->Set(request.path_params.at("name"), value, body->value("by", "(unknown)"));
  if (!version.ok()) return FromStatus(version.status());
  return Response::Json(200, {{"name", request.path_params.at("name")}, {"version", *version}});
}

Response ControlApi::RotateSecret(const Request& request) const {
  if (secrets_ == nullptr || !rotate_) return Response::Error(501, "this server rotates no secrets");
  absl::StatusOr<json> body = BodyObject(request);
  if (!body.ok()) return FromStatus(body.status());
  auto done = rotate_(request.path_params.at("name"), body->value("by", "(unknown)"));
  if (!done.ok()) return FromStatus(done.status());
  return Response::Json(200, *done);
}

Response ControlApi::TestAlert(const Request& request) const {
  if (!alertmanager_.test) return Response::Error(501, "this server knows no Alertmanager");
  absl::StatusOr<json> body = BodyObject(request);
  if (!body.ok()) return FromStatus(body.status());
  const std::string severity = body->value("severity", "");
  bool known = false;
  for (int i = 0; i < spec::kSeverityCount; ++i) {
    known |= spec::Name(static_cast<spec::Severity>(i)) == severity;
  }
  if (!known) {
    return Response::Error(400, absl::StrCat("unknown severity \"", severity,
                                             "\" (expected critical, high, medium, low, "
                                             "warning or info)"));
  }
  const std::string service = body->value("service", "");
  if (!service.empty() && !workers_.contains(service)) {
    return Response::Error(404, absl::StrCat("no service \"", service, "\" in ", environment_.name));
  }
  auto sent = alertmanager_.test(severity, service);
  if (!sent.ok()) return FromStatus(sent.status());
  return Response::Json(202, *sent);
}

Response ControlApi::Logs(const Request& request) const {
  const std::string& service = request.path_params.at("service");
  // Besides the services: hut itself, the load balancer and the backing
  // services, whose lines the local platform collects too.
  std::set<std::string> others = {"hut", "load-balancer"};
  for (const spec::BackingService& b : environment_.backing_services) others.insert(b.name);
  if (!others.contains(service) && !workers_.contains(service)) {
    std::string known;
    for (const auto& [name, worker] : workers_) {
      absl::StrAppend(&known, known.empty() ? "" : ", ", name);
    }
    for (const std::string& name : others) absl::StrAppend(&known, ", ", name);
    return Response::Error(
        404, absl::StrCat("unknown service \"", service, "\" (services: ", known, ")"));
  }
  if (!logs_) return Response::Error(501, "this server keeps no central log store");
  auto param = [&](const char* name) -> std::optional<std::string> {
    auto it = request.query.find(name);
    return it == request.query.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  logs::LogQuery q;
  q.service = service;
  const int64_t now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch()).count();
  if (auto since = param("since")) {
    absl::StatusOr<Duration> d = ParseDuration(*since);
    if (!d.ok() || d->count() <= 0) {
      return Response::Error(400, absl::StrCat("since \"", *since, "\": expected a duration such as 10m, 2h or 40d"));
    }
    q.from_ms = now_ms - d->count();
  }
  for (const auto& [name, field] : {std::pair{"from", &q.from_ms}, std::pair{"to", &q.to_ms}}) {
    if (auto text = param(name)) {
      std::optional<int64_t> t = logs::ParseTimestampMs(*text);
      if (!t) {
        return Response::Error(400, absl::StrCat(name, " \"", *text,
                                                 "\": expected an RFC 3339 time such as 2026-12-04T21:00:00Z"));
      }
      *field = *t;
    }
  }
  if (param("since") && param("from")) return Response::Error(400, "since and from exclude each other");
  if (auto level = param("level")) {
    std::optional<LogLevel> l = ParseLogLevel(*level);
    if (!l) return Response::Error(400, absl::StrCat("level \"", *level, "\": expected ERROR, WARN, INFO or DEBUG"));
    q.level = *l;
  }
  q.grep = param("grep").value_or("");
  q.trace_id = param("trace").value_or("");
  q.version = param("version").value_or("");
  if (auto after = param("after")) {
    int64_t cursor = 0;
    if (!absl::SimpleAtoi(*after, &cursor) || cursor < 0) {
      return Response::Error(400, "after must be a cursor this API answered");
    }
    q.after = cursor;
  }
  if (auto limit = param("limit")) {
    int n = 0;
    if (!absl::SimpleAtoi(*limit, &n) || n < 1 || n > 100'000) {
      return Response::Error(400, "limit must be an integer in 1..100000");
    }
    q.limit = static_cast<size_t>(n);
  }
  absl::StatusOr<logs::LogQueryResult> r = logs_(q);
  if (!r.ok()) return FromStatus(r.status());
  json lines = json::array();
  for (const logs::LogLine& l : r->lines) {
    json j = json::parse(l.line, nullptr, false);
    lines.push_back(j.is_object() ? std::move(j) : json{{"msg", l.line}});
  }
  return Response::Json(200, {{"service", service},
                              {"lines", std::move(lines)},
                              {"cursor", r->cursor},
                              {"truncated", r->truncated},
                              {"cold_days_read", r->cold_days_read}});
}

Response ControlApi::Trace(const Request& request) const {
  const std::string& id = request.path_params.at("trace_id");
  if (id.size() != 32 || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Response::Error(400, absl::StrCat("trace id \"", id, "\": expected 32 lowercase hex digits"));
  }
  json out = {{"trace_id", id}, {"spans", json::array()}, {"logs", json::array()}};
  if (!traces_) {
    out["spans_error"] = "this server has no trace backend";
  } else if (absl::StatusOr<std::vector<tracing::TraceSpan>> spans = traces_(id); spans.ok()) {
    for (const tracing::TraceSpan& s : *spans) out["spans"].push_back(tracing::TraceSpanJson(s));
  } else {
    out["spans_error"] = std::string(spans.status().message());
  }
  if (logs_) {
    logs::LogQuery q;
    q.trace_id = id;
    if (absl::StatusOr<logs::LogQueryResult> r = logs_(q); r.ok()) {
      for (const logs::LogLine& l : r->lines) {
        json j = json::parse(l.line, nullptr, false);
        if (j.is_object()) out["logs"].push_back(std::move(j));
      }
    } else {
      out["logs_error"] = std::string(r.status().message());
    }
  }
  if (out["spans"].empty() && out["logs"].empty()) {
    return Response::Error(404, absl::StrCat("no span and no log line of trace ", id,
                                             out.contains("spans_error")
                                                 ? absl::StrCat(" (", out["spans_error"].get<std::string>(), ")")
                                                 : ""));
  }
  return Response::Json(200, out);
}

}  // namespace hut::server

#include "src/server/control_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "src/http/client.h"
#include "src/http/server.h"
#include "src/http/sse.h"
#include "src/spec/load.h"
#include "src/store/sqlite_store.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"
#include "testing/fake_runtime.h"

namespace hut::server {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

class ControlApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec::LoadResult loaded = spec::ParseSpec(R"(
services:
  backend:
    release: {command: [foohut-api, serve]}
environments:
  staging:
    runtime: local
    strategy: rolling
    services: {backend: {replicas: 3}}
)",
                                              "test.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.problems[0].ToString();
    spec_ = *loaded.spec;
    auto store = store::SqliteStore::Open(":memory:", clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    const spec::Environment& env = *spec_.FindEnvironment("staging");
    worker_ = std::make_unique<controller::ServiceWorker>(
        std::make_unique<controller::ServiceController>(
            spec_, env, *spec_.FindService("backend"), runtime_, *store_, clock_, log_),
        clock_, milliseconds(5), log_);
    api_ = std::make_unique<ControlApi>(
        env, std::map<std::string, controller::ServiceWorker*>{{"backend", worker_.get()}},
        runtime_, *store_, Secret("s3cret-token"), log_);
  }

  http::Response Call(const std::string& method, const std::string& target,
                      const std::string& body = "", const std::string& token = "s3cret-token") {
    http::Request r;
    r.method = method;
    r.target = target;
    size_t q = target.find('?');
    r.path = target.substr(0, q);
    if (q != std::string::npos) r.query = http::ParseQuery(target.substr(q + 1));
    r.body = body;
    if (!token.empty()) r.headers.emplace("Authorization", "Bearer " + token);
    return api_->Handle(r);
  }

  void WaitFinished() {
    for (int i = 0; i < 2000; ++i) {
      runtime_.Step();
      clock_.Advance(milliseconds(5));  // the worker's tick
      clock_.WaitForWaiter();
      auto latest = store_->LatestRollout("staging", "backend");
      if (*latest && (*latest)->finished_at) return;
    }
    FAIL() << "rollout did not finish";
  }

  testing::FakeClock clock_;
  testing::CaptureLogSink sink_;
  Logger log_{sink_, clock_, "api"};
  testing::FakeRuntime runtime_{clock_};
  spec::Spec spec_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<controller::ServiceWorker> worker_;
  std::unique_ptr<ControlApi> api_;
};

TEST_F(ControlApiTest, EveryRequestNeedsTheToken) {
  for (const std::string& token : {std::string(""), std::string("wrong")}) {
    http::Response r = Call("GET", "/api/v1/services", "", token);
    EXPECT_EQ(r.status, 401);
    EXPECT_EQ(json::parse(r.body)["error"]["code"], 401);
  }
  EXPECT_EQ(Call("GET", "/api/v1/services").status, 200);
}

TEST_F(ControlApiTest, DeployStatusHistoryUndo) {
  http::Response deployed = Call("POST", "/api/v1/services/backend/deploy",
                                 R"({"version": "1.0.0", "env": {"FOOHUT_FAULTS": ""}})");
  ASSERT_EQ(deployed.status, 201) << deployed.body;
  EXPECT_EQ(json::parse(deployed.body)["rollout"]["to_revision"], 1);
  WaitFinished();
  ASSERT_EQ(Call("POST", "/api/v1/services/backend/deploy", R"({"version": "2.0.0"})").status,
            201);
  WaitFinished();
  json status = json::parse(Call("GET", "/api/v1/services/backend/rollout").body);
  EXPECT_EQ(status["rollout"]["phase"], "succeeded");
  int serving = 0;
  for (const json& r : status["replicas"]) serving += r["draining"] ? 0 : 1;
  EXPECT_EQ(serving, 3);
  json history = json::parse(Call("GET", "/api/v1/services/backend/history").body);
  ASSERT_EQ(history["revisions"].size(), 2u);
  EXPECT_EQ(history["revisions"][0]["version"], "2.0.0");
  EXPECT_EQ(history["revisions"][1]["env"]["FOOHUT_FAULTS"], "");
  http::Response undo = Call("POST", "/api/v1/services/backend/undo", "");
  ASSERT_EQ(undo.status, 201) << undo.body;
  WaitFinished();
  json services = json::parse(Call("GET", "/api/v1/services").body);
  EXPECT_EQ(services["services"][0]["current_revision"], 3);
  json events = json::parse(Call("GET", "/api/v1/events?after=0&service=backend").body);
  EXPECT_GT(events["events"].size(), 3u);
  EXPECT_EQ(events["events"][0]["type"], "rollout.started");
}

TEST_F(ControlApiTest, BadRequestsGetClearErrors) {
  struct Case {
    std::string method, target, body;
    int status;
    std::string message_part;
  };
  for (const Case& c : std::vector<Case>{
           {"POST", "/api/v1/services/nope/deploy", R"({"version":"1"})", 404, "unknown service"},
           {"POST", "/api/v1/services/backend/deploy", "{", 400, "JSON object"},
           {"POST", "/api/v1/services/backend/deploy", R"({"version": 3})", 400, "version"},
           {"POST", "/api/v1/services/backend/deploy", R"({"version":"1","env":{"A":1}})", 400,
            "env.A"},
           {"POST", "/api/v1/services/backend/deploy", R"({"version":"1","strategy":"blue"})",
            400, "strategy"},
           {"POST", "/api/v1/services/backend/undo", R"({"to_revision": 7})", 404,
            "no revision 7"},
           {"POST", "/api/v1/services/backend/undo", R"({"to_revision": "x"})", 400,
            "to_revision"},
           {"GET", "/api/v1/services?env=production", "", 400, "runs environment"},
           {"GET", "/api/v1/events?after=x", "", 400, "after"},
       }) {
    http::Response r = Call(c.method, c.target, c.body);
    EXPECT_EQ(r.status, c.status) << c.target << " " << c.body << " -> " << r.body;
    EXPECT_NE(r.body.find(c.message_part), std::string::npos) << r.body;
  }
  // A deploy while another rollout runs is refused (not queued).
  ASSERT_EQ(Call("POST", "/api/v1/services/backend/deploy", R"({"version":"1"})").status, 201);
  http::Response busy = Call("POST", "/api/v1/services/backend/deploy", R"({"version":"2"})");
  // (The fake world is not stepped here, so the first rollout cannot finish.)
  EXPECT_EQ(busy.status, 409) << busy.body;
  EXPECT_NE(busy.body.find("still running"), std::string::npos);
}

// A body nested as deep as the 1 MiB request cap allows (a stack-hungry
// parse or destruction would crash the control plane) is a clear 400.
TEST_F(ControlApiTest, DeeplyNestedBodiesAreRefusedNotACrash) {
  const std::string deep = std::string(500'000, '[') + std::string(500'000, ']');
  http::Response r = Call("POST", "/api/v1/services/backend/deploy", deep);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("JSON object"), std::string::npos) << r.body;
  const std::string deep_object = "{\"version\":" + std::string(400'000, '[') + "1" +
                                  std::string(400'000, ']') + "}";
  r = Call("POST", "/api/v1/services/backend/deploy", deep_object);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Call("GET", "/api/v1/services").status, 200);  // and it still answers
}

// The live feed over a real connection: events arrive as server-sent events,
// in order, while the rollout runs; the feed needs the token too.
TEST_F(ControlApiTest, EventStreamDeliversARolloutLive) {
  auto server = http::Server::Start({.port = 0},
                                    [this](const http::Request& r) { return api_->Handle(r); });
  ASSERT_TRUE(server.ok()) << server.status();
  const uint16_t port = (*server)->port();
  http::ClientRequest req{.port = port, .target = "/api/v1/events/stream?service=backend"};
  req.timeout = std::chrono::seconds(10);

  auto refused = http::FetchStream(req, [](std::string_view) { return true; });
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->status, 401);

  req.headers.emplace("Authorization", "Bearer s3cret-token");
  std::vector<http::SseEvent> received;
  std::thread reader([&] {
    http::SseParser parser;
    auto r = http::FetchStream(req, [&](std::string_view piece) {
      auto events = parser.Feed(piece);
      if (!events.ok()) return false;
      for (http::SseEvent& e : *events) received.push_back(std::move(e));
      return received.empty() || received.back().event != "rollout.succeeded";
    });
    EXPECT_TRUE(r.ok()) << r.status();
  });
  // The stream starts at the newest event: this deploy's events all come after.
  std::this_thread::sleep_for(milliseconds(300));
  ASSERT_EQ(Call("POST", "/api/v1/services/backend/deploy", R"({"version":"1.0.0"})").status, 201);
  WaitFinished();

  reader.join();

  ASSERT_FALSE(received.empty());
  EXPECT_EQ(received.front().event, "rollout.started");
  EXPECT_EQ(received.back().event, "rollout.succeeded");
  int64_t previous = 0;
  for (const http::SseEvent& e : received) {
    json data = json::parse(e.data);
    EXPECT_EQ(data["type"], e.event);
    EXPECT_EQ(data["service"], "backend");
    EXPECT_EQ(std::to_string(data["id"].get<int64_t>()), e.id);
    EXPECT_GT(data["id"].get<int64_t>(), previous);
    previous = data["id"];
  }

  // Resuming from an id replays what came after it.
  req.target = "/api/v1/events/stream?after=" + received[0].id;
  std::vector<http::SseEvent> replayed;
  http::SseParser parser;
  auto again = http::FetchStream(req, [&](std::string_view piece) {
    auto events = parser.Feed(piece);
    if (!events.ok()) return false;
    for (http::SseEvent& e : *events) replayed.push_back(std::move(e));
    return replayed.size() < received.size() - 1;
  });
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(replayed.size(), received.size() - 1);
  EXPECT_EQ(replayed.front().id, received[1].id);
  EXPECT_TRUE((*server)->Shutdown(std::chrono::seconds(5)));
}

TEST_F(ControlApiTest, OperatorCommandsAndExportRefuseWhatDoesNotApply) {
  // No rollout yet: nothing to command.
  http::Response none = Call("POST", "/api/v1/services/backend/rollout/abort");
  EXPECT_EQ(none.status, 409) << none.body;
  EXPECT_NE(none.body.find("has no rollout"), std::string::npos) << none.body;

  ASSERT_EQ(Call("POST", "/api/v1/services/backend/deploy", R"({"version": "1.0.0"})").status,
            201);
  WaitFinished();
  // A rolling rollout takes no promote, and a finished one no abort.
  http::Response promote = Call("POST", "/api/v1/services/backend/rollout/promote");
  EXPECT_EQ(promote.status, 409) << promote.body;
  EXPECT_NE(promote.body.find("only a canary"), std::string::npos) << promote.body;
  http::Response abort = Call("POST", "/api/v1/services/backend/rollout/abort");
  EXPECT_EQ(abort.status, 409) << abort.body;
  EXPECT_EQ(Call("POST", "/api/v1/services/backend/rollout/promote", R"({"full": "yes"})").status,
            400);
  EXPECT_EQ(Call("POST", "/api/v1/services/nope/rollout/retry").status, 404);

  // Export: a bad revision, an unknown one, and a rollout that recorded nothing.
  EXPECT_EQ(Call("GET", "/api/v1/services/backend/revisions/x/analysis").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/services/backend/revisions/1/analysis?kind=other").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/services/backend/revisions/9/analysis").status, 404);
  http::Response nothing = Call("GET", "/api/v1/services/backend/revisions/1/analysis");
  EXPECT_EQ(nothing.status, 404) << nothing.body;
  EXPECT_NE(nothing.body.find("recorded no canary analysis"), std::string::npos) << nothing.body;
}

}  // namespace
}  // namespace hut::server

namespace hut::server {
namespace {

// GET .../logs over a real log store (SQLite files in a temporary folder).
TEST_F(ControlApiTest, LogsAreFilteredFollowedAndBadParametersAreClear) {
  RealClock real;
  logs::LogServiceOptions o;
  o.hot_dir = ::testing::TempDir() + "/control-api-logs";
  std::filesystem::remove_all(o.hot_dir);
  auto service = logs::LogService::Start(o, real);
  ASSERT_TRUE(service.ok()) << service.status();
  api_->ReadLogsWith([s = service->get()](const logs::LogQuery& q) { return s->Query(q); });
  const std::string now = FormatTimestamp(real.Now());
  LogSink& replicas = (*service)->SinkFor("");
  replicas.Write(absl::StrCat(R"({"ts":")", now, R"(","level":"WARN","msg":"slow","service":"backend",)",
                              R"("replica":"backend-1","trace_id":"t1"})"));
  replicas.Write(absl::StrCat(R"({"ts":")", now, R"(","level":"INFO","msg":"ok","service":"backend",)",
                              R"("replica":"backend-2","version":"2.0.0"})"));
  (*service)->SinkFor("hut").Write(absl::StrCat(R"({"ts":")", now, R"(","level":"INFO","msg":"tick"})"));
  (*service)->Flush();

  auto msgs = [&](const std::string& target) {
    http::Response r = Call("GET", target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    std::vector<std::string> out;
    const json answer = json::parse(r.body);
    for (const json& l : answer["lines"]) out.push_back(l["msg"]);
    return out;
  };
  EXPECT_EQ(msgs("/api/v1/services/backend/logs?since=1h"), (std::vector<std::string>{"slow", "ok"}));
  EXPECT_EQ(msgs("/api/v1/services/backend/logs?level=warn"), std::vector<std::string>{"slow"});
  EXPECT_EQ(msgs("/api/v1/services/backend/logs?trace=t1"), std::vector<std::string>{"slow"});
  EXPECT_EQ(msgs("/api/v1/services/backend/logs?version=2.0.0"), std::vector<std::string>{"ok"});
  EXPECT_EQ(msgs("/api/v1/services/backend/logs?grep=slo"), std::vector<std::string>{"slow"});
  EXPECT_EQ(msgs("/api/v1/services/hut/logs"), std::vector<std::string>{"tick"});
  EXPECT_EQ(msgs("/api/v1/services/backend/logs?since=1h&to=2000-01-01T00:00:00Z"), std::vector<std::string>{});

  // Following: only what came after the cursor.
  const int64_t cursor = json::parse(Call("GET", "/api/v1/services/backend/logs").body)["cursor"];
  replicas.Write(absl::StrCat(R"({"ts":")", now, R"(","level":"INFO","msg":"new","service":"backend"})"));
  (*service)->Flush();
  EXPECT_EQ(msgs(absl::StrCat("/api/v1/services/backend/logs?after=", cursor)), std::vector<std::string>{"new"});

  for (const auto& [target, status, words] : std::vector<std::tuple<std::string, int, std::string>>{
           {"/api/v1/services/nope/logs", 404, "unknown service \"nope\" (services: backend, hut, load-balancer)"},
           {"/api/v1/services/backend/logs?since=soon", 400, "since \"soon\": expected a duration"},
           {"/api/v1/services/backend/logs?since=-5m", 400, "since \"-5m\""},
           {"/api/v1/services/backend/logs?from=yesterday", 400, "from \"yesterday\": expected an RFC 3339 time"},
           {"/api/v1/services/backend/logs?since=1h&from=2026-01-01T00:00:00Z", 400, "exclude each other"},
           {"/api/v1/services/backend/logs?level=LOUD", 400, "level \"LOUD\": expected ERROR, WARN, INFO or DEBUG"},
           {"/api/v1/services/backend/logs?limit=0", 400, "limit must be an integer in 1..100000"},
           {"/api/v1/services/backend/logs?after=x", 400, "after must be a cursor"},
       }) {
    http::Response r = Call("GET", target);
    EXPECT_EQ(r.status, status) << target;
    const std::string message = json::parse(r.body)["error"]["message"];
    EXPECT_NE(message.find(words), std::string::npos) << target << ": " << message;
  }
}

TEST_F(ControlApiTest, LogsWithoutAStoreAre501) {
  EXPECT_EQ(Call("GET", "/api/v1/services/backend/logs").status, 501);
}

TEST_F(ControlApiTest, LogsOfTheLoadBalancerAndBackingServicesAreKnownNames) {
  api_->ReadLogsWith([](const logs::LogQuery&) { return logs::LogQueryResult{}; });
  EXPECT_EQ(Call("GET", "/api/v1/services/load-balancer/logs").status, 200);
  EXPECT_EQ(Call("GET", "/api/v1/services/hut/logs").status, 200);
  http::Response unknown = Call("GET", "/api/v1/services/nope/logs");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.body, ::testing::HasSubstr("backend, hut, load-balancer"));
}

TEST_F(ControlApiTest, AlertmanagersWebhookTakesItsTokenAndSaysWhatIsWrong) {
  const std::string kWebhook = "/api/v1/alerts/webhook";
  EXPECT_EQ(Call("POST", kWebhook, "{}").status, 501);  // no receiver
  std::vector<std::string> bodies;
  api_->ReceiveAlertsWith(
      [&bodies](std::string_view body) -> absl::StatusOr<int> {
        if (body == "bad") return absl::InvalidArgumentError("alerts: expected an array");
        if (body == "down") return absl::UnavailableError("store down");
        bodies.emplace_back(body);
        return 2;
      },
      Secret("am-token"));
  http::Response ok = Call("POST", kWebhook, "good", "am-token");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["recorded"], 2);
  EXPECT_EQ(Call("POST", kWebhook, "good").status, 200);  // the admin token works too
  EXPECT_EQ(bodies.size(), 2u);
  http::Response bad = Call("POST", kWebhook, "bad", "am-token");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, ::testing::HasSubstr("alerts: expected an array"));
  EXPECT_EQ(Call("POST", kWebhook, "down", "am-token").status, 503);  // Alertmanager retries
  // Its token opens nothing else.
  EXPECT_EQ(Call("GET", "/api/v1/services", "", "am-token").status, 401);
  EXPECT_EQ(Call("POST", kWebhook, "good", "wrong").status, 401);
}

TEST_F(ControlApiTest, AlertsAreListedAcknowledgedSilencedAndTestedWithClearErrors) {
  store::Alert a;
  a.environment = "staging";
  a.fingerprint = "fp1";
  a.name = "HighErrorRate";
  a.severity = "critical";
  a.service = "backend";
  a.deadline = clock_.Now() + std::chrono::minutes(5);
  auto saved = store_->SaveAlert(a, {}, {});
  ASSERT_TRUE(saved.ok()) << saved.status();
  http::Response list = Call("GET", "/api/v1/alerts?state=firing");
  ASSERT_EQ(list.status, 200) << list.body;
  const json alerts = json::parse(list.body)["alerts"];
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["name"], "HighErrorRate");
  EXPECT_EQ(alerts[0]["state"], "firing");
  EXPECT_TRUE(alerts[0]["deadline"].is_string());
  EXPECT_TRUE(json::parse(Call("GET", "/api/v1/alerts?state=acked").body)["alerts"].empty());
  EXPECT_EQ(Call("GET", "/api/v1/alerts?state=sleeping").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/alerts?limit=0").status, 400);

  const std::string ack = absl::StrCat("/api/v1/alerts/", saved->id, "/ack");
  EXPECT_EQ(Call("POST", ack, R"({"by":"ada"})").status, 501);  // no router
  std::string acked_by;
  api_->AcknowledgeAlertsWith([&](int64_t id, const std::string& by) -> absl::StatusOr<store::Alert> {
    if (id != saved->id) return absl::NotFoundError("no alert");
    acked_by = by;
    store::Alert done = *saved;
    done.state = store::AlertState::kAcked;
    done.acked_by = by;
    return done;
  });
  http::Response ok = Call("POST", ack, R"({"by":"ada"})");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["acked_by"], "ada");
  EXPECT_EQ(acked_by, "ada");
  EXPECT_EQ(Call("POST", "/api/v1/alerts/999/ack").status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/alerts/x/ack").status, 400);
  EXPECT_EQ(Call("POST", ack, R"({"by":3})").status, 400);

  std::vector<std::string> silenced;
  std::string tested;
  api_->ActOnAlertmanagerWith(
      {.silence = [&](const std::vector<std::string>& m, Duration length, const std::string&,
                      const std::string&) -> absl::StatusOr<std::string> {
         silenced = m;
         EXPECT_EQ(length, std::chrono::hours(2));
         return std::string("silence-1");
       },
       .test = [&](const std::string& severity, const std::string& service)
           -> absl::StatusOr<json> {
         tested = severity + "/" + service;
         return json::object();
       }});
  http::Response silence = Call("POST", "/api/v1/alerts/silences",
                                R"({"matchers":["service=backend"],"for":"2h","comment":"deploy"})");
  EXPECT_EQ(silence.status, 200) << silence.body;
  EXPECT_EQ(json::parse(silence.body)["silence_id"], "silence-1");
  EXPECT_EQ(silenced, std::vector<std::string>{"service=backend"});
  for (const char* bad : {R"({"for":"2h","comment":"x"})", R"({"matchers":["a=b"],"comment":"x"})",
                          R"({"matchers":["a=b"],"for":"soon","comment":"x"})",
                          R"({"matchers":["a=b"],"for":"2h"})"}) {
    EXPECT_EQ(Call("POST", "/api/v1/alerts/silences", bad).status, 400) << bad;
  }
  EXPECT_EQ(Call("POST", "/api/v1/alerts/test", R"({"severity":"critical","service":"backend"})")
                .status,
            202);
  EXPECT_EQ(tested, "critical/backend");
  EXPECT_EQ(Call("POST", "/api/v1/alerts/test", R"({"severity":"urgent"})").status, 400);
  EXPECT_EQ(Call("POST", "/api/v1/alerts/test", R"({"severity":"info","service":"nope"})").status,
            404);
}

}  // namespace
}  // namespace hut::server

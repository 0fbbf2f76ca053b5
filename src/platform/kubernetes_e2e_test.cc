// hut end to end on Kubernetes: the `hut` binary as `hut server --env
// production --kubeconfig` against the real control plane of
// scripts/k8s-testbed.sh, driven by the CLI. kwok plays the pods (images
// kwok.test/never-ready... never turn ready); the canary's analysis reads a
// real Prometheus scraping real foohut-api processes labelled as the
// revisions' pods; a real Alertmanager, configured by hut's generator as the
// monitoring chart's is, sends alerts to the server's webhook with a token
// from a group-readable file (as a mounted Secret is), and hut pages a local
// PagerDuty receiver. The tests run in order and share the server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "src/common/base64.h"
#include "src/common/subprocess.h"
#include "src/http/client.h"
#include "src/local/jaeger_server.h"
#include "src/local/prometheus_server.h"
#include "src/monitoring/alertmanager_config.h"
#include "src/spec/load.h"
#include "testing/alert_receivers.h"
#include "testing/k8s_testbed.h"
#include "testing/test_env.h"

namespace hut::platform {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

constexpr char kNs[] = "foohut-production";
constexpr char kRoutingKey[] = "R0UTINGKEY0000000000000000000000";

struct HutResult {
  int code = -1;
  std::string output;
};

class KubernetesEndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    auto tb = testing::K8sTestbed::Start();
    ASSERT_TRUE(tb.ok()) << tb.status();
    testbed_ = tb->release();
    ASSERT_TRUE(testbed_->Kubectl({"create", "namespace", kNs}).ok());
    api_port_ = testing::PickFreePort();
    prometheus_port_ = testing::PickFreePort();
    auto pagerduty = testing::PagerDutyReceiver::Start({kRoutingKey});
    ASSERT_TRUE(pagerduty.ok()) << pagerduty.status();
    pagerduty_ = pagerduty->release();
    std::ofstream(dir_->path() + "/pagerduty.key") << kRoutingKey << "\n";
    std::ofstream(dir_->path() + "/foohut.yaml") << R"(
project: foohut
services:
  backend:
    port: 8080
    release:
      command: [foohut-api, serve]
      image: "kwok.test/{{version}}"
      env:
        FOOHUT_DATABASE_CREDENTIALS_FILE: "{{secrets.database.file}}"
        FOOHUT_JWT_KEYS_FILE: "{{secrets.jwt.file}}"
    health: {interval: 1s, start_period: 2s}
environments:
  production:
    runtime: kubernetes
    strategy: canary
    namespace: foohut-production
    domain: foohut.com
    services:
      backend: {replicas: 3}
    policies:
      rolling: {progress_deadline: 60s}
      canary: {weight: 10%, analysis: 30s, rollback_window: 5s}
      alerting:
        severities: {critical: {group_wait: 2s, group_interval: 5s}}
        pagerduty: {events_url: ")" + pagerduty_->url() + R"(", routing_key_file: pagerduty.key}
)";
    StartMetricsPods();
    StartAlertmanager();
    StartServer();
  }

  // Alertmanager with the configuration the monitoring chart ships, but
  // hut's webhook on this machine; its token in a file of mode 0440, as the
  // chart's Secret volume mounts it for the pod's fsGroup.
  static void StartAlertmanager() {
    const std::string token_file = dir_->path() + "/alertmanager-token/token";
    std::filesystem::create_directories(dir_->path() + "/alertmanager-token");
    std::ofstream(token_file) << "0123456789abcdef0123456789abcdef\n";
    ASSERT_EQ(chmod(token_file.c_str(), 0440), 0);
    spec::LoadResult loaded = spec::LoadSpecFile(dir_->path() + "/foohut.yaml");
    ASSERT_TRUE(loaded.ok());
    local::AlertmanagerOptions o;
    o.dir = dir_->path() + "/alertmanager";
    o.port = testing::PickFreePort();
    auto config = monitoring::AlertmanagerConfigFor(
        *loaded.spec, "production",
        absl::StrCat("http://127.0.0.1:", api_port_, monitoring::kAlertWebhookPath), token_file);
    ASSERT_TRUE(config.ok()) << config.status();
    o.config = *config;
    auto alertmanager = local::AlertmanagerServer::Start(o);
    ASSERT_TRUE(alertmanager.ok()) << alertmanager.status();
    alertmanager_ = alertmanager->release();
  }

  // Real foohut-api processes that play the pods' metrics (kwok's pods run
  // nothing), each labelled as a pod of its revision, scraped by a real
  // Prometheus, and steady traffic to them: revision 2 (the baseline of the
  // first canary) and 4 healthy, 5 answering only 500s.
  static void StartMetricsPods() {
    std::string targets;
    for (auto [revision, faults] : std::vector<std::pair<int, std::string>>{
             {2, ""}, {4, ""}, {5, "errors=1"}, {7, ""}, {8, ""}}) {
      const uint16_t port = testing::PickFreePort();
      ProcessOptions run;
      run.argv = {testing::BinPath("foohut-api"), "serve", "--static",
                  testing::SourceDir() + "/web"};
      run.env = {{"PORT", std::to_string(port)}, {"FOOHUT_FAULTS", faults},
                 {"FOOHUT_LOG_LEVEL", "WARN"}};
      run.stdout_mode = run.stderr_mode = OutputMode::kNull;
      auto p = Process::Spawn(run);
      ASSERT_TRUE(p.ok()) << p.status();
      metric_pods_.push_back(p->release());
      metric_ports_.push_back(port);
      absl::StrAppend(&targets, "      - targets: ['127.0.0.1:", port, "']\n",
                      "        labels: {namespace: foohut-production, service: backend, ",
                      "revision: '", revision, "', pod: foohut-backend-metrics-r", revision, "}\n");
    }
    local::PrometheusOptions o;
    o.dir = dir_->path() + "/prometheus";
    o.port = prometheus_port_;
    o.config = absl::StrCat("global: {scrape_interval: 500ms}\nscrape_configs:\n",
                            "  - job_name: pods\n    static_configs:\n", targets);
    auto prometheus = local::PrometheusServer::Start(o);
    ASSERT_TRUE(prometheus.ok()) << prometheus.status();
    prometheus_ = prometheus->release();
    // Where hut server sends its rollouts' traces (--otlp-endpoint) and what
    // `hut trace` reads (--trace-query).
    local::JaegerOptions j;
    j.dir = dir_->path() + "/jaeger";
    j.query_port = testing::PickFreePort();
    j.otlp_port = testing::PickFreePort();
    auto jaeger = local::JaegerServer::Start(j);
    ASSERT_TRUE(jaeger.ok()) << jaeger.status();
    jaeger_ = jaeger->release();
    traffic_ = new std::thread([] {
      while (!stop_traffic_.load()) {
        for (uint16_t port : metric_ports_) {
          http::ClientRequest req;
          req.port = port;
          req.target = "/index.html";
          (void)http::Fetch(req);
        }
        std::this_thread::sleep_for(milliseconds(5));
      }
    });
  }

  static void TearDownTestSuite() {
    stop_traffic_.store(true);
    if (traffic_ != nullptr) traffic_->join();
    delete traffic_;
    delete prometheus_;
    delete jaeger_;
    delete alertmanager_;
    for (Process* p : metric_pods_) {
      p->Stop(seconds(5));
      delete p;
    }
    StopServer(SIGTERM);
    delete pagerduty_;
    delete testbed_;
    testbed_ = nullptr;
    delete dir_;
  }

  static void StartServer() {
    ProcessOptions o;
    o.argv = {testing::BinPath("hut"), "server", "-f", dir_->path() + "/foohut.yaml", "--env",
              "production", "--kubeconfig", testbed_->kubeconfig(), "--prometheus",
              absl::StrCat("http://127.0.0.1:", prometheus_port_), "--state",
              dir_->path() + "/state", "--listen", absl::StrCat("127.0.0.1:", api_port_),
              "--otlp-endpoint", jaeger_->otlp_endpoint(), "--trace-query", jaeger_->query_url(),
              "--alertmanager", alertmanager_->url(), "--alert-token-file",
              dir_->path() + "/alertmanager-token/token"};
    o.env = Env();
    o.stdout_mode = o.stderr_mode = OutputMode::kFile;
    o.stdout_path = o.stderr_path = dir_->path() + "/server.log";
    auto p = Process::Spawn(o);
    ASSERT_TRUE(p.ok()) << p.status();
    server_ = p->release();
    HutResult probe;
    for (int i = 0; i < 300; ++i) {
      probe = Hut({"rollout", "history", "backend"});
      if (probe.code == 0) return;
      ASSERT_FALSE(server_->TryWait().has_value()) << "hut server exited:\n" << ServerLog();
      std::this_thread::sleep_for(milliseconds(100));
    }
    FAIL() << "hut server did not become ready: " << probe.output << "\n" << ServerLog();
  }

  static void StopServer(int signal) {
    if (server_ == nullptr) return;
    server_->Stop(seconds(30), signal);
    delete server_;
    server_ = nullptr;
  }

  static std::map<std::string, std::string> Env() {
    return {{"HOME", dir_->path()},
            {"HUT_ADDR", absl::StrCat("127.0.0.1:", api_port_)},
            {"HUT_TOKEN_FILE", dir_->path() + "/state/admin-token"}};
  }

  static std::string ServerLog() {
    std::ifstream in(dir_->path() + "/server.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  static HutResult Hut(std::vector<std::string> args, milliseconds timeout = seconds(120)) {
    ProcessOptions o;
    o.argv = {testing::BinPath("hut")};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env = Env();
    o.working_dir = dir_->path();
    auto r = RunCommand(o, timeout);
    if (!r.ok()) return {-1, r.status().ToString()};
    return {r->status.exited ? r->status.code : 128 + r->status.signal, r->output};
  }

  static json Status() {
    HutResult r = Hut({"rollout", "status", "backend", "-o", "json"});
    EXPECT_EQ(r.code, 0) << r.output;
    json j = json::parse(r.output, nullptr, false);
    return j.is_object() ? j : json::object();
  }

  static std::vector<json> Events(const std::string& query = "service=backend") {
    std::ifstream token_file(dir_->path() + "/state/admin-token");
    std::string token;
    std::getline(token_file, token);
    http::ClientRequest request;
    request.port = api_port_;
    request.target = "/api/v1/events?limit=1000&" + query;
    request.headers.emplace("Authorization", "Bearer " + token);
    auto response = http::Fetch(request);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    json page = json::parse(response->body, nullptr, false);
    if (!page.is_object() || !page["events"].is_array()) return {};
    return page["events"].get<std::vector<json>>();
  }

  static std::vector<json> EventsOf(int64_t rollout_id, const std::string& type) {
    std::vector<json> out;
    for (const json& e : Events()) {
      if (e["rollout_id"] == rollout_id && e["type"] == type) out.push_back(e);
    }
    return out;
  }

  static double Seconds(const json& event) {
    absl::Time t;
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, event["at"].get<std::string>(), &t, &error)) {
      return std::nan("");
    }
    return absl::ToDoubleSeconds(t - absl::UnixEpoch());
  }

  static json Get(const std::string& what) {
    auto out = testbed_->Kubectl({"-n", kNs, "get", what, "-o", "json"});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? json::parse(*out) : json();
  }
  static std::vector<std::string> Names(const std::string& kind) {
    std::vector<std::string> names;
    const json list = Get(kind);
    for (const json& item : list["items"]) names.push_back(item["metadata"]["name"]);
    return names;
  }
  static int64_t LatestRolloutId() { return Status()["rollout"].value("id", int64_t{0}); }

  // Pods of the service by revision label, those not being deleted.
  static std::map<std::string, int> PodsByRevision() {
    std::map<std::string, int> out;
    const json pods = Get("pods");
    for (const json& p : pods["items"]) {
      if (p["metadata"].contains("deletionTimestamp")) continue;
      out[p["metadata"]["labels"].value("hut.foohut.dev/revision", "?")]++;
    }
    return out;
  }

  // What the cluster holds, for failure messages.
  static std::string World() {
    return testbed_->Kubectl({"-n", kNs, "get", "deployments,replicasets,pods", "-o", "wide",
                              "--show-labels"})
               .value_or("?") +
           testbed_->Kubectl({"-n", kNs, "get", "deployment/foohut-backend", "-o", "yaml"})
               .value_or("?");
  }

  static inline testing::TempDir* dir_ = nullptr;
  static inline testing::K8sTestbed* testbed_ = nullptr;
  static inline Process* server_ = nullptr;
  static inline uint16_t api_port_ = 0;
  static inline uint16_t prometheus_port_ = 0;
  static inline local::PrometheusServer* prometheus_ = nullptr;
  static inline local::JaegerServer* jaeger_ = nullptr;
  static inline local::AlertmanagerServer* alertmanager_ = nullptr;
  static inline testing::PagerDutyReceiver* pagerduty_ = nullptr;
  static inline std::vector<Process*> metric_pods_;
  static inline std::vector<uint16_t> metric_ports_;
  static inline std::thread* traffic_ = nullptr;
  static inline std::atomic<bool> stop_traffic_{false};
};

TEST_F(KubernetesEndToEndTest, FirstDeployThenARollingUpdateOnePodAtATime) {
  HutResult first = Hut({"deploy", "backend", "v1", "--strategy", "rolling", "--wait"});
  ASSERT_EQ(first.code, 0) << first.output << ServerLog();
  EXPECT_EQ(Names("deployments"), std::vector<std::string>{"foohut-backend"});
  EXPECT_EQ(Names("services"), (std::vector<std::string>{"foohut-backend", "foohut-backend-r1"}));
  EXPECT_EQ(Names("httproutes"), std::vector<std::string>{"foohut-backend"});
  EXPECT_EQ(PodsByRevision(), (std::map<std::string, int>{{"1", 3}}));

  HutResult second = Hut({"deploy", "backend", "v2", "--strategy", "rolling", "--wait"});
  ASSERT_EQ(second.code, 0) << second.output;
  // One pod at a time: the new revision's Deployment grew 1, 2, 3, each
  // after the one before was ready (max_surge 1, max_unavailable 0).
  std::vector<int> grew;
  for (const json& e : EventsOf(LatestRolloutId(), "deployment.created")) {
    if (e["data"]["deployment"] == "foohut-backend-r2") grew.push_back(e["data"]["replicas"]);
  }
  for (const json& e : EventsOf(LatestRolloutId(), "deployment.updated")) {
    if (e["data"]["deployment"] == "foohut-backend-r2") grew.push_back(e["data"]["replicas"]);
  }
  std::string log;
  for (const json& e : Events()) {
    if (e["rollout_id"] == LatestRolloutId()) absl::StrAppend(&log, "\n  ", e["type"].get<std::string>(), ": ", e["message"].get<std::string>());
  }
  EXPECT_EQ(grew, (std::vector<int>{1, 2, 3})) << log;
  // Handed over: the ADR's Deployment runs v2, nothing else is left.
  for (int i = 0; i < 100 && Names("deployments").size() != 1; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(Names("deployments"), std::vector<std::string>{"foohut-backend"});
  EXPECT_EQ(Get("deployment/foohut-backend")["spec"]["template"]["spec"]["containers"][0]["image"],
            "kwok.test/v2");
  EXPECT_EQ(PodsByRevision(), (std::map<std::string, int>{{"2", 3}}));
  const json status = Status();
  ASSERT_EQ(status["replicas"].size(), 3u) << status.dump();
  EXPECT_TRUE(status["replicas"][0].contains("node")) << status.dump();  // the pod's
  EXPECT_EQ(status["traffic"], json::object({{"2", 1.0}})) << status.dump();

  // The rollout is a trace in the Jaeger given to hut server.
  const std::string trace = status["rollout"]["trace_id"];
  json answer;
  for (int i = 0; i < 50; ++i) {
    HutResult r = Hut({"trace", trace, "-o", "json"});
    answer = json::parse(r.output, nullptr, false);
    if (r.code == 0 && answer.is_object() && answer["spans"].size() >= 2) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(answer.is_object() && answer["spans"].size() >= 2) << answer;
  bool root = false;
  for (const json& s : answer["spans"]) {
    EXPECT_EQ(s["service"], "hut");
    root |= s["parent_id"] == "" && s["name"] == "rollout backend r1 -> r2";
  }
  EXPECT_TRUE(root) << answer.dump(1);
}

TEST_F(KubernetesEndToEndTest, ANeverReadyVersionIsRolledBackAutomatically) {
  HutResult bad = Hut({"deploy", "backend", "never-ready", "--strategy", "rolling", "--wait"});
  EXPECT_EQ(bad.code, 2) << bad.output;  // rolled back
  EXPECT_EQ(Status()["rollout"]["phase"], "rolled-back");
  for (int i = 0; i < 100 && PodsByRevision().size() != 1; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(PodsByRevision(), (std::map<std::string, int>{{"2", 3}}));
  EXPECT_EQ(Names("deployments"), std::vector<std::string>{"foohut-backend"});
}

TEST_F(KubernetesEndToEndTest, AHealthyCanaryTakesTenPercentThenIsPromoted) {
  HutResult canary = Hut({"deploy", "backend", "v4", "--wait"}, seconds(180));
  ASSERT_EQ(canary.code, 0) << canary.output;
  const int64_t id = LatestRolloutId();
  EXPECT_EQ(Status()["rollout"]["to_revision"], 4);  // the metrics pods' label
  bool ninety_ten = false;
  for (const json& e : EventsOf(id, "route.weights")) {
    ninety_ten |= e["data"]["weights"] ==
                  json({{"foohut-backend-r2", 90}, {"foohut-backend-r4", 10}});
  }
  EXPECT_TRUE(ninety_ten) << "no 90/10 route";
  EXPECT_EQ(EventsOf(id, "analysis.promote").size(), 1u);
  for (int i = 0; i < 100 && Names("deployments").size() != 1; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(Names("deployments"), std::vector<std::string>{"foohut-backend"});
  EXPECT_EQ(PodsByRevision(), (std::map<std::string, int>{{"4", 3}}));
}

TEST_F(KubernetesEndToEndTest, ABadCanaryLosesItsTrafficWithinASecondOfTheVerdict) {
  HutResult bad = Hut({"deploy", "backend", "v5", "--wait"}, seconds(180));
  EXPECT_EQ(bad.code, 2) << bad.output;  // rolled back
  const int64_t id = LatestRolloutId();
  EXPECT_EQ(Status()["rollout"]["to_revision"], 5);
  const std::vector<json> verdicts = EventsOf(id, "analysis.rollback");
  ASSERT_EQ(verdicts.size(), 1u);
  double zero_at = std::nan("");
  for (const json& e : EventsOf(id, "route.weights")) {
    if (e["data"]["weights"].value("foohut-backend-r5", 0) == 0 &&
        Seconds(e) >= Seconds(verdicts[0]) && std::isnan(zero_at)) {
      zero_at = Seconds(e);
    }
  }
  ASSERT_FALSE(std::isnan(zero_at)) << "the canary's weight never went to 0";
  EXPECT_LT(zero_at - Seconds(verdicts[0]), 1.0);
  for (int i = 0; i < 100 && Names("deployments").size() != 1; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(PodsByRevision(), (std::map<std::string, int>{{"4", 3}}));
}

TEST_F(KubernetesEndToEndTest, AKilledServerResumesTheRolloutWithoutDuplicatesOrOrphans) {
  ASSERT_EQ(Hut({"deploy", "backend", "v6", "--strategy", "rolling"}).code, 0);
  // Mid-rollout: the new revision's Deployment exists.
  for (int i = 0; i < 100; ++i) {
    const std::vector<std::string> names = Names("deployments");
    if (std::find(names.begin(), names.end(), "foohut-backend-r6") != names.end()) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  StopServer(SIGKILL);
  StartServer();
  HutResult resumed = Hut({"rollout", "status", "backend", "--watch"}, seconds(120));
  EXPECT_EQ(resumed.code, 0) << resumed.output;
  for (int i = 0; i < 100 && Names("deployments").size() != 1; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(Names("deployments"), std::vector<std::string>{"foohut-backend"});
  EXPECT_EQ(Names("services"), (std::vector<std::string>{"foohut-backend", "foohut-backend-r6"}));
  EXPECT_EQ(PodsByRevision(), (std::map<std::string, int>{{"6", 3}}));
  const json sets = Get("replicasets");
  for (const json& rs : sets["items"]) {
    EXPECT_TRUE(rs["metadata"].contains("ownerReferences"))
        << "orphaned ReplicaSet " << rs["metadata"]["name"];
  }
}

TEST_F(KubernetesEndToEndTest, KubectlRolloutUndoIsSeenAndNotFought) {
  ASSERT_TRUE(testbed_->Kubectl({"-n", kNs, "rollout", "undo", "deployment/foohut-backend"}).ok());
  json seen;
  for (int i = 0; i < 100 && seen.is_null(); ++i) {
    for (const json& e : Events()) {
      if (e["type"] == "kubernetes.out_of_band") seen = e;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_FALSE(seen.is_null()) << "hut did not notice kubectl rollout undo: "
                               << testbed_->Kubectl({"-n", kNs, "get", "deployment/foohut-backend", "-o", "yaml", "--show-managed-fields"}).value_or("?");
  EXPECT_EQ(seen["data"]["revision"], 4);  // the revision before 6 in the Deployment's history
  // The Deployment controller rolls it back; hut leaves it be.
  for (int i = 0; i < 200 && PodsByRevision() != std::map<std::string, int>{{"4", 3}}; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(PodsByRevision(), (std::map<std::string, int>{{"4", 3}})) << World();
  std::this_thread::sleep_for(seconds(2));
  EXPECT_EQ(Get("deployment/foohut-backend")["spec"]["template"]["spec"]["containers"][0]["image"],
            "kwok.test/v4");
  EXPECT_EQ(PodsByRevision(), (std::map<std::string, int>{{"4", 3}}));
  EXPECT_EQ(Status()["traffic"], json::object({{"4", 1.0}}));

  // hut records it as a finished rollout to revision 4 and carries on from
  // there: the next deploy rolls from revision 4.
  const json followed = Status()["rollout"];
  EXPECT_EQ(followed["to_revision"], 4) << followed.dump();
  EXPECT_EQ(followed["phase"], "succeeded");
  EXPECT_THAT(followed.value("reason", ""), HasSubstr("out of band"));
  EXPECT_THAT(followed.value("reason", ""), HasSubstr("(by kubectl"));  // the field manager that set it
  ASSERT_EQ(Hut({"deploy", "backend", "v7", "--strategy", "rolling"}).code, 0);
  HutResult done = Hut({"rollout", "status", "backend", "--watch"}, seconds(120));
  EXPECT_EQ(done.code, 0) << done.output;
  EXPECT_EQ(Status()["rollout"]["from_revision"], 4);
  for (int i = 0; i < 100 && PodsByRevision() != std::map<std::string, int>{{"7", 3}}; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(PodsByRevision(), (std::map<std::string, int>{{"7", 3}})) << World();
}

// A canary under way listens to the alerts about its service, on Kubernetes
// too: a critical alert through Alertmanager (no analysis threshold is
// crossed: revisions 7 and 8 are both healthy) rolls it back within a
// group_wait of being sent, and PagerDuty is paged.
TEST_F(KubernetesEndToEndTest, ACriticalAlertThroughAlertmanagerRollsBackACanaryAndPages) {
  ASSERT_EQ(Hut({"deploy", "backend", "v8", "--strategy", "canary"}).code, 0);
  const int64_t id = LatestRolloutId();
  std::string phase;
  for (int i = 0; i < 300 && (phase = Status()["rollout"].value("phase", "")) != "analysing"; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_EQ(phase, "analysing") << Status().dump(1);
  const auto sent = Steady::now();
  HutResult test = Hut({"alerts", "test", "critical", "--service", "backend"});
  ASSERT_EQ(test.code, 0) << test.output;
  json told, ended;
  while (ended.is_null() && Steady::now() - sent < seconds(60)) {
    for (const json& e : EventsOf(id, "rollout.alert")) told = e;
    for (const json& e : EventsOf(id, "rollout.rolled-back")) ended = e;
    if (ended.is_null()) std::this_thread::sleep_for(milliseconds(200));
  }
  const double took = std::chrono::duration<double>(Steady::now() - sent).count();
  ASSERT_FALSE(told.is_null()) << "no rollout.alert: " << Status().dump(1) << ServerLog();
  ASSERT_FALSE(ended.is_null()) << "not rolled back: " << Status().dump(1);
  EXPECT_THAT(told.dump(), HasSubstr("HutTestAlert"));
  // group_wait 2 s, and time to hear of it and move the traffic back.
  EXPECT_LT(took, 2 + 5) << "rolled back " << took << " s after the alert was sent";
  for (int i = 0; i < 100 && PodsByRevision() != std::map<std::string, int>{{"7", 3}}; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(PodsByRevision(), (std::map<std::string, int>{{"7", 3}})) << World();
  EXPECT_EQ(Status()["traffic"], json::object({{"7", 1.0}}));

  // The page, as PagerDuty takes it, and the alert hut tracks.
  json page;
  for (int i = 0; i < 100 && page.is_null(); ++i) {
    for (const json& e : pagerduty_->taken()) {
      if (e.value("event_action", "") == "trigger" &&
          e["payload"]["summary"].get<std::string>().find("backend") != std::string::npos) {
        page = e;
      }
    }
    if (page.is_null()) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_FALSE(page.is_null()) << ::testing::PrintToString(pagerduty_->problems());
  EXPECT_EQ(page["payload"]["severity"], "critical");
  EXPECT_THAT(pagerduty_->problems(), ::testing::IsEmpty());
  HutResult list = Hut({"alerts", "list", "--state", "firing", "-o", "json"});
  ASSERT_EQ(list.code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("HutTestAlert"));
}

// `hut alerts silence` goes to the Alertmanager the server was given.
// hut keeps ADR-009's Secrets and ConfigMap in the namespace from its own
// secrets (what External Secrets Operator would do): a value set with `hut
// secrets set` appears, a hand edit is put back within one reconcile (5 s),
// and the pods' template mounts the Secrets its release names.
TEST_F(KubernetesEndToEndTest, TheSecretsFollowHutsAndAHandEditIsPutBack) {
  if (Names("deployments").empty()) {
    ASSERT_EQ(Hut({"deploy", "backend", "v1", "--strategy", "rolling", "--wait"}).code, 0);
  }
  const std::string login = dir_->path() + "/database-login.json";
  std::ofstream(login) << R"({"engine":"postgres","dbname":"foohut","username":"foohut","password":"e2e-pw"})";  // pragma: allowlist secret (test fixture)
  HutResult set = Hut({"secrets", "set", "database", "--file", login, "--by", "e2e"});
  ASSERT_EQ(set.code, 0) << set.output;
  const auto password = [] {
    auto out = testbed_->Kubectl({"-n", kNs, "get", "secret", "database-credentials", "-o",
                                  "jsonpath={.data.password}"});
    return out.ok() ? Base64Decode(*out).value_or("") : std::string();
  };
  const auto wait_for = [&](const std::string& want) {
    const auto until = Steady::now() + seconds(12);
    std::string got = password();
    while (got != want && Steady::now() < until) {
      std::this_thread::sleep_for(milliseconds(200));
      got = password();
    }
    return got;
  };
  EXPECT_EQ(wait_for("e2e-pw"), "e2e-pw");
  for (const char* name : {"database-credentials", "jwt-secrets", "third-party-api-keys"}) {
    EXPECT_EQ(Get(absl::StrCat("secret/", name))["metadata"]["labels"]["app.kubernetes.io/managed-by"], "hut")
        << name;
  }
  EXPECT_TRUE(Get("secret/jwt-secrets")["data"].contains("jwt-keys.json"));
  EXPECT_EQ(Get("configmap/foohut-config")["data"]["FOOHUT_ENV"], "production");

  ASSERT_TRUE(testbed_->Kubectl({"-n", kNs, "patch", "secret", "database-credentials", "--type=merge",
                                 "-p", R"({"stringData":{"password":"by-hand"}})"}).ok());  // pragma: allowlist secret (test fixture)
  const auto edited = Steady::now();
  EXPECT_EQ(wait_for("e2e-pw"), "e2e-pw") << "the hand edit stayed";
  const double back = std::chrono::duration<double>(Steady::now() - edited).count();
  std::cout << "a hand edit of Secret database-credentials put back after " << back << " s\n";
  EXPECT_LE(back, 7.0) << "more than one reconcile";
  bool reported = false;
  for (const json& e : Events("service=")) {  // the environment's own events too
    if (e.value("type", "") != "secret.drift-reverted") continue;
    reported |= e.value("message", "").find("database-credentials") != std::string::npos;
    EXPECT_EQ(e.dump().find("by-hand"), std::string::npos) << "a value in an event";
  }
  EXPECT_TRUE(reported);

  const json pod = Get("deployment/foohut-backend")["spec"]["template"]["spec"];
  std::set<std::string> secrets;
  for (const json& v : pod["volumes"]) {
    if (v.contains("secret")) secrets.insert(v["secret"]["secretName"].get<std::string>());
  }
  EXPECT_EQ(secrets, (std::set<std::string>{"database-credentials", "jwt-secrets"}));
  EXPECT_EQ(pod["containers"][0]["envFrom"][0]["configMapRef"]["name"], "foohut-config");
}

TEST_F(KubernetesEndToEndTest, ASilenceGoesToTheClustersAlertmanager) {
  HutResult silence = Hut({"alerts", "silence", "--match", "service=frontend", "--for", "1h",
                           "--comment", "maintenance"});
  ASSERT_EQ(silence.code, 0) << silence.output;
  http::ClientRequest request;
  request.port = alertmanager_->port();
  request.target = "/api/v2/silences";
  auto response = http::Fetch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  const json silences = json::parse(response->body, nullptr, false);
  ASSERT_TRUE(silences.is_array()) << response->body;
  std::set<std::string> comments;
  for (const json& s : silences) {
    if (s["status"]["state"] == "active") comments.insert(s.value("comment", ""));
  }
  EXPECT_TRUE(comments.contains("maintenance")) << response->body;
}

}  // namespace
}  // namespace hut::platform

// The real thing, end to end: the `hut` binary brings up an environment
// (PostgreSQL, Redis, HAProxy, 3 backend + 3 frontend foohut-api replicas)
// and the CLI rolls it while steady load runs through the load balancer.
// Every request must succeed; the broken release must never serve.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "src/common/resources.h"
#include "src/common/subprocess.h"
#include "testing/alert_receivers.h"
#include "testing/exposition.h"
#include "testing/test_socket.h"
#include "src/http/client.h"
#include "src/loadgen/load_generator.h"
#include "src/metrics/prometheus_client.h"
#include "src/local/haproxy.h"
#include "src/local/jaeger_server.h"
#include "testing/test_env.h"

namespace hut::platform {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Steady = std::chrono::steady_clock;

struct HutResult {
  int code = -1;
  std::string output;
};

// A JWT's header, decoded (no signature check).
json foohut_jwt_header(const std::string& token) {
  const std::string part = token.substr(0, token.find('.'));
  std::string b64 = part;
  for (char& c : b64) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (b64.size() % 4 != 0) b64 += '=';
  std::string out;
  if (!absl::Base64Unescape(b64, &out)) return json::object();
  return json::parse(out, nullptr, false);
}

class HutUpEndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    api_port_ = testing::PickFreePort();
    backend_port_ = testing::PickFreePort();
    frontend_port_ = testing::PickFreePort();
    prometheus_port_ = testing::PickFreePort();
    alertmanager_port_ = testing::PickFreePort();
    // hut's channels point at local receivers that check PagerDuty's and Slack's formats.
    pagerduty_ = testing::PagerDutyReceiver::Start({kRoutingKey}).value().release();
    slack_ = testing::SlackReceiver::Start().value().release();
    std::ofstream(dir_->path() + "/pagerduty.key") << kRoutingKey << "\n";
    const std::string bin = testing::BinPath("foohut-api");
    std::ofstream(Spec()) << absl::StrCat(R"(
project: foohut
services:
  backend:
    port: )", backend_port_, R"(
    release:
      command: [")", bin, R"(", serve, --migrate]
      env:
        FOOHUT_VERSION: "{{version}}"
        FOOHUT_ENV: "{{environment}}"
        FOOHUT_DATABASE_URL: "{{backing.postgres.url}}"
        FOOHUT_DATABASE_CREDENTIALS_FILE: "{{secrets.database.file}}"
        FOOHUT_REDIS_URL: "{{backing.redis.url}}"
        FOOHUT_REDIS_PASSWORD_FILE: "{{backing.redis.password_file}}"
        FOOHUT_JWT_KEYS_FILE: "{{secrets.jwt.file}}"
        FOOHUT_LOG_LEVEL: WARN
    health: {interval: 300ms, timeout: 300ms, start_period: 3s}
    termination_grace_period: 5s
  frontend:
    port: )", frontend_port_, R"(
    release:
      command: [")", bin, R"(", serve, --static, ")", testing::SourceDir(), R"(/web"]
      env: {FOOHUT_VERSION: "{{version}}", FOOHUT_LOG_LEVEL: WARN}
    health: {interval: 300ms, timeout: 300ms, start_period: 3s}
    termination_grace_period: 5s
policies:
  rolling: {progress_deadline: 60s}
  canary: {weight: 10%, analysis: 10s, rollback_window: 60s}
  alerting:
    rules: {error_rate: {threshold: 5%, for: 5s}}
    severities: {critical: {group_wait: 2s, group_interval: 5s}}
    runbooks: https://git.example.com/foohut/hut/blob/main/docs/runbooks/
    pagerduty: {events_url: ")", pagerduty_->url(), R"(", routing_key_file: pagerduty.key}
    slack: {webhook_url: ")", slack_->url(), R"("}
  secrets:
    jwt: {overlap: 8s}               # the old key retired soon after a rotation
    database: {overlap: 8s}          # the old login too
environments:
  staging:
    runtime: local
    strategy: rolling
    backing_services:
      postgres: {kind: postgresql, version: "15"}
      redis: {kind: redis, version: "7"}
    services: {backend: {replicas: 3}, frontend: {replicas: 3}}
)");
    StartHutUp();
  }

  static void TearDownTestSuite() {
    if (up_) up_->Stop(seconds(60));
    delete up_;
    up_ = nullptr;
    delete pagerduty_;
    delete slack_;
    delete dir_;
  }

  static std::string Spec() { return dir_->path() + "/foohut.yaml"; }
  static std::string State() { return dir_->path() + "/.hut"; }

  // Everything hut wrote or shows, for the leak checks: its logs and the
  // replicas' (as files and through `hut logs`), its API's answers about
  // secrets, its events, its store and
  // the sealed secret store as bytes on disk, and every process's command
  // line (what `ps` shows).
  static std::string WrittenByHut() {
    std::string written = Hut({"logs", "hut", "--since", "1h", "-o", "json"}).output;
    // The API's answers about secrets (without --reveal).
    for (const char* name : {"database", "jwt"}) {
      for (const char* verb : {"get", "history"}) written += Hut({"secrets", verb, name, "-o", "json"}).output;
    }
    written += Hut({"secrets", "list", "-o", "json"}).output;
    for (const char* f : {"/logs/hut.log", "/logs/replicas.log"}) {
      std::ifstream in(State() + f);
      written.append(std::istreambuf_iterator<char>(in), {});
    }
    for (const json& e : Events("")) written += e.dump();
    for (const char* f : {"/hut.db", "/hut.db-wal", "/secrets/store.json"}) {
      std::ifstream in(State() + f, std::ios::binary);
      written.append(std::istreambuf_iterator<char>(in), {});
    }
    for (const auto& proc : std::filesystem::directory_iterator("/proc")) {
      std::ifstream in(proc.path() / "cmdline", std::ios::binary);
      written.append(std::istreambuf_iterator<char>(in), {});
    }
    return written;
  }

  static std::map<std::string, std::string> Env() {
    std::map<std::string, std::string> env = {{"HOME", dir_->path()},
                                              {"HUT_ADDR", absl::StrCat("127.0.0.1:", api_port_)}};
    // HOME is the test's: the Jaeger scripts/jaeger.sh built is found from ours.
    if (absl::StatusOr<std::string> jaeger = local::FindJaeger(); jaeger.ok()) env["HUT_JAEGER"] = *jaeger;
    return env;
  }

  // hut up runs as a user would start it: Debian's default limit of 1,024
  // open files (hard, so hut cannot raise it), and HUT_TOKEN exported where
  // it was started, which no replica may see.
  static void StartHutUp() {
    ProcessOptions o;
    o.argv = {"prlimit", "--nofile=1024:1024", "--",   testing::BinPath("hut"),
              "up",      "-f",                 Spec(), "--env",
              "staging", "--prometheus-port",  std::to_string(prometheus_port_),
              "--alertmanager-port", std::to_string(alertmanager_port_),
              "--jaeger-port", "0", "--otlp-port", "0"};
    o.env = Env();
    o.env["HUT_TOKEN"] = kLeakedToken;
    o.stdout_mode = o.stderr_mode = OutputMode::kFile;
    o.stdout_path = o.stderr_path = dir_->path() + "/up.log";
    auto p = Process::Spawn(o);
    ASSERT_TRUE(p.ok()) << p.status();
    up_ = p->release();
    // Ready once the API answers (PostgreSQL's first initdb takes a few seconds).
    for (int i = 0; i < 600; ++i) {
      if (Hut({"rollout", "history", "backend"}).code == 0) return;
      ASSERT_FALSE(up_->TryWait().has_value()) << "hut up exited:\n" << UpLog();
      std::this_thread::sleep_for(milliseconds(100));
    }
    FAIL() << "hut up did not become ready:\n" << UpLog();
  }

  // `hut alerts test ARGS…`, again while the Alertmanager hut up starts
  // after its control plane is not running yet.
  static HutResult SendTestAlert(std::vector<std::string> args) {
    args.insert(args.begin(), {"alerts", "test"});
    HutResult r;
    for (int i = 0; i < 100; ++i) {
      r = Hut(args);
      if (r.code == 0 || r.output.find("no Alertmanager") == std::string::npos) break;
      std::this_thread::sleep_for(milliseconds(200));
    }
    return r;
  }

  static std::string UpLog() {
    std::ifstream in(dir_->path() + "/up.log");
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

  static json Status(const std::string& service) {
    HutResult r = Hut({"rollout", "status", service, "-o", "json"});
    EXPECT_EQ(r.code, 0) << r.output;
    json j = json::parse(r.output, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "not JSON: " << r.output;
    return j.is_object() ? j : json::object({{"replicas", json::array()}});
  }

  // Each line of `output` that is a JSON object (`-o json`).
  static std::vector<json> JsonLines(const std::string& output) {
    std::vector<json> out;
    for (const std::string& l : std::vector<std::string>(absl::StrSplit(output, '\n', absl::SkipEmpty()))) {
      json j = json::parse(l, nullptr, false);
      if (j.is_object()) out.push_back(std::move(j));
    }
    return out;
  }

  // The server's events of `service`, oldest first (the control API, with
  // the admin token `hut up` wrote).
  static std::vector<json> Events(const std::string& service, int64_t after = 0) {
    std::ifstream token_file(State() + "/admin-token");
    std::string token;
    std::getline(token_file, token);
    http::ClientRequest request;
    request.port = api_port_;
    request.target =
        absl::StrCat("/api/v1/events?limit=1000&service=", service, "&after=", after);
    request.headers.emplace("Authorization", "Bearer " + token);
    auto response = http::Fetch(request);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    json page = json::parse(response->body, nullptr, false);
    EXPECT_TRUE(page.is_object() && page["events"].is_array()) << response->body;
    if (!page.is_object() || !page["events"].is_array()) return {};
    return page["events"].get<std::vector<json>>();
  }

  // GET `target` of the environment's Prometheus: its JSON "data".
  static json Prometheus(const std::string& target) {
    auto response = http::Fetch({.port = prometheus_port_, .target = target});
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return json();
    json j = json::parse(response->body, nullptr, false);
    EXPECT_TRUE(j.is_object() && j["status"] == "success") << response->body;
    return j.is_object() ? j["data"] : json();
  }

  // Prometheus' active targets of `job`: replica (or instance) -> labels and health.
  static std::map<std::string, json> Targets(const std::string& job) {
    std::map<std::string, json> out;
    const json data = Prometheus("/api/v1/targets?state=active");
    if (!data.is_object()) return out;
    for (const json& t : data["activeTargets"]) {
      if (t["labels"]["job"] != job) continue;
      const std::string key = t["labels"].contains("replica")
                                  ? t["labels"]["replica"].get<std::string>()
                                  : t["labels"]["instance"].get<std::string>();
      out[key] = t;
    }
    return out;
  }

  // hut's own metrics: GET /metrics, which needs no token.
  static std::string Metrics() {
    auto response = http::Fetch({.port = api_port_, .target = "/metrics"});
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return "";
    EXPECT_EQ(response->status, 200) << response->body;
    return response->body;
  }

  // The newest event of `rollout_id` with `type` (and `weight`, when given);
  // null when none.
  static json LastEvent(const std::vector<json>& events, int64_t rollout_id,
                        const std::string& type, std::optional<int> weight = std::nullopt) {
    json found;
    for (const json& e : events) {
      if (e["rollout_id"] == rollout_id && e["type"] == type &&
          (!weight || e["data"]["weight"] == *weight)) {
        found = e;
      }
    }
    return found;
  }
  static double Seconds(const json& event) {
    absl::Time t;
    std::string error;
    if (!event.is_object() ||
        !absl::ParseTime(absl::RFC3339_full, event["at"].get<std::string>(), &t, &error)) {
      return std::nan("");
    }
    return absl::ToDoubleSeconds(t - absl::UnixEpoch());
  }

  // Polls the backend's rollout until its phase is `phase`.
  static bool WaitForPhase(const std::string& phase, milliseconds timeout = seconds(30)) {
    const auto until = Steady::now() + timeout;
    while (Steady::now() < until) {
      if (Status("backend")["rollout"]["phase"] == phase) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  }

  static int RevisionOf(const std::string& version) {
    json history = json::parse(Hut({"rollout", "history", "backend", "-o", "json"}).output,
                               nullptr, false);
    if (!history.is_object()) return 0;
    for (const json& r : history["revisions"]) {
      if (r["version"] == version) return r["number"];
    }
    return 0;
  }

  // HAProxy's status of one server ("UP", "DRAIN", "DOWN", ...); "" when it has none.
  static std::string LbStatus(const std::string& service, const std::string& server) {
    auto csv = local::HaproxyAdminCommand(State() + "/haproxy/admin.sock", "show stat");
    if (!csv.ok()) return "";
    for (const local::LbServerStats& s : local::ParseShowStat(*csv)) {
      if (s.service == service && s.server == server) return s.status;
    }
    return "";
  }

  // A replica's pid, user, environment, descriptors' targets, as /proc has them.
  struct ReplicaView {
    int pid = 0;
    uid_t uid = 0;
    std::map<std::string, std::string> env;
    std::vector<std::string> fds;  // readlink of each /proc/PID/fd/N
  };
  static ReplicaView View(int pid) {
    ReplicaView v;
    v.pid = pid;
    const std::string proc = absl::StrCat("/proc/", pid);
    std::ifstream status(proc + "/status");
    for (std::string line; std::getline(status, line);) {
      if (line.starts_with("Uid:")) v.uid = std::stoul(line.substr(4));
    }
    std::ifstream environ(proc + "/environ");
    for (std::string entry; std::getline(environ, entry, '\0');) {
      const size_t eq = entry.find('=');
      if (eq != std::string::npos) v.env[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    std::error_code ec;
    for (const auto& fd : std::filesystem::directory_iterator(proc + "/fd", ec)) {
      v.fds.push_back(std::filesystem::read_symlink(fd.path(), ec).string());
    }
    return v;
  }
  static int FirstReplicaPid(const std::string& service) {
    const json status = Status(service);
    for (const json& r : status["replicas"]) {
      if (r.value("ready", false) && r.value("pid", 0) > 0) return r["pid"];
    }
    return 0;
  }
  // Runs `argv` inside the sandbox of replica `pid` (its mount and PID
  // namespaces), as its user.
  static CommandResult AsReplica(const ReplicaView& replica, std::vector<std::string> argv) {
    ProcessOptions o;
    o.argv = {"nsenter",
              absl::StrCat("--target=", replica.pid),
              "--mount",
              "--",
              "setpriv",
              absl::StrCat("--reuid=", replica.uid),
              absl::StrCat("--regid=", replica.uid),
              "--clear-groups",
              "--"};
    o.argv.insert(o.argv.end(), argv.begin(), argv.end());
    o.env = {{"PGCONNECT_TIMEOUT", "5"}, {"PGPASSFILE", "/nonexistent"}};
    auto r = RunCommand(o, seconds(30));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{};
  }

  // The pid of the first child of `parent` whose command name is `comm`; 0
  // when none.
  static int ChildNamed(int parent, const std::string& comm) {
    std::error_code ec;
    for (const auto& task :
         std::filesystem::directory_iterator(absl::StrCat("/proc/", parent, "/task"), ec)) {
      std::ifstream children(task.path() / "children");
      for (int child; children >> child;) {
        std::ifstream name(absl::StrCat("/proc/", child, "/comm"));
        std::string got;
        std::getline(name, got);
        if (got == comm) return child;
      }
    }
    return 0;
  }
  // Seconds from now until GET http://127.0.0.1:port/healthz answers 200
  // (polled every 10 ms), at most `limit`; NaN when it never does.
  static double SecondsUntilServing(uint16_t port, milliseconds limit = seconds(30)) {
    const auto start = Steady::now();
    while (Steady::now() - start < limit) {
      auto r = http::Fetch({.port = port, .target = "/healthz", .timeout = milliseconds(200)});
      if (r.ok() && r->status == 200) {
        return std::chrono::duration<double>(Steady::now() - start).count();
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    return std::nan("");
  }
  static std::vector<std::string> TypesOf(const std::vector<json>& events, int64_t after_id) {
    std::vector<std::string> out;
    for (const json& e : events) {
      if (e["id"].get<int64_t>() > after_id) out.push_back(e["type"]);
    }
    return out;
  }
  static int64_t LastEventId() {
    int64_t last = 0;
    for (const std::string service : {"backend", "frontend", "load-balancer", "postgres"}) {
      for (const json& e : Events(service)) last = std::max(last, e["id"].get<int64_t>());
    }
    return last;
  }

  static constexpr char kLeakedToken[] = "token-exported-where-hut-up-started";
  static testing::TempDir* dir_;
  static constexpr char kRoutingKey[] = "e2eR0UT1NGK3Ye2eR0UT1NGK3Ye2e000";
  static testing::PagerDutyReceiver* pagerduty_;
  static testing::SlackReceiver* slack_;
  static uint16_t api_port_, backend_port_, frontend_port_, prometheus_port_, alertmanager_port_;
  static Process* up_;
};

testing::PagerDutyReceiver* HutUpEndToEndTest::pagerduty_ = nullptr;
testing::SlackReceiver* HutUpEndToEndTest::slack_ = nullptr;
testing::TempDir* HutUpEndToEndTest::dir_ = nullptr;
uint16_t HutUpEndToEndTest::api_port_ = 0;
uint16_t HutUpEndToEndTest::backend_port_ = 0;
uint16_t HutUpEndToEndTest::frontend_port_ = 0;
uint16_t HutUpEndToEndTest::prometheus_port_ = 0;
uint16_t HutUpEndToEndTest::alertmanager_port_ = 0;
Process* HutUpEndToEndTest::up_ = nullptr;

TEST_F(HutUpEndToEndTest, RollingUpdateUndoAndAutomaticRollbackLoseNoRequestUnderLoad) {
  HutResult first = Hut({"deploy", "backend", "1.0.0", "--wait"});
  ASSERT_EQ(first.code, 0) << first.output;
  ASSERT_EQ(Hut({"deploy", "frontend", "1.0.0", "--wait"}).code, 0);

  auto backend = loadgen::LoadGenerator::Start(
      {.port = backend_port_, .targets = {"/healthz", "/api/v1/pages?q=canary"}, .rate = 300,
       .count_header = "X-Foohut-Version"});
  ASSERT_TRUE(backend.ok()) << backend.status();
  auto frontend = loadgen::LoadGenerator::Start(
      {.port = frontend_port_, .targets = {"/", "/app.js"}, .rate = 50,
       .count_header = "X-Foohut-Version"});
  ASSERT_TRUE(frontend.ok()) << frontend.status();

  HutResult v2 = Hut({"deploy", "backend", "2.0.0", "--wait"});
  EXPECT_EQ(v2.code, 0) << v2.output;
  HutResult undo = Hut({"rollout", "undo", "backend", "--wait"});
  EXPECT_EQ(undo.code, 0) << undo.output;
  HutResult v3 = Hut({"deploy", "backend", "3.0.0", "--set", "FOOHUT_FAULTS=unready", "--wait"});
  EXPECT_EQ(v3.code, 2) << v3.output;  // rolled back automatically
  std::this_thread::sleep_for(milliseconds(500));
  loadgen::LoadReport b = (*backend)->Stop();
  loadgen::LoadReport f = (*frontend)->Stop();

  std::cerr << "backend load: " << b.Summary() << "\nfrontend load: " << f.Summary() << "\n";
  for (const auto& [error, count] : b.errors) std::cerr << "  " << count << "x " << error << "\n";
  // 300 req/s held for the whole test (its length is the rollouts').
  EXPECT_GT(b.sent, 300 * 3);
  EXPECT_GE(b.sent / b.elapsed_s, 290.0);
  EXPECT_EQ(b.failed(), 0);
  EXPECT_EQ(f.failed(), 0);
  EXPECT_GT(b.by_header["1.0.0"], 0);
  EXPECT_GT(b.by_header["2.0.0"], 0);
  EXPECT_EQ(b.by_header.count("3.0.0"), 0u) << "the broken release served traffic";

  json status = Status("backend");
  EXPECT_EQ(status["rollout"]["phase"], "rolled-back");
  int serving = 0;
  for (const json& r : status["replicas"]) {
    EXPECT_NE(r["version"], "3.0.0");
    if (r["in_load_balancer"] == true && r["ready"] == true) ++serving;
  }
  EXPECT_EQ(serving, 3);
  HutResult history = Hut({"rollout", "history", "backend"});
  EXPECT_NE(history.output.find("3.0.0"), std::string::npos) << history.output;
}

TEST_F(HutUpEndToEndTest, AKilledReplicaLeavesTheLoadBalancerAtOnceAndIsRestarted) {
  if (Status("frontend")["replicas"].empty()) {
    ASSERT_EQ(Hut({"deploy", "frontend", "1.0.0", "--wait"}).code, 0);
  }
  auto load = loadgen::LoadGenerator::Start(
      {.port = frontend_port_, .targets = {"/", "/style.css"}, .rate = 300});
  ASSERT_TRUE(load.ok()) << load.status();
  std::this_thread::sleep_for(milliseconds(500));

  json victim = Status("frontend")["replicas"][0];
  const std::string name = victim["name"];
  ASSERT_EQ(LbStatus("frontend", name), "UP");
  const auto killed = Steady::now();
  ASSERT_EQ(kill(victim["pid"].get<int>(), SIGKILL), 0);
  // Out of rotation: drained by hut, or marked down by HAProxy's own checks
  // ("UP 2/3" is a server still taking traffic while its checks fail).
  std::string lb;
  while (Steady::now() - killed < seconds(10)) {
    lb = LbStatus("frontend", name);
    if (!lb.starts_with("UP")) break;
    std::this_thread::sleep_for(milliseconds(5));
  }
  const auto out_after = std::chrono::duration_cast<milliseconds>(Steady::now() - killed);
  std::cerr << "load balancer stopped sending to " << name << " after " << out_after.count()
            << " ms (status " << lb << "; health-check window 900 ms)\n";
  EXPECT_FALSE(lb.starts_with("UP")) << lb;
  EXPECT_LE(out_after, milliseconds(900));  // interval 300ms x health_check_failures 3

  // Restarted in place (same name, new pid) and serving again.
  json again;
  for (int i = 0; i < 200; ++i) {
    const json now = Status("frontend");
    for (const json& r : now["replicas"]) {
      if (r["name"] == name && r["restarts"] == 1 && r["ready"] == true) again = r;
    }
    if (!again.is_null() && LbStatus("frontend", name) == "UP") break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_FALSE(again.is_null()) << "the killed replica was not restarted: "
                                 << Status("frontend").dump(1);
  EXPECT_NE(again["pid"], victim["pid"]);
  EXPECT_EQ(LbStatus("frontend", name), "UP");
  loadgen::LoadReport report = (*load)->Stop();
  std::cerr << "load: " << report.Summary() << "\n";
  EXPECT_EQ(report.failed(), 0);
}

TEST_F(HutUpEndToEndTest, BadInputGetsAClearErrorAndChangesNothing) {
  HutResult unknown = Hut({"deploy", "payments", "1.0.0"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.output.find("unknown service \"payments\""), std::string::npos)
      << unknown.output;

  const std::string history_before = Hut({"rollout", "history", "backend", "-o", "json"}).output;
  HutResult undo = Hut({"rollout", "undo", "backend", "--to-revision", "99"});
  EXPECT_EQ(undo.code, 1);
  EXPECT_NE(undo.output.find("no revision 99"), std::string::npos) << undo.output;
  EXPECT_EQ(Hut({"rollout", "history", "backend", "-o", "json"}).output, history_before);

  // A second deploy while one runs is refused, not queued.
  if (Status("backend")["replicas"].empty()) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  HutResult started = Hut({"deploy", "backend", "4.0.0"});
  ASSERT_EQ(started.code, 0) << started.output;
  HutResult refused = Hut({"deploy", "backend", "5.0.0"});
  EXPECT_EQ(refused.code, 1);
  EXPECT_NE(refused.output.find("still running"), std::string::npos) << refused.output;
  HutResult watched = Hut({"rollout", "status", "backend", "--watch"});
  EXPECT_EQ(watched.code, 0) << watched.output;
  EXPECT_EQ(Hut({"rollout", "history", "backend"}).output.find("5.0.0"), std::string::npos);

  // A spec error: named with file and line, and nothing is started.
  const std::string bad = dir_->path() + "/bad/foohut.yaml";
  std::filesystem::create_directories(dir_->path() + "/bad");
  std::ofstream(bad) << "services:\n  backend:\n    release: {command: []}\n"
                        "environments: {staging: {runtime: local}}\n";
  HutResult spec_error = Hut({"up", "-f", bad, "--env", "staging", "--listen", "127.0.0.1:1"});
  EXPECT_EQ(spec_error.code, 1);
  EXPECT_NE(spec_error.output.find("foohut.yaml:3:"), std::string::npos) << spec_error.output;
  EXPECT_FALSE(std::filesystem::exists(dir_->path() + "/bad/.hut"));

  // A second server on the same state folder is refused.
  HutResult twice = Hut({"up", "-f", Spec(), "--env", "staging", "--listen", "127.0.0.1:1"});
  EXPECT_EQ(twice.code, 1);
  EXPECT_NE(twice.output.find("another hut server"), std::string::npos) << twice.output;
}

TEST_F(HutUpEndToEndTest, CanaryUnderLoadIsPromotedWhenHealthyAndRolledBackFastWhenNot) {
  if (Status("backend")["replicas"].empty()) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  const loadgen::LoadOptions load_options{.port = backend_port_,
                                          .targets = {"/api/v1/pages?q=canary"},
                                          .rate = 300,
                                          .count_header = "X-Foohut-Version"};

  // A healthy canary: 10 % of the traffic for its 10 s hold, then promoted.
  auto load = loadgen::LoadGenerator::Start(load_options);
  ASSERT_TRUE(load.ok()) << load.status();
  const auto deployed = Steady::now();
  HutResult healthy = Hut({"deploy", "backend", "6.0.0", "--strategy", "canary", "--wait"});
  const double took = std::chrono::duration<double>(Steady::now() - deployed).count();
  EXPECT_EQ(healthy.code, 0) << healthy.output;
  EXPECT_GE(took, 10.0) << "promoted before its hold was over";
  EXPECT_NE(healthy.output.find("kept warm for `hut rollout undo`"), std::string::npos)
      << healthy.output;
  loadgen::LoadReport good = (*load)->Stop();
  std::cerr << "healthy canary: " << good.Summary() << " in " << took << " s\n";
  EXPECT_EQ(good.failed(), 0);
  EXPECT_GT(good.by_header["6.0.0"], 0);
  const int64_t healthy_id = Status("backend")["rollout"]["id"];
  const json promoted = LastEvent(Events("backend"), healthy_id, "analysis.promote");
  ASSERT_TRUE(promoted.is_object()) << "no analysis.promote event";
  const double canary = promoted["data"]["canary"]["requests"];
  const double baseline = promoted["data"]["baseline"]["requests"];
  std::cerr << "analysis: " << promoted["message"].get<std::string>() << "\n";
  EXPECT_NEAR(canary / (canary + baseline), 0.10, 0.02) << "the canary's share of the traffic";
  // `promote` in the rollback window releases the previous revision now.
  HutResult release = Hut({"rollout", "promote", "backend"});
  EXPECT_EQ(release.code, 0) << release.output;
  EXPECT_EQ(Hut({"rollout", "status", "backend", "--watch"}).code, 0);

  // A canary answering 20 % errors: rolled back within seconds, and the
  // failures it caused are bounded by its 10 % share while it served.
  load = loadgen::LoadGenerator::Start(load_options);
  ASSERT_TRUE(load.ok()) << load.status();
  HutResult bad = Hut({"deploy", "backend", "7.0.0", "--strategy", "canary", "--set",
                       "FOOHUT_FAULTS=errors=0.2", "--wait"});
  EXPECT_EQ(bad.code, 2) << bad.output;
  std::this_thread::sleep_for(milliseconds(500));
  loadgen::LoadReport hurt = (*load)->Stop();
  const json status = Status("backend");
  const int64_t bad_id = status["rollout"]["id"];
  EXPECT_EQ(status["rollout"]["phase"], "rolled-back");
  EXPECT_NE(status["rollout"]["reason"].get<std::string>().find("error rate"), std::string::npos)
      << status["rollout"]["reason"];
  const std::vector<json> events = Events("backend");
  const json serving = LastEvent(events, bad_id, "replica.serving");
  const json analysing = LastEvent(events, bad_id, "rollout.analysing");
  const json verdict = LastEvent(events, bad_id, "analysis.rollback");
  const json cut = LastEvent(events, bad_id, "replica.weight", 0);
  ASSERT_TRUE(verdict.is_object() && cut.is_object() && serving.is_object());
  const double detection = Seconds(verdict) - Seconds(analysing);
  const double to_zero = Seconds(cut) - Seconds(verdict);
  const double served = Seconds(cut) - Seconds(serving);
  std::cerr << "bad canary: " << hurt.Summary() << "; " << hurt.by_header["7.0.0"]
            << " answered by it; analysing -> rollback " << detection << " s; rollback -> weight 0 "
            << to_zero << " s; it served " << served << " s\n"
            << "analysis: " << verdict["message"].get<std::string>() << "\n";
  EXPECT_LE(detection, 15.0);
  EXPECT_LE(to_zero, 1.0);
  EXPECT_GT(hurt.failed(), 0) << "the canary served no request";
  EXPECT_LE(hurt.failed(), hurt.by_header["7.0.0"]) << "a failure not caused by the canary";
  EXPECT_LE(hurt.by_header["7.0.0"], 0.10 * 300 * (served + 1) * 1.5)
      << "the canary took more than its share";

  // A canary that never becomes ready is rolled back and never serves.
  HutResult unready = Hut({"deploy", "backend", "8.0.0", "--strategy", "canary", "--set",
                           "FOOHUT_FAULTS=unready", "--wait"});
  EXPECT_EQ(unready.code, 2) << unready.output;
  EXPECT_NE(unready.output.find("not ready"), std::string::npos) << unready.output;

  // hut's own metrics tell the same story.
  const std::string metrics = Metrics();
  const auto sample = [&](const std::string& name, std::map<std::string, std::string> labels) {
    labels["environment"] = "staging";
    return testing::SampleSum(metrics, name, labels);
  };
  EXPECT_GE(sample("hut_rollouts_total",
                   {{"service", "backend"}, {"strategy", "canary"}, {"result", "succeeded"}}),
            1) << metrics;
  EXPECT_GE(sample("hut_rollouts_total",
                   {{"service", "backend"}, {"strategy", "canary"}, {"result", "rolled-back"}}),
            2);
  EXPECT_GE(sample("hut_analysis_verdicts_total", {{"service", "backend"}, {"verdict", "promote"}}),
            1);
  EXPECT_GE(
      sample("hut_analysis_verdicts_total", {{"service", "backend"}, {"verdict", "rollback"}}), 1);
  EXPECT_GE(sample("hut_rollback_seconds_count", {{"service", "backend"}}), 1);
  EXPECT_EQ(sample("hut_rollout_phase", {{"service", "backend"}, {"phase", "rolled-back"}}), 1);
  EXPECT_EQ(sample("hut_rollout_phase", {{"service", "backend"}}), 1) << "one phase at a time";
  EXPECT_GT(sample("hut_reconcile_tick_seconds_count", {{"service", "backend"}}), 0);
  EXPECT_GT(sample("hut_runtime_call_seconds_count", {{"operation", "apply"}}), 0);
  EXPECT_GT(sample("hut_store_call_seconds_count", {{"operation", "update_rollout"}}), 0);
}

TEST_F(HutUpEndToEndTest, CanaryOperatorCommands) {
  if (Status("backend")["replicas"].empty()) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  // The canary needs traffic to be judged (and no request may fail).
  auto load = loadgen::LoadGenerator::Start({.port = backend_port_,
                                             .targets = {"/api/v1/pages?q=canary"},
                                             .rate = 100,
                                             .count_header = "X-Foohut-Version"});
  ASSERT_TRUE(load.ok()) << load.status();

  // promote skips the hold; undo inside the window flips traffic back.
  ASSERT_EQ(Hut({"deploy", "backend", "9.0.0", "--strategy", "canary"}).code, 0);
  ASSERT_TRUE(WaitForPhase("analysing"));
  const auto asked = Steady::now();
  HutResult promote = Hut({"rollout", "promote", "backend", "--wait"});
  EXPECT_EQ(promote.code, 0) << promote.output;
  EXPECT_LT(Steady::now() - asked, seconds(8)) << "promote waited for the 10 s hold";
  const size_t revisions = json::parse(Hut({"rollout", "history", "backend", "-o", "json"}).output,
                                       nullptr, false)["revisions"]
                               .size();
  HutResult undo = Hut({"rollout", "undo", "backend", "--wait"});
  EXPECT_EQ(undo.code, 0) << undo.output;
  EXPECT_NE(undo.output.find("flips back"), std::string::npos) << undo.output;
  json status = Status("backend");
  EXPECT_EQ(status["rollout"]["phase"], "rolled-back");
  for (const json& r : status["replicas"]) {
    if (r["in_load_balancer"] == true && r["draining"] == false) EXPECT_NE(r["version"], "9.0.0");
  }
  EXPECT_EQ(json::parse(Hut({"rollout", "history", "backend", "-o", "json"}).output, nullptr,
                        false)["revisions"]
                .size(),
            revisions)
      << "undo in the window made a new revision";

  // abort rolls back at once; retry runs the canary again and it promotes.
  ASSERT_EQ(Hut({"deploy", "backend", "10.0.0", "--strategy", "canary"}).code, 0);
  ASSERT_TRUE(WaitForPhase("analysing"));
  HutResult abort = Hut({"rollout", "abort", "backend", "--wait"});
  EXPECT_EQ(abort.code, 0) << abort.output;
  EXPECT_NE(Status("backend")["rollout"]["reason"].get<std::string>().find("aborted"),
            std::string::npos);
  HutResult retry = Hut({"rollout", "retry", "backend", "--wait"});
  EXPECT_EQ(retry.code, 0) << retry.output;
  EXPECT_EQ(Status("backend")["rollout"]["canary"]["progress"]["attempt"], 2);

  loadgen::LoadReport report = (*load)->Stop();
  std::cerr << "load during the commands: " << report.Summary() << "\n";
  EXPECT_EQ(report.failed(), 0);
  EXPECT_GT(report.by_header["10.0.0"], 0);

  // The recorded analysis exports and replays offline to the live verdict.
  HutResult exported = Hut({"rollout", "export", "backend", std::to_string(RevisionOf("10.0.0"))});
  ASSERT_EQ(exported.code, 0) << exported.output;
  const std::string run = dir_->path() + "/run.json";
  std::ofstream(run) << exported.output;
  HutResult replay = Hut({"analyze", "--replay", run, "-o", "json"});
  ASSERT_EQ(replay.code, 0) << replay.output;
  EXPECT_EQ(json::parse(replay.output, nullptr, false)["decision"], "promote") << replay.output;

  // Refusals name why; the window is closed for the tests after this one.
  EXPECT_EQ(Hut({"rollout", "promote", "backend"}).code, 0);
  HutResult late = Hut({"rollout", "abort", "backend"});
  EXPECT_EQ(late.code, 1);
  EXPECT_NE(late.output.find("cannot abort"), std::string::npos) << late.output;
}

// Runs last (gtest keeps declaration order): stops the server with `hut down`
// and checks that nothing it started is left, then that state survives a
// restart.
// What an attacker on the machine, or code in a replica, can do: F4's
// hostile tests. 1,000 idle connections and 100 slowloris clients against the
// API under a 1,024-file limit; a replica's descriptors, environment and view
// of the machine.
TEST_F(HutUpEndToEndTest, ConnectionFloodsNeitherKillNorStarveTheApi) {
  RaiseOpenFileLimit();
  if (FirstReplicaPid("backend") == 0) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  auto load = loadgen::LoadGenerator::Start(
      {.port = backend_port_, .targets = {"/healthz", "/api/v1/pages?q=flood"}, .rate = 200});
  ASSERT_TRUE(load.ok()) << load.status();
  std::cout << "hut holds " << View(up_->pid()).fds.size()
            << " descriptors before the flood (limit 1024)\n";
  std::vector<std::unique_ptr<http::TestSocket>> idle, slow;
  for (int i = 0; i < 1000; ++i) {
    idle.push_back(std::make_unique<http::TestSocket>());
    ASSERT_TRUE(idle.back()->Connect(api_port_)) << "connection " << i;
  }
  for (int i = 0; i < 100; ++i) {
    slow.push_back(std::make_unique<http::TestSocket>());
    ASSERT_TRUE(slow.back()->Connect(api_port_)) << "slow connection " << i;
    slow.back()->Send("GET /api/v1/services HTTP/1.1\r\nHost: x\r\n");
  }
  std::vector<double> times;
  for (int round = 0; round < 10; ++round) {
    for (auto& s : slow) s->Send("X-a: b\r\n");  // headers that never end
    const auto start = Steady::now();
    HutResult status = Hut({"rollout", "status", "backend"}, seconds(10));
    times.push_back(std::chrono::duration<double>(Steady::now() - start).count());
    EXPECT_EQ(status.code, 0) << status.output;
    EXPECT_LT(times.back(), 1.0) << "round " << round;
  }
  std::cout << "hut holds " << View(up_->pid()).fds.size() << " descriptors during the flood\n";
  std::sort(times.begin(), times.end());
  std::cout << "rollout status under 1,000 idle + 100 slowloris connections: median "
            << times[times.size() / 2] << " s, max " << times.back() << " s\n";
  idle.clear();
  slow.clear();
  loadgen::LoadReport served = (*load)->Stop();
  EXPECT_FALSE(up_->TryWait().has_value()) << "hut up died:\n" << UpLog();
  EXPECT_EQ(served.failed(), 0);
  EXPECT_GT(served.ok, 0);
  std::cout << "requests through the load balancer meanwhile: " << served.sent << " sent, "
            << served.failed() << " failed\n";
}

TEST_F(HutUpEndToEndTest, ReplicasSeeNeitherHutNorEachOther) {
  if (FirstReplicaPid("backend") == 0) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  if (FirstReplicaPid("frontend") == 0) {
    ASSERT_EQ(Hut({"deploy", "frontend", "1.0.0", "--wait"}).code, 0);
  }
  const ReplicaView backend = View(FirstReplicaPid("backend"));
  const ReplicaView frontend = View(FirstReplicaPid("frontend"));
  ASSERT_GT(backend.pid, 0) << Status("backend").dump(2);
  ASSERT_GT(frontend.pid, 0) << Status("frontend").dump(2);

  // Descriptors: nothing of hut's (its sockets, its logs, its store).
  const ReplicaView hut = View(up_->pid());
  const std::set<std::string> huts(hut.fds.begin(), hut.fds.end());
  for (const ReplicaView* r : {&backend, &frontend}) {
    for (const std::string& target : r->fds) {
      EXPECT_FALSE(target.starts_with("socket:") && huts.count(target)) << target;
      EXPECT_EQ(target.find("/.hut/"), std::string::npos) << target;
      EXPECT_EQ(target.find("hut.log"), std::string::npos) << target;
    }
    // Environment: the spec's and a minimal base, no HUT_ variable.
    for (const auto& [name, value] : r->env) {
      EXPECT_FALSE(name.starts_with("HUT_")) << name;
      EXPECT_EQ(value.find(kLeakedToken), std::string::npos) << name;
    }
    EXPECT_NE(r->uid, 0u);
  }
  // One user per service.
  EXPECT_NE(backend.uid, frontend.uid);
  // The frontend has no secret of its own and cannot read the backend's.
  EXPECT_EQ(frontend.env.count("FOOHUT_JWT_KEYS_FILE"), 0u);
  const std::string backend_keys = backend.env.at("FOOHUT_JWT_KEYS_FILE");
  EXPECT_NE(AsReplica(backend, {"cat", backend_keys}).output.find("active_kid"),
            std::string::npos);
  CommandResult steal = AsReplica(frontend, {"cat", backend_keys});
  EXPECT_FALSE(steal.status.success()) << steal.output;
  EXPECT_EQ(steal.output.find("active_kid"), std::string::npos);
  // hut's state folder is empty to a replica: no admin token, no store.
  CommandResult token = AsReplica(frontend, {"cat", State() + "/admin-token"});
  EXPECT_FALSE(token.status.success()) << token.output;
  CommandResult listing = AsReplica(frontend, {"ls", "-A", State()});
  EXPECT_EQ(listing.output.find("admin-token"), std::string::npos) << listing.output;
  EXPECT_EQ(listing.output.find("hut.db"), std::string::npos) << listing.output;
  // PostgreSQL: neither the superuser nor the backend's role without its password.
  const std::string db = backend.env.at("FOOHUT_DATABASE_URL");
  const std::string host = db.substr(db.find('@') + 1, db.find('?') - db.find('@') - 1);
  for (const std::string user : {"postgres", "foohut"}) {
    CommandResult login = AsReplica(
        frontend, {"psql", absl::StrCat("postgresql://", user, "@", host), "-Atc", "SELECT 1"});
    EXPECT_FALSE(login.status.success()) << user << ": " << login.output;
    EXPECT_NE(login.output.find("password"), std::string::npos) << user << ": " << login.output;
  }
  // The backend logs in with its own copy of the password file.
  CommandResult own = AsReplica(backend, {"psql", db, "-Atc", "SELECT current_user"});
  EXPECT_EQ(own.output, "foohut\n");
  // Redis: nothing without the password.
  const std::string redis = backend.env.at("FOOHUT_REDIS_URL");
  const std::string redis_port = redis.substr(redis.rfind(':') + 1);
  CommandResult anonymous =
      AsReplica(frontend, {"redis-cli", "-p", redis_port, "GET", "anything"});
  EXPECT_NE(anonymous.output.find("NOAUTH"), std::string::npos) << anonymous.output;
}

// Kill-points under load: what hut starts is supervised, and a rollout does
// not blame its release for a dependency that died.
TEST_F(HutUpEndToEndTest, AKilledLoadBalancerIsRestartedAndServesAgain) {
  if (FirstReplicaPid("backend") == 0) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  auto load = loadgen::LoadGenerator::Start(
      {.port = backend_port_, .targets = {"/healthz", "/api/v1/pages?q=lb"}, .rate = 200});
  ASSERT_TRUE(load.ok()) << load.status();
  std::this_thread::sleep_for(milliseconds(500));  // load under way (real traffic)
  const int master = ChildNamed(up_->pid(), "haproxy");
  ASSERT_GT(master, 0);
  const int worker = ChildNamed(master, "haproxy");
  ASSERT_GT(worker, 0);
  const int64_t before = LastEventId();
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  std::this_thread::sleep_for(milliseconds(50));  // let the master notice and go
  const double back = SecondsUntilServing(backend_port_);
  std::cout << "HAProxy worker SIGKILLed: serving again after " << back << " s\n";
  EXPECT_LT(back, 5.0);
  std::this_thread::sleep_for(milliseconds(500));
  loadgen::LoadReport report = (*load)->Stop();
  std::cout << "load during the kill: " << report.sent << " sent, " << report.failed()
            << " failed\n";
  for (const auto& [error, count] : report.errors) std::cout << "  " << count << "x " << error << "\n";
  const std::vector<std::string> types = TypesOf(Events("load-balancer"), before);
  EXPECT_NE(std::find(types.begin(), types.end(), "dependency.down"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "dependency.restarted"), types.end());
  // HAProxy 2.6's master exits with its only worker: a new one serves.
  EXPECT_NE(ChildNamed(up_->pid(), "haproxy"), master);
  // Every replica is back in the (new) load balancer, and a rollout after
  // it succeeds only with its replicas in it.
  HutResult next = Hut({"deploy", "backend", "1.1.0", "--wait"});
  EXPECT_EQ(next.code, 0) << next.output;
  const json after = Status("backend");
  for (const json& r : after["replicas"]) {
    if (r.value("draining", false)) continue;  // the previous version, leaving
    // "UP", or "UP 1/3" after one slow check on a loaded machine: in rotation.
    EXPECT_TRUE(LbStatus("backend", r["name"]).starts_with("UP"))
        << LbStatus("backend", r["name"]) << " " << r.dump();
  }
}

TEST_F(HutUpEndToEndTest, AKilledDatabasePausesTheRolloutWhichThenFinishes) {
  if (FirstReplicaPid("backend") == 0) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  auto load = loadgen::LoadGenerator::Start(
      {.port = backend_port_, .targets = {"/healthz", "/api/v1/pages?q=pg"}, .rate = 200});
  ASSERT_TRUE(load.ok()) << load.status();
  const int64_t before = LastEventId();
  HutResult started = Hut({"deploy", "backend", "2.5.0"});
  ASSERT_EQ(started.code, 0) << started.output;
  const int postgres = ChildNamed(up_->pid(), "postgres");
  ASSERT_GT(postgres, 0);
  ASSERT_EQ(kill(postgres, SIGKILL), 0);
  HutResult waited = Hut({"rollout", "status", "backend", "--watch"}, seconds(180));
  loadgen::LoadReport report = (*load)->Stop();
  std::cout << "load while PostgreSQL was killed and restarted: " << report.sent << " sent, "
            << report.failed() << " failed\n";
  for (const auto& [error, count] : report.errors) std::cout << "  " << count << "x " << error << "\n";
  EXPECT_EQ(waited.code, 0) << waited.output;
  json status = Status("backend");
  EXPECT_EQ(status["rollout"]["phase"], "succeeded") << status.dump(2);
  const std::vector<std::string> pg = TypesOf(Events("postgres"), before);
  EXPECT_NE(std::find(pg.begin(), pg.end(), "dependency.down"), pg.end());
  EXPECT_NE(std::find(pg.begin(), pg.end(), "dependency.restarted"), pg.end());
  const std::vector<std::string> rollout = TypesOf(Events("backend"), before);
  EXPECT_NE(std::find(rollout.begin(), rollout.end(), "rollout.waiting"), rollout.end());
  EXPECT_NE(std::find(rollout.begin(), rollout.end(), "rollout.resumed"), rollout.end());
  EXPECT_EQ(std::find(rollout.begin(), rollout.end(), "rollout.rolling-back"), rollout.end());
  EXPECT_EQ(std::find(rollout.begin(), rollout.end(), "rollout.rolled-back"), rollout.end());
}

// hut SIGKILLed mid-rolling and started again at once: the stable revision
// is back at full size before the rollout goes on, and the rollout ends as
// its release deserves (succeeded with a good one, rolled back with a
// broken one).
TEST_F(HutUpEndToEndTest, AKilledHutRestartsWithTheStableRevisionFirst) {
  if (FirstReplicaPid("backend") == 0) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  struct Case {
    std::string version;
    std::vector<std::string> extra;
    int exit_code;
    std::string phase;
  };
  for (const Case& c : {Case{"6.0.0", {}, 0, "succeeded"},
                        Case{"6.1.0", {"--set", "FOOHUT_FAULTS=unready"}, 2, "rolled-back"}}) {
    auto load = loadgen::LoadGenerator::Start(
        {.port = backend_port_, .targets = {"/healthz", "/api/v1/pages?q=kill"}, .rate = 200});
    ASSERT_TRUE(load.ok()) << load.status();
    std::vector<std::string> deploy = {"deploy", "backend", c.version};
    deploy.insert(deploy.end(), c.extra.begin(), c.extra.end());
    HutResult started = Hut(deploy);
    ASSERT_EQ(started.code, 0) << started.output;
    // Kill once the first replica of the new version runs.
    bool new_replica = false;
    for (int i = 0; i < 300 && !new_replica; ++i) {
      const json now = Status("backend");
      for (const json& r : now["replicas"]) new_replica |= r["version"] == c.version;
      if (!new_replica) std::this_thread::sleep_for(milliseconds(20));
    }
    ASSERT_TRUE(new_replica);
    const auto killed = Steady::now();
    ASSERT_EQ(kill(up_->pid(), SIGKILL), 0);
    up_->WaitFor(seconds(10));
    delete up_;
    up_ = nullptr;
    StartHutUp();
    ASSERT_NE(up_, nullptr);
    const double serving_again =
        std::chrono::duration<double>(Steady::now() - killed).count() +
        SecondsUntilServing(backend_port_);
    // From the moment 3 replicas serve again, never fewer.
    int serving_max = 0, serving_min_after = 3, polls = 0;
    std::string phase;
    const auto until = Steady::now() + seconds(120);
    while (Steady::now() < until) {
      json status = Status("backend");
      int serving = 0;
      for (const json& r : status["replicas"]) {
        if (r.value("ready", false) && r.value("in_load_balancer", false) &&
            !r.value("draining", false)) {
          ++serving;
        }
      }
      serving_max = std::max(serving_max, serving);
      if (serving_max >= 3) serving_min_after = std::min(serving_min_after, serving);
      ++polls;
      phase = status["rollout"].value("phase", "");
      if (phase == "succeeded" || phase == "rolled-back" || phase == "failed") break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    loadgen::LoadReport report = (*load)->Stop();
    std::cout << c.version << (c.extra.empty() ? " (good)" : " (broken)")
              << ": hut SIGKILLed mid-rollout and restarted; serving again after "
              << serving_again << " s; then never fewer than " << serving_min_after
              << " serving replicas (" << polls << " polls); rollout " << phase << "; load "
              << report.sent << " sent, " << report.failed() << " failed\n";
    EXPECT_EQ(phase, c.phase);
    EXPECT_EQ(serving_min_after, 3);
    HutResult status = Hut({"rollout", "status", "backend"});
    EXPECT_EQ(status.code, 0) << status.output;
    std::map<std::string, int> serving_versions;
    const json end = Status("backend");
    for (const json& r : end["replicas"]) {  // a draining one is leaving: not serving
      if (r.value("ready", false) && r.value("in_load_balancer", false) &&
          !r.value("draining", false)) {
        ++serving_versions[r["version"]];
      }
    }
    if (c.exit_code == 0) {
      EXPECT_EQ(serving_versions, (std::map<std::string, int>{{c.version, 3}}));
    } else {
      EXPECT_EQ(serving_versions.count(c.version), 0u);
      EXPECT_EQ(serving_versions.size(), 1u);
    }
  }
}

// docs/logs.md: every replica's lines reach the central store; one request's
// lines are found by its trace id within 2 s of being written, with the
// fields the store indexes; bad input to `hut logs` is a clear error.
TEST_F(HutUpEndToEndTest, ARequestsLinesAreFoundByItsTraceWithinTwoSeconds) {
  // The spec's replicas log WARN and above; this release logs INFO.
  HutResult deployed = Hut({"deploy", "backend", "1.5.0", "--set", "FOOHUT_LOG_LEVEL=INFO", "--wait"});
  ASSERT_EQ(deployed.code, 0) << deployed.output;
  const std::string trace = absl::StrCat("4bf92f3577b34da6", absl::Hex(Steady::now().time_since_epoch().count(), absl::kZeroPad16));
  // A signup: foohut-api logs it ("signed up", with the request's trace).
  http::ClientRequest request;
  request.method = "POST";
  request.port = backend_port_;
  request.target = "/api/v1/signup";
  request.body = json{{"email", absl::StrCat("logs-", trace.substr(16), "@foohut.com")},
                      {"password", "correct horse battery"}}
                     .dump();
  request.headers.emplace("Content-Type", "application/json");
  request.headers.emplace("traceparent", absl::StrCat("00-", trace, "-00f067aa0ba902b7-01"));
  auto response = http::Fetch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->status, 201) << response->body;
  const auto sent = Steady::now();
  std::vector<json> lines;
  while (lines.empty() && Steady::now() - sent < seconds(2)) {
    HutResult found = Hut({"logs", "backend", "--trace", trace, "-o", "json"});
    ASSERT_EQ(found.code, 0) << found.output;
    lines = JsonLines(found.output);
  }
  const double waited = std::chrono::duration<double>(Steady::now() - sent).count();
  ASSERT_FALSE(lines.empty()) << "no line of trace " << trace << " after " << waited << " s; the last minute:\n"
                              << Hut({"logs", "backend", "--since", "1m"}).output;
  std::cerr << lines.size() << " line(s) of the trace found after " << waited << " s\n";
  for (const json& l : lines) {
    EXPECT_EQ(l["trace_id"], trace) << l.dump();
    EXPECT_EQ(l["service"], "backend") << l.dump();
    EXPECT_TRUE(l["replica"].is_string() && l["version"].is_string() && l["level"].is_string()) << l.dump();
  }
  // The load balancer's line of the same request: found by its trace, and
  // joined to the replica's by the request id HAProxy gave it.
  std::vector<json> lb;
  while (lb.empty() && Steady::now() - sent < seconds(5)) {
    HutResult found = Hut({"logs", "load-balancer", "--trace", trace, "-o", "json"});
    ASSERT_EQ(found.code, 0) << found.output;
    lb = JsonLines(found.output);
  }
  ASSERT_EQ(lb.size(), 1u) << Hut({"logs", "load-balancer", "--since", "1m"}).output;
  EXPECT_EQ(lb[0]["backend"], "backend") << lb[0].dump();
  EXPECT_EQ(lb[0]["status"], 201) << lb[0].dump();
  EXPECT_EQ(lb[0]["path"], "/api/v1/signup") << lb[0].dump();
  EXPECT_TRUE(lb[0]["request_id"].is_string()) << lb[0].dump();
  EXPECT_EQ(lb[0]["request_id"], lines[0]["request_id"]) << lb[0].dump() << "\n" << lines[0].dump();
  EXPECT_THAT(Hut({"rollout", "status", "backend", "-o", "json"}).output,
              ::testing::HasSubstr(lb[0]["server"].get<std::string>()));
  // PostgreSQL's and Redis's own lines, from their log files.
  for (const auto& [service, component] :
       {std::pair{"postgres", "postgresql"}, std::pair{"redis", "redis"}}) {
    HutResult found = Hut({"logs", service, "--since", "1h", "-o", "json"});
    ASSERT_EQ(found.code, 0) << found.output;
    int theirs = 0;
    for (const json& j : JsonLines(found.output)) {
      theirs += j["component"] == component && j["service"] == service;
    }
    EXPECT_GT(theirs, 0) << service << ":\n" << found.output;
  }
  // hut's /metrics counts what the store took.
  EXPECT_GT(testing::SampleSum(Metrics(), "hut_log_lines_total", {{"result", "stored"}}), 0);
  // The text form, and the control plane's own lines.
  HutResult text = Hut({"logs", "backend", "--trace", trace});
  EXPECT_EQ(text.code, 0);
  EXPECT_THAT(text.output, ::testing::HasSubstr(absl::StrCat("trace_id=", trace)));
  HutResult own = Hut({"logs", "hut", "--since", "1h", "--grep", "starting"});
  EXPECT_EQ(own.code, 0) << own.output;
  EXPECT_THAT(own.output, ::testing::HasSubstr("starting"));

  HutResult unknown = Hut({"logs", "nope"});
  EXPECT_EQ(unknown.code, 1);
  EXPECT_THAT(unknown.output, ::testing::HasSubstr("unknown service \"nope\""));
  HutResult bad = Hut({"logs", "backend", "--since", "soon"});
  EXPECT_EQ(bad.code, 64);
  EXPECT_THAT(bad.output, ::testing::HasSubstr("expected a duration"));
  HutResult level = Hut({"logs", "backend", "--level", "LOUD"});
  EXPECT_EQ(level.code, 64);
}

// docs/traces.md: one request through the load balancer is one trace in
// Jaeger: foohut-api's server span and, as its children, the Redis and
// PostgreSQL calls; `hut trace` shows them and the request's log lines.
TEST_F(HutUpEndToEndTest, OneRequestIsOneTraceWithItsCacheAndDatabaseSpansAndItsLines) {
  HutResult deployed = Hut({"deploy", "backend", "1.6.0", "--set", "FOOHUT_LOG_LEVEL=INFO", "--wait"});
  ASSERT_EQ(deployed.code, 0) << deployed.output;
  const std::string trace = absl::StrCat("0af7651916cd43dd", absl::Hex(Steady::now().time_since_epoch().count(), absl::kZeroPad16));
  http::ClientRequest request;
  request.port = backend_port_;
  request.target = "/api/v1/pages/987654321";  // none: a cache miss, then the database
  request.headers.emplace("traceparent", absl::StrCat("00-", trace, "-b7ad6b7169203331-01"));
  auto response = http::Fetch(request);
  ASSERT_TRUE(response.ok()) << response.status();
  ASSERT_EQ(response->status, 404) << response->body;

  json answer;
  for (int i = 0; i < 100; ++i) {  // the exporter sends within 500 ms; Jaeger batches 200 ms
    HutResult r = Hut({"trace", trace, "-o", "json"});
    answer = json::parse(r.output, nullptr, false);
    if (r.code == 0 && answer.is_object() && answer["spans"].size() >= 3 && !answer["logs"].empty()) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(answer.is_object()) << answer;
  ASSERT_EQ(answer["spans"].size(), 3u) << answer.dump(1);
  std::map<std::string, json> by_name;
  for (const json& s : answer["spans"]) by_name[s["name"]] = s;
  ASSERT_TRUE(by_name.contains("GET /api/v1/pages/{id}")) << answer.dump(1);
  const json& server = by_name["GET /api/v1/pages/{id}"];
  EXPECT_EQ(server["service"], "backend");
  EXPECT_EQ(server["parent_id"], "b7ad6b7169203331");  // the caller's span
  EXPECT_EQ(server["attributes"]["http.response.status_code"], 404);
  for (const char* child : {"GET", "SELECT pages"}) {
    ASSERT_TRUE(by_name.contains(child)) << answer.dump(1);
    EXPECT_EQ(by_name[child]["parent_id"], server["span_id"]) << child;
    EXPECT_GE(by_name[child]["start_us"].get<int64_t>(), server["start_us"].get<int64_t>()) << child;
  }
  EXPECT_EQ(by_name["GET"]["attributes"]["db.system.name"], "redis");
  EXPECT_EQ(by_name["SELECT pages"]["attributes"]["db.system.name"], "postgresql");
  for (const json& l : answer["logs"]) EXPECT_EQ(l["trace_id"], trace) << l.dump();

  HutResult text = Hut({"trace", trace});
  EXPECT_EQ(text.code, 0);
  EXPECT_THAT(text.output, ::testing::HasSubstr("GET /api/v1/pages/{id}"));
  EXPECT_THAT(text.output, ::testing::HasSubstr("    backend  SELECT pages"));
  EXPECT_THAT(text.output, ::testing::HasSubstr("Log lines of this trace"));
  std::cerr << text.output;
  // The deploy above is a trace of its own, hut's: the rollout, its phases.
  const std::string rollout_trace = Status("backend")["rollout"]["trace_id"];
  json rollout;
  for (int i = 0; i < 50; ++i) {
    HutResult r = Hut({"trace", rollout_trace, "-o", "json"});
    rollout = json::parse(r.output, nullptr, false);
    if (r.code == 0 && rollout.is_object() && rollout["spans"].size() >= 2) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(rollout.is_object() && rollout["spans"].size() >= 2) << rollout;
  json root;
  for (const json& s : rollout["spans"]) {
    if (s["parent_id"] == "") root = s;
  }
  ASSERT_TRUE(root.is_object()) << rollout.dump(1);
  EXPECT_EQ(root["service"], "hut");
  EXPECT_THAT(root["name"].get<std::string>(), ::testing::StartsWith("rollout backend r"));
  EXPECT_EQ(root["attributes"]["hut.result"], "succeeded");
  for (const json& s : rollout["spans"]) {
    if (s["span_id"] != root["span_id"]) EXPECT_EQ(s["parent_id"], root["span_id"]) << s.dump();
  }

  HutResult none = Hut({"trace", "0123456789abcdef0123456789abcdef"});
  EXPECT_EQ(none.code, 1);
  EXPECT_THAT(none.output, ::testing::HasSubstr("no span and no log line of trace"));
  HutResult bad = Hut({"trace", "xyz"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.output, ::testing::HasSubstr("expected 32 lowercase hex digits"));
}

TEST_F(HutUpEndToEndTest, PrometheusScrapesEveryReplicaAndFiresTheErrorAlert) {
  if (Status("backend")["replicas"].empty()) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  // Every replica is a target with its labels, as long as it runs.
  const auto replicas = [](const std::string& service) {
    std::map<std::string, json> out;
    const json status = Status(service);
    for (const json& r : status["replicas"]) out[r["name"]] = r;
    return out;
  };
  const auto targets_match = [&] {
    std::map<std::string, json> want = replicas("backend");
    want.merge(replicas("frontend"));
    const std::map<std::string, json> have = Targets("replicas");
    if (have.size() != want.size()) return false;
    for (const auto& [name, r] : want) {
      auto t = have.find(name);
      if (t == have.end() || t->second["health"] != "up") return false;
      const json& labels = t->second["labels"];
      if (labels["environment"] != "staging" || labels["version"] != r["version"] ||
          labels["revision"] != std::to_string(r["revision"].get<int>())) {
        return false;
      }
    }
    return true;
  };
  bool matched = false;
  for (int i = 0; i < 150 && !(matched = targets_match()); ++i) {
    std::this_thread::sleep_for(milliseconds(200));
  }
  if (!matched) {
    std::string want, have;
    for (const std::string service : {"backend", "frontend"}) {
      for (const auto& [name, r] : replicas(service)) absl::StrAppend(&want, name, " ", r.dump(), "\n");
    }
    for (const auto& [name, t] : Targets("replicas")) {
      absl::StrAppend(&have, name, " ", t["health"].dump(), " ", t["labels"].dump(), "\n");
    }
    FAIL() << "replicas:\n" << want << "targets:\n" << have;
  }
  for (const std::string job : {"hut", "load-balancer", "node", "postgres", "redis"}) {
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
      const auto t = Targets(job);
      up = t.size() == 1 && t.begin()->second["health"] == "up";
      if (!up) std::this_thread::sleep_for(milliseconds(200));
    }
    EXPECT_TRUE(up) << job << ": " << Prometheus("/api/v1/targets?state=active").dump(1);
  }
  auto client = metrics::PrometheusClient::Create(
      absl::StrCat("http://127.0.0.1:", prometheus_port_), seconds(5));
  ASSERT_TRUE(client.ok()) << client.status();

  // hut measures every replica's processes from /proc (hut_replica_*, on
  // hut's /metrics): a series per replica with its labels, and the memory
  // foohut-api reports of itself, within a factor of two (read apart in time).
  {
    std::string seen;
    bool measured = false;
    for (int i = 0; i < 100 && !measured; ++i) {
      auto usage = client->Query("hut_replica_resident_memory_bytes{service=\"backend\"}");
      auto own = client->Query("process_resident_memory_bytes{service=\"backend\"}");
      auto cpu = client->Query("hut_replica_cpu_seconds_total{service=\"backend\"} > 0");
      ASSERT_TRUE(usage.ok() && own.ok() && cpu.ok());
      std::map<std::string, double> mine, theirs;
      std::set<std::string> with_cpu;
      for (const auto& s : *usage) mine[s.labels.at("replica")] = std::stod(s.value);
      for (const auto& s : *own) theirs[s.labels.at("replica")] = std::stod(s.value);
      for (const auto& s : *cpu) with_cpu.insert(s.labels.at("replica"));
      measured = true;
      seen.clear();
      for (const auto& [name, r] : replicas("backend")) {
        const auto m = mine.find(name), t = theirs.find(name);
        const bool ok = m != mine.end() && t != theirs.end() && with_cpu.contains(name) &&
                        m->second > t->second / 2 && m->second < t->second * 2;
        absl::StrAppend(&seen, name, ": hut ", m == mine.end() ? -1 : m->second, " own ",
                        t == theirs.end() ? -1 : t->second, " cpu ", with_cpu.contains(name), "\n");
        measured = measured && ok;
      }
      if (!measured) std::this_thread::sleep_for(milliseconds(200));
    }
    EXPECT_TRUE(measured) << seen;
  }

  // A release answering 20 % errors under load: the critical alert fires in
  // Prometheus, for the service, from the rules generated from the spec. The
  // replicas of the version before it leave the targets.
  const std::string before = Status("backend")["replicas"][0]["version"];
  auto load = loadgen::LoadGenerator::Start(
      {.port = backend_port_, .targets = {"/api/v1/pages?q=alert"}, .rate = 100});
  ASSERT_TRUE(load.ok()) << load.status();
  const auto started = Steady::now();
  HutResult faulty =
      Hut({"deploy", "backend", "9.0.0", "--set", "FOOHUT_FAULTS=errors=0.2", "--wait"});
  EXPECT_EQ(faulty.code, 0) << faulty.output;
  json firing;
  while (firing.is_null() && Steady::now() - started < seconds(180)) {
    const json alerts = Prometheus("/api/v1/alerts");
    for (const json& a : alerts["alerts"]) {
      if (a["labels"]["alertname"] == "HighErrorRate" && a["labels"]["service"] == "backend" &&
          a["state"] == "firing") {
        firing = a;
      }
    }
    if (firing.is_null()) std::this_thread::sleep_for(milliseconds(500));
  }
  // `hut rollout status` shows what Prometheus saw of the service's requests.
  const json requests = Status("backend")["requests"];
  HutResult text = Hut({"rollout", "status", "backend"});
  (*load)->Stop();
  ASSERT_TRUE(requests.is_object()) << Status("backend").dump(1);
  EXPECT_EQ(requests["window"], "1m");
  // Replicas a few seconds old: rate() over 1m counts only their part of it.
  EXPECT_GT(requests["per_second"].get<double>(), 5);
  EXPECT_GT(requests["error_ratio"].get<double>(), 0.05);
  EXPECT_GT(requests["p99_seconds"].get<double>(), 0);
  EXPECT_NE(text.output.find("Requests:"), std::string::npos) << text.output;
  std::cerr << "rollout status: " << requests.dump() << "\n";
  ASSERT_FALSE(firing.is_null()) << "HighErrorRate did not fire: "
                                 << Prometheus("/api/v1/alerts").dump(1);
  std::cerr << "HighErrorRate firing "
            << std::chrono::duration<double>(Steady::now() - started).count()
            << " s after the faulty deploy began: " << firing["annotations"]["summary"] << "\n";
  EXPECT_EQ(firing["labels"]["severity"], "critical");
  EXPECT_EQ(firing["labels"]["environment"], "staging");

  // Prometheus sends it to the environment's Alertmanager, which sends it,
  // routed by its severity, to hut's webhook: hut records it.
  json recorded;
  while (recorded.is_null() && Steady::now() - started < seconds(240)) {
    for (const json& e : Events("backend")) {
      if (e["type"] == "alert.firing" && e["data"]["alertname"] == "HighErrorRate") recorded = e;
    }
    if (recorded.is_null()) std::this_thread::sleep_for(milliseconds(500));
  }
  auto in_alertmanager = http::Fetch({.port = alertmanager_port_, .target = "/api/v2/alerts"});
  ASSERT_TRUE(in_alertmanager.ok()) << in_alertmanager.status();
  EXPECT_THAT(in_alertmanager->body, ::testing::HasSubstr("\"alertname\":\"HighErrorRate\""));
  ASSERT_FALSE(recorded.is_null()) << "hut recorded no alert; Alertmanager has: "
                                   << in_alertmanager->body;
  std::cerr << "HighErrorRate recorded by hut "
            << std::chrono::duration<double>(Steady::now() - started).count()
            << " s after the faulty deploy began: " << recorded["message"] << "\n";
  EXPECT_EQ(recorded["data"]["receiver"], "hut-page");
  EXPECT_EQ(recorded["data"]["labels"]["severity"], "critical");
  EXPECT_EQ(recorded["data"]["labels"]["service"], "backend");
  EXPECT_EQ(recorded["data"]["annotations"]["runbook_url"],
            "https://git.example.com/foohut/hut/blob/main/docs/runbooks/high-error-rate.md");
  // ... and pages: a PagerDuty trigger, severity critical, with the runbook.
  nlohmann::json page;
  while (page.is_null() && Steady::now() - started < seconds(240)) {
    for (const json& e : pagerduty_->taken()) {
      if (e["event_action"] == "trigger" && e["payload"]["class"] == "HighErrorRate") page = e;
    }
    if (page.is_null()) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_FALSE(page.is_null()) << "no page; the receiver refused: "
                               << ::testing::PrintToString(pagerduty_->problems());
  std::cerr << "HighErrorRate paged "
            << std::chrono::duration<double>(Steady::now() - started).count()
            << " s after the faulty deploy began\n";
  EXPECT_THAT(pagerduty_->problems(), ::testing::IsEmpty());
  EXPECT_EQ(page["routing_key"], kRoutingKey);
  EXPECT_EQ(page["payload"]["severity"], "critical");
  EXPECT_EQ(page["payload"]["component"], "backend");
  EXPECT_EQ(page["payload"]["group"], "staging");
  EXPECT_EQ(page["links"][0]["href"],
            "https://git.example.com/foohut/hut/blob/main/docs/runbooks/high-error-rate.md");
  EXPECT_EQ(page["links"][0]["text"], "Runbook");
  // Alertmanager's token opens the webhook and nothing else; a body that is
  // not a notification is refused, saying why.
  {
    std::ifstream token_file(State() + "/secrets/alertmanager-token");
    std::string token;
    std::getline(token_file, token);
    http::ClientRequest bad;
    bad.method = "POST";
    bad.port = api_port_;
    bad.target = "/api/v1/alerts/webhook";
    bad.body = R"({"version":"4","status":"firing","receiver":"hut-page","alerts":[{}]})";
    bad.headers.emplace("Authorization", "Bearer " + token);
    auto refused = http::Fetch(bad);
    ASSERT_TRUE(refused.ok()) << refused.status();
    EXPECT_EQ(refused->status, 400) << refused->body;
    EXPECT_THAT(refused->body, ::testing::HasSubstr("alerts[0].status: missing"));
    http::ClientRequest events;
    events.port = api_port_;
    events.target = "/api/v1/events";
    events.headers.emplace("Authorization", "Bearer " + token);
    auto denied = http::Fetch(events);
    ASSERT_TRUE(denied.ok()) << denied.status();
    EXPECT_EQ(denied->status, 401);
  }
  for (const auto& [name, t] : Targets("replicas")) {
    EXPECT_NE(t["labels"]["version"], before) << name << " still a target after it stopped";
  }

  // Every expression of the Grafana dashboards (monitoring/grafana) parses in
  // this Prometheus, and the main panels have data.
  const std::map<std::string, std::set<std::string>> main_panels = {
      {"service", {"Requests per second by version", "Error ratio by version",
                   "P99 latency by version", "Replicas up",
                   "Saturation: resident memory per replica", "Saturation: CPU per replica"}},
      {"hut", {"Rollouts finished by result", "Current rollout phase", "Reconcile tick P99",
               "Store and runtime call P99"}},
      {"infrastructure", {"CPU busy", "Memory available", "Disk free", "PostgreSQL connections",
                          "Redis memory and clients",
                          "Load balancer: requests per second by backend"}}};
  const auto concrete = [](std::string expr) {
    for (const auto& [var, value] :
         {std::pair{"$environment", "staging"}, std::pair{"$service", "backend"}}) {
      for (size_t at; (at = expr.find(var)) != std::string::npos;) {
        expr.replace(at, std::string(var).size(), value);
      }
    }
    return expr;
  };
  int expressions = 0;
  for (const auto& [name, main] : main_panels) {
    std::ifstream in(testing::SourceDir() + "/monitoring/grafana/dashboards/" + name + ".json");
    const json dashboard = json::parse(in);
    std::set<std::string> with_data;
    for (const json& panel : dashboard["panels"]) {
      for (const json& target : panel["targets"]) {
        ++expressions;
        auto samples = client->Query(concrete(target["expr"]));
        EXPECT_TRUE(samples.ok()) << name << " / " << panel["title"] << ": " << samples.status();
        if (samples.ok() && !samples->empty()) with_data.insert(panel["title"]);
      }
    }
    for (const json& a : dashboard["annotations"]["list"]) {
      ++expressions;
      auto samples = client->Query(concrete(a["expr"]));
      EXPECT_TRUE(samples.ok()) << name << " annotation: " << samples.status();
    }
    for (const std::string& title : main) {
      EXPECT_TRUE(with_data.contains(title)) << name << " / " << title << " has no data";
    }
  }
  std::cerr << expressions << " dashboard expressions parsed\n";

  HutResult healed = Hut({"deploy", "backend", "9.0.1", "--wait"});
  EXPECT_EQ(healed.code, 0) << healed.output;
  // The fault removed, the alert resolves: the same incident is resolved.
  const auto healed_at = Steady::now();
  json resolve;
  while (resolve.is_null() && Steady::now() - healed_at < seconds(240)) {
    for (const json& e : pagerduty_->taken()) {
      if (e["event_action"] == "resolve" && e["dedup_key"] == page["dedup_key"]) resolve = e;
    }
    if (resolve.is_null()) std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_FALSE(resolve.is_null()) << "no resolve; hut's alerts: " << Hut({"alerts", "list"}).output;
  std::cerr << "HighErrorRate resolved at PagerDuty "
            << std::chrono::duration<double>(Steady::now() - healed_at).count()
            << " s after the fix was deployed\n";
  EXPECT_EQ(pagerduty_->incidents().at(page["dedup_key"]).status, "resolved");
  EXPECT_EQ(pagerduty_->incidents().at(page["dedup_key"]).triggers, 1);  // paged once
  EXPECT_THAT(pagerduty_->problems(), ::testing::IsEmpty());
}

// A rollout under way listens to the alerts of its service: a canary whose
// only symptom is a firing critical alert (a healthy release; the alert
// sent through Alertmanager by `hut alerts test`) is rolled back within one
// group_wait (2 s for critical in this spec) of the alert reaching
// Alertmanager, and a rolling update likewise.
TEST_F(HutUpEndToEndTest, AFiringCriticalAlertRollsBackACanaryAndARollingUpdate) {
  if (Status("backend")["replicas"].empty()) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  const auto last_event = [] {
    const std::vector<json> events = Events("backend");
    int64_t last = 0;
    for (const json& e : events) last = std::max<int64_t>(last, e["id"].get<int64_t>());
    return last;
  };
  const auto phase = [] {
    const json rollout = Status("backend")["rollout"];
    return rollout.is_object() ? rollout.value("phase", "") : "";
  };
  // Alertmanager sends a new group's first alert after group_wait, and an
  // alert joining a group that still fires (the second test alert joins the
  // first's: same alertname, environment and service) after group_interval.
  struct Case {
    std::vector<std::string> deploy;
    std::set<std::string> under_way;
    double within_s;
  };
  const Case cases[] = {
      {{"deploy", "backend", "5.0.0", "--strategy", "canary"}, {"starting", "analysing"}, 2 + 2},
      // Replicas that take 2 s to warm up: a rolling update of 3 lasts longer than a group_wait.
      {{"deploy", "backend", "5.0.1", "--strategy", "rolling", "--set",
        "FOOHUT_FAULTS=ready_after=2s"},
       {"progressing"},
       5 + 2},
  };
  for (const Case& c : cases) {
    int64_t after = 0;
    // Events come in pages of 1,000: start from the newest one.
    for (std::vector<json> page; !(page = Events("backend", after)).empty();) {
      after = page.back()["id"].get<int64_t>();
    }
    HutResult deploy = Hut(c.deploy);
    ASSERT_EQ(deploy.code, 0) << deploy.output;
    bool under_way = false;
    for (int i = 0; i < 100 && !(under_way = c.under_way.contains(phase())); ++i) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    ASSERT_TRUE(under_way) << c.deploy[2] << ": " << Status("backend").dump(1);
    const auto sent_at = std::chrono::system_clock::now();
    HutResult test = SendTestAlert({"critical", "--service", "backend"});
    ASSERT_EQ(test.code, 0) << test.output;
    json told, ended;
    const auto started = Steady::now();
    while (ended.is_null() && Steady::now() - started < seconds(90)) {
      for (const json& e : Events("backend", after)) {
        if (e["type"] == "rollout.alert") told = e;
        if (e["type"] == "rollout.rolled-back") ended = e;
      }
      if (ended.is_null()) std::this_thread::sleep_for(milliseconds(200));
    }
    ASSERT_FALSE(told.is_null()) << c.deploy[2] << ": no rollout.alert; " << Status("backend").dump(1);
    ASSERT_FALSE(ended.is_null()) << c.deploy[2] << ": not rolled back; " << Status("backend").dump(1);
    absl::Time told_at;
    std::string err;
    ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, told["at"].get<std::string>(), &told_at, &err));
    const double reacted =
        absl::ToDoubleSeconds(told_at - absl::FromChrono(sent_at));
    std::cerr << c.deploy[2] << " (" << c.deploy[4] << "): the rollout reacted " << reacted
              << " s after the alert reached Alertmanager: " << told["message"] << "\n";
    EXPECT_LT(reacted, c.within_s) << "more than Alertmanager's wait and a little";
    EXPECT_EQ(told["data"]["alertname"], "HutTestAlert");
    EXPECT_THAT(ended["message"].get<std::string>(),
                ::testing::HasSubstr("alert HutTestAlert (critical) fired for backend"));
  }
  EXPECT_GT(last_event(), 0);
  HutResult healed = Hut({"deploy", "backend", "5.0.2", "--wait"});
  EXPECT_EQ(healed.code, 0) << healed.output;
}

// Delivery survives a crash: hut SIGKILLed after PagerDuty took a page but
// before hut recorded the answer sends it again once restarted, under the
// same dedup_key, and the receiver keeps one incident.
TEST_F(HutUpEndToEndTest, AHutKilledBetweenSendAndRecordPagesOnceAsFarAsPagerDutyCanTell) {
  const size_t before = pagerduty_->taken().size();
  pagerduty_->HoldAnswers(true);
  HutResult test = SendTestAlert({"critical"});
  ASSERT_EQ(test.code, 0) << test.output;
  std::string dedup;
  const auto sent = Steady::now();
  while (dedup.empty() && Steady::now() - sent < seconds(60)) {
    const auto taken = pagerduty_->taken();
    for (size_t i = before; i < taken.size(); ++i) {
      if (taken[i]["event_action"] == "trigger" && taken[i]["payload"]["class"] == "HutTestAlert") {
        dedup = taken[i]["dedup_key"];
      }
    }
    if (dedup.empty()) std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_FALSE(dedup.empty()) << "no page taken; refused: "
                              << ::testing::PrintToString(pagerduty_->problems());
  // hut waits for PagerDuty's answer: killed now, it has not recorded it.
  ASSERT_EQ(kill(up_->pid(), SIGKILL), 0);
  up_->WaitFor(seconds(10));
  delete up_;
  up_ = nullptr;
  pagerduty_->HoldAnswers(false);
  StartHutUp();
  ASSERT_NE(up_, nullptr);
  const auto restarted = Steady::now();
  int triggers = 0;
  while (triggers < 2 && Steady::now() - restarted < seconds(60)) {
    auto incidents = pagerduty_->incidents();
    triggers = incidents.contains(dedup) ? incidents.at(dedup).triggers : 0;
    if (triggers < 2) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(triggers, 2) << "the page was not sent again after the restart";
  // Sent again once, and no more: the second answer was recorded. A lane
  // sends in order, so once a later page of the same lane has arrived, the
  // first one is no longer waiting to be sent.
  const size_t taken = pagerduty_->taken().size();
  ASSERT_EQ(SendTestAlert({"critical"}).code, 0);
  ASSERT_TRUE(pagerduty_->WaitForTaken(taken + 1, seconds(60)));
  const auto incident = pagerduty_->incidents().at(dedup);
  EXPECT_EQ(incident.triggers, 2);
  EXPECT_EQ(incident.status, "triggered");  // one incident, as PagerDuty keeps it
  EXPECT_THAT(pagerduty_->problems(), ::testing::IsEmpty());
}

// A JWT rotation under 300 requests/s: nobody is logged out, a login after
// it gets a token of the new key, the old key is refused once its overlap
// (8 s here) has passed, and no key shows in hut's logs or events.
TEST_F(HutUpEndToEndTest, AJwtRotationUnderLoadLogsNobodyOutAndRetiresTheOldKey) {
  if (Status("backend")["replicas"].empty()) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  const auto call = [](const std::string& method, const std::string& target, const json& body,
                       const std::string& token) {
    http::ClientRequest r;
    r.method = method;
    r.port = backend_port_;
    r.target = target;
    r.body = body.dump();
    r.headers.emplace("Content-Type", "application/json");
    if (!token.empty()) r.headers.emplace("Authorization", "Bearer " + token);
    auto answer = http::Fetch(r);
    return answer.ok() ? *answer : http::ClientResponse{};
  };
  const auto kid_of = [](const std::string& token) {
    auto header = foohut_jwt_header(token);
    return header.value("kid", "");
  };
  const json user = {{"email", "rotation@foohut.com"}, {"password", "correct horse battery"}};  // pragma: allowlist secret (test input)
  ASSERT_EQ(call("POST", "/api/v1/signup", user, "").status, 201);
  const auto login = [&] {
    http::ClientResponse r = call("POST", "/api/v1/login", user, "");
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false).value("token", "");
  };
  const std::string before = login();
  const std::string old_kid = kid_of(before);
  ASSERT_FALSE(old_kid.empty());

  auto load = loadgen::LoadGenerator::Start(
      {.port = backend_port_, .targets = {"/healthz", "/api/v1/pages?q=rotation"}, .rate = 300,
       .count_header = "X-Foohut-Version"});
  ASSERT_TRUE(load.ok()) << load.status();
  HutResult rotated = Hut({"secrets", "rotate", "jwt", "--by", "e2e"});
  ASSERT_EQ(rotated.code, 0) << rotated.output;
  const std::string after = login();
  const std::string new_kid = kid_of(after);
  EXPECT_NE(new_kid, old_kid);
  EXPECT_NE(rotated.output.find(new_kid), std::string::npos) << rotated.output;
  EXPECT_EQ(call("POST", "/api/v1/pages", {{"title", "during the overlap"}, {"body", "x"}}, before).status,
            201) << "a token of the old key works during the overlap";
  EXPECT_EQ(call("POST", "/api/v1/pages", {{"title", "new key"}, {"body", "x"}}, after).status, 201);

  // Retired by the schedule's tick (every 5 s) once the 8 s overlap is over,
  // then reloaded by every replica (within a second).
  int refused = 0;
  const auto started = Steady::now();
  while (refused != 401 && Steady::now() - started < seconds(40)) {
    refused = call("POST", "/api/v1/pages", {{"title", "after"}, {"body", "x"}}, before).status;
    if (refused != 401) std::this_thread::sleep_for(milliseconds(250));
  }
  EXPECT_EQ(refused, 401) << "the old key still verifies";
  EXPECT_EQ(call("POST", "/api/v1/pages", {{"title", "still in"}, {"body", "x"}}, after).status, 201);
  loadgen::LoadReport report = (*load)->Stop();
  std::cerr << "load during the rotation: " << report.Summary() << "\n";
  for (const auto& [error, count] : report.errors) std::cerr << "  " << count << "x " << error << "\n";
  EXPECT_GE(report.sent / report.elapsed_s, 290.0);
  EXPECT_EQ(report.failed(), 0);

  std::set<std::string> types;
  for (const json& e : Events("")) types.insert(e.value("type", ""));
  for (const char* t : {"secret.rotation-started", "secret.rotation-finished", "secret.key-retired"}) {
    EXPECT_TRUE(types.contains(t)) << t;
  }
  // No key in what hut wrote or shows: its logs, the replicas' logs, its
  // events, its stores, any process's command line.
  std::ifstream keys_file(State() + "/secrets/jwt-keys.json");
  const json keys = json::parse(keys_file, nullptr, false);
  ASSERT_TRUE(keys.is_object());
  const std::string written = WrittenByHut();
  for (const auto& [kid, key] : keys["keys"].items()) {
    EXPECT_EQ(written.find(key.get<std::string>()), std::string::npos) << "key " << kid << " leaked";
  }
}

// A database rotation under load: the replicas move to the other login
// without a failed request, the old password works through the overlap and
// not after it (psql says so), and no password shows anywhere hut writes.
TEST_F(HutUpEndToEndTest, ADatabaseRotationUnderLoadDropsNothingAndRetiresTheOldPassword) {
  if (Status("backend")["replicas"].empty()) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  const auto credentials = [] {
    std::ifstream in(State() + "/secrets/database.json");
    return json::parse(in, nullptr, false);
  };
  const json before = credentials();
  ASSERT_TRUE(before.is_object());
  // The server's port, from its lock file (line 4).
  std::ifstream pid_file(State() + "/backing/postgres/postmaster.pid");
  std::string line, port;
  for (int i = 0; i < 4 && std::getline(pid_file, line); ++i) port = line;
  ASSERT_FALSE(port.empty());
  const auto psql = [&port](const json& c) {
    ProcessOptions o;
    o.argv = {"psql", "-w", "-Atq", absl::StrCat("host=127.0.0.1 port=", port, " dbname=foohut user=",
                                                 c.value("username", "")),
              "-c", "SELECT current_user"};
    o.env = {{"PGPASSWORD", c.value("password", "")}, {"PGCONNECT_TIMEOUT", "5"}};
    auto r = RunCommand(o, seconds(10));
    return r.ok() && r->status.success();
  };
  ASSERT_TRUE(psql(before));

  auto load = loadgen::LoadGenerator::Start(
      {.port = backend_port_, .targets = {"/readyz", "/api/v1/pages?q=rotation"}, .rate = 300,
       .count_header = ""});
  ASSERT_TRUE(load.ok()) << load.status();
  // Traffic through the old login before the rotation, and through the new
  // one after the old is retired: 600 answers each (2 s at 300 req/s).
  const auto answered = [&](int64_t n) {
    const auto until = Steady::now() + seconds(30);
    while ((*load)->Snapshot().ok < n && Steady::now() < until) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  };
  answered(600);
  HutResult rotated = Hut({"secrets", "rotate", "database", "--by", "e2e"});
  ASSERT_EQ(rotated.code, 0) << rotated.output;
  const json after = credentials();
  EXPECT_NE(after.value("username", ""), before.value("username", ""));
  EXPECT_NE(rotated.output.find(after.value("username", "?")), std::string::npos) << rotated.output;
  EXPECT_TRUE(psql(after));
  // Retired by the schedule's tick (every 5 s) once the 8 s overlap is over.
  bool refused = false;
  const auto started = Steady::now();
  while (!refused && Steady::now() - started < seconds(40)) {
    refused = !psql(before);
    if (!refused) std::this_thread::sleep_for(milliseconds(250));
  }
  EXPECT_TRUE(refused) << "the old password still logs in";
  EXPECT_TRUE(psql(after));
  answered((*load)->Snapshot().ok + 600);
  loadgen::LoadReport report = (*load)->Stop();
  std::cerr << "load during the database rotation: " << report.Summary() << "\n";
  for (const auto& [error, count] : report.errors) std::cerr << "  " << count << "x " << error << "\n";
  EXPECT_GE(report.sent / report.elapsed_s, 290.0);
  EXPECT_EQ(report.failed(), 0);

  std::set<std::string> types;
  for (const json& e : Events("")) {
    types.insert(e.value("type", ""));
    if (e.value("type", "") == "secret.rotation-finished" || e.value("type", "") == "secret.login-retired") {
      std::cerr << e.value("type", "") << ": " << e.value("message", "") << "\n";
    }
  }
  for (const char* t : {"secret.rotation-started", "secret.rotation-finished", "secret.login-retired"}) {
    EXPECT_TRUE(types.contains(t)) << t;
  }
  // Neither password in what hut wrote or shows.
  const std::string written = WrittenByHut();
  for (const json* c : {&before, &after}) {
    EXPECT_EQ(written.find(c->value("password", "?")), std::string::npos)
        << "the password of " << c->value("username", "") << " leaked";
  }
  // Nor in a core dump: hut and the replicas (its children) make none.
  const auto core_limit = [](pid_t pid) {
    std::ifstream in(absl::StrCat("/proc/", pid, "/limits"));
    for (std::string line; std::getline(in, line);) {
      if (line.starts_with("Max core file size")) {
        std::vector<std::string> f = absl::StrSplit(line.substr(18), ' ', absl::SkipEmpty());
        return f.size() >= 2 ? f[0] + " " + f[1] : line;
      }
    }
    return std::string("?");
  };
  EXPECT_EQ(core_limit(up_->pid()), "0 0");
  EXPECT_EQ(core_limit(FirstReplicaPid("backend")), "0 0");
}

TEST_F(HutUpEndToEndTest, DownStopsEverythingAndStateSurvivesARestart) {
  if (Status("backend")["replicas"].empty()) {
    ASSERT_EQ(Hut({"deploy", "backend", "1.0.0", "--wait"}).code, 0);
  }
  const json before = Status("backend");
  std::vector<int> replica_pids;
  for (const char* service : {"backend", "frontend"}) {
    const json status = Status(service);
    for (const json& r : status["replicas"]) replica_pids.push_back(r["pid"]);
  }
  ASSERT_FALSE(replica_pids.empty());
  HutResult down = Hut({"down"});
  EXPECT_EQ(down.code, 0) << down.output;
  std::optional<ExitStatus> exit = up_->WaitFor(seconds(60));
  ASSERT_TRUE(exit.has_value()) << "hut up is still running after hut down";
  EXPECT_TRUE(exit->success()) << exit->ToString() << "\n" << UpLog();

  // No process that hut started is left: every one of them names the state
  // folder on its command line (replicas' private folders, HAProxy's and
  // PostgreSQL's configuration, Redis' folder).
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "cmdline");
    std::string cmdline(std::istreambuf_iterator<char>(in), {});
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(State()) != std::string::npos) left.push_back(cmdline);
  }
  EXPECT_TRUE(left.empty()) << "still running: " << left.front();
  for (int pid : replica_pids) EXPECT_NE(kill(pid, 0), 0) << "replica pid " << pid << " is alive";

  // Up again: the current revision is served again, from the same state.
  delete up_;
  up_ = nullptr;
  StartHutUp();
  json after;
  for (int i = 0; i < 300; ++i) {
    after = Status("backend");
    int serving = 0;
    for (const json& r : after["replicas"]) serving += r["ready"] == true && r["in_load_balancer"] == true;
    if (serving == 3) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(after["rollout"]["id"], before["rollout"]["id"]);
  ASSERT_EQ(after["replicas"].size(), 3u) << after.dump(2);
  EXPECT_EQ(after["replicas"][0]["version"], before["replicas"][0]["version"]);
}

}  // namespace
}  // namespace hut::platform

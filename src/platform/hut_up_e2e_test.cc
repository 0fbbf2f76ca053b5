// The real thing, end to end: the `hut` binary brings up an environment
// (PostgreSQL, Redis, HAProxy, 3 backend + 3 frontend foohut-api replicas)
// and the CLI rolls it while steady load runs through the load balancer.
// Every request must succeed; the broken release must never serve.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "src/common/subprocess.h"
#include "src/loadgen/load_generator.h"
#include "src/local/haproxy.h"
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

class HutUpEndToEndTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    api_port_ = testing::PickFreePort();
    backend_port_ = testing::PickFreePort();
    frontend_port_ = testing::PickFreePort();
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
        FOOHUT_REDIS_URL: "{{backing.redis.url}}"
        FOOHUT_JWT_KEYS_FILE: "{{secrets.jwt.file}}"
        FOOHUT_LOG_LEVEL: WARN
    health: {interval: 300ms, timeout: 300ms, failure_threshold: 3, start_period: 3s}
    termination_grace_period: 5s
  frontend:
    port: )", frontend_port_, R"(
    release:
      command: [")", bin, R"(", serve, --static, ")", testing::SourceDir(), R"(/web"]
      env: {FOOHUT_VERSION: "{{version}}", FOOHUT_LOG_LEVEL: WARN}
    health: {interval: 300ms, timeout: 300ms, failure_threshold: 3, start_period: 3s}
    termination_grace_period: 5s
policies:
  rolling: {progress_deadline: 60s}
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
    delete dir_;
  }

  static std::string Spec() { return dir_->path() + "/foohut.yaml"; }
  static std::string State() { return dir_->path() + "/.hut"; }

  static std::map<std::string, std::string> Env() {
    return {{"HOME", dir_->path()}, {"HUT_ADDR", absl::StrCat("127.0.0.1:", api_port_)}};
  }

  static void StartHutUp() {
    ProcessOptions o;
    o.argv = {testing::BinPath("hut"), "up", "-f", Spec(), "--env", "staging"};
    o.env = Env();
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

  // HAProxy's status of one server ("UP", "DRAIN", "DOWN", ...); "" when it has none.
  static std::string LbStatus(const std::string& service, const std::string& server) {
    auto csv = local::HaproxyAdminCommand(State() + "/haproxy/admin.sock", "show stat");
    if (!csv.ok()) return "";
    for (const local::LbServerStats& s : local::ParseShowStat(*csv)) {
      if (s.service == service && s.server == server) return s.status;
    }
    return "";
  }

  static testing::TempDir* dir_;
  static uint16_t api_port_, backend_port_, frontend_port_;
  static Process* up_;
};

testing::TempDir* HutUpEndToEndTest::dir_ = nullptr;
uint16_t HutUpEndToEndTest::api_port_ = 0;
uint16_t HutUpEndToEndTest::backend_port_ = 0;
uint16_t HutUpEndToEndTest::frontend_port_ = 0;
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
  EXPECT_LE(out_after, milliseconds(900));  // interval 300ms x failure_threshold 3

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

// Runs last (gtest keeps declaration order): stops the server with `hut down`
// and checks that nothing it started is left, then that state survives a
// restart.
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

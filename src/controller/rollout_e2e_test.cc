// End to end on the local platform, without the CLI: the controller drives
// real foohut-api replicas (static mode: no database needed) behind a real
// HAProxy while steady load runs through it. Every request must succeed.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "src/controller/service_worker.h"
#include "src/loadgen/load_generator.h"
#include "src/local/haproxy.h"
#include "src/local/local_runtime.h"
#include "src/spec/load.h"
#include "src/store/sqlite_store.h"
#include "testing/capture_log_sink.h"
#include "testing/test_env.h"

namespace hut::controller {
namespace {

using std::chrono::milliseconds;

class RolloutEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = testing::PickFreePort();
    std::string yaml = absl::StrCat(R"(
services:
  frontend:
    port: )", port_, R"(
    release:
      command: [")", testing::BinPath("foohut-api"), R"(", serve, --static, ")",
                                    testing::SourceDir(), R"(/web"]
      env: {FOOHUT_VERSION: "{{version}}", FOOHUT_LOG_LEVEL: WARN}
    health: {interval: 200ms, timeout: 200ms}
    termination_grace_period: 5s
policies:
  rolling: {progress_deadline: 8s}
environments:
  staging:
    runtime: local
    strategy: rolling
    services: {frontend: {replicas: 3}}
)");
    spec::LoadResult loaded = spec::ParseSpec(yaml, "e2e.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.problems[0].ToString();
    spec_ = *loaded.spec;
    const spec::Service& svc = *spec_.FindService("frontend");

    local::HaproxyOptions lb;
    lb.dir = dir_.path() + "/lb";
    lb.services.push_back({.name = "frontend", .port = port_,
                           .health_path = svc.health.readiness_path,
                           .check_interval = svc.health.interval,
                           .fall = spec::HealthCheckFailures(spec_.environments[0].policies,
                                                             svc)});
    auto haproxy = local::Haproxy::Start(lb);
    ASSERT_TRUE(haproxy.ok()) << haproxy.status();
    haproxy_ = std::move(*haproxy);
    auto store = store::SqliteStore::Open(dir_.path() + "/state.db", clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    local::LocalRuntimeOptions options;
    options.environment = "staging";
    options.state_dir = dir_.path() + "/state";
    runtime_ = std::make_unique<local::LocalRuntime>(options, *haproxy_, sink_, clock_, log_);
    worker_ = std::make_unique<ServiceWorker>(
        std::make_unique<ServiceController>(spec_, *spec_.FindEnvironment("staging"), svc,
                                            *runtime_, *store_, clock_, log_),
        clock_, milliseconds(200), log_);
  }

  void TearDown() override {
    worker_.reset();
    runtime_.reset();
    haproxy_.reset();
  }

  // Starts a rollout through the worker and waits (up to 60 s) for its end.
  std::string Roll(std::function<absl::StatusOr<store::Rollout>(ServiceController&)> start) {
    auto rollout = worker_->Run<absl::StatusOr<store::Rollout>>(
        std::move(start), absl::CancelledError("stopped"));
    EXPECT_TRUE(rollout.ok()) << rollout.status();
    if (!rollout.ok()) return "";
    for (int i = 0; i < 600; ++i) {
      auto r = store_->GetRollout(rollout->id);
      if (r.ok() && *r && (*r)->finished_at) return std::string(store::PhaseName((*r)->phase));
      std::this_thread::sleep_for(milliseconds(100));
    }
    return "timed out";
  }

  testing::TempDir dir_;
  testing::CaptureLogSink sink_;
  RealClock clock_;
  Logger log_{sink_, clock_, "e2e"};
  uint16_t port_ = 0;
  spec::Spec spec_;
  std::unique_ptr<local::Haproxy> haproxy_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<local::LocalRuntime> runtime_;
  std::unique_ptr<ServiceWorker> worker_;
};

TEST_F(RolloutEndToEndTest, RollingUpdateUndoAndAutomaticRollbackLoseNoRequest) {
  ASSERT_EQ(Roll([](ServiceController& c) { return c.Deploy({.version = "1.0.0"}); }),
            "succeeded");
  auto load = loadgen::LoadGenerator::Start(
      {.port = port_, .targets = {"/", "/style.css", "/healthz"}, .rate = 300});
  ASSERT_TRUE(load.ok()) << load.status();

  EXPECT_EQ(Roll([](ServiceController& c) { return c.Deploy({.version = "2.0.0"}); }),
            "succeeded");
  EXPECT_EQ(Roll([](ServiceController& c) { return c.Undo(std::nullopt); }), "succeeded");
  EXPECT_EQ(Roll([](ServiceController& c) {
              return c.Deploy({.version = "3.0.0", .env = {{"FOOHUT_FAULTS", "unready"}}});
            }),
            "rolled-back");
  std::this_thread::sleep_for(milliseconds(500));
  loadgen::LoadReport report = (*load)->Stop();

  std::cerr << "load: " << report.Summary() << "\n";
  for (const auto& [error, count] : report.errors) std::cerr << "  " << count << "x " << error << "\n";
  EXPECT_GT(report.sent, 300 * 5);
  EXPECT_EQ(report.failed(), 0);

  // The broken release never joined the load balancer.
  auto events = store_->EventsAfter(0, 1000);
  ASSERT_TRUE(events.ok());
  for (const store::Event& e : *events) {
    if (e.type == "replica.serving") {
      EXPECT_EQ(e.message.find("-r4-"), std::string::npos) << e.message;
    }
  }
}

TEST_F(RolloutEndToEndTest, AKilledReplicaIsNoticedRestartedAndServesAgain) {
  ASSERT_EQ(Roll([](ServiceController& c) { return c.Deploy({.version = "1.0.0"}); }),
            "succeeded");
  auto load = loadgen::LoadGenerator::Start({.port = port_, .targets = {"/"}, .rate = 300});
  ASSERT_TRUE(load.ok()) << load.status();
  std::this_thread::sleep_for(milliseconds(500));
  const std::vector<local::LocalReplica> before = runtime_->Processes("frontend");
  ASSERT_EQ(before.size(), 3u);
  const local::LocalReplica victim = before.front();
  ASSERT_EQ(kill(victim.pid, SIGKILL), 0);

  // Restarted (same name, new process) and ready again within a few probes.
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    for (const auto& r : runtime_->Processes("frontend")) {
      back |= r.name == victim.name && r.restarts == 1 && r.pid != victim.pid && r.ready;
    }
  }
  EXPECT_TRUE(back) << [&] {
    std::string out;
    for (const auto& r : runtime_->Processes("frontend")) {
      out += absl::StrCat(r.name, " pid=", r.pid, " restarts=", r.restarts, " ready=", r.ready,
                          " failures=", r.consecutive_failures, " last=", r.last_failure, "\n");
    }
    for (const auto& line : sink_.lines()) {
      if (line.find(victim.name) != std::string::npos && line.find("\"request\"") == std::string::npos) out += line + "\n";
    }
    return out;
  }();
  std::this_thread::sleep_for(milliseconds(500));
  loadgen::LoadReport report = (*load)->Stop();
  std::cerr << "load: " << report.Summary() << "\n";
  // HAProxy retries requests that found the dead replica on another one.
  EXPECT_EQ(report.failed(), 0);
  // The killed replica took traffic again after its restart.
  auto stats = haproxy_->Stats();
  ASSERT_TRUE(stats.ok());
  for (const auto& s : *stats) {
    if (s.server == victim.name) EXPECT_EQ(s.status.rfind("UP", 0), 0u) << s.status;
  }
}

}  // namespace
}  // namespace hut::controller

// The local runtime against real parts: HAProxy, foohut-api replicas (static
// mode, so no database is needed) in the sandbox when available.
#include "src/local/local_runtime.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "absl/strings/str_join.h"
#include "src/http/client.h"
#include "src/local/replica_traffic.h"
#include "testing/capture_log_sink.h"
#include "testing/test_env.h"

namespace hut::local {
namespace {

using std::chrono::milliseconds;

class LocalRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lb_port_ = testing::PickFreePort();
    HaproxyOptions lb;
    lb.dir = dir_.path() + "/lb";
    lb.services.push_back({.name = "frontend", .port = lb_port_, .health_path = "/readyz",
                           .check_interval = milliseconds(100)});
    auto haproxy = Haproxy::Start(lb);
    ASSERT_TRUE(haproxy.ok()) << haproxy.status();
    haproxy_ = std::move(*haproxy);
    LocalRuntimeOptions options;
    options.environment = "development";
    options.state_dir = dir_.path() + "/state";
    options.restart_backoff = milliseconds(100);
    runtime_ = std::make_unique<LocalRuntime>(options, *haproxy_, sink_, clock_,
                                              Logger(sink_, clock_, "runtime"));
  }

  runtime::RevisionTemplate Frontend(const std::string& version) {
    runtime::RevisionTemplate t;
    t.service = "frontend";
    t.revision = 1;
    t.version = version;
    t.release.command = {testing::BinPath("foohut-api"), "serve", "--static",
                         testing::SourceDir() + "/web"};
    t.release.env = {{"FOOHUT_VERSION", "{{version}}"}, {"FOOHUT_ENV", "{{environment}}"}};
    t.health.interval = milliseconds(100);
    t.termination_grace = milliseconds(3000);
    return t;
  }

  // The replica's status once `pred` holds, within 10 s.
  std::optional<LocalReplica> WaitFor(const std::string& name,
                                      const std::function<bool(const LocalReplica&)>& pred) {
    for (int i = 0; i < 200; ++i) {
      for (const auto& r : runtime_->Processes("frontend")) {
        if (r.name == name && pred(r)) return r;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    return std::nullopt;
  }

  testing::TempDir dir_;
  testing::CaptureLogSink sink_;
  RealClock clock_;
  uint16_t lb_port_ = 0;
  std::unique_ptr<Haproxy> haproxy_;
  std::unique_ptr<LocalRuntime> runtime_;
};

TEST_F(LocalRuntimeTest, StartsProbesServesRestartsAndRetiresAReplica) {
  auto name = runtime_->StartReplica(Frontend("1.0.0"));
  ASSERT_TRUE(name.ok()) << name.status();
  auto ready = WaitFor(*name, [](const auto& r) { return r.ready; });
  ASSERT_TRUE(ready.has_value()) << "replica never became ready; log:\n"
                                  << absl::StrJoin(sink_.lines(), "\n");
  EXPECT_TRUE(ready->ever_ready);
  EXPECT_EQ(ready->version, "1.0.0");

  ASSERT_TRUE(runtime_->AddToLoadBalancer("frontend", *name, 100).ok());
  absl::StatusOr<http::ClientResponse> page;
  for (int i = 0; i < 100; ++i) {
    page = http::Fetch({.port = lb_port_, .target = "/"});
    if (page.ok() && page->status == 200) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<html"), std::string::npos);

  // A crash is noticed, counted and restarted.
  ASSERT_EQ(kill(ready->pid, SIGKILL), 0);
  auto restarted = WaitFor(*name, [&](const auto& r) {
    return r.restarts == 1 && r.ready && r.pid != ready->pid;
  });
  ASSERT_TRUE(restarted.has_value()) << "replica was not restarted";

  // Drained and stopped: gone from the runtime and from the load balancer.
  ASSERT_TRUE(runtime_->DrainAndStop("frontend", *name).ok());
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = runtime_->Processes("frontend").empty();
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(gone);
  auto stats = haproxy_->Stats();
  ASSERT_TRUE(stats.ok());
  for (const auto& s : *stats) EXPECT_NE(s.server, *name);
  EXPECT_NE(kill(restarted->pid, 0), 0);  // the process is gone
}

// Through the seam: a plan's replicas start, join when ready and take the
// split; a release that cannot start is reported for its revision.
TEST_F(LocalRuntimeTest, CarriesAPlanOutAndReportsWhatItSees) {
  std::map<int, runtime::RevisionTemplate> templates = {{1, Frontend("1.0.0")},
                                                        {2, Frontend("2.0.0")}};
  templates[2].revision = 2;
  auto observe_until = [&](const runtime::ServicePlan& plan,
                           const std::function<bool(const runtime::Observation&)>& done) {
    runtime::Observation seen;
    for (int i = 0; i < 200; ++i) {
      runtime::ApplyResult applied = runtime_->Apply("frontend", plan, templates);
      EXPECT_TRUE(applied.status.ok()) << applied.status;
      seen = *runtime_->Observe("frontend");
      if (done(seen)) return seen;
      std::this_thread::sleep_for(milliseconds(50));
    }
    ADD_FAILURE() << "the plan " << runtime::DebugString(plan) << " never took effect";
    return seen;
  };
  auto serving = [](const runtime::Observation& o, int revision) {
    int n = 0;
    for (const runtime::Replica& r : o.replicas) n += r.revision == revision && r.serving;
    return n;
  };
  runtime::Observation seen = observe_until({{{1, 2, 0}}, false}, [&](const auto& o) {
    return serving(o, 1) == 2;
  });
  EXPECT_DOUBLE_EQ(seen.traffic[1], 1.0);
  for (const runtime::Replica& r : seen.replicas) {
    EXPECT_EQ(r.state, runtime::ReplicaState::kReady);
    EXPECT_GT(r.details.value("pid", 0), 0);
  }
  // A canary of one replica at 10 % next to the two.
  const runtime::ServicePlan canary{{{1, 2, 0.9}, {2, 1, 0.1}}, true};
  seen = observe_until(canary, [&](const auto& o) { return serving(o, 2) == 1; });
  EXPECT_NEAR(seen.traffic[2], 0.10, 0.005);
  EXPECT_TRUE(runtime_->Apply("frontend", canary, templates).changes.empty())
      << "applying the same plan again changes nothing";
  // Back: the canary leaves.
  seen = observe_until({{{1, 2, 1.0}}, true}, [&](const auto& o) {
    for (const runtime::Replica& r : o.replicas) {
      if (r.revision == 2) return false;
    }
    return true;
  });
  EXPECT_DOUBLE_EQ(seen.traffic[1], 1.0);

  templates[2].release.command = {"/nonexistent/foohut-api"};
  runtime::ApplyResult bad = runtime_->Apply("frontend", canary, templates);
  EXPECT_TRUE(bad.status.ok()) << "a bad release is reported, not an error of Apply";
  seen = *runtime_->Observe("frontend");
  ASSERT_EQ(seen.cannot_start.count(2), 1u);
  EXPECT_NE(seen.cannot_start[2].find("/nonexistent/foohut-api"), std::string::npos);
  // Once the plan no longer asks for it, it is not reported.
  (void)runtime_->Apply("frontend", {{{1, 2, 1.0}}, true}, templates);
  EXPECT_EQ(runtime_->Observe("frontend")->cannot_start.count(2), 0u);
}

TEST_F(LocalRuntimeTest, ABadCommandIsAClearError) {
  runtime::RevisionTemplate t = Frontend("1.0.0");
  t.release.command = {"/nonexistent/foohut-api"};
  auto name = runtime_->StartReplica(t);
  ASSERT_FALSE(name.ok());
  EXPECT_NE(name.status().message().find("/nonexistent/foohut-api"), std::string::npos)
      << name.status();
}

// What canary analysis reads: the load balancer's counters per replica and
// the replica's own latency histogram, probes left out.
TEST_F(LocalRuntimeTest, TrafficObserverSeesTheLoadBalancersCountersAndTheReplicasLatency) {
  auto name = runtime_->StartReplica(Frontend("1.0.0"));
  ASSERT_TRUE(name.ok()) << name.status();
  ASSERT_TRUE(WaitFor(*name, [](const auto& r) { return r.ready; }).has_value());
  ASSERT_TRUE(runtime_->AddToLoadBalancer("frontend", *name, 100).ok());
  int ok = 0, not_found = 0;
  for (int i = 0; i < 200 && ok < 20; ++i) {
    auto page = http::Fetch({.port = lb_port_, .target = "/"});
    if (page.ok() && page->status == 200) ++ok;
    if (i % 10 == 0 && ok > 0) {  // and some 4xx
      auto missing = http::Fetch({.port = lb_port_, .target = "/no-such-page"});
      if (missing.ok() && missing->status == 404) ++not_found;
    }
  }
  ASSERT_EQ(ok, 20);

  TrafficObserver observer(
      *haproxy_, {.latency_filter = {.exclude = {{"route", {"/healthz", "/readyz", "/metrics"}}}}});
  const std::vector<LocalReplica> replicas = runtime_->Processes("frontend");
  auto traffic = observer.Observe("frontend", replicas);
  ASSERT_TRUE(traffic.ok()) << traffic.status();
  ASSERT_EQ(traffic->size(), 1u);
  const ReplicaTraffic& t = (*traffic)[0];
  EXPECT_EQ(t.replica, *name);
  EXPECT_EQ(t.responses[2], 20);  // HAProxy's health checks are not counted
  EXPECT_EQ(t.responses[4], not_found);
  EXPECT_EQ(t.responses[5], 0);
  ASSERT_TRUE(t.latency.has_value()) << t.latency_error;
  // The replica saw the same users' requests; hut's and HAProxy's probes are
  // left out by the filter.
  EXPECT_EQ(t.latency->count, 20 + not_found);
  EXPECT_EQ(t.latency->cumulative_counts.back(), 20 + not_found);

  // An unreadable /metrics is reported per replica, not as a failure.
  TrafficObserver wrong(*haproxy_, {.metrics_path = "/nope"});
  auto partial = wrong.Observe("frontend", replicas);
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE((*partial)[0].latency.has_value());
  EXPECT_NE((*partial)[0].latency_error.find("HTTP 404"), std::string::npos)
      << (*partial)[0].latency_error;
}

}  // namespace
}  // namespace hut::local

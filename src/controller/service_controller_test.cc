#include "src/controller/service_controller.h"

#include <gtest/gtest.h>

#include "src/spec/load.h"
#include "src/store/sqlite_store.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"
#include "testing/fake_runtime.h"

namespace hut::controller {
namespace {

using std::chrono::seconds;
using testing::FakeRuntime;

constexpr char kSpec[] = R"(
services:
  backend:
    release: {command: [foohut-api, serve]}
policies:
  rolling: {progress_deadline: 30s}
environments:
  staging:
    runtime: local
    strategy: rolling
    services: {backend: {replicas: 3}}
)";

class ServiceControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spec::LoadResult loaded = spec::ParseSpec(kSpec, "test.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.problems[0].ToString();
    spec_ = *loaded.spec;
    auto store = store::SqliteStore::Open(":memory:", clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    controller_ = NewController();
  }

  std::unique_ptr<ServiceController> NewController() {
    return std::make_unique<ServiceController>(
        spec_, *spec_.FindEnvironment("staging"), *spec_.FindService("backend"), runtime_,
        *store_, clock_, Logger(sink_, clock_, "controller"));
  }

  // Ticks until the newest rollout finishes; returns it.
  store::Rollout RunToEnd(int max_ticks = 100) {
    for (int i = 0; i < max_ticks; ++i) {
      EXPECT_TRUE(controller_->Tick().ok());
      auto latest = store_->LatestRollout("staging", "backend");
      if ((*latest)->finished_at) return **latest;
      clock_.Advance(seconds(1));
      runtime_.Step();
    }
    ADD_FAILURE() << "rollout did not finish";
    return {};
  }

  std::map<std::string, int> ServingVersions() {
    std::map<std::string, int> out;
    for (const auto& r : runtime_.Replicas("backend")) {
      if (r.serving && r.state == runtime::ReplicaState::kReady) ++out[r.version];
    }
    return out;
  }

  testing::FakeClock clock_;
  testing::CaptureLogSink sink_;
  FakeRuntime runtime_{clock_};
  spec::Spec spec_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ServiceController> controller_;
};

TEST_F(ServiceControllerTest, DeploysThenRollsToANewVersion) {
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  EXPECT_EQ(RunToEnd().phase, store::RolloutPhase::kSucceeded);
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"1.0.0", 3}}));
  auto second = controller_->Deploy({.version = "2.0.0", .env = {{"FOOHUT_FAULTS", ""}}});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->from_revision, 1);
  EXPECT_EQ(second->to_revision, 2);
  EXPECT_EQ(RunToEnd().phase, store::RolloutPhase::kSucceeded);
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"2.0.0", 3}}));
  EXPECT_EQ(*controller_->CurrentRevision(), 2);
}

// The runtime's autoscaler count (the HPA's on Kubernetes) is the service's:
// at rest, and as the target of a rollout under way.
TEST_F(ServiceControllerTest, TheAutoscalersCountIsTheServicesAtRestAndDuringARollout) {
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  EXPECT_EQ(RunToEnd().phase, store::RolloutPhase::kSucceeded);
  runtime_.SetScale("backend", 5);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(controller_->Tick().ok());
    clock_.Advance(seconds(1));
    runtime_.Step();
  }
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"1.0.0", 5}}));

  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(controller_->Tick().ok());
    clock_.Advance(seconds(1));
    runtime_.Step();
  }
  runtime_.SetScale("backend", 4);  // down, mid-rollout
  EXPECT_EQ(RunToEnd().phase, store::RolloutPhase::kSucceeded);
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"2.0.0", 4}}));

  std::vector<std::string> scaled;
  auto events = store_->EventsAfter(0, 1000, "staging", "backend");
  ASSERT_TRUE(events.ok()) << events.status();
  for (const store::Event& e : *events) {
    if (e.type == "service.scaled") scaled.push_back(e.message);
  }
  EXPECT_EQ(scaled, (std::vector<std::string>{
                        "backend: its autoscaler asks for 5 replicas (was 3)",
                        "backend: its autoscaler asks for 4 replicas (was 5)"}));
}

// docs/traces.md: a rollout is a trace: a root span from the deploy to the
// verdict, a span per phase under it, its events on the phase they happened in.
TEST_F(ServiceControllerTest, ARolloutIsATraceOfItsPhasesAndEvents) {
  std::vector<tracing::Span> spans;
  controller_->TraceRolloutsTo([&](tracing::Span s) { spans.push_back(std::move(s)); });
  auto first = controller_->Deploy({.version = "1.0.0"});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(RunToEnd().phase, store::RolloutPhase::kSucceeded);
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kNeverReady);
  auto second = controller_->Deploy({.version = "2.0.0"});
  ASSERT_TRUE(second.ok());
  const store::Rollout ended = RunToEnd();
  EXPECT_EQ(ended.phase, store::RolloutPhase::kRolledBack);

  std::vector<const tracing::Span*> roots;
  for (const tracing::Span& s : spans) {
    if (s.parent_span_id.empty()) roots.push_back(&s);
  }
  ASSERT_EQ(roots.size(), 2u);
  const tracing::Span& ok = *roots[0];
  const tracing::Span& bad = *roots[1];
  EXPECT_EQ(ok.name, "rollout backend r1");
  EXPECT_EQ(ok.trace_id, RolloutTraceId(*first));
  EXPECT_EQ(ok.attributes["hut.result"], "succeeded");
  EXPECT_FALSE(ok.error);
  EXPECT_EQ(ok.start, first->created_at);
  EXPECT_EQ(bad.name, "rollout backend r1 -> r2");
  EXPECT_EQ(bad.trace_id, RolloutTraceId(ended));
  EXPECT_NE(bad.trace_id, ok.trace_id);
  EXPECT_TRUE(bad.error);
  EXPECT_EQ(bad.attributes["hut.result"], "rolled-back");
  // Every other span is a phase of one of them, inside it.
  std::map<std::string, std::vector<std::string>> phases;  // trace -> phase names
  size_t events = 0;
  for (const tracing::Span& s : spans) {
    if (s.parent_span_id.empty()) continue;
    const tracing::Span& root = s.trace_id == ok.trace_id ? ok : bad;
    EXPECT_EQ(s.parent_span_id, root.span_id);
    EXPECT_GE(s.start, root.start);
    EXPECT_LE(s.end, root.end);
    phases[s.trace_id].push_back(s.name);
    events += s.events.size();
  }
  EXPECT_EQ(phases[ok.trace_id], std::vector<std::string>{"progressing"});
  // Never ready: progressing straight to rolled back, the verdict on the root.
  EXPECT_EQ(phases[bad.trace_id], std::vector<std::string>{"progressing"});
  EXPECT_GT(events, 0u);  // replicas started, serving, ...
  bool verdict = false;
  for (const tracing::SpanEvent& e : bad.events) verdict |= e.name == "rollout.rolled-back";
  EXPECT_TRUE(verdict);
}

TEST_F(ServiceControllerTest, RefusesASecondRolloutWhileOneRuns) {
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  auto again = controller_->Deploy({.version = "1.0.1"});
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("still running"), std::string::npos);
  // Nothing was recorded for the refused deploy.
  EXPECT_EQ(store_->ListRevisions("staging", "backend")->size(), 1u);
}

TEST_F(ServiceControllerTest, NeverReadyReleaseRollsBackWithoutTraffic) {
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  RunToEnd();
  runtime_.SetHealth("3.0.0-broken", FakeRuntime::Health::kNeverReady);
  ASSERT_TRUE(controller_->Deploy({.version = "3.0.0-broken"}).ok());
  store::Rollout end = RunToEnd(/*max_ticks=*/20);  // at the 10 s start period, not at 30 s
  EXPECT_EQ(end.phase, store::RolloutPhase::kRolledBack);
  // The runtime's own reason (LocalRuntime's is tested with it), with the replica.
  EXPECT_NE(end.reason.find("of revision 2 failed: not ready after its start period"),
            std::string::npos)
      << end.reason;
  EXPECT_FALSE(runtime_.EverServed("3.0.0-broken"));
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"1.0.0", 3}}));
  EXPECT_EQ(*controller_->CurrentRevision(), 1);
}

TEST_F(ServiceControllerTest, FailedChecksInsideTheStartPeriodAreABootingReplica) {
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  RunToEnd();
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kNeverReady);
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  for (int i = 0; i < 8; ++i) {  // 8 failed checks, 8 s: inside the 10 s start period
    ASSERT_TRUE(controller_->Tick().ok());
    clock_.Advance(seconds(1));
    runtime_.Step();
  }
  EXPECT_EQ((*store_->LatestRollout("staging", "backend"))->phase, store::RolloutPhase::kProgressing);
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kHealthy);  // done booting
  EXPECT_EQ(RunToEnd().phase, store::RolloutPhase::kSucceeded);
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"2.0.0", 3}}));
}

TEST_F(ServiceControllerTest, ReleaseThatCannotStartRollsBackAtOnce) {
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  RunToEnd();
  runtime_.SetStartError("2.0.0", absl::NotFoundError("command \"foohut-apii\" not found"));
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  store::Rollout end = RunToEnd(/*max_ticks=*/3);  // not at the 30 s deadline
  EXPECT_EQ(end.phase, store::RolloutPhase::kRolledBack);
  EXPECT_EQ(end.reason, "cannot start revision 2: command \"foohut-apii\" not found");
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"1.0.0", 3}}));
}

TEST_F(ServiceControllerTest, CrashLoopingReleaseRollsBackBeforeTheDeadline) {
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  RunToEnd();
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kCrashLoops);
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  store::Rollout end = RunToEnd(/*max_ticks=*/10);  // the deadline is 30 ticks away
  EXPECT_EQ(end.phase, store::RolloutPhase::kRolledBack);
  EXPECT_NE(end.reason.find("crash-looping: exited 3 times (last: exited: code 1)"),
            std::string::npos)
      << end.reason;
  EXPECT_FALSE(runtime_.EverServed("2.0.0"));
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"1.0.0", 3}}));
}

TEST_F(ServiceControllerTest, FirstReleaseThatCannotStartFails) {
  runtime_.SetStartError("1.0.0", absl::NotFoundError("no such command"));
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  store::Rollout end = RunToEnd(/*max_ticks=*/3);
  EXPECT_EQ(end.phase, store::RolloutPhase::kFailed);
  EXPECT_EQ(end.reason, "cannot start revision 1: no such command");
}

TEST_F(ServiceControllerTest, FailingHealthChecksRollBackAndSayWhy) {
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  RunToEnd();
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kFailsAfterReady);
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  store::Rollout end = RunToEnd();
  EXPECT_EQ(end.phase, store::RolloutPhase::kRolledBack);
  EXPECT_NE(end.reason.find("3 consecutive failed health checks (last: HTTP 500)"),
            std::string::npos)
      << end.reason;
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"1.0.0", 3}}));
  // The decision is in the event log.
  auto events = store_->EventsAfter(0, 1000);
  bool found = false;
  for (const store::Event& e : *events) found |= e.type == "rollout.rolled-back" ||
                                                 e.type == "rollout.rolling-back";
  EXPECT_TRUE(found);
}

// A dependency that is down or up, as a test says.
class SwitchedDependencies final : public Dependencies {
 public:
  std::optional<std::string> Blocked(const std::string& service) const override {
    return blocked;
  }
  std::optional<std::string> blocked;
};

// While a dependency is down the release's failing checks are not its
// fault: the rollout waits (not rolled back, however long), then resumes
// and finishes once the dependency is back.
TEST_F(ServiceControllerTest, ARolloutWaitsForADependencyInsteadOfBlamingTheRelease) {
  SwitchedDependencies deps;
  controller_ = std::make_unique<ServiceController>(
      spec_, *spec_.FindEnvironment("staging"), *spec_.FindService("backend"), runtime_, *store_,
      clock_, Logger(sink_, clock_, "controller"), RolloutAnalysisOptions{}, &deps);
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  RunToEnd();
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(controller_->Tick().ok());  // starts the first new replica
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kNeverReady);  // its database is gone
  deps.blocked = "backing service postgres is down (killed by signal 9 (Killed)); restarting it";
  for (int i = 0; i < 60; ++i) {  // a minute: past the start period and the 30 s deadline's half
    ASSERT_TRUE(controller_->Tick().ok());
    clock_.Advance(seconds(1));
    runtime_.Step();
  }
  auto latest = store_->LatestRollout("staging", "backend");
  EXPECT_EQ((*latest)->phase, store::RolloutPhase::kProgressing);
  EXPECT_FALSE((*latest)->finished_at.has_value());
  EXPECT_EQ(controller_->Waiting(), deps.blocked);
  // Back: the replicas' checks pass again while the dependency still asks
  // for a moment (its settle period), then the rollout goes on.
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kHealthy);
  deps.blocked = "backing service postgres is back; waiting for the replicas' checks";
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(controller_->Tick().ok());
    clock_.Advance(seconds(1));
    runtime_.Step();
  }
  deps.blocked.reset();
  EXPECT_EQ(RunToEnd().phase, store::RolloutPhase::kSucceeded);
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"2.0.0", 3}}));
  std::vector<std::string> waits;
  const std::vector<store::Event> events = *store_->EventsAfter(0, 1000);
  for (const store::Event& e : events) {
    if (e.type == "rollout.waiting" || e.type == "rollout.resumed") waits.push_back(e.message);
  }
  EXPECT_EQ(waits, (std::vector<std::string>{
                       "rollout 2 waits: backing service postgres is down (killed by signal 9 "
                       "(Killed)); restarting it",
                       "rollout 2 waits: backing service postgres is back; waiting for the "
                       "replicas' checks",
                       "rollout 2 resumes after 1m3s: its dependencies are back"}));
}

TEST_F(ServiceControllerTest, UndoRestoresThePreviousReleaseAsANewRevision) {
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0", .env = {{"A", "1"}}}).ok());
  RunToEnd();
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  RunToEnd();
  auto undo = controller_->Undo(std::nullopt);
  ASSERT_TRUE(undo.ok()) << undo.status();
  EXPECT_EQ(undo->to_revision, 3);
  EXPECT_EQ(RunToEnd().phase, store::RolloutPhase::kSucceeded);
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"1.0.0", 3}}));
  auto revision = store_->GetRevision("staging", "backend", 3);
  EXPECT_EQ((*revision)->cause, "undo to revision 1");
  EXPECT_EQ((*revision)->env, (std::map<std::string, std::string>{{"A", "1"}}));
  for (const auto& r : runtime_.Replicas("backend")) {
    if (r.state == runtime::ReplicaState::kDraining) continue;  // revision 2, on its way out
    EXPECT_EQ(runtime_.EnvOf(r.name), (std::map<std::string, std::string>{{"A", "1"}}));
  }
}

TEST_F(ServiceControllerTest, UndoErrorsAreClear) {
  auto none = controller_->Undo(std::nullopt);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  RunToEnd();
  auto unknown = controller_->Undo(42);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("no revision 42"), std::string::npos);
  auto same = controller_->Undo(1);
  EXPECT_EQ(same.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(ServiceControllerTest, ANewControllerResumesARolloutFromTheStore) {
  ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
  RunToEnd();
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(controller_->Tick().ok());
    runtime_.Step();
  }
  controller_ = NewController();  // the old one "crashed"
  EXPECT_EQ(RunToEnd().phase, store::RolloutPhase::kSucceeded);
  EXPECT_EQ(ServingVersions(), (std::map<std::string, int>{{"2.0.0", 3}}));
}

TEST(StorePhaseTest, StrategyPhasesAreStorePhases) {
  for (rollout::Phase p : {rollout::Phase::kProgressing, rollout::Phase::kRollingBack,
                           rollout::Phase::kSucceeded, rollout::Phase::kRolledBack,
                           rollout::Phase::kFailed}) {
    EXPECT_TRUE(store::ParsePhase(rollout::PhaseName(p)).has_value()) << rollout::PhaseName(p);
  }
  for (rollout::CanaryPhase p :
       {rollout::CanaryPhase::kStarting, rollout::CanaryPhase::kAnalysing,
        rollout::CanaryPhase::kPaused, rollout::CanaryPhase::kPromoting,
        rollout::CanaryPhase::kSucceeded, rollout::CanaryPhase::kRollingBack,
        rollout::CanaryPhase::kRolledBack, rollout::CanaryPhase::kFailed}) {
    EXPECT_TRUE(store::ParsePhase(rollout::CanaryPhaseName(p)).has_value())
        << rollout::CanaryPhaseName(p);
  }
}

}  // namespace
}  // namespace hut::controller

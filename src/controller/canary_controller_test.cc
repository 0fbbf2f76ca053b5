// The canary strategy carried out by ServiceController with its analysis:
// fake runtime, fake clock, a scripted metrics source, real SQLite store.

#include <gtest/gtest.h>

#include "src/analysis/record.h"
#include "src/controller/service_controller.h"
#include "src/spec/load.h"
#include "src/store/sqlite_store.h"
#include "testing/capture_log_sink.h"
#include "testing/fake_clock.h"
#include "testing/fake_metrics_source.h"
#include "testing/fake_runtime.h"

namespace hut::controller {
namespace {

using std::chrono::seconds;
using testing::FakeMetrics;
using testing::FakeRuntime;

constexpr char kSpec[] = R"(
services:
  backend:
    release: {command: [foohut-api, serve]}
policies:
  rolling: {progress_deadline: 60s}
  canary: {weight: 10%, analysis: 30s, rollback_window: 60s}
environments:
  staging:
    runtime: local
    strategy: canary
    services: {backend: {replicas: 10}}
)";

class CanaryControllerTest : public ::testing::Test {
 protected:
  virtual std::string SpecText() const { return kSpec; }

  void SetUp() override {
    spec::LoadResult loaded = spec::ParseSpec(SpecText(), "test.yaml");
    ASSERT_TRUE(loaded.ok()) << loaded.problems[0].ToString();
    spec_ = *loaded.spec;
    auto store = store::SqliteStore::Open(":memory:", clock_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    controller_ = NewController();
    metrics_.traffic[1] = {270, 0.005, 1};
    metrics_.traffic[2] = {30, 0.005, 1};
    // Revision 1 serves everything first (a first deployment is promoted at once).
    ASSERT_TRUE(controller_->Deploy({.version = "1.0.0"}).ok());
    ASSERT_TRUE(TickUntil([&] { return Phase() == "succeeded" && Finished(); }));
  }

  std::unique_ptr<ServiceController> NewController() {
    RolloutAnalysisOptions options;
    options.metrics = [this](const std::string&, int canary, int baseline) {
      ++metrics_.sources;
      return std::make_unique<testing::FakeMetricsSource>(metrics_, canary, baseline);
    };
    return std::make_unique<ServiceController>(
        spec_, *spec_.FindEnvironment("staging"), *spec_.FindService("backend"), runtime_,
        *store_, clock_, Logger(sink_, clock_, "controller"), std::move(options));
  }

  store::Rollout Latest() { return **store_->LatestRollout("staging", "backend"); }
  std::string Phase() { return std::string(store::PhaseName(Latest().phase)); }
  bool Finished() { return Latest().finished_at.has_value(); }

  // One reconcile step, then one second passes.
  void Tick() {
    absl::Status s = controller_->Tick();
    EXPECT_TRUE(s.ok()) << s;
    clock_.Advance(seconds(1));
    runtime_.Step();
  }
  // Ticks until `done` (checked before each tick); false after `max` ticks.
  template <typename F>
  bool TickUntil(F done, int max = 200) {
    for (int i = 0; i < max; ++i) {
      if (done()) return true;
      Tick();
    }
    return done();
  }

  std::vector<store::Event> Events(const std::string& type) {
    std::vector<store::Event> out;
    auto events = store_->EventsAfter(0, 1000, "staging", "backend");
    for (const store::Event& e : *events) {
      if (e.type == type) out.push_back(e);
    }
    return out;
  }

  // The share of traffic `revision` takes now.
  double CanaryShare(int revision) { return runtime_.Traffic("backend")[revision]; }
  int Serving(int revision) {
    int n = 0;
    for (const auto& r : runtime_.Replicas("backend")) {
      n += r.revision == revision && r.serving && r.state == runtime::ReplicaState::kReady;
    }
    return n;
  }
  int Running(int revision) {
    int n = 0;
    for (const auto& r : runtime_.Replicas("backend")) {
      n += r.revision == revision && r.state != runtime::ReplicaState::kDraining;
    }
    return n;
  }

  testing::FakeClock clock_;
  testing::CaptureLogSink sink_;
  FakeRuntime runtime_{clock_};
  FakeMetrics metrics_;
  spec::Spec spec_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ServiceController> controller_;
};

TEST_F(CanaryControllerTest, HealthyCanaryGetsItsShareIsAnalysedAndPromoted) {
  auto rollout = controller_->Deploy({.version = "2.0.0"});
  ASSERT_TRUE(rollout.ok()) << rollout.status();
  EXPECT_EQ(rollout->strategy, spec::Strategy::kCanary);
  ASSERT_TRUE(TickUntil([&] { return Phase() == "analysing"; }, 10));
  Tick();
  // One canary replica (10 % of 10) next to all 10 stable ones, at exactly 10 %.
  EXPECT_EQ(Running(2), 1);
  EXPECT_EQ(Running(1), 10);
  EXPECT_NEAR(CanaryShare(2), 0.10, 1e-9);
  nlohmann::json state = Latest().state;
  EXPECT_NEAR(state["progress"]["canary_share"].get<double>(), 0.10, 1e-9);
  EXPECT_TRUE(state["progress"].contains("hold_ends_at"));
  EXPECT_EQ(state["analysis"]["decision"], "continue");

  // Not before the 30 s hold is over.
  ASSERT_TRUE(TickUntil([&] { return Phase() != "analysing"; }, 60));
  const store::Event verdict = Events("analysis.promote").at(0);
  const auto started = Events("rollout.analysing").at(0).at;
  EXPECT_GE(verdict.at - started, seconds(30));
  EXPECT_LE(verdict.at - started, seconds(33));
  EXPECT_NE(verdict.message.find("promote: no rule fired"), std::string::npos) << verdict.message;
  EXPECT_EQ(verdict.data["decision"], "promote");

  ASSERT_TRUE(TickUntil([&] { return Phase() == "succeeded"; }, 20));
  EXPECT_DOUBLE_EQ(CanaryShare(2), 1.0);
  EXPECT_EQ(Serving(2), 10);
  EXPECT_EQ(CanaryShare(1), 0) << "the previous revision takes no traffic";
  EXPECT_EQ(Running(1), 10) << "but is kept warm for the rollback window";
  EXPECT_FALSE(Finished());
  auto refused = controller_->Deploy({.version = "3.0.0"});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("rollback window"), std::string::npos)
      << refused.status();

  // The window closes: the previous revision goes, the rollout is finished.
  ASSERT_TRUE(TickUntil([&] { return Finished(); }, 70));
  Tick();
  EXPECT_EQ(Running(1), 0);
  EXPECT_EQ(*controller_->CurrentRevision(), 2);
}

TEST_F(CanaryControllerTest, RecordedAnalysisReplaysToTheLiveVerdict) {
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "promoting"; }, 60));
  const int64_t id = Latest().id;
  auto run = LoadRecordedRun(*store_, id, 0, AnalysisKind::kCanary);
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_TRUE(run->has_value());
  EXPECT_GE((*run)->samples.size(), 30u);
  EXPECT_EQ((*run)->policy.hold, seconds(30));
  auto verdicts = analysis::Analyze(**run);
  ASSERT_TRUE(verdicts.ok()) << verdicts.status();
  EXPECT_EQ(verdicts->back().decision, analysis::Decision::kPromote);
  EXPECT_EQ(verdicts->back().Message(), Events("analysis.promote").at(0).data["message"]);
}

TEST_F(CanaryControllerTest, BadCanaryLosesItsTrafficOnTheTickOfTheVerdict) {
  metrics_.traffic[2] = {30, 0.20, 1};
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "analysing"; }, 10));
  const TimePoint analysing = clock_.Now();
  // Tick until the verdict, then look before any more time passes.
  bool decided = false;
  for (int i = 0; i < 60 && !decided; ++i) {
    ASSERT_TRUE(controller_->Tick().ok());
    decided = !Events("analysis.rollback").empty();
    if (!decided) {
      clock_.Advance(seconds(1));
      runtime_.Step();
    }
  }
  ASSERT_TRUE(decided);
  EXPECT_LE(clock_.Now() - analysing, seconds(15)) << "the ADR rule alone needs 2 minutes";
  EXPECT_EQ(CanaryShare(2), 0) << "canary traffic is cut on the tick of the verdict";
  const store::Event verdict = Events("analysis.rollback").at(0);
  EXPECT_EQ(verdict.data["rule"], "error_rate_vs_baseline");
  EXPECT_NE(verdict.message.find("rolled back: canary error rate"), std::string::npos)
      << verdict.message;
  ASSERT_TRUE(TickUntil([&] { return Phase() == "rolled-back"; }, 10));
  EXPECT_TRUE(Finished());
  EXPECT_NE(Latest().reason.find("error rate"), std::string::npos) << Latest().reason;
  Tick();
  EXPECT_EQ(Running(2), 0);
  EXPECT_DOUBLE_EQ(CanaryShare(1), 1.0);
  EXPECT_EQ(Serving(1), 10);
  EXPECT_EQ(*controller_->CurrentRevision(), 1);
}

TEST_F(CanaryControllerTest, MetricsOutageRollsBackInsteadOfPromotingBlind) {
  metrics_.failing = true;
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "rolled-back"; }, 90));
  EXPECT_NE(Latest().reason.find("rolled back: no metrics for 1m"), std::string::npos)
      << Latest().reason;
  EXPECT_EQ(Events("analysis.promote").size(), 0u);
}

TEST_F(CanaryControllerTest, PromoteSkipsTheHold) {
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "analysing"; }, 10));
  Tick();
  auto promoted = controller_->Command(rollout::Command::kPromote);
  ASSERT_TRUE(promoted.ok()) << promoted.status();
  Tick();
  EXPECT_EQ(Phase(), "promoting");
  ASSERT_TRUE(TickUntil([&] { return Phase() == "succeeded"; }, 10));
  EXPECT_EQ(Events("rollout.command").size(), 1u);
  // promote again ends the rollback window at once.
  ASSERT_TRUE(controller_->Command(rollout::Command::kPromote).ok());
  Tick();
  EXPECT_TRUE(Finished());
  Tick();
  EXPECT_EQ(Running(1), 0);
}

TEST_F(CanaryControllerTest, AbortRollsBackAndRetryStartsAgain) {
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "analysing"; }, 10));
  Tick();
  ASSERT_TRUE(controller_->Command(rollout::Command::kAbort).ok());
  controller_->Tick().IgnoreError();
  EXPECT_EQ(CanaryShare(2), 0) << "abort cuts the canary's traffic on the next tick";
  ASSERT_TRUE(TickUntil([&] { return Phase() == "rolled-back"; }, 10));
  EXPECT_NE(Latest().reason.find("aborted by the operator"), std::string::npos);

  auto again = controller_->Command(rollout::Command::kAbort);
  EXPECT_TRUE(absl::IsFailedPrecondition(again.status())) << again.status();
  ASSERT_TRUE(controller_->Command(rollout::Command::kRetry).ok());
  Tick();
  EXPECT_FALSE(Finished()) << "a retried canary runs again";
  EXPECT_EQ(Latest().state["attempt"], 2);
  ASSERT_TRUE(TickUntil([&] { return Phase() == "succeeded"; }, 60));
  // Each attempt recorded its own analysis.
  auto first = LoadRecordedRun(*store_, Latest().id, 1, AnalysisKind::kCanary);
  auto second = LoadRecordedRun(*store_, Latest().id, 2, AnalysisKind::kCanary);
  ASSERT_TRUE(first.ok() && first->has_value());
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_LT((*first)->samples.size(), (*second)->samples.size());
}

TEST_F(CanaryControllerTest, UndoInsideTheWindowIsAWeightFlip) {
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "succeeded"; }, 60));
  const int64_t id = Latest().id;
  const size_t started = Events("replica.started").size();
  auto undo = controller_->Undo(std::nullopt);
  ASSERT_TRUE(undo.ok()) << undo.status();
  EXPECT_EQ(undo->id, id) << "the same rollout, not a new one";
  controller_->Tick().IgnoreError();
  EXPECT_EQ(CanaryShare(1), 1.0) << "traffic is back on the previous revision at once";
  ASSERT_TRUE(TickUntil([&] { return Phase() == "rolled-back"; }, 10));
  EXPECT_EQ(Events("replica.started").size(), started) << "no cold start";
  EXPECT_EQ(store_->ListRevisions("staging", "backend")->size(), 2u) << "no new revision";
  EXPECT_EQ(*controller_->CurrentRevision(), 1);
}

TEST_F(CanaryControllerTest, FailureInTheWindowRollsBack) {
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "succeeded"; }, 60));
  // After promotion the new revision starts failing: the ADR's error-rate
  // rule watches the window (for 2 min; the window is 60 s here, so use health).
  runtime_.SetHealth("2.0.0", FakeRuntime::Health::kFailsAfterReady);
  ASSERT_TRUE(TickUntil([&] { return Phase() == "rolled-back"; }, 20));
  EXPECT_EQ(*controller_->CurrentRevision(), 1);
  Tick();
  EXPECT_DOUBLE_EQ(CanaryShare(1), 1.0);
  EXPECT_EQ(Serving(1), 10);
}

TEST_F(CanaryControllerTest, RestartedControllerResumesTheAnalysis) {
  metrics_.traffic[2] = {30, 0.20, 1};
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "analysing"; }, 10));
  Tick();
  Tick();
  const size_t recorded = (*store_->AnalysisSamples(Latest().id)).size();
  controller_ = NewController();  // a crash and restart
  ASSERT_TRUE(TickUntil([&] { return !Events("analysis.rollback").empty(); }, 20));
  auto run = LoadRecordedRun(*store_, Latest().id, 0, AnalysisKind::kCanary);
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_GT((*run)->samples.size(), recorded - 1) << "one run, continued";
  EXPECT_EQ(analysis::Analyze(**run)->back().decision, analysis::Decision::kRollback);
}

TEST_F(CanaryControllerTest, ReleaseThatCannotStartRollsBack) {
  runtime_.SetStartError("2.0.0", absl::NotFoundError("foohut-api-2: command not found"));
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "rolled-back"; }, 5));
  EXPECT_NE(Latest().reason.find("command not found"), std::string::npos) << Latest().reason;
}

TEST_F(CanaryControllerTest, RollingRolloutsTakeAbortButNotPromote) {
  ASSERT_TRUE(
      controller_->Deploy({.version = "2.0.0", .strategy = spec::Strategy::kRolling}).ok());
  auto promote = controller_->Command(rollout::Command::kPromote);
  EXPECT_TRUE(absl::IsFailedPrecondition(promote.status())) << promote.status();
  ASSERT_TRUE(controller_->Command(rollout::Command::kAbort).ok());
  ASSERT_TRUE(TickUntil([&] { return Finished(); }, 20));
  EXPECT_EQ(Phase(), "rolled-back");
  EXPECT_NE(Latest().reason.find("aborted by the operator"), std::string::npos);
}

// ---- Alert-driven rollback ----

AlertSignal Fired(const std::string& severity, TimePoint starts_at, std::string version = "") {
  return {.name = "HighErrorRate", .severity = severity, .version = std::move(version),
          .starts_at = starts_at, .alert_id = 7};
}

TEST_F(CanaryControllerTest, ACriticalAlertForTheServiceRollsTheCanaryBackNamingTheAlert) {
  // The analysis sees nothing wrong: the alert is the only symptom.
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "analysing"; }, 10));
  // Alerts that say nothing about this rollout change nothing: a warning,
  // one firing since before the rollout, one about another version.
  EXPECT_EQ(*controller_->React(Fired("warning", clock_.Now())), "");
  EXPECT_EQ(*controller_->React(Fired("critical", Latest().created_at - seconds(1))), "");
  EXPECT_EQ(*controller_->React(Fired("critical", clock_.Now(), "1.0.0")), "");
  Tick();
  EXPECT_EQ(Phase(), "analysing");

  auto done = controller_->React(Fired("critical", clock_.Now(), "2.0.0"));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(*done, "rolling back");
  controller_->Tick().IgnoreError();
  EXPECT_EQ(CanaryShare(2), 0) << "the canary loses its traffic on the next tick";
  ASSERT_TRUE(TickUntil([&] { return Phase() == "rolled-back"; }, 10));
  EXPECT_EQ(Latest().reason, "alert HighErrorRate (critical) fired for backend");
  const auto told = Events("rollout.alert");
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].data["alertname"], "HighErrorRate");
  EXPECT_EQ(told[0].data["alert_id"], 7);
  // Over: another alert does nothing.
  EXPECT_EQ(*controller_->React(Fired("critical", clock_.Now())), "");
}

TEST_F(CanaryControllerTest, ACriticalAlertInsideTheRollbackWindowUndoesThePromotion) {
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "succeeded"; }, 60));
  EXPECT_EQ(*controller_->React(Fired("critical", clock_.Now())),
            "undoing it inside the rollback window");
  controller_->Tick().IgnoreError();
  EXPECT_EQ(CanaryShare(1), 1.0) << "traffic back on the previous revision at once";
  ASSERT_TRUE(TickUntil([&] { return Phase() == "rolled-back"; }, 10));
  EXPECT_EQ(*controller_->CurrentRevision(), 1);
}

TEST_F(CanaryControllerTest, ARollingUpdateIsTurnedAroundByACriticalAlert) {
  ASSERT_TRUE(
      controller_->Deploy({.version = "2.0.0", .strategy = spec::Strategy::kRolling}).ok());
  Tick();
  EXPECT_EQ(*controller_->React(Fired("critical", clock_.Now())), "rolling back");
  ASSERT_TRUE(TickUntil([&] { return Finished(); }, 30));
  EXPECT_EQ(Phase(), "rolled-back");
  EXPECT_NE(Latest().reason.find("alert HighErrorRate (critical) fired for backend"),
            std::string::npos)
      << Latest().reason;
}

// The spec chooses: high alerts pause, critical ones only pause too
// (automatic rollback off), medium ones do nothing.
class AlertPolicyTest : public CanaryControllerTest {
 protected:
  std::string SpecText() const override {
    std::string text = kSpec;
    const std::string from = "  rolling: {progress_deadline: 60s}\n";
    text.replace(text.find(from), from.size(),
                 from + "  rollback: {automatic: false, on_alerts: [critical], "
                        "pause_on_alerts: [high]}\n");
    return text;
  }
};

TEST_F(AlertPolicyTest, TheSpecChoosesWhichSeveritiesPauseTheCanary) {
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "analysing"; }, 10));
  EXPECT_EQ(*controller_->React(Fired("medium", clock_.Now())), "");
  EXPECT_EQ(*controller_->React(Fired("high", clock_.Now())), "pausing it");
  Tick();
  EXPECT_EQ(Phase(), "paused");
  EXPECT_EQ(Latest().reason, "alert HighErrorRate (high) fired for backend");
  EXPECT_EQ(*controller_->React(Fired("critical", clock_.Now())), "") << "paused already";
  // The operator decides: promote resumes.
  ASSERT_TRUE(controller_->Command(rollout::Command::kPromote).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "succeeded"; }, 60));
}

// Two steps, 10 % then 50 %: one analysis for the rollout, its hold extended
// for the second step.
class CanaryStepsTest : public CanaryControllerTest {
 protected:
  std::string SpecText() const override {
    std::string text = kSpec;
    const std::string from = "canary: {weight: 10%, analysis: 30s, rollback_window: 60s}";
    text.replace(text.find(from), from.size(),
                 "canary: {steps: [{weight: 10%, hold: 20s}, {weight: 50%, hold: 20s}], "
                 "rollback_window: 60s}");
    return text;
  }
};

TEST_F(CanaryStepsTest, EachStepGetsItsShareAndTheAnalysisRunsOnAcrossSteps) {
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "analysing"; }, 10));
  Tick();
  EXPECT_NEAR(CanaryShare(2), 0.10, 1e-9);
  ASSERT_TRUE(TickUntil([&] { return Latest().state["step"] == 1; }, 40));
  ASSERT_TRUE(TickUntil([&] { return Phase() == "analysing"; }, 10));
  Tick();
  EXPECT_EQ(Running(2), 5);
  EXPECT_NEAR(CanaryShare(2), 0.50, 1e-9);
  EXPECT_EQ(Latest().state["progress"]["step"], 2);
  ASSERT_TRUE(TickUntil([&] { return Phase() == "succeeded"; }, 60));
  auto run = LoadRecordedRun(*store_, Latest().id, 0, AnalysisKind::kCanary);
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ((*run)->extensions.size(), 1u) << "the second step extends the same analysis";
  EXPECT_EQ(Events("analysis.promote").size(), 2u) << "one verdict per step";
}

// inconclusive: pause. A paused canary waits for a human, but is still
// watched: a canary that turns bad while paused is rolled back.
class CanaryPauseTest : public CanaryControllerTest {
 protected:
  std::string SpecText() const override {
    std::string text = kSpec;
    const std::string from = "rollback_window: 60s}";
    text.replace(text.find(from), from.size(), "rollback_window: 60s, inconclusive: pause}");
    return text;
  }
};

TEST_F(CanaryPauseTest, NoTrafficPausesAndABadCanaryIsStillRolledBackWhilePaused) {
  metrics_.traffic[2] = {0, 0, 1};  // the canary gets no requests
  ASSERT_TRUE(controller_->Deploy({.version = "2.0.0"}).ok());
  ASSERT_TRUE(TickUntil([&] { return Phase() == "paused"; }, 60));
  EXPECT_NE(Latest().reason.find("inconclusive"), std::string::npos) << Latest().reason;
  for (int i = 0; i < 40; ++i) Tick();  // a human takes a while
  EXPECT_EQ(Phase(), "paused") << "never promoted on no data";

  metrics_.traffic[2] = {30, 0.20, 1};
  ASSERT_TRUE(TickUntil([&] { return Phase() == "rolled-back"; }, 20));
  EXPECT_NE(Latest().reason.find("error rate"), std::string::npos) << Latest().reason;
  auto run = LoadRecordedRun(*store_, Latest().id, 0, AnalysisKind::kCanary);
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ(analysis::Analyze(**run)->back().decision, analysis::Decision::kRollback)
      << "the recording replays to the live outcome";
}

}  // namespace
}  // namespace hut::controller

#include "src/rollout/canary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/rollout/canary_stages.h"
#include "testing/fake_clock.h"
#include "testing/fake_runtime.h"

namespace hut::rollout {
void PrintTo(const CanaryStatus& status, std::ostream* os) {
  *os << CanaryStatusToJson(status).dump();
}

namespace {

using runtime::ReplicaState;
using std::chrono::minutes;
using std::chrono::seconds;

constexpr int kOld = 1;  // the stable revision
constexpr int kNew = 2;  // the canary
constexpr char kService[] = "web";

std::string Version(int revision) { return "v" + std::to_string(revision); }

runtime::Replica MakeReplica(std::string name, int revision, ReplicaState state, bool serving,
                             TimePoint started = TimePoint{}, std::string reason = "") {
  runtime::Replica r;
  r.name = std::move(name);
  r.revision = revision;
  r.version = Version(revision);
  r.state = state;
  r.serving = serving;
  r.started_at = started;
  r.reason = std::move(reason);
  return r;
}

std::vector<runtime::Replica> ServingReplicas(int revision, int count, TimePoint started = {}) {
  std::vector<runtime::Replica> v;
  for (int i = 0; i < count; ++i) {
    v.push_back(MakeReplica("r" + std::to_string(revision) + "-" + std::to_string(i), revision,
                            ReplicaState::kReady, true, started));
  }
  return v;
}

// The split plan {revision, replicas, share}...
runtime::ServicePlan Split(std::vector<runtime::RevisionTarget> revisions) {
  return {std::move(revisions), true};
}

// Equal counts and order, shares within 1e-9.
::testing::AssertionResult SamePlan(const std::optional<runtime::ServicePlan>& got,
                                    const runtime::ServicePlan& want) {
  // runtime.h's PrintTo.
  auto text = [](const runtime::ServicePlan& p) { return ::testing::PrintToString(p); };
  if (!got) return ::testing::AssertionFailure() << "no target, want " << text(want);
  bool same = got->split == want.split && got->revisions.size() == want.revisions.size();
  for (size_t i = 0; same && i < want.revisions.size(); ++i) {
    const runtime::RevisionTarget& a = got->revisions[i];
    const runtime::RevisionTarget& b = want.revisions[i];
    same = a.revision == b.revision && a.replicas == b.replicas &&
           std::abs(a.share - b.share) < 1e-9;
  }
  if (same) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "target " << text(*got) << ", want " << text(want);
}

// A small world that carries plans out with a FakeRuntime, as the controller
// will: a started replica is ready on the next Pass when its version is
// healthy and serves once the next plan is applied; a draining replica is gone
// on the next Pass. Every tick it checks that the decision is repeatable (same
// inputs, same plan; the plan's own status is a fixed point, with the same
// target), that the target is a valid split, and that a canary takes traffic
// only next to a serving stable replica.
class World {
 public:
  using Health = testing::FakeRuntime::Health;

  explicit World(int desired, CanaryConfig config = {})
      : desired_(desired), config_(config), runtime_(clock_) {}

  void SetHealth(int revision, Health h) { runtime_.SetHealth(Version(revision), h); }
  void SetStartError(int revision, const std::string& why) {
    runtime_.SetStartError(Version(revision), absl::FailedPreconditionError(why));
  }
  void SetStartPeriod(Duration d) { start_period_ = d; }
  // `count` ready, serving replicas of `revision` (next to those seeded before).
  void Seed(int revision, int count) {
    seeded_.revisions.push_back({revision, count, 0.0});
    for (runtime::RevisionTarget& t : seeded_.revisions) {
      t.share = 1.0 / static_cast<double>(seeded_.revisions.size());
    }
    seeded_.split = true;
    runtime_.Apply(kService, seeded_, Templates());
    runtime_.Step();
    runtime_.Apply(kService, seeded_, Templates());
  }
  CanaryStatus Begin(int target = kNew, int previous = kOld) {
    return BeginCanary(target, previous, clock_.Now());
  }

  CanaryObservation Observe(Analysis analysis = {}, Command command = Command::kNone) {
    absl::StatusOr<runtime::Observation> seen = runtime_.Observe(kService);
    EXPECT_TRUE(seen.ok()) << seen.status();
    CanaryObservation o;
    o.replicas = seen->replicas;
    o.cannot_start = seen->cannot_start;
    o.analysis = std::move(analysis);
    o.command = command;
    if (command != Command::kNone) o.command_id = ++command_ids_;
    return o;
  }

  // One tick: decide, check, carry out. Time does not move.
  CanaryPlan Tick(CanaryStatus& status, Analysis analysis = {}, Command command = Command::kNone) {
    const CanaryObservation o = Observe(std::move(analysis), command);
    const CanaryPlan plan = DecideCanary(config_, desired_, status, o, clock_.Now());
    const CanaryPlan again = DecideCanary(config_, desired_, status, o, clock_.Now());
    EXPECT_EQ(again.status, plan.status) << "same inputs, same plan";
    EXPECT_EQ(again.target, plan.target) << "same inputs, same plan";
    const CanaryPlan replay = DecideCanary(config_, desired_, plan.status, o, clock_.Now());
    EXPECT_EQ(replay.status, plan.status) << "the plan's own status is a fixed point";
    EXPECT_EQ(replay.target, plan.target) << "repeating a plan repeats its target";
    applied_ = {};
    if (plan.target) {
      CheckTarget(*plan.target);
      applied_ = runtime_.Apply(kService, *plan.target, Templates());
      EXPECT_TRUE(applied_.status.ok()) << applied_.status;
    }
    status = plan.status;
    last_plan_ = plan;
    if (phases_.empty() || phases_.back() != status.phase) phases_.push_back(status.phase);
    const bool canary = status.phase == CanaryPhase::kStarting ||
                        status.phase == CanaryPhase::kAnalysing ||
                        status.phase == CanaryPhase::kPaused;
    if (canary) min_stable_during_canary_ = std::min(min_stable_during_canary_, Serving(kOld));
    const runtime::RevisionTarget* mine = plan.target ? plan.target->Find(kNew) : nullptr;
    if (canary && status.previous_revision > 0 && mine != nullptr && mine->share > 0) {
      EXPECT_GT(Serving(kOld), 0) << "a canary share with no stable replica serving";
    }
    return plan;
  }

  // Time passes: replicas boot, fail and finish draining.
  void Pass(std::chrono::milliseconds d = seconds(1)) {
    clock_.Advance(d);
    runtime_.Step();
  }

  // The analysis engine of a healthy canary: promote once the hold is over.
  Analysis Healthy(const CanaryStatus& st) const {
    if (st.phase != CanaryPhase::kAnalysing) return {};
    auto steps = config_.policy.EffectiveSteps();
    if (clock_.Now() >= st.hold_started_at + steps[st.step].hold) return {Verdict::kPromote, ""};
    return {};
  }

  // Ticks one second apart with the healthy analysis until `done`; false if
  // it never is.
  bool RunUntil(CanaryStatus& st, const std::function<bool(const CanaryStatus&)>& done,
                int max_ticks = 3000) {
    for (int i = 0; i < max_ticks; ++i) {
      Tick(st, Healthy(st));
      if (done(st)) return true;
      Pass();
    }
    return false;
  }

  // Replicas of `revision` serving (ready, behind the load balancer).
  int Serving(int revision) {
    return Count(revision, [](const runtime::Replica& r) {
      return r.serving && r.state == ReplicaState::kReady;
    });
  }
  // Replicas of `revision` not draining.
  int Running(int revision) {
    return Count(revision,
                 [](const runtime::Replica& r) { return r.state != ReplicaState::kDraining; });
  }
  // The share of traffic `revision` takes now, as the runtime divides it.
  double Share(int revision = kNew) {
    absl::StatusOr<runtime::Observation> seen = runtime_.Observe(kService);
    auto it = seen->traffic.find(revision);
    return it == seen->traffic.end() ? 0.0 : it->second;
  }
  // What the last tick's Apply did, of `type` ("replica.started", ...).
  int Changes(const std::string& type) const {
    return static_cast<int>(
        std::count_if(applied_.changes.begin(), applied_.changes.end(),
                      [&](const runtime::Change& c) { return c.type == type; }));
  }
  const runtime::ApplyResult& applied() const { return applied_; }
  const std::vector<CanaryPhase>& phases() const { return phases_; }
  const CanaryPlan& last_plan() const { return last_plan_; }
  int min_stable_during_canary() const { return min_stable_during_canary_; }
  testing::FakeClock& clock() { return clock_; }
  CanaryConfig& config() { return config_; }

 private:
  std::map<int, runtime::RevisionTemplate> Templates() const {
    std::map<int, runtime::RevisionTemplate> t;
    for (int revision = 1; revision <= 9; ++revision) {
      runtime::RevisionTemplate& r = t[revision];
      r.service = kService;
      r.revision = revision;
      r.version = Version(revision);
      r.release.command = {"server"};
      r.health.start_period = start_period_;
    }
    return t;
  }

  int Count(int revision, const std::function<bool(const runtime::Replica&)>& pred) {
    absl::StatusOr<runtime::Observation> seen = runtime_.Observe(kService);
    return static_cast<int>(std::count_if(
        seen->replicas.begin(), seen->replicas.end(),
        [&](const runtime::Replica& r) { return r.revision == revision && pred(r); }));
  }

  static void CheckTarget(const runtime::ServicePlan& plan) {
    EXPECT_TRUE(plan.split);
    double total = 0;
    std::vector<int> seen;
    for (const runtime::RevisionTarget& t : plan.revisions) {
      EXPECT_GE(t.replicas, 0);
      EXPECT_GE(t.share, 0.0);
      EXPECT_LE(t.share, 1.0);
      EXPECT_EQ(std::count(seen.begin(), seen.end(), t.revision), 0) << "revision twice";
      seen.push_back(t.revision);
      total += t.share;
    }
    EXPECT_NEAR(total, 1.0, 1e-9) << "the shares add up to 1";
  }

  int desired_;
  CanaryConfig config_;
  testing::FakeClock clock_;
  testing::FakeRuntime runtime_;
  Duration start_period_ = std::chrono::hours(1);  // never-ready replicas stay starting
  runtime::ServicePlan seeded_;
  runtime::ApplyResult applied_;
  std::vector<CanaryPhase> phases_;
  CanaryPlan last_plan_;
  int64_t command_ids_ = 0;
  int min_stable_during_canary_ = 1 << 30;
};

auto PhaseIs(CanaryPhase p) {
  return [p](const CanaryStatus& st) { return st.phase == p; };
}

// ---------------------------------------------------------------- the walk

TEST(CanaryTest, HealthyCanaryPromotesAndKeepsThePreviousWarmForTheWindow) {
  World w(10);  // ADR defaults: 10 %, 5 min analysis; rollback window 5 min
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();

  CanaryPlan first = w.Tick(st);
  EXPECT_EQ(st.phase, CanaryPhase::kStarting);
  EXPECT_TRUE(SamePlan(first.target, Split({{kOld, 10, 1.0}, {kNew, 1, 0.0}})))
      << "one canary replica (10 % of 10), no canary traffic before it serves";
  EXPECT_EQ(w.Changes("replica.started"), 1);
  EXPECT_EQ(w.applied().changes.size(), 1u) << "nothing else";
  w.Pass();

  w.Tick(st, {});
  ASSERT_EQ(st.phase, CanaryPhase::kAnalysing);
  const TimePoint hold_start = st.hold_started_at;
  EXPECT_EQ(hold_start, w.clock().Now());
  EXPECT_TRUE(SamePlan(w.last_plan().target, Split({{kOld, 10, 0.9}, {kNew, 1, 0.1}})));
  EXPECT_EQ(w.Serving(kNew), 1);
  EXPECT_EQ(w.Serving(kOld), 10) << "the stable revision stays at full size";
  EXPECT_NEAR(w.Share(), 0.10, 1e-9) << "exactly the configured share";

  // Healthy but the hold is not over: nothing moves.
  w.clock().Set(hold_start + minutes(5) - seconds(1));
  w.Tick(st, w.Healthy(st));
  EXPECT_EQ(st.phase, CanaryPhase::kAnalysing);

  w.clock().Set(hold_start + minutes(5));
  w.Tick(st, w.Healthy(st));
  EXPECT_EQ(st.phase, CanaryPhase::kPromoting);
  EXPECT_TRUE(SamePlan(w.last_plan().target, Split({{kOld, 10, 0.9}, {kNew, 10, 0.1}})));
  EXPECT_EQ(w.Running(kNew), 10) << "the new revision scales to full size";
  EXPECT_NEAR(w.Share(), 0.10, 1e-9) << "the share holds while it scales";

  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  const TimePoint promoted = st.promoted_at;
  EXPECT_EQ(promoted, w.clock().Now());
  EXPECT_TRUE(SamePlan(w.last_plan().target, Split({{kOld, 10, 0.0}, {kNew, 10, 1.0}})));
  EXPECT_DOUBLE_EQ(w.Share(), 1.0);
  EXPECT_EQ(w.Serving(kNew), 10);
  EXPECT_EQ(w.Serving(kOld), 10) << "previous revision warm: serving at share 0";
  EXPECT_DOUBLE_EQ(w.Share(kOld), 0.0);
  EXPECT_EQ(w.Running(kOld), 10);
  EXPECT_FALSE(CanaryFinished(st));

  w.clock().Set(promoted + minutes(5) - seconds(1));
  w.Tick(st, {});
  EXPECT_EQ(w.Running(kOld), 10) << "still warm inside the window";
  EXPECT_TRUE(CheckCommand(st, Command::kUndo).ok());

  w.clock().Set(promoted + minutes(5));
  CanaryPlan release = w.Tick(st, {});
  EXPECT_TRUE(st.previous_released);
  EXPECT_EQ(st.phase, CanaryPhase::kSucceeded);
  EXPECT_TRUE(SamePlan(release.target, Split({{kOld, 0, 0.0}, {kNew, 10, 1.0}})));
  EXPECT_EQ(w.applied().changes.size(), 10u);
  EXPECT_EQ(w.Changes("replica.draining"), 10);
  w.Pass();
  EXPECT_EQ(w.Running(kOld), 0);
  EXPECT_EQ(w.Serving(kNew), 10);
  EXPECT_TRUE(CanaryFinished(st));
  w.Tick(st, {});
  EXPECT_TRUE(w.applied().changes.empty()) << "nothing left to do";

  EXPECT_EQ(w.phases(),
            (std::vector<CanaryPhase>{CanaryPhase::kStarting, CanaryPhase::kAnalysing,
                                      CanaryPhase::kPromoting, CanaryPhase::kSucceeded}));
  EXPECT_EQ(w.min_stable_during_canary(), 10);
}

TEST(CanaryTest, StepsTenThenFiftyThenFull) {
  CanaryConfig config;
  config.policy.steps = {{0.10, minutes(2)}, {0.50, minutes(3)}};
  World w(4, config);
  w.Seed(kOld, 4);
  CanaryStatus st = w.Begin();

  std::vector<double> shares;
  std::vector<int> canaries;
  std::vector<Duration> holds;
  for (int tick = 0; tick < 2000 && st.phase != CanaryPhase::kSucceeded; ++tick) {
    CanaryStatus before = st;
    w.Tick(st, w.Healthy(st));
    if (st.phase == CanaryPhase::kAnalysing && before.phase != CanaryPhase::kAnalysing) {
      shares.push_back(w.Share());
      canaries.push_back(w.Serving(kNew));
    }
    if (before.phase == CanaryPhase::kAnalysing && st.phase != CanaryPhase::kAnalysing) {
      holds.push_back(
          std::chrono::duration_cast<Duration>(w.clock().Now() - before.hold_started_at));
    }
    w.Pass();
  }
  ASSERT_EQ(st.phase, CanaryPhase::kSucceeded);
  ASSERT_EQ(shares.size(), 2u);
  EXPECT_NEAR(shares[0], 0.10, 1e-9);
  EXPECT_NEAR(shares[1], 0.50, 1e-9);
  EXPECT_EQ(canaries, (std::vector<int>{1, 2})) << "ceil(10 % of 4), ceil(50 % of 4)";
  EXPECT_EQ(holds, (std::vector<Duration>{minutes(2), minutes(3)}));
  EXPECT_DOUBLE_EQ(w.Share(), 1.0);
  EXPECT_DOUBLE_EQ(w.Share(kOld), 0.0);
  EXPECT_EQ(w.Serving(kOld), 4) << "warm";
  EXPECT_EQ(w.min_stable_during_canary(), 4);
}

TEST(CanaryTest, ShareGrowsWithTheCanaryReplicasOfAStep) {
  // 10 % of 20 is two canary replicas; with one ready it takes 5 %, so no
  // canary replica carries more than its part of the step.
  const TimePoint t0 = TimePoint(std::chrono::seconds(1767225600));
  CanaryObservation o;
  o.replicas = ServingReplicas(kOld, 20, t0);
  o.replicas.push_back(MakeReplica("c0", kNew, ReplicaState::kStarting, false, t0));
  o.replicas.push_back(MakeReplica("c1", kNew, ReplicaState::kStarting, false, t0));
  const CanaryStatus st = BeginCanary(kNew, kOld, t0);
  CanaryPlan plan = DecideCanary(CanaryConfig{}, 20, st, o, t0);
  EXPECT_EQ(plan.status.phase, CanaryPhase::kStarting);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 20, 1.0}, {kNew, 2, 0.0}})))
      << "no canary ready: no canary traffic";
  o.replicas[20].state = ReplicaState::kReady;  // one canary becomes ready
  plan = DecideCanary(CanaryConfig{}, 20, st, o, t0);
  EXPECT_EQ(plan.status.phase, CanaryPhase::kStarting);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 20, 0.95}, {kNew, 2, 0.05}})));
  o.replicas[21].state = ReplicaState::kReady;  // both ready: the whole 10 % and the hold starts
  plan = DecideCanary(CanaryConfig{}, 20, st, o, t0);
  EXPECT_EQ(plan.status.phase, CanaryPhase::kAnalysing);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 20, 0.9}, {kNew, 2, 0.1}})));

  // In a world: from 10 % (one of 4) to 50 % (two of 4), one ready: 25 %.
  CanaryConfig config;
  config.policy.steps = {{0.10, minutes(1)}, {0.50, minutes(1)}};
  World w(4, config);
  w.Seed(kOld, 4);
  CanaryStatus s = w.Begin();
  ASSERT_TRUE(w.RunUntil(s, PhaseIs(CanaryPhase::kAnalysing)));
  w.SetHealth(kNew, World::Health::kNeverReady);
  w.Tick(s, {}, Command::kPromote);
  EXPECT_EQ(s.phase, CanaryPhase::kStarting);
  EXPECT_EQ(s.step, 1);
  EXPECT_NEAR(w.Share(), 0.25, 1e-9);
  w.SetHealth(kNew, World::Health::kHealthy);
  w.Pass();
  w.Tick(s);
  EXPECT_EQ(s.phase, CanaryPhase::kAnalysing);
  EXPECT_NEAR(w.Share(), 0.50, 1e-9);
}

TEST(CanaryTest, ShareNeverFallsBelowTheLastStepsWhileAStepStarts) {
  // 50 % (2 of 4) to 90 % (4 of 4) with 2 serving: 90 % * 2/4 = 45 % < 50 %.
  CanaryConfig config;
  config.policy.steps = {{0.50, minutes(1)}, {0.90, minutes(1)}};
  const TimePoint t0 = TimePoint(std::chrono::seconds(1767225600));
  CanaryObservation o;
  o.replicas = ServingReplicas(kOld, 4, t0);
  for (runtime::Replica r : ServingReplicas(kNew, 2, t0)) o.replicas.push_back(r);
  CanaryStatus st = BeginCanary(kNew, kOld, t0);
  st.step = 1;
  const CanaryPlan plan = DecideCanary(config, 4, st, o, t0);
  EXPECT_EQ(plan.status.phase, CanaryPhase::kStarting);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 4, 0.5}, {kNew, 4, 0.5}})));
}

TEST(CanaryTest, CanaryTakesTrafficOnlyNextToAServingStableRevision) {
  // The stable replicas are all restarting: a ready canary would take all the
  // traffic, so it gets share 0.
  const TimePoint t0 = TimePoint(std::chrono::seconds(1767225600));
  CanaryObservation o;
  for (int i = 0; i < 3; ++i) {
    o.replicas.push_back(
        MakeReplica("old" + std::to_string(i), kOld, ReplicaState::kStarting, false, t0));
  }
  o.replicas.push_back(MakeReplica("c0", kNew, ReplicaState::kReady, false, t0));
  const CanaryStatus st = BeginCanary(kNew, kOld, t0);
  CanaryPlan plan = DecideCanary(CanaryConfig{}, 3, st, o, t0);
  EXPECT_EQ(plan.status.phase, CanaryPhase::kStarting);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 3, 1.0}, {kNew, 1, 0.0}})));
  o.replicas[0].state = ReplicaState::kReady;  // joins when the plan is carried out
  plan = DecideCanary(CanaryConfig{}, 3, st, o, t0);
  EXPECT_EQ(plan.status.phase, CanaryPhase::kAnalysing);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 3, 0.9}, {kNew, 1, 0.1}})));
}

TEST(CanaryTest, ExtraCanaryReplicasAreTrimmedAndTheServingOneCounts) {
  // Three canaries where the step wants one: the runtime keeps the serving
  // one (those not serving leave first), so the step is analysed at once.
  const TimePoint t0 = TimePoint(std::chrono::seconds(1767225600));
  CanaryObservation o;
  o.replicas = ServingReplicas(kOld, 10, t0);
  o.replicas.push_back(MakeReplica("c-serving", kNew, ReplicaState::kReady, true, t0));
  o.replicas.push_back(MakeReplica("c-ready", kNew, ReplicaState::kReady, false, t0 + seconds(1)));
  o.replicas.push_back(
      MakeReplica("c-booting", kNew, ReplicaState::kStarting, false, t0 + seconds(2)));
  const CanaryStatus st = BeginCanary(kNew, kOld, t0);
  const CanaryPlan plan = DecideCanary(CanaryConfig{}, 10, st, o, t0);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 10, 0.9}, {kNew, 1, 0.1}})));
  EXPECT_EQ(plan.status.phase, CanaryPhase::kAnalysing);
}

TEST(CanaryTest, CanaryReplicasRoundUp) {
  EXPECT_EQ(CanaryReplicas(0.10, 10), 1);
  EXPECT_EQ(CanaryReplicas(0.10, 3), 1);
  EXPECT_EQ(CanaryReplicas(0.10, 11), 2);
  EXPECT_EQ(CanaryReplicas(0.30, 10), 3);
  EXPECT_EQ(CanaryReplicas(0.07, 100), 7) << "0.07 * 100 is 7.000000000000001";
  EXPECT_EQ(CanaryReplicas(0.28, 25), 7) << "0.28 * 25 is 7.000000000000001";
  EXPECT_EQ(CanaryReplicas(0.50, 3), 2);
  EXPECT_EQ(CanaryReplicas(0.01, 1), 1) << "at least one";
  EXPECT_EQ(CanaryReplicas(0.99, 4), 4) << "at most desired";
  EXPECT_EQ(CanaryReplicas(0.25, 20), 5);
}

TEST(CanaryTest, StrayRevisionsServeUntilTheStayingRevisionIsAtFullSize) {
  // Revision 9 (an older rollout's) still serves next to a stable revision
  // not yet at full size: it stays, at share 0, until the stable one is.
  constexpr int kStray = 9;
  const TimePoint t0 = TimePoint(std::chrono::seconds(1767225600));
  CanaryObservation o;
  o.replicas = ServingReplicas(kOld, 2, t0);
  for (runtime::Replica r : ServingReplicas(kStray, 1, t0)) o.replicas.push_back(r);
  o.replicas.push_back(MakeReplica("stray-booting", kStray, ReplicaState::kStarting, false, t0));
  const CanaryStatus st = BeginCanary(kNew, kOld, t0);
  CanaryPlan plan = DecideCanary(CanaryConfig{}, 3, st, o, t0);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 3, 1.0}, {kNew, 1, 0.0}, {kStray, 1, 0.0}})))
      << "the serving stray stays, the booting one goes";
  for (runtime::Replica r : ServingReplicas(kOld, 1, t0)) {
    r.name = "r1-late";
    o.replicas.push_back(r);
  }
  plan = DecideCanary(CanaryConfig{}, 3, st, o, t0);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 3, 1.0}, {kNew, 1, 0.0}, {kStray, 0, 0.0}})));

  // In a world: the stray is stopped once the stable serves at full size.
  World w(3);
  w.Seed(kStray, 1);
  w.Seed(kOld, 3);
  CanaryStatus s = w.Begin();
  w.Tick(s);
  EXPECT_EQ(w.Running(kStray), 0);
  EXPECT_EQ(w.Serving(kOld), 3);
}

// ---------------------------------------------------------------- rollback

struct PhaseCase {
  const char* name;
  CanaryPhase phase;
};

// Drives a fresh world (20 replicas; steps 5 %, 10 %) to `phase`.
void DriveTo(World& w, CanaryStatus& st, CanaryPhase phase) {
  w.Seed(kOld, 20);
  st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  if (phase == CanaryPhase::kAnalysing) return;
  if (phase == CanaryPhase::kStarting) {
    // The second step's two canary replicas: one serving, one booting.
    w.SetHealth(kNew, World::Health::kNeverReady);
    w.Tick(st, {}, Command::kPromote);
    ASSERT_EQ(st.phase, CanaryPhase::kStarting);
    return;
  }
  if (phase == CanaryPhase::kPaused) {
    w.Tick(st, {Verdict::kPause, "error budget low"});
    ASSERT_EQ(st.phase, CanaryPhase::kPaused);
    return;
  }
  if (phase == CanaryPhase::kPromoting) {
    w.Tick(st, {}, Command::kPromoteFull);
    ASSERT_EQ(st.phase, CanaryPhase::kPromoting);
    w.Pass();  // new replicas ready, not all serving yet
    return;
  }
}

class RollbackInPhase : public ::testing::TestWithParam<PhaseCase> {};

TEST_P(RollbackInPhase, TakesTheCanaryOutOfTrafficInTheSamePlan) {
  CanaryConfig config;
  config.policy.steps = {{0.05, minutes(5)}, {0.10, minutes(5)}};
  World w(20, config);
  CanaryStatus st;
  DriveTo(w, st, GetParam().phase);
  if (HasFatalFailure()) return;
  ASSERT_EQ(st.phase, GetParam().phase);
  ASSERT_GT(w.Serving(kNew), 0);
  ASSERT_GT(w.Share(), 0);

  CanaryPlan plan = w.Tick(st, {Verdict::kRollback, "error rate 7% > 5% for 2m"});
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack) << "the stable revision is at full size already";
  EXPECT_EQ(st.reason, "error rate 7% > 5% for 2m");
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 20, 1.0}, {kNew, 0, 0.0}})));
  EXPECT_DOUBLE_EQ(w.Share(), 0.0) << "no canary traffic once the plan is carried out";
  EXPECT_DOUBLE_EQ(w.Share(kOld), 1.0);
  EXPECT_EQ(w.Changes("replica.started"), 0) << "a rollback starts nothing";
  EXPECT_GT(w.Changes("replica.draining"), 0);
  w.Pass();
  w.Tick(st);
  EXPECT_EQ(w.Running(kNew), 0);
  EXPECT_EQ(w.Serving(kOld), 20);
  EXPECT_DOUBLE_EQ(w.Share(kOld), 1.0);
  EXPECT_TRUE(CanaryFinished(st));
}

INSTANTIATE_TEST_SUITE_P(Phases, RollbackInPhase,
                         ::testing::Values(PhaseCase{"starting", CanaryPhase::kStarting},
                                           PhaseCase{"analysing", CanaryPhase::kAnalysing},
                                           PhaseCase{"paused", CanaryPhase::kPaused},
                                           PhaseCase{"promoting", CanaryPhase::kPromoting}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CanaryTest, RollbackAtAHighStepGivesAllTrafficBackToTheStable) {
  // At 90 % (2 canaries against 2 stable) the stable revision carries 10 %;
  // going back it takes it all in the same plan.
  CanaryConfig config;
  config.policy.weight = 0.90;
  World w(2, config);
  w.Seed(kOld, 2);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  EXPECT_NEAR(w.Share(), 0.90, 1e-9);
  EXPECT_NEAR(w.Share(kOld), 0.10, 1e-9);
  CanaryPlan plan = w.Tick(st, {Verdict::kRollback, "error rate 6% > 5% for 2m"});
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 2, 1.0}, {kNew, 0, 0.0}})));
  EXPECT_DOUBLE_EQ(w.Share(kOld), 1.0);
  EXPECT_EQ(w.Changes("replica.draining"), 2);
}

TEST(CanaryTest, ZeroRollbackWindowReleasesThePreviousAtPromotion) {
  CanaryConfig config;
  config.policy.rollback_window = Duration(0);
  World w(3, config);
  w.Seed(kOld, 3);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  EXPECT_TRUE(st.previous_released) << "in the same plan as the promotion";
  EXPECT_TRUE(CanaryFinished(st));
  EXPECT_TRUE(SamePlan(w.last_plan().target, Split({{kOld, 0, 0.0}, {kNew, 3, 1.0}})));
  w.Pass();
  EXPECT_EQ(w.Running(kOld), 0);
  EXPECT_EQ(w.Serving(kNew), 3);
}

TEST(CanaryTest, RollbackTriggerInsideTheWindowFlipsBackToTheWarmPrevious) {
  World w(5);
  w.Seed(kOld, 5);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  w.clock().Advance(minutes(3));
  CanaryPlan plan = w.Tick(st, {Verdict::kRollback, "p99 2.4s > 2s"});
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack);
  EXPECT_EQ(st.reason, "inside the rollback window: p99 2.4s > 2s");
  // A traffic flip: the warm previous revision takes everything back, the
  // new one drains. No replica starts.
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 5, 1.0}, {kNew, 0, 0.0}})));
  EXPECT_EQ(w.Changes("replica.started"), 0);
  EXPECT_EQ(w.Changes("replica.draining"), 5);
  EXPECT_DOUBLE_EQ(w.Share(kOld), 1.0);
  EXPECT_EQ(w.Serving(kOld), 5);
}

TEST(CanaryTest, FailedCanaryReplicaRollsBackAtOnce) {
  World w(10);
  w.Seed(kOld, 10);
  w.SetHealth(kNew, World::Health::kFailsAfterReady);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kRolledBack), 10));
  // The runtime's sentence for the replica follows the prefix.
  EXPECT_EQ(st.reason.rfind("replica web-r2-10 of revision 2 failed: ", 0), 0u) << st.reason;
  EXPECT_NE(st.reason.find("HTTP 500"), std::string::npos) << st.reason;
  w.Pass();
  w.Tick(st);
  EXPECT_EQ(w.Running(kNew), 0);
  EXPECT_EQ(w.Serving(kOld), 10);
}

TEST(CanaryTest, CrashLoopingCanaryRollsBack) {
  World w(10);
  w.Seed(kOld, 10);
  w.SetHealth(kNew, World::Health::kCrashLoops);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kRolledBack), 10));
  EXPECT_EQ(st.reason.rfind("replica web-r2-10 of revision 2 failed: ", 0), 0u) << st.reason;
  EXPECT_NE(st.reason.find("exited"), std::string::npos) << st.reason;
  EXPECT_EQ(w.min_stable_during_canary(), 10);
}

TEST(CanaryTest, CanaryNotReadyAfterItsStartPeriodRollsBackBeforeTheDeadline) {
  World w(10);
  w.Seed(kOld, 10);
  w.SetStartPeriod(seconds(30));
  w.SetHealth(kNew, World::Health::kNeverReady);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kRolledBack), 60));
  EXPECT_EQ(st.reason.rfind("replica web-r2-10 of revision 2 failed: ", 0), 0u) << st.reason;
  EXPECT_NE(st.reason.find("start period"), std::string::npos) << st.reason;
}

TEST(CanaryTest, TargetThatCannotStartRollsBackLikeAFailedCanary) {
  World w(10);
  w.Seed(kOld, 10);
  w.SetStartError(kNew, "no such file: /srv/app-v2");
  CanaryStatus st = w.Begin();
  w.Tick(st);  // the runtime finds it cannot start the canary
  EXPECT_EQ(st.phase, CanaryPhase::kStarting);
  w.Pass();
  CanaryPlan plan = w.Tick(st);
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack);
  EXPECT_EQ(st.reason, "cannot start revision 2: no such file: /srv/app-v2");
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 10, 1.0}, {kNew, 0, 0.0}})));
  EXPECT_EQ(w.Serving(kOld), 10);

  // With automatic rollback off it pauses for a human.
  CanaryConfig manual;
  manual.automatic_rollback = false;
  World v(10, manual);
  v.Seed(kOld, 10);
  v.SetStartError(kNew, "no such file: /srv/app-v2");
  CanaryStatus s = v.Begin();
  v.Tick(s);
  v.Pass();
  v.Tick(s);
  EXPECT_EQ(s.phase, CanaryPhase::kPaused);
  EXPECT_EQ(s.reason,
            "cannot start revision 2: no such file: /srv/app-v2; automatic rollback is off: "
            "waiting for promote or abort");
  v.Tick(s, {}, Command::kAbort);
  EXPECT_EQ(s.phase, CanaryPhase::kRolledBack);
}

TEST(CanaryTest, CanaryNeverReadyRollsBackAtTheProgressDeadline) {
  World w(10);
  w.Seed(kOld, 10);
  w.SetHealth(kNew, World::Health::kNeverReady);
  CanaryStatus st = w.Begin();
  const TimePoint start = w.clock().Now();
  w.Tick(st);
  w.clock().Set(start + minutes(10));
  w.Tick(st);
  EXPECT_EQ(st.phase, CanaryPhase::kStarting) << "at the deadline, not past it";
  w.clock().Set(start + minutes(10) + seconds(1));
  CanaryPlan plan = w.Tick(st);
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack);
  EXPECT_EQ(st.reason,
            "the canary replicas of step 1 (10%) did not all become ready within the progress "
            "deadline (10m)");
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 10, 1.0}, {kNew, 0, 0.0}})));
  ASSERT_EQ(w.applied().changes.size(), 1u);
  EXPECT_EQ(w.applied().changes[0].type, "replica.stopped");
  EXPECT_EQ(w.applied().changes[0].message, "stopped web-r2-10 (it served no traffic)");
}

TEST(CanaryTest, RollbackThatCannotBringThePreviousBackFailsAndKeepsServing) {
  // Inside the window the warm previous replicas died; the rollback starts
  // new ones, which never become ready: the new revision keeps serving and
  // the rollout fails at the deadline for a human to decide.
  World w(3);
  w.Seed(kOld, 3);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  // The warm replicas crash: the runtime reports them failing; they go.
  CanaryObservation o = w.Observe();
  for (runtime::Replica& r : o.replicas) {
    if (r.revision == kOld) {
      r.state = ReplicaState::kFailing;
      r.serving = false;
    }
  }
  CanaryPlan crashed = DecideCanary(w.config(), 3, st, o, w.clock().Now());
  EXPECT_EQ(crashed.status.phase, CanaryPhase::kSucceeded) << "old replicas failing is no trigger";
  EXPECT_TRUE(SamePlan(crashed.target, Split({{kOld, 0, 0.0}, {kNew, 3, 1.0}})))
      << "warm: the failed ones are not replaced";
  // Undo now: nothing warm to flip to.
  World w2(3);
  w2.SetHealth(kOld, World::Health::kNeverReady);
  w2.Seed(kNew, 3);
  CanaryStatus s2 = st;
  s2.last_command_id = 0;
  CanaryPlan undo = w2.Tick(s2, {}, Command::kUndo);
  EXPECT_EQ(s2.phase, CanaryPhase::kRollingBack);
  EXPECT_TRUE(SamePlan(undo.target, Split({{kOld, 3, 1.0}, {kNew, 3, 0.0}})))
      << "the new revision keeps serving until the previous one is back";
  EXPECT_EQ(w2.Changes("replica.started"), 3);
  EXPECT_EQ(w2.applied().changes.size(), 3u);
  EXPECT_EQ(w2.Serving(kNew), 3);
  w2.clock().Advance(minutes(10) + seconds(1));
  w2.Pass();
  w2.Tick(s2);
  EXPECT_EQ(s2.phase, CanaryPhase::kFailed);
  EXPECT_NE(s2.reason.find("rollback stalled"), std::string::npos) << s2.reason;
  EXPECT_EQ(w2.Serving(kNew), 3);
  EXPECT_FALSE(w2.last_plan().target.has_value()) << "failed: a human decides";
  w2.Tick(s2);
  EXPECT_FALSE(w2.last_plan().target.has_value());
}

TEST(CanaryTest, RollingBackKeepsTheServingCanariesUntilThePreviousServes) {
  // Going back with no previous replica serving: the canaries that serve
  // stay (at share 0: the runtime fails open to them), those not serving go;
  // once a previous replica serves, the canaries leave.
  const TimePoint t0 = TimePoint(std::chrono::seconds(1767225600));
  CanaryObservation o;
  o.replicas = ServingReplicas(kNew, 2, t0);
  o.replicas.push_back(MakeReplica("c-booting", kNew, ReplicaState::kStarting, false, t0));
  o.replicas.push_back(MakeReplica("old0", kOld, ReplicaState::kStarting, false, t0));
  CanaryStatus st = BeginCanary(kNew, kOld, t0);
  st.phase = CanaryPhase::kRollingBack;
  CanaryPlan plan = DecideCanary(CanaryConfig{}, 3, st, o, t0);
  EXPECT_EQ(plan.status.phase, CanaryPhase::kRollingBack);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 3, 1.0}, {kNew, 2, 0.0}})));
  o.replicas[3].state = ReplicaState::kReady;
  plan = DecideCanary(CanaryConfig{}, 3, st, o, t0);
  EXPECT_EQ(plan.status.phase, CanaryPhase::kRollingBack) << "one of three is back";
  EXPECT_TRUE(SamePlan(plan.target, Split({{kOld, 3, 1.0}, {kNew, 0, 0.0}})));
}

// ---------------------------------------------------------------- commands

TEST(CanaryTest, PromoteSkipsTheRestOfTheHold) {
  World w(10);
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  w.clock().Advance(minutes(1));
  CanaryPlan plan = w.Tick(st, {}, Command::kPromote);
  EXPECT_TRUE(plan.command_status.ok());
  EXPECT_EQ(st.phase, CanaryPhase::kPromoting);
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
}

TEST(CanaryTest, PromoteGoesToTheNextStepAndPromoteFullSkipsTheRest) {
  CanaryConfig config;
  config.policy.steps = {{0.10, minutes(5)}, {0.30, minutes(5)}, {0.60, minutes(5)}};
  World w(10, config);
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  w.Tick(st, {}, Command::kPromote);
  EXPECT_EQ(st.step, 1);
  EXPECT_EQ(st.phase, CanaryPhase::kStarting);
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  EXPECT_NEAR(w.Share(), 0.30, 1e-9);
  w.Tick(st, {}, Command::kPromoteFull);
  EXPECT_EQ(st.phase, CanaryPhase::kPromoting);
  EXPECT_EQ(st.step, 3);
}

TEST(CanaryTest, AbortRollsBackAndRetryStartsANewAttempt) {
  World w(10);
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  CanaryPlan abort = w.Tick(st, {}, Command::kAbort);
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack);
  EXPECT_EQ(st.reason, "aborted by the operator");
  EXPECT_TRUE(SamePlan(abort.target, Split({{kOld, 10, 1.0}, {kNew, 0, 0.0}})));
  EXPECT_DOUBLE_EQ(w.Share(), 0.0);
  w.Pass();

  w.clock().Advance(minutes(30));
  CanaryPlan retry = w.Tick(st, {}, Command::kRetry);
  EXPECT_TRUE(retry.command_status.ok());
  EXPECT_EQ(st.phase, CanaryPhase::kStarting);
  EXPECT_EQ(st.attempt, 2);
  EXPECT_EQ(st.step, 0);
  EXPECT_EQ(st.reason, "");
  EXPECT_EQ(st.last_progress, w.clock().Now()) << "a fresh progress deadline";
  EXPECT_TRUE(SamePlan(retry.target, Split({{kOld, 10, 1.0}, {kNew, 1, 0.0}})));
  EXPECT_EQ(w.Changes("replica.started"), 1);
  EXPECT_EQ(w.applied().changes.size(), 1u);
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  EXPECT_EQ(st.attempt, 2);
}

TEST(CanaryTest, UndoInsideTheWindowIsATrafficFlip) {
  World w(4);
  w.Seed(kOld, 4);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  w.clock().Advance(minutes(4));
  CanaryPlan undo = w.Tick(st, {}, Command::kUndo);
  EXPECT_TRUE(undo.command_status.ok());
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack);
  EXPECT_EQ(st.reason, "undone by the operator inside the rollback window");
  EXPECT_DOUBLE_EQ(w.Share(kOld), 1.0) << "all traffic back at once";
  EXPECT_TRUE(SamePlan(undo.target, Split({{kOld, 4, 1.0}, {kNew, 0, 0.0}})));
  EXPECT_EQ(w.Changes("replica.started"), 0) << "no cold start";
  EXPECT_EQ(w.Changes("replica.serving"), 0) << "the warm replicas serve already";
  w.Pass();
  w.Tick(st);
  EXPECT_EQ(w.Running(kNew), 0);
  EXPECT_EQ(w.Serving(kOld), 4);
}

TEST(CanaryTest, UndoAfterTheWindowIsRefused) {
  World w(4);
  w.Seed(kOld, 4);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  w.clock().Advance(minutes(5));
  w.Tick(st);
  ASSERT_TRUE(st.previous_released);
  absl::Status refused = CheckCommand(st, Command::kUndo);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused));
  EXPECT_NE(refused.message().find("rollback window has closed"), std::string::npos)
      << refused.message();
  CanaryPlan plan = w.Tick(st, {}, Command::kUndo);
  EXPECT_EQ(plan.command_status, refused);
  EXPECT_EQ(st.phase, CanaryPhase::kSucceeded);
}

TEST(CanaryTest, CommandsApplyOnceByIdAndRefusalsSayWhy) {
  CanaryConfig config;
  config.policy.steps = {{0.10, minutes(5)}, {0.30, minutes(5)}, {0.60, minutes(5)}};
  testing::FakeClock clock;
  std::vector<runtime::Replica> replicas = ServingReplicas(kOld, 10, clock.Now());
  replicas.push_back(MakeReplica("canary", kNew, ReplicaState::kReady, true, clock.Now()));
  CanaryStatus st = BeginCanary(kNew, kOld, clock.Now());
  st.phase = CanaryPhase::kAnalysing;
  st.hold_started_at = clock.Now();
  CanaryObservation o;
  o.replicas = replicas;
  o.command = Command::kPromote;
  o.command_id = 7;
  CanaryPlan once = DecideCanary(config, 10, st, o, clock.Now());
  EXPECT_EQ(once.status.step, 1);
  EXPECT_EQ(once.status.last_command_id, 7);
  CanaryPlan twice = DecideCanary(config, 10, once.status, o, clock.Now());
  EXPECT_EQ(twice.status.step, 1) << "the same promote (id 7) does not skip another step";
  o.command_id = 8;
  CanaryPlan next = DecideCanary(config, 10, once.status, o, clock.Now());
  EXPECT_EQ(next.status.step, 2) << "a new promote does";
  o.command_id = 5;
  CanaryPlan older = DecideCanary(config, 10, once.status, o, clock.Now());
  EXPECT_EQ(older.status.step, 1) << "an older command (id 5 < 7) is not applied";
  EXPECT_EQ(older.status.last_command_id, 7);

  // Refusals, and the decision ignores a refused command (but consumes it).
  CanaryStatus rolled = st;
  rolled.phase = CanaryPhase::kRolledBack;
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckCommand(rolled, Command::kPromote)));
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckCommand(rolled, Command::kAbort)));
  EXPECT_TRUE(CheckCommand(rolled, Command::kRetry).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckCommand(st, Command::kRetry)));
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckCommand(st, Command::kUndo)));
  CanaryStatus succeeded = st;
  succeeded.phase = CanaryPhase::kSucceeded;
  absl::Status abort = CheckCommand(succeeded, Command::kAbort);
  EXPECT_NE(abort.message().find("use undo"), std::string::npos) << abort.message();
  EXPECT_TRUE(CheckCommand(st, Command::kNone).ok());
  o.command = Command::kRetry;
  o.command_id = 9;
  CanaryPlan refused = DecideCanary(config, 10, st, o, clock.Now());
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.command_status));
  EXPECT_EQ(refused.status.attempt, 1);
  EXPECT_EQ(refused.status.phase, CanaryPhase::kAnalysing);
  EXPECT_EQ(refused.status.last_command_id, 9);
}

// ---------------------------------------------------------------- analysis

TEST(CanaryTest, EarlyPromoteVerdictWaitsForTheHold) {
  World w(10);
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  const TimePoint hold = st.hold_started_at;
  w.clock().Set(hold + minutes(4));
  w.Tick(st, {Verdict::kPromote, ""});
  EXPECT_EQ(st.phase, CanaryPhase::kAnalysing);
  w.Tick(st, {Verdict::kInconclusive, "too little traffic"});
  EXPECT_EQ(st.phase, CanaryPhase::kAnalysing);
  w.clock().Set(hold + minutes(5));
  w.Tick(st, {Verdict::kPromote, ""});
  EXPECT_EQ(st.phase, CanaryPhase::kPromoting);
}

struct InconclusiveCase {
  const char* name;
  spec::InconclusiveAction action;
  CanaryPhase after_first;
  CanaryPhase after_second;
};

class InconclusivePolicy : public ::testing::TestWithParam<InconclusiveCase> {};

TEST_P(InconclusivePolicy, FollowsThePolicy) {
  CanaryConfig config;
  config.policy.inconclusive = GetParam().action;
  World w(10, config);
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  w.clock().Advance(minutes(5));
  w.Tick(st, {Verdict::kInconclusive, "too little traffic"});
  EXPECT_EQ(st.phase, GetParam().after_first);
  w.clock().Advance(minutes(5));
  w.Tick(st, {Verdict::kInconclusive, "too little traffic"});
  EXPECT_EQ(st.phase, GetParam().after_second);
}

INSTANTIATE_TEST_SUITE_P(Actions, InconclusivePolicy,
                         ::testing::Values(
                             // extend: analyse once more, then roll back
                             InconclusiveCase{"extend", spec::InconclusiveAction::kExtend,
                                              CanaryPhase::kAnalysing, CanaryPhase::kRolledBack},
                             // pause: wait for a human, whatever the analysis says meanwhile
                             InconclusiveCase{"pause", spec::InconclusiveAction::kPause,
                                              CanaryPhase::kPaused, CanaryPhase::kPaused},
                             // fail: roll back at once
                             InconclusiveCase{"fail", spec::InconclusiveAction::kFail,
                                              CanaryPhase::kRolledBack, CanaryPhase::kRolledBack}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CanaryTest, ExtendRestartsTheHold) {
  CanaryConfig config;
  config.policy.inconclusive = spec::InconclusiveAction::kExtend;
  World w(10, config);
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  w.clock().Advance(minutes(5));
  w.Tick(st, {Verdict::kInconclusive, "too little traffic"});
  EXPECT_TRUE(st.extended);
  EXPECT_EQ(st.hold_started_at, w.clock().Now());
  w.clock().Advance(minutes(4));
  w.Tick(st, {Verdict::kPromote, ""});
  EXPECT_EQ(st.phase, CanaryPhase::kAnalysing) << "the extension is a whole analysis period";
  w.clock().Advance(minutes(1));
  w.Tick(st, {Verdict::kPromote, ""});
  EXPECT_EQ(st.phase, CanaryPhase::kPromoting);
}

TEST(CanaryTest, PausedWaitsForPromote) {
  CanaryConfig config;
  config.policy.inconclusive = spec::InconclusiveAction::kPause;
  World w(10, config);
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  w.clock().Advance(minutes(5));
  w.Tick(st, {Verdict::kInconclusive, "too little traffic"});
  ASSERT_EQ(st.phase, CanaryPhase::kPaused);
  EXPECT_EQ(st.reason, "analysis inconclusive: too little traffic; waiting for promote or abort");
  w.clock().Advance(std::chrono::hours(3));
  w.Tick(st, {Verdict::kPromote, ""});
  EXPECT_EQ(st.phase, CanaryPhase::kPaused) << "no deadline, no automatic resume";
  EXPECT_NEAR(w.Share(), 0.10, 1e-9) << "held at the step's share";
  w.Tick(st, {}, Command::kPromote);
  EXPECT_EQ(st.phase, CanaryPhase::kPromoting);
  EXPECT_EQ(st.reason, "");
}

TEST(CanaryTest, PromoteOverridesAPauseVerdictOnItsTick) {
  World w(10);
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  w.Tick(st, {Verdict::kPause, "error rate 6% > 5%; automatic rollback is off"});
  ASSERT_EQ(st.phase, CanaryPhase::kPaused);
  // The engine still says pause (it judged the paused status); the operator
  // promotes anyway.
  CanaryObservation o = w.Observe({Verdict::kPause, "error rate 6% > 5%"}, Command::kPromote);
  CanaryPlan plan = DecideCanary(w.config(), 10, st, o, w.clock().Now());
  EXPECT_TRUE(plan.command_status.ok());
  EXPECT_EQ(plan.status.phase, CanaryPhase::kPromoting);
}

TEST(CanaryTest, NoVerdictLongAfterTheHoldIsInconclusive) {
  World w(10);  // inconclusive: fail
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  const TimePoint hold = st.hold_started_at;
  w.clock().Set(hold + minutes(15));
  w.Tick(st);
  EXPECT_EQ(st.phase, CanaryPhase::kAnalysing) << "hold 5m + deadline 10m: not past it";
  w.clock().Set(hold + minutes(15) + seconds(1));
  w.Tick(st);
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack);
  EXPECT_EQ(st.reason, "analysis inconclusive: no verdict within 10m after the hold ended");
}

TEST(CanaryTest, AutomaticRollbackOffPausesInsteadOfRollingBack) {
  CanaryConfig config;
  config.automatic_rollback = false;
  World w(10, config);
  w.Seed(kOld, 10);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  w.Tick(st, {Verdict::kRollback, "error rate 9% > 5% for 2m"});
  EXPECT_EQ(st.phase, CanaryPhase::kPaused);
  EXPECT_EQ(st.reason,
            "error rate 9% > 5% for 2m; automatic rollback is off: waiting for promote or abort");
  EXPECT_NEAR(w.Share(), 0.10, 1e-9);
  w.Tick(st, {}, Command::kAbort);
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack);
  EXPECT_DOUBLE_EQ(w.Share(), 0.0);

  // Inside the window: the previous revision stays warm past it.
  World v(3, config);
  v.Seed(kOld, 3);
  CanaryStatus s2 = v.Begin();
  ASSERT_TRUE(v.RunUntil(s2, PhaseIs(CanaryPhase::kSucceeded)));
  v.Tick(s2, {Verdict::kRollback, "p99 3s > 2s"});
  EXPECT_EQ(s2.phase, CanaryPhase::kSucceeded);
  EXPECT_TRUE(s2.warm_held);
  v.clock().Advance(std::chrono::hours(1));
  v.Tick(s2);
  EXPECT_FALSE(s2.previous_released);
  EXPECT_EQ(v.Running(kOld), 3);
  v.Tick(s2, {}, Command::kPromote);  // accept the new revision
  EXPECT_TRUE(s2.previous_released);
  v.Pass();
  EXPECT_EQ(v.Running(kOld), 0);
}

TEST(CanaryTest, FirstDeploymentGoesStraightToFullSize) {
  World w(3);
  CanaryStatus st = w.Begin(kNew, 0);
  CanaryPlan plan = w.Tick(st);
  EXPECT_EQ(st.phase, CanaryPhase::kPromoting);
  EXPECT_TRUE(SamePlan(plan.target, Split({{kNew, 3, 1.0}})));
  EXPECT_EQ(w.Changes("replica.started"), 3);
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  EXPECT_TRUE(st.previous_released);
  EXPECT_TRUE(CanaryFinished(st));
  EXPECT_TRUE(SamePlan(w.last_plan().target, Split({{kNew, 3, 1.0}})));
  EXPECT_EQ(w.Serving(kNew), 3);
  EXPECT_DOUBLE_EQ(w.Share(kNew), 1.0);
  // A failure now has nothing to go back to.
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckCommand(st, Command::kUndo)));
}

// ---------------------------------------------------------------- purity

TEST(CanaryTest, SameInputsGiveTheSamePlan) {
  CanaryConfig config;
  testing::FakeClock clock;
  CanaryObservation o;
  o.replicas = ServingReplicas(kOld, 6, clock.Now());
  o.replicas.push_back(MakeReplica("c0", kNew, ReplicaState::kReady, false, clock.Now()));
  CanaryStatus st = BeginCanary(kNew, kOld, clock.Now());
  const CanaryPlan a = DecideCanary(config, 6, st, o, clock.Now());
  const CanaryPlan b = DecideCanary(config, 6, st, o, clock.Now());
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.status.phase, CanaryPhase::kAnalysing);
  // Repeating with the plan's own status (the controller crashed before the
  // runtime carried the target out) gives the same target again.
  const CanaryPlan c = DecideCanary(config, 6, a.status, o, clock.Now());
  EXPECT_EQ(c.status, a.status);
  EXPECT_EQ(c.target, a.target);
  // The canary joins (the runtime puts the ready replica in) with exactly
  // the step's share.
  EXPECT_TRUE(SamePlan(a.target, Split({{kOld, 6, 0.9}, {kNew, 1, 0.1}})));
}

TEST(CanaryTest, EveryPhaseIsAFixedPointOfItsOwnPlan) {
  // From every phase, with replicas in many states, the plan's status gives
  // the same status and target again.
  const TimePoint t0 = TimePoint(std::chrono::seconds(1767225600));
  std::vector<runtime::Replica> replicas = ServingReplicas(kOld, 3, t0);
  replicas.push_back(MakeReplica("o-booting", kOld, ReplicaState::kStarting, false, t0));
  replicas.push_back(MakeReplica("c-serving", kNew, ReplicaState::kReady, true, t0));
  replicas.push_back(MakeReplica("c-ready", kNew, ReplicaState::kReady, false, t0));
  replicas.push_back(MakeReplica("c-booting", kNew, ReplicaState::kStarting, false, t0));
  replicas.push_back(MakeReplica("s-serving", 7, ReplicaState::kReady, true, t0));
  const CanaryPhase phases[] = {
      CanaryPhase::kStarting,  CanaryPhase::kAnalysing,   CanaryPhase::kPaused,
      CanaryPhase::kPromoting, CanaryPhase::kSucceeded,   CanaryPhase::kRollingBack,
      CanaryPhase::kRolledBack};
  const Analysis verdicts[] = {{},
                               {Verdict::kPromote, ""},
                               {Verdict::kPause, "p"},
                               {Verdict::kRollback, "r"},
                               {Verdict::kInconclusive, "i"}};
  for (CanaryPhase phase : phases) {
    for (const Analysis& analysis : verdicts) {
      for (int desired : {1, 2, 4}) {
        for (Duration later : {Duration(0), Duration(minutes(6)), Duration(minutes(30))}) {
          CanaryStatus st = BeginCanary(kNew, kOld, t0);
          st.phase = phase;
          st.hold_started_at = t0;
          st.promoted_at = t0;
          st.step = phase == CanaryPhase::kPromoting || phase == CanaryPhase::kSucceeded ? 1 : 0;
          CanaryObservation o;
          o.replicas = replicas;
          o.analysis = analysis;
          const CanaryPlan plan = DecideCanary(CanaryConfig{}, desired, st, o, t0 + later);
          const CanaryPlan again =
              DecideCanary(CanaryConfig{}, desired, plan.status, o, t0 + later);
          EXPECT_EQ(again.status, plan.status)
              << CanaryPhaseName(phase) << " " << VerdictName(analysis.verdict) << " " << desired;
          EXPECT_EQ(again.target, plan.target)
              << CanaryPhaseName(phase) << " " << VerdictName(analysis.verdict) << " " << desired;
        }
      }
    }
  }
}

// ---------------------------------------------------------------- stages

namespace stages = canary_stages;

const TimePoint kT0 = TimePoint(std::chrono::seconds(1767225600));

stages::Context Ctx(int desired, Duration later = Duration(0), CanaryConfig config = {}) {
  return stages::MakeContext(config, desired, kT0 + later);
}

CanaryStatus InPhase(CanaryPhase phase, int step = 0, int previous = kOld) {
  CanaryStatus st = BeginCanary(kNew, previous, kT0);
  st.phase = phase;
  st.step = step;
  st.hold_started_at = kT0;
  st.promoted_at = kT0;
  return st;
}

stages::Fleet FleetOf(std::vector<runtime::Replica> replicas, int previous = kOld) {
  return stages::SortReplicas(BeginCanary(kNew, previous, kT0), replicas);
}

TEST(CanaryStagesTest, SortReplicasByRoleOldestFirstWithoutDraining) {
  const stages::Fleet f = FleetOf({
      MakeReplica("n-young", kNew, ReplicaState::kReady, true, kT0 + seconds(2)),
      MakeReplica("n-old", kNew, ReplicaState::kStarting, false, kT0),
      MakeReplica("o", kOld, ReplicaState::kReady, true, kT0),
      MakeReplica("o-leaving", kOld, ReplicaState::kDraining, false, kT0),
      MakeReplica("s", 7, ReplicaState::kReady, true, kT0),
  });
  ASSERT_EQ(f.target.size(), 2u);
  EXPECT_EQ(f.target[0].name, "n-old");
  EXPECT_EQ(f.target[1].name, "n-young");
  ASSERT_EQ(f.previous.size(), 1u);
  EXPECT_EQ(f.previous[0].name, "o");
  ASSERT_EQ(f.others.size(), 1u);
  EXPECT_EQ(f.others.at(7).size(), 1u);
  // Without a previous revision, revision 1 is a stray.
  EXPECT_EQ(FleetOf({MakeReplica("o", kOld, ReplicaState::kReady, true)}, 0).others.size(), 1u);
}

TEST(CanaryStagesTest, ServingAfterKeepsServingThenOldest) {
  const auto serving = MakeReplica("a", kNew, ReplicaState::kReady, true, kT0 + seconds(5));
  const auto ready = MakeReplica("b", kNew, ReplicaState::kReady, false, kT0 + seconds(1));
  const auto booting = MakeReplica("c", kNew, ReplicaState::kStarting, false, kT0);
  const auto failing = MakeReplica("d", kNew, ReplicaState::kFailing, false, kT0);
  const auto ready_young = MakeReplica("e", kNew, ReplicaState::kReady, false, kT0 + seconds(9));
  struct Case {
    std::vector<runtime::Replica> replicas;
    int count;
    int want;
  } cases[] = {
      {{serving, ready, booting}, 0, 0},
      {{serving, ready, booting}, 1, 1},  // the serving one stays
      {{serving, ready, booting}, 2, 1},  // then the oldest: booting
      {{serving, ready, booting}, 3, 2},
      {{serving, ready, booting}, 5, 2},  // more to start: they do not serve yet
      {{ready, ready_young}, 1, 1},
      {{booting, ready_young}, 1, 0},     // the youngest leaves, ready or not
      {{failing, ready}, 2, 1},           // the failing one is replaced
      {{failing}, 1, 0},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(stages::ServingAfter(c.replicas, c.count), c.want)
        << c.replicas.size() << " replicas, keep " << c.count;
  }
  EXPECT_EQ(stages::CountServing({serving, ready, booting}), 1);
  EXPECT_EQ(stages::CountReady({serving, ready, booting, failing}), 2);
}

TEST(CanaryStagesTest, ClampStep) {
  CanaryConfig two;
  two.policy.steps = {{0.1, minutes(1)}, {0.5, minutes(1)}};
  const stages::Context ctx = stages::MakeContext(two, 4, kT0);
  EXPECT_EQ(stages::ClampStep(ctx, InPhase(CanaryPhase::kAnalysing, 5)).step, 1);
  EXPECT_EQ(stages::ClampStep(ctx, InPhase(CanaryPhase::kStarting, -1)).step, 0);
  EXPECT_EQ(stages::ClampStep(ctx, InPhase(CanaryPhase::kPromoting, 5)).step, 2);
  EXPECT_EQ(stages::ClampStep(ctx, InPhase(CanaryPhase::kPaused, 2)).step, 2);
}

TEST(CanaryStagesTest, ApplyCommand) {
  const stages::Fleet fleet = FleetOf(ServingReplicas(kOld, 4));
  struct Case {
    CanaryPhase phase;
    Command command;
    int64_t id;
    CanaryPhase want;
    bool applied;
    bool ok;
  } cases[] = {
      {CanaryPhase::kAnalysing, Command::kNone, 5, CanaryPhase::kAnalysing, false, true},
      {CanaryPhase::kAnalysing, Command::kPromote, 5, CanaryPhase::kPromoting, true, true},
      {CanaryPhase::kAnalysing, Command::kPromote, 3, CanaryPhase::kAnalysing, false, true},
      {CanaryPhase::kAnalysing, Command::kPromote, 4, CanaryPhase::kAnalysing, false, true},
      {CanaryPhase::kPaused, Command::kPromoteFull, 5, CanaryPhase::kPromoting, true, true},
      {CanaryPhase::kStarting, Command::kAbort, 5, CanaryPhase::kRollingBack, true, true},
      {CanaryPhase::kAnalysing, Command::kRetry, 5, CanaryPhase::kAnalysing, false, false},
      {CanaryPhase::kRolledBack, Command::kRetry, 5, CanaryPhase::kStarting, true, true},
      {CanaryPhase::kSucceeded, Command::kUndo, 5, CanaryPhase::kRollingBack, true, true},
      {CanaryPhase::kSucceeded, Command::kAbort, 5, CanaryPhase::kSucceeded, false, false},
      {CanaryPhase::kSucceeded, Command::kPromote, 5, CanaryPhase::kSucceeded, true, true},
  };
  for (const Case& c : cases) {
    CanaryStatus st = InPhase(c.phase);
    st.last_command_id = 4;
    const stages::CommandOutcome out = stages::ApplyCommand(Ctx(4), st, c.command, c.id, "", fleet);
    const std::string what = absl::StrCat(std::string(CanaryPhaseName(c.phase)), " + ",
                                          std::string(CommandName(c.command)), " #", c.id);
    EXPECT_EQ(out.status.phase, c.want) << what;
    EXPECT_EQ(out.applied, c.applied) << what;
    EXPECT_EQ(out.command_status.ok(), c.ok) << what;
    const bool consumed = c.command != Command::kNone && c.id > 4;
    EXPECT_EQ(out.status.last_command_id, consumed ? c.id : 4) << what;
  }
  // Details: promote in succeeded releases; retry counts the attempt; abort
  // records the previous revision's ready replicas as progress.
  const auto promote = stages::ApplyCommand(Ctx(4), InPhase(CanaryPhase::kSucceeded),
                                            Command::kPromote, 1, "", fleet);
  EXPECT_TRUE(promote.status.previous_released);
  const auto retry = stages::ApplyCommand(Ctx(4, minutes(3)), InPhase(CanaryPhase::kRolledBack),
                                          Command::kRetry, 1, "", fleet);
  EXPECT_EQ(retry.status.attempt, 2);
  EXPECT_EQ(retry.status.last_progress, kT0 + minutes(3));
  const auto abort =
      stages::ApplyCommand(Ctx(4), InPhase(CanaryPhase::kAnalysing), Command::kAbort, 1, "", fleet);
  EXPECT_EQ(abort.status.serving_at_progress, 4);
  EXPECT_EQ(abort.status.reason, "aborted by the operator");
  // A command given for a reason (an alert) says so.
  const auto alerted = stages::ApplyCommand(Ctx(4), InPhase(CanaryPhase::kAnalysing),
                                            Command::kAbort, 1, "alert X fired", fleet);
  EXPECT_EQ(alerted.status.reason, "alert X fired");
  const auto paused = stages::ApplyCommand(Ctx(4), InPhase(CanaryPhase::kAnalysing),
                                           Command::kPause, 1, "alert Y fired", fleet);
  EXPECT_EQ(paused.status.phase, CanaryPhase::kPaused);
  EXPECT_EQ(paused.status.reason, "alert Y fired");
  EXPECT_FALSE(stages::ApplyCommand(Ctx(4), InPhase(CanaryPhase::kPaused), Command::kPause, 1,
                                    "", fleet)
                   .command_status.ok());
}

TEST(CanaryStagesTest, SkipCanaryWithoutPrevious) {
  const stages::Fleet none;
  EXPECT_EQ(stages::SkipCanaryWithoutPrevious(Ctx(3), InPhase(CanaryPhase::kStarting, 0, 0), none)
                .phase,
            CanaryPhase::kPromoting);
  EXPECT_EQ(stages::SkipCanaryWithoutPrevious(Ctx(3), InPhase(CanaryPhase::kStarting), none).phase,
            CanaryPhase::kStarting);
  EXPECT_EQ(stages::SkipCanaryWithoutPrevious(Ctx(3), InPhase(CanaryPhase::kPaused, 0, 0), none)
                .phase,
            CanaryPhase::kPaused);
}

TEST(CanaryStagesTest, EvaluateTriggers) {
  const auto healthy = MakeReplica("n0", kNew, ReplicaState::kReady, true);
  const auto failing = MakeReplica("n1", kNew, ReplicaState::kFailing, false, {}, "HTTP 500");
  const auto looping = MakeReplica("n2", kNew, ReplicaState::kCrashLooping, false);
  const auto old_failing = MakeReplica("o0", kOld, ReplicaState::kFailing, false, {}, "HTTP 500");
  const std::map<int, std::string> no_start = {{kNew, "image not found"}};
  const std::map<int, std::string> old_no_start = {{kOld, "image not found"}};
  const Analysis rollback{Verdict::kRollback, ""};
  struct Case {
    CanaryPhase phase;
    bool automatic;
    std::vector<runtime::Replica> replicas;
    std::map<int, std::string> cannot_start;
    Analysis analysis;
    CanaryPhase want;
    std::string reason;
  } cases[] = {
      {CanaryPhase::kAnalysing, true, {healthy}, {}, {}, CanaryPhase::kAnalysing, ""},
      {CanaryPhase::kAnalysing, true, {healthy, old_failing}, old_no_start, {},
       CanaryPhase::kAnalysing, ""},  // only the target revision triggers
      {CanaryPhase::kAnalysing, true, {healthy, failing}, {}, {}, CanaryPhase::kRollingBack,
       "replica n1 of revision 2 failed: HTTP 500"},
      {CanaryPhase::kStarting, true, {looping}, {}, {}, CanaryPhase::kRollingBack,
       "replica n2 of revision 2 failed: unhealthy"},
      {CanaryPhase::kStarting, true, {}, no_start, {}, CanaryPhase::kRollingBack,
       "cannot start revision 2: image not found"},
      {CanaryPhase::kPromoting, true, {}, {}, rollback, CanaryPhase::kRollingBack,
       "the analysis failed"},
      {CanaryPhase::kStarting, false, {}, no_start, {}, CanaryPhase::kPaused,
       "cannot start revision 2: image not found; automatic rollback is off: waiting for "
       "promote or abort"},
      {CanaryPhase::kSucceeded, true, {failing}, {}, {}, CanaryPhase::kRollingBack,
       "inside the rollback window: replica n1 of revision 2 failed: HTTP 500"},
      {CanaryPhase::kRolledBack, true, {failing}, no_start, rollback, CanaryPhase::kRolledBack,
       ""},  // not watching
  };
  for (const Case& c : cases) {
    CanaryConfig config;
    config.automatic_rollback = c.automatic;
    const CanaryStatus st = stages::EvaluateTriggers(Ctx(3, Duration(0), config), InPhase(c.phase),
                                                     FleetOf(c.replicas), c.cannot_start,
                                                     c.analysis);
    EXPECT_EQ(st.phase, c.want) << CanaryPhaseName(c.phase);
    EXPECT_EQ(st.reason, c.reason) << CanaryPhaseName(c.phase);
  }
  // First deployment: nothing to go back to.
  const CanaryStatus first = stages::EvaluateTriggers(
      Ctx(3), InPhase(CanaryPhase::kPromoting, 1, 0), FleetOf({failing}, 0), {}, {});
  EXPECT_EQ(first.phase, CanaryPhase::kFailed);
  // Succeeded with automatic rollback off: held warm, once.
  CanaryConfig manual;
  manual.automatic_rollback = false;
  const CanaryStatus held = stages::EvaluateTriggers(
      Ctx(3, Duration(0), manual), InPhase(CanaryPhase::kSucceeded, 1), FleetOf({}), {}, rollback);
  EXPECT_EQ(held.phase, CanaryPhase::kSucceeded);
  EXPECT_TRUE(held.warm_held);
}

TEST(CanaryStagesTest, TrackProgress) {
  const stages::Fleet fleet = FleetOf({
      MakeReplica("n0", kNew, ReplicaState::kReady, true),
      MakeReplica("n1", kNew, ReplicaState::kReady, false),
      MakeReplica("n2", kNew, ReplicaState::kStarting, false),
      MakeReplica("o0", kOld, ReplicaState::kReady, true),
  });
  struct Case {
    CanaryPhase phase;
    int serving_at_progress;
    int want;
    bool progressed;
  } cases[] = {
      {CanaryPhase::kStarting, 1, 2, true},     // ready target replicas
      {CanaryPhase::kPromoting, 2, 2, false},   // no more than before
      {CanaryPhase::kRollingBack, 0, 1, true},  // ready previous replicas
      {CanaryPhase::kAnalysing, 0, 0, false},   // not waiting for replicas
  };
  for (const Case& c : cases) {
    CanaryStatus st = InPhase(c.phase);
    st.serving_at_progress = c.serving_at_progress;
    st = stages::TrackProgress(Ctx(3, minutes(2)), st, fleet);
    EXPECT_EQ(st.serving_at_progress, c.want) << CanaryPhaseName(c.phase);
    EXPECT_EQ(st.last_progress, c.progressed ? kT0 + minutes(2) : kT0) << CanaryPhaseName(c.phase);
  }
}

TEST(CanaryStagesTest, AdvanceClocks) {
  const stages::Fleet fleet = FleetOf(ServingReplicas(kOld, 3));
  const Analysis none;
  const Analysis promote{Verdict::kPromote, ""};
  const Analysis pause{Verdict::kPause, ""};
  const Analysis inconclusive{Verdict::kInconclusive, "thin"};
  struct Case {
    CanaryPhase phase;
    Duration later;
    Analysis analysis;
    CanaryPhase want;
    std::string reason;
  } cases[] = {
      {CanaryPhase::kStarting, minutes(10), none, CanaryPhase::kStarting, ""},
      {CanaryPhase::kStarting, minutes(11), none, CanaryPhase::kRollingBack,
       "the canary replicas of step 1 (10%) did not all become ready within the progress "
       "deadline (10m)"},
      {CanaryPhase::kPromoting, minutes(11), none, CanaryPhase::kRollingBack,
       "revision 2 did not reach 3 ready replicas within the progress deadline (10m)"},
      {CanaryPhase::kStarting, Duration(0), pause, CanaryPhase::kPaused, "paused by the analysis"},
      {CanaryPhase::kAnalysing, minutes(4), promote, CanaryPhase::kAnalysing, ""},
      {CanaryPhase::kAnalysing, minutes(5), promote, CanaryPhase::kPromoting, ""},
      {CanaryPhase::kAnalysing, minutes(5), inconclusive, CanaryPhase::kRollingBack,
       "analysis inconclusive: thin"},
      {CanaryPhase::kAnalysing, minutes(15), none, CanaryPhase::kAnalysing, ""},
      {CanaryPhase::kAnalysing, minutes(16), none, CanaryPhase::kRollingBack,
       "analysis inconclusive: no verdict within 10m after the hold ended"},
      {CanaryPhase::kAnalysing, Duration(0), pause, CanaryPhase::kPaused, "paused by the analysis"},
      {CanaryPhase::kPaused, std::chrono::hours(5), promote, CanaryPhase::kPaused, ""},
      {CanaryPhase::kRollingBack, minutes(10), none, CanaryPhase::kRollingBack, ""},
      {CanaryPhase::kRollingBack, minutes(11), none, CanaryPhase::kFailed,
       "; rollback stalled: revision 1 did not reach 3 ready replicas within the progress "
       "deadline (10m)"},
  };
  for (const Case& c : cases) {
    const CanaryStatus st =
        stages::AdvanceClocks(Ctx(3, c.later), InPhase(c.phase), c.analysis, fleet);
    EXPECT_EQ(st.phase, c.want) << CanaryPhaseName(c.phase) << " +" << c.later.count();
    EXPECT_EQ(st.reason, c.reason) << CanaryPhaseName(c.phase) << " +" << c.later.count();
  }
  // The rollback window: released at its end, not while held warm.
  EXPECT_FALSE(stages::AdvanceClocks(Ctx(3, minutes(4)), InPhase(CanaryPhase::kSucceeded, 1), none,
                                     fleet)
                   .previous_released);
  EXPECT_TRUE(stages::AdvanceClocks(Ctx(3, minutes(5)), InPhase(CanaryPhase::kSucceeded, 1), none,
                                    fleet)
                  .previous_released);
  CanaryStatus held = InPhase(CanaryPhase::kSucceeded, 1);
  held.warm_held = true;
  EXPECT_FALSE(stages::AdvanceClocks(Ctx(3, minutes(50)), held, none, fleet).previous_released);
  // A rollback from the clocks records the previous revision's ready replicas.
  EXPECT_EQ(stages::AdvanceClocks(Ctx(3, minutes(11)), InPhase(CanaryPhase::kStarting), none, fleet)
                .serving_at_progress,
            3);
}

TEST(CanaryStagesTest, PlanReplicas) {
  std::vector<runtime::Replica> old4 = ServingReplicas(kOld, 4);
  std::vector<runtime::Replica> both = old4;
  both.push_back(MakeReplica("n0", kNew, ReplicaState::kReady, true));
  std::vector<runtime::Replica> old_one_failing = both;
  old_one_failing[0].state = ReplicaState::kFailing;
  old_one_failing[0].serving = false;
  std::vector<runtime::Replica> new_only = {
      MakeReplica("n0", kNew, ReplicaState::kReady, true),
      MakeReplica("n1", kNew, ReplicaState::kStarting, false)};
  std::vector<runtime::Replica> with_stray = {MakeReplica("o0", kOld, ReplicaState::kReady, true),
                                              MakeReplica("s0", 7, ReplicaState::kReady, true),
                                              MakeReplica("s1", 7, ReplicaState::kStarting, false)};
  struct Case {
    const char* name;
    CanaryStatus status;
    std::vector<runtime::Replica> replicas;
    stages::ReplicaCounts want;
  };
  CanaryStatus released = InPhase(CanaryPhase::kSucceeded, 1);
  released.previous_released = true;
  const Case cases[] = {
      {"starting", InPhase(CanaryPhase::kStarting), both, {4, 1, 4, 1, {}}},
      {"paused mid", InPhase(CanaryPhase::kPaused, 0), both, {4, 1, 4, 1, {}}},
      {"paused after the last step", InPhase(CanaryPhase::kPaused, 1), both, {4, 4, 4, 1, {}}},
      {"promoting", InPhase(CanaryPhase::kPromoting, 1), both, {4, 4, 4, 1, {}}},
      {"succeeded, warm", InPhase(CanaryPhase::kSucceeded, 1), both, {4, 4, 4, 1, {}}},
      {"warm, one failed", InPhase(CanaryPhase::kSucceeded, 1), old_one_failing, {3, 4, 3, 1, {}}},
      {"released", released, both, {0, 4, 0, 1, {}}},
      {"rolling back, previous serves", InPhase(CanaryPhase::kRollingBack), both,
       {4, 0, 4, 0, {}}},
      {"rolling back, previous not back", InPhase(CanaryPhase::kRollingBack), new_only,
       {4, 1, 0, 1, {}}},
      {"rolled back", InPhase(CanaryPhase::kRolledBack), both, {4, 0, 4, 0, {}}},
      {"first deployment", InPhase(CanaryPhase::kPromoting, 1, 0), new_only, {0, 4, 0, 1, {}}},
      {"stray kept", InPhase(CanaryPhase::kStarting), with_stray, {4, 1, 1, 0, {{7, 1}}}},
  };
  for (const Case& c : cases) {
    const stages::ReplicaCounts got = stages::PlanReplicas(
        Ctx(4), c.status, stages::SortReplicas(c.status, c.replicas));
    EXPECT_EQ(got, c.want) << c.name << ": previous " << got.previous << "/"
                           << got.previous_serving << " target " << got.target << "/"
                           << got.target_serving << " strays " << got.others.size();
  }
  // The stray goes once the staying revision serves at full size.
  std::vector<runtime::Replica> full_with_stray = old4;
  full_with_stray.push_back(MakeReplica("s0", 7, ReplicaState::kReady, true));
  const CanaryStatus st = InPhase(CanaryPhase::kStarting);
  EXPECT_EQ(stages::PlanReplicas(Ctx(4), st, stages::SortReplicas(st, full_with_stray)).others,
            (std::map<int, int>{{7, 0}}));
}

TEST(CanaryStagesTest, SettlePhase) {
  struct Case {
    CanaryPhase phase;
    stages::ReplicaCounts counts;
    CanaryPhase want;
  } cases[] = {
      {CanaryPhase::kStarting, {4, 2, 4, 2, {}}, CanaryPhase::kAnalysing},
      {CanaryPhase::kStarting, {4, 2, 4, 1, {}}, CanaryPhase::kStarting},
      {CanaryPhase::kStarting, {4, 2, 0, 2, {}}, CanaryPhase::kStarting},  // no stable serving
      {CanaryPhase::kPromoting, {4, 4, 4, 3, {}}, CanaryPhase::kPromoting},
      {CanaryPhase::kPromoting, {4, 4, 4, 4, {}}, CanaryPhase::kSucceeded},
      {CanaryPhase::kRollingBack, {4, 0, 3, 0, {}}, CanaryPhase::kRollingBack},
      {CanaryPhase::kRollingBack, {4, 0, 4, 0, {}}, CanaryPhase::kRolledBack},
      {CanaryPhase::kAnalysing, {4, 4, 4, 4, {}}, CanaryPhase::kAnalysing},
      {CanaryPhase::kPaused, {4, 4, 4, 4, {}}, CanaryPhase::kPaused},
  };
  for (const Case& c : cases) {
    CanaryStatus in = InPhase(c.phase, c.phase == CanaryPhase::kPromoting ? 1 : 0);
    in.hold_started_at = TimePoint{};
    const CanaryStatus st = stages::SettlePhase(Ctx(4, minutes(1)), in, c.counts);
    EXPECT_EQ(st.phase, c.want) << CanaryPhaseName(c.phase);
    if (st.phase == CanaryPhase::kAnalysing && c.phase == CanaryPhase::kStarting) {
      EXPECT_EQ(st.hold_started_at, kT0 + minutes(1)) << "the hold starts now";
    }
    if (st.phase == CanaryPhase::kSucceeded) {
      EXPECT_EQ(st.promoted_at, kT0 + minutes(1));
      EXPECT_FALSE(st.previous_released) << "the window is open";
    }
  }
  CanaryConfig no_window;
  no_window.policy.rollback_window = Duration(0);
  EXPECT_TRUE(stages::SettlePhase(Ctx(4, Duration(0), no_window),
                                  InPhase(CanaryPhase::kPromoting, 1), {4, 4, 4, 4, {}})
                  .previous_released);
  EXPECT_TRUE(stages::SettlePhase(Ctx(4), InPhase(CanaryPhase::kPromoting, 1, 0),
                                  {0, 4, 0, 4, {}})
                  .previous_released)
      << "first deployment: nothing to keep warm";
}

TEST(CanaryStagesTest, TargetShareAndPlanTraffic) {
  CanaryConfig config;
  config.policy.steps = {{0.10, minutes(1)}, {0.50, minutes(1)}};
  const stages::Context ctx = stages::MakeContext(config, 10, kT0);
  struct Case {
    const char* name;
    CanaryStatus status;
    stages::ReplicaCounts counts;
    double want;
  } cases[] = {
      {"step 1, its canary serves", InPhase(CanaryPhase::kAnalysing, 0), {10, 1, 10, 1, {}}, 0.10},
      {"no canary serving", InPhase(CanaryPhase::kStarting, 0), {10, 1, 10, 0, {}}, 0.0},
      {"no stable serving", InPhase(CanaryPhase::kStarting, 0), {10, 1, 0, 1, {}}, 0.0},
      {"step 2, 2 of 5 serve", InPhase(CanaryPhase::kStarting, 1), {10, 5, 10, 2, {}}, 0.20},
      {"step 2, 1 of 5: the last step's", InPhase(CanaryPhase::kStarting, 1), {10, 5, 10, 1, {}},
       0.10},
      {"promoting: the last step's", InPhase(CanaryPhase::kPromoting, 2), {10, 10, 10, 3, {}},
       0.50},
      {"succeeded", InPhase(CanaryPhase::kSucceeded, 2), {10, 10, 10, 10, {}}, 1.0},
      {"rolling back", InPhase(CanaryPhase::kRollingBack, 0), {10, 1, 0, 1, {}}, 0.0},
      {"rolled back", InPhase(CanaryPhase::kRolledBack, 0), {10, 0, 10, 0, {}}, 0.0},
      {"first deployment", InPhase(CanaryPhase::kPromoting, 2, 0), {0, 10, 0, 0, {}}, 1.0},
  };
  for (const Case& c : cases) {
    EXPECT_NEAR(stages::TargetShare(ctx, c.status, c.counts), c.want, 1e-12) << c.name;
  }
  EXPECT_TRUE(SamePlan(
      stages::PlanTraffic(ctx, InPhase(CanaryPhase::kAnalysing, 0), {10, 1, 10, 1, {{7, 2}}}),
      Split({{kOld, 10, 0.9}, {kNew, 1, 0.1}, {7, 2, 0.0}})));
  EXPECT_TRUE(SamePlan(
      stages::PlanTraffic(ctx, InPhase(CanaryPhase::kPromoting, 2, 0), {0, 10, 0, 4, {}}),
      Split({{kNew, 10, 1.0}})));
}

// ---------------------------------------------------------------- JSON

TEST(CanaryTest, JsonRoundTrip) {
  CanaryStatus s;
  s.target_revision = 7;
  s.previous_revision = 6;
  s.attempt = 3;
  s.phase = CanaryPhase::kSucceeded;
  s.step = 2;
  s.hold_started_at = TimePoint(std::chrono::milliseconds(1767225600123));
  s.extended = true;
  s.last_progress = TimePoint(std::chrono::milliseconds(1767225601000));
  s.serving_at_progress = 4;
  s.promoted_at = TimePoint(std::chrono::milliseconds(1767225700000));
  s.warm_held = true;
  s.previous_released = false;
  s.reason = "p99 3s > 2s \"quoted\"";
  s.last_command_id = 42;
  const nlohmann::json j = CanaryStatusToJson(s);
  auto back = CanaryStatusFromJson(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, s);
  EXPECT_EQ(j["phase"], "succeeded");
  for (CanaryPhase p : {CanaryPhase::kStarting, CanaryPhase::kAnalysing, CanaryPhase::kPaused,
                        CanaryPhase::kPromoting, CanaryPhase::kSucceeded, CanaryPhase::kRollingBack,
                        CanaryPhase::kRolledBack, CanaryPhase::kFailed}) {
    CanaryStatus t = BeginCanary(2, 1, TimePoint(std::chrono::seconds(5)));
    t.phase = p;
    auto u = CanaryStatusFromJson(CanaryStatusToJson(t));
    ASSERT_TRUE(u.ok()) << u.status();
    EXPECT_EQ(*u, t) << CanaryPhaseName(p);
  }
}

TEST(CanaryTest, BadJsonIsAClearError) {
  const nlohmann::json good = CanaryStatusToJson(BeginCanary(2, 1, TimePoint{}));
  struct Case {
    nlohmann::json json;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({nlohmann::json::array(), "expected an object, got array"});
  cases.push_back({good, ""});
  cases.back().json.erase("phase");
  cases.back().message = "\"phase\" is missing";
  cases.push_back({good, ""});
  cases.back().json["phase"] = "exploded";
  cases.back().message = "\"phase\" is not a canary phase: \"exploded\"";
  cases.push_back({good, ""});
  cases.back().json["attempt"] = 0;
  cases.back().message = "\"attempt\" is out of range (0)";
  cases.push_back({good, ""});
  cases.back().json["step"] = "two";
  cases.back().message = "\"step\" is not an integer";
  cases.push_back({good, ""});
  cases.back().json["extended"] = 1;
  cases.back().message = "\"extended\" is not a boolean";
  cases.push_back({good, ""});
  cases.back().json["target_revision"] = 1e20;
  cases.back().message = "\"target_revision\" is not an integer";
  cases.push_back({good, ""});
  cases.back().json["previous_revision"] = 4294967296;
  cases.back().message = "\"previous_revision\" is out of range (4294967296)";
  cases.push_back({good, ""});
  cases.back().json["reason"] = nullptr;
  cases.back().message = "\"reason\" is not a string";
  for (const Case& c : cases) {
    auto got = CanaryStatusFromJson(c.json);
    ASSERT_FALSE(got.ok()) << c.json.dump();
    EXPECT_TRUE(absl::IsDataLoss(got.status())) << got.status();
    EXPECT_NE(got.status().message().find(c.message), std::string::npos)
        << got.status().message() << " lacks " << c.message;
    EXPECT_NE(got.status().message().find("saved canary state is unreadable"), std::string::npos);
  }
  EXPECT_TRUE(CanaryStatusFromJson(good).ok());
}

TEST(CanaryTest, PendingCommandReadsOnlyAWellFormedCommand) {
  using nlohmann::json;
  EXPECT_EQ(PendingCommand(json::object()), std::make_pair(Command::kNone, int64_t{0}));
  EXPECT_EQ(PendingCommand({{"command", {{"name", "promote"}, {"id", 42}}}}),
            std::make_pair(Command::kPromote, int64_t{42}));
  EXPECT_EQ(PendingCommand({{"command", {{"name", "promote --full"}, {"id", 7}}}}),
            std::make_pair(Command::kPromoteFull, int64_t{7}));
  for (const json& bad : {json{{"command", "promote"}},
                          json{{"command", {{"name", 5}, {"id", 1}}}},
                          json{{"command", {{"name", "undo"}, {"id", "x"}}}},
                          json{{"command", {{"name", "dance"}, {"id", 1}}}}, json::array()}) {
    EXPECT_EQ(PendingCommand(bad), std::make_pair(Command::kNone, int64_t{0})) << bad.dump();
  }
}

TEST(CanaryTest, ProgressSaysWhereTheCanaryIsAndWhenItsHoldOrWindowEnds) {
  spec::CanaryPolicy policy;
  policy.steps = {{0.1, seconds(30)}, {0.5, seconds(60)}};
  policy.rollback_window = minutes(5);
  CanaryStatus st = BeginCanary(2, 1, TimePoint(std::chrono::hours(1)));
  st.phase = CanaryPhase::kAnalysing;
  st.step = 1;
  st.hold_started_at = TimePoint(std::chrono::hours(1));
  nlohmann::json p = CanaryProgressJson(st, policy, 0.5);
  EXPECT_EQ(p["step"], 2);
  EXPECT_EQ(p["steps"], 2);
  EXPECT_DOUBLE_EQ(p["step_weight"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(p["canary_share"].get<double>(), 0.5);
  EXPECT_EQ(p["hold_ends_at"], "1970-01-01T01:01:00.000Z");
  EXPECT_FALSE(p.contains("window_ends_at"));
  st.phase = CanaryPhase::kSucceeded;
  st.step = 2;
  st.promoted_at = TimePoint(std::chrono::hours(2));
  p = CanaryProgressJson(st, policy, 1.0);
  EXPECT_EQ(p["step"], 2) << "never past the last step";
  EXPECT_EQ(p["window_ends_at"], "1970-01-01T02:05:00.000Z");
  EXPECT_FALSE(p.contains("hold_ends_at"));
}

}  // namespace
}  // namespace hut::rollout

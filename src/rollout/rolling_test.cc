#include "src/rollout/rolling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "testing/fake_clock.h"
#include "testing/fake_runtime.h"

namespace hut::rollout {
namespace {

using std::chrono::seconds;

// A small world that carries plans out with the fake runtime: a started
// replica is ready on the next tick when its revision is healthy; a drained
// replica is gone on the next tick.
class World {
 public:
  using Health = testing::FakeRuntime::Health;

  World(int desired, spec::RollingPolicy policy)
      : desired_(desired), policy_(policy), runtime_(clock_) {}

  void SetHealth(int revision, Health h) { runtime_.SetHealth(Version(revision), h); }

  // `count` serving replicas of `revision`.
  void Seed(int revision, int count) {
    const runtime::ServicePlan plan{{{revision, count, 0}}, false};
    runtime_.Apply("web", plan, Templates());
    runtime_.Step();
    runtime_.Apply("web", plan, Templates());
  }

  // Runs ticks until the rollout ends or `max_ticks` pass; checks invariants
  // and that each plan is a fixed point.
  RollingStatus Run(RollingStatus status, int max_ticks = 200) {
    for (int tick = 0; tick < max_ticks; ++tick) {
      const runtime::Observation seen = Observe();
      RollingPlan plan = DecideRolling(policy_, desired_, status, seen, clock_.Now());
      RollingPlan again = DecideRolling(policy_, desired_, plan.status, seen, clock_.Now());
      EXPECT_EQ(again.status, plan.status) << "the plan's own status is a fixed point";
      EXPECT_EQ(again.target, plan.target) << "repeating a plan repeats it";
      status = plan.status;
      size_t changes = 0;
      if (plan.target) {
        for (const runtime::RevisionTarget& r : plan.target->revisions) {
          EXPECT_GE(r.replicas, 0);
        }
        changes = runtime_.Apply("web", *plan.target, Templates()).changes.size();
      }
      CheckInvariants();
      if (IsTerminal(status.phase) && changes == 0) break;
      clock_.Advance(seconds(1));
      runtime_.Step();
    }
    return status;
  }

  runtime::Observation Observe() { return *runtime_.Observe("web"); }
  int Serving(int revision) {
    int n = 0;
    for (const runtime::Replica& r : Observe().replicas) {
      n += r.revision == revision && r.serving && r.state == runtime::ReplicaState::kReady;
    }
    return n;
  }
  int Count() { return static_cast<int>(Observe().replicas.size()); }
  bool EverServed(int revision) { return runtime_.EverServed(Version(revision)); }
  int min_serving_seen() const { return min_serving_seen_; }
  int max_pods_seen() const { return max_pods_seen_; }
  testing::FakeClock& clock() { return clock_; }
  testing::FakeRuntime& fake() { return runtime_; }

 private:
  static std::string Version(int revision) { return "v" + std::to_string(revision); }
  std::map<int, runtime::RevisionTemplate> Templates() const {
    std::map<int, runtime::RevisionTemplate> t;
    for (int revision = 1; revision <= 3; ++revision) {
      t[revision].service = "web";
      t[revision].revision = revision;
      t[revision].version = Version(revision);
      t[revision].health.start_period = std::chrono::hours(1);
    }
    return t;
  }

  void CheckInvariants() {
    int serving = 0, pods = 0;
    for (const runtime::Replica& r : Observe().replicas) {
      if (r.serving && r.state == runtime::ReplicaState::kReady) ++serving;
      if (r.state != runtime::ReplicaState::kDraining) ++pods;
    }
    min_serving_seen_ = std::min(min_serving_seen_, serving);
    max_pods_seen_ = std::max(max_pods_seen_, pods);
  }

  int desired_;
  spec::RollingPolicy policy_;
  testing::FakeClock clock_;
  testing::FakeRuntime runtime_;
  int min_serving_seen_ = 1 << 30;
  int max_pods_seen_ = 0;
};

runtime::Replica R(std::string name, int revision, runtime::ReplicaState state, bool serving,
                   TimePoint started = {}) {
  runtime::Replica r;
  r.name = std::move(name);
  r.revision = revision;
  r.state = state;
  r.serving = serving;
  r.started_at = started;
  return r;
}
runtime::Observation Seen(std::vector<runtime::Replica> replicas) {
  runtime::Observation o;
  o.replicas = std::move(replicas);
  return o;
}
runtime::ServicePlan Plan(std::vector<std::pair<int, int>> counts) {
  runtime::ServicePlan p;
  for (auto [revision, n] : counts) p.revisions.push_back({revision, n, 0});
  return p;
}
constexpr auto kReady = runtime::ReplicaState::kReady;
constexpr auto kStarting = runtime::ReplicaState::kStarting;

RollingStatus Begin(int target, int previous, TimePoint now) {
  RollingStatus s;
  s.target_revision = target;
  s.previous_revision = previous;
  s.last_progress = now;
  return s;
}

TEST(RollingTest, ReplacesOneAtATimeKeepingEveryReplicaServing) {
  World w(3, spec::RollingPolicy{});
  w.Seed(1, 3);
  RollingStatus end = w.Run(Begin(2, 1, w.clock().Now()));
  EXPECT_EQ(end.phase, Phase::kSucceeded);
  EXPECT_EQ(w.Serving(2), 3);
  EXPECT_EQ(w.Count(), 3);
  EXPECT_GE(w.min_serving_seen(), 3);  // maxUnavailable 0
  EXPECT_LE(w.max_pods_seen(), 4);     // maxSurge 1
}

// After the control plane restarted with every replica gone, mid-rollout:
// the stable revision comes back at full size first, then the rollout goes
// on one at a time (with a good release) or rolls back (with a broken one),
// and the stable revision never serves fewer than it did once it is back.
TEST(RollingTest, AfterLosingEveryReplicaTheStableRevisionComesBackFirst) {
  for (World::Health health : {World::Health::kHealthy, World::Health::kNeverReady}) {
    World w(3, spec::RollingPolicy{});
    w.SetHealth(2, health);
    // Nothing runs: the rollout 1 -> 2 was under way when everything died.
    RollingStatus status = Begin(2, 1, w.clock().Now());
    RollingPlan first = DecideRolling(spec::RollingPolicy{}, 3, status, {}, w.clock().Now());
    ASSERT_TRUE(first.target.has_value());
    EXPECT_EQ(*first.target, Plan({{1, 3}, {2, 0}})) << "the stable revision first";
    EXPECT_EQ(first.status.phase, Phase::kProgressing);
    RollingStatus end = w.Run(status, /*max_ticks=*/1000);  // past the 10 min deadline
    if (health == World::Health::kHealthy) {
      EXPECT_EQ(end.phase, Phase::kSucceeded);
      EXPECT_EQ(w.Serving(2), 3);
    } else {
      EXPECT_EQ(end.phase, Phase::kRolledBack);
      EXPECT_EQ(w.Serving(1), 3);
      EXPECT_FALSE(w.EverServed(2));
    }
    EXPECT_LE(w.max_pods_seen(), 4);  // desired + max_surge
  }
}

// Once the stable revision serves again, the surplus of restored replicas
// (a stable replica that became ready after capacity was back) leaves.
TEST(RollingTest, RestoredStableReplicasBeyondNeedLeave) {
  World w(2, spec::RollingPolicy{});
  w.Seed(1, 2);  // capacity is there
  RollingStatus status = Begin(2, 1, w.clock().Now());
  const runtime::Observation seen = Seen({
      R("a", 1, kReady, true),
      R("b", 1, kReady, true),
      R("c", 1, kReady, false),  // restored, not needed
  });
  RollingPlan plan = DecideRolling(spec::RollingPolicy{}, 2, status, seen, w.clock().Now());
  ASSERT_TRUE(plan.target.has_value());
  // Two of the three stay: the runtime lets the one not serving go first.
  EXPECT_EQ(plan.target->Find(1)->replicas, 2);
}

TEST(RollingTest, SurgeAndUnavailableAreHonoured) {
  spec::RollingPolicy p;
  p.max_surge = 2;
  p.max_unavailable = 1;
  World w(4, p);
  w.Seed(1, 4);
  RollingStatus end = w.Run(Begin(2, 1, w.clock().Now()));
  EXPECT_EQ(end.phase, Phase::kSucceeded);
  EXPECT_EQ(w.Serving(2), 4);
  EXPECT_GE(w.min_serving_seen(), 3);
  EXPECT_LE(w.max_pods_seen(), 6);
}

TEST(RollingTest, NeverReadyRevisionRollsBackAtTheDeadlineWithoutTraffic) {
  spec::RollingPolicy p;
  p.progress_deadline = seconds(30);
  World w(3, p);
  w.Seed(1, 3);
  w.SetHealth(2, World::Health::kNeverReady);
  RollingStatus end = w.Run(Begin(2, 1, w.clock().Now()));
  EXPECT_EQ(end.phase, Phase::kRolledBack);
  EXPECT_NE(end.reason.find("progress deadline (30s)"), std::string::npos) << end.reason;
  EXPECT_FALSE(w.EverServed(2));
  EXPECT_EQ(w.Serving(1), 3);
  EXPECT_EQ(w.Count(), 3);
  EXPECT_GE(w.min_serving_seen(), 3);
}

TEST(RollingTest, FailingNewReplicaRollsBackAndNamesIt) {
  World w(3, spec::RollingPolicy{});
  w.Seed(1, 3);
  w.SetHealth(2, World::Health::kFailsAfterReady);
  RollingStatus end = w.Run(Begin(2, 1, w.clock().Now()));
  EXPECT_EQ(end.phase, Phase::kRolledBack);
  EXPECT_NE(end.reason.find("3 consecutive failed health checks"), std::string::npos)
      << end.reason;
  EXPECT_EQ(w.Serving(1), 3);
  EXPECT_EQ(w.Count(), 3);
}

TEST(RollingTest, FirstDeploymentThatNeverBecomesReadyFails) {
  spec::RollingPolicy p;
  p.progress_deadline = seconds(10);
  World w(3, p);
  w.SetHealth(1, World::Health::kNeverReady);
  RollingStatus end = w.Run(Begin(1, 0, w.clock().Now()));
  EXPECT_EQ(end.phase, Phase::kFailed);
  EXPECT_NE(end.reason.find("progress deadline"), std::string::npos);
}

TEST(RollingTest, FirstDeploymentStartsAllWithinSurge) {
  World w(3, spec::RollingPolicy{});
  RollingStatus end = w.Run(Begin(1, 0, w.clock().Now()));
  EXPECT_EQ(end.phase, Phase::kSucceeded);
  EXPECT_EQ(w.Serving(1), 3);
}

TEST(RollingTest, SameInputsSamePlan) {
  testing::FakeClock clock;
  const runtime::Observation seen = Seen({
      R("a", 1, kReady, true, clock.Now()),
      R("b", 1, kReady, true, clock.Now()),
      R("c", 2, kReady, false, clock.Now()),
  });
  RollingStatus s = Begin(2, 1, clock.Now());
  RollingPlan first = DecideRolling({}, 2, s, seen, clock.Now());
  RollingPlan second = DecideRolling({}, 2, s, seen, clock.Now());
  EXPECT_EQ(first.target, second.target);
  EXPECT_EQ(first.status, second.status);
  // c joins, one old replica can leave (3 serving, 2 desired), and the surge
  // allowance starts the next new one.
  EXPECT_EQ(first.target, Plan({{1, 1}, {2, 2}}));
}

TEST(RollingTest, DeadlineCountsFromLastProgress) {
  testing::FakeClock clock;
  spec::RollingPolicy p;
  p.progress_deadline = seconds(60);
  const runtime::Observation seen = Seen({
      R("a", 1, kReady, true, clock.Now()),
      R("n", 2, kStarting, false, clock.Now()),
  });
  RollingStatus s = Begin(2, 1, clock.Now());
  clock.Advance(seconds(60));
  EXPECT_EQ(DecideRolling(p, 1, s, seen, clock.Now()).status.phase, Phase::kProgressing);
  clock.Advance(std::chrono::milliseconds(1));
  RollingPlan late = DecideRolling(p, 1, s, seen, clock.Now());
  // The starting replica of the abandoned revision goes at once; the old
  // one never stopped serving, so the rollback is already complete.
  EXPECT_EQ(late.target, Plan({{1, 1}}));
  EXPECT_EQ(late.status.phase, Phase::kRolledBack);
  EXPECT_NE(late.status.reason.find("progress deadline (1m)"), std::string::npos);
}

// ---------------------------------------------------------------- stages

TEST(RollingStagesTest, EvaluateTriggers) {
  const TimePoint t0 = TimePoint(std::chrono::hours(1));
  spec::RollingPolicy p;
  p.progress_deadline = seconds(60);
  runtime::Replica failing = R("n", 2, runtime::ReplicaState::kFailing, false);
  failing.reason = "3 consecutive failed health checks (last: HTTP 500)";
  runtime::Observation cannot;
  cannot.cannot_start[2] = "no such file";
  runtime::Observation cannot_old;
  cannot_old.cannot_start[1] = "no such file";
  RollingStatus back = Begin(2, 1, t0);
  back.phase = Phase::kRollingBack;
  back.reason = "x";
  struct Case {
    const char* name;
    RollingStatus status;
    runtime::Observation seen;
    TimePoint now;
    Phase phase;
    std::string reason;  // a part of it
  };
  const Case cases[] = {
      {"healthy", Begin(2, 1, t0), Seen({R("n", 2, kReady, true)}), t0, Phase::kProgressing, ""},
      {"failing target replica", Begin(2, 1, t0), Seen({failing}), t0, Phase::kRollingBack,
       "replica n of revision 2 failed: 3 consecutive failed health checks"},
      {"first deployment fails", Begin(2, 0, t0), Seen({failing}), t0, Phase::kFailed,
       "replica n of revision 2 failed"},
      {"cannot start", Begin(2, 1, t0), cannot, t0, Phase::kRollingBack,
       "cannot start revision 2: no such file"},
      {"cannot start the previous", back, cannot_old, t0, Phase::kFailed,
       "rollback failed: cannot start revision 1: no such file"},
      {"deadline not yet", Begin(2, 1, t0), {}, t0 + seconds(60), Phase::kProgressing, ""},
      {"deadline", Begin(2, 1, t0), {}, t0 + seconds(61), Phase::kRollingBack,
       "progress deadline (1m)"},
      {"rollback stalls", back, {}, t0 + seconds(61), Phase::kFailed, "rollback stalled"},
      {"a failing replica after success is not a trigger",
       [&] {
         RollingStatus s = Begin(2, 1, t0);
         s.phase = Phase::kSucceeded;
         return s;
       }(),
       Seen({failing}), t0 + seconds(600), Phase::kSucceeded, ""},
  };
  for (const Case& c : cases) {
    RollingStatus got = EvaluateTriggers(p, c.status, c.seen, c.now);
    EXPECT_EQ(got.phase, c.phase) << c.name;
    EXPECT_NE(got.reason.find(c.reason), std::string::npos) << c.name << ": " << got.reason;
  }
}

TEST(RollingStagesTest, SettleNeedsExactlyTheDesiredReadyReplicasAndNothingElse) {
  const RollingStatus st = Begin(2, 1, TimePoint{});
  const runtime::Observation two_ready =
      Seen({R("a", 2, kReady, true), R("b", 2, kReady, false)});
  EXPECT_EQ(Settle(st, Plan({{2, 2}}), two_ready, 2).phase, Phase::kSucceeded);
  EXPECT_EQ(Settle(st, Plan({{1, 1}, {2, 2}}), two_ready, 2).phase, Phase::kProgressing);
  EXPECT_EQ(Settle(st, Plan({{2, 3}}), two_ready, 2).phase, Phase::kProgressing);
  EXPECT_EQ(Settle(st, Plan({{2, 2}}), Seen({R("a", 2, kReady, true), R("b", 2, kStarting, false)}),
                   2)
                .phase,
            Phase::kProgressing);
  RollingStatus back = st;
  back.phase = Phase::kRollingBack;
  EXPECT_EQ(Settle(back, Plan({{1, 1}}), Seen({R("a", 1, kReady, true)}), 1).phase,
            Phase::kRolledBack);
}

TEST(RollingStagesTest, JsonRoundTripAndBadJson) {
  RollingStatus s = Begin(3, 2, TimePoint(std::chrono::milliseconds(1234)));
  s.phase = Phase::kRollingBack;
  s.reason = "why";
  s.serving_at_progress = 2;
  EXPECT_EQ(*RollingStatusFromJson(RollingStatusToJson(s)), s);
  nlohmann::json bad = RollingStatusToJson(s);
  bad["phase"] = "sideways";
  EXPECT_EQ(RollingStatusFromJson(bad).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(RollingStatusFromJson(nlohmann::json::array()).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace hut::rollout

#include "src/rollout/rolling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "testing/fake_clock.h"

namespace hut::rollout {
namespace {

using std::chrono::seconds;

// A small world that carries out plans the way the controller will: a started
// replica is ready on the next tick when its revision is healthy; a drained
// replica is gone on the next tick.
class World {
 public:
  enum class Health { kHealthy, kNeverReady, kFailsAfterReady };

  World(int desired, spec::RollingPolicy policy) : desired_(desired), policy_(policy) {}

  void SetHealth(int revision, Health h) { health_[revision] = h; }

  void Seed(int revision, int count) {
    for (int i = 0; i < count; ++i) {
      replicas_.push_back({Name(revision), revision, ReplicaState::kReady, true, clock_.Now(), ""});
    }
  }

  // Runs ticks until the rollout ends or `max_ticks` pass; checks invariants.
  RollingStatus Run(RollingStatus status, int max_ticks = 200) {
    for (int tick = 0; tick < max_ticks; ++tick) {
      RollingPlan plan = DecideRolling(policy_, desired_, status, replicas_, clock_.Now());
      status = plan.status;
      Apply(plan.actions);
      CheckInvariants(status);
      if (IsTerminal(status.phase) && plan.actions.empty()) break;
      clock_.Advance(seconds(1));
      Evolve();
    }
    return status;
  }

  int Serving(int revision) const {
    return static_cast<int>(std::count_if(replicas_.begin(), replicas_.end(), [&](auto& r) {
      return r.revision == revision && r.in_load_balancer && r.state == ReplicaState::kReady;
    }));
  }
  int Count() const { return static_cast<int>(replicas_.size()); }
  bool EverServed(int revision) const { return ever_in_lb_.count(revision) > 0; }
  int min_serving_seen() const { return min_serving_seen_; }
  int max_pods_seen() const { return max_pods_seen_; }
  testing::FakeClock& clock() { return clock_; }

 private:
  std::string Name(int revision) { return "r" + std::to_string(revision) + "-" + std::to_string(next_++); }

  void Apply(const std::vector<Action>& actions) {
    for (const Action& a : actions) {
      auto it = std::find_if(replicas_.begin(), replicas_.end(),
                             [&](auto& r) { return r.name == a.replica; });
      switch (a.kind) {
        case ActionKind::kStartReplica:
          replicas_.push_back({Name(a.revision), a.revision, ReplicaState::kStarting, false,
                               clock_.Now(), ""});
          break;
        case ActionKind::kAddToLoadBalancer:
          ASSERT_NE(it, replicas_.end());
          ASSERT_EQ(it->state, ReplicaState::kReady) << "only ready replicas get traffic";
          it->in_load_balancer = true;
          ever_in_lb_.insert(it->revision);
          break;
        case ActionKind::kDrainAndStop:
          ASSERT_NE(it, replicas_.end());
          it->state = ReplicaState::kDraining;
          it->in_load_balancer = false;
          break;
        case ActionKind::kStop:
          ASSERT_NE(it, replicas_.end());
          ASSERT_FALSE(it->in_load_balancer);
          replicas_.erase(it);
          break;
        case ActionKind::kSetWeight:
          FAIL() << "the rolling strategy never changes weights";
      }
    }
  }

  void Evolve() {
    std::erase_if(replicas_, [](auto& r) { return r.state == ReplicaState::kDraining; });
    for (auto& r : replicas_) {
      Health h = health_.count(r.revision) ? health_[r.revision] : Health::kHealthy;
      if (r.state == ReplicaState::kStarting && h != Health::kNeverReady) {
        r.state = ReplicaState::kReady;
      } else if (r.state == ReplicaState::kReady && r.in_load_balancer &&
                 h == Health::kFailsAfterReady) {
        r.state = ReplicaState::kFailed;
        r.failure = "3 consecutive failed health checks";
      }
    }
  }

  void CheckInvariants(const RollingStatus&) {
    int serving = 0, pods = 0;
    for (auto& r : replicas_) {
      if (r.in_load_balancer && r.state == ReplicaState::kReady) ++serving;
      if (r.state != ReplicaState::kDraining) ++pods;
    }
    min_serving_seen_ = std::min(min_serving_seen_, serving);
    max_pods_seen_ = std::max(max_pods_seen_, pods);
  }

  int desired_;
  spec::RollingPolicy policy_;
  testing::FakeClock clock_;
  std::vector<ReplicaView> replicas_;
  std::map<int, Health> health_;
  std::set<int> ever_in_lb_;
  int next_ = 0;
  int min_serving_seen_ = 1 << 30;
  int max_pods_seen_ = 0;
};

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
    ASSERT_EQ(first.actions.size(), 3u);
    for (const Action& a : first.actions) {
      EXPECT_EQ(a.kind, ActionKind::kStartReplica);
      EXPECT_EQ(a.revision, 1) << "the stable revision first";
    }
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
  std::vector<ReplicaView> replicas = {
      {"a", 1, ReplicaState::kReady, true, w.clock().Now(), ""},
      {"b", 1, ReplicaState::kReady, true, w.clock().Now(), ""},
      {"c", 1, ReplicaState::kReady, false, w.clock().Now(), ""},  // restored, not needed
  };
  RollingPlan plan = DecideRolling(spec::RollingPolicy{}, 2, status, replicas, w.clock().Now());
  bool c_leaves = false;
  for (const Action& a : plan.actions) c_leaves |= a.replica == "c" && a.kind == ActionKind::kStop;
  EXPECT_TRUE(c_leaves);
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
  std::vector<ReplicaView> replicas = {
      {"a", 1, ReplicaState::kReady, true, clock.Now(), ""},
      {"b", 1, ReplicaState::kReady, true, clock.Now(), ""},
      {"c", 2, ReplicaState::kReady, false, clock.Now(), ""},
  };
  RollingStatus s = Begin(2, 1, clock.Now());
  RollingPlan first = DecideRolling({}, 2, s, replicas, clock.Now());
  RollingPlan second = DecideRolling({}, 2, s, replicas, clock.Now());
  EXPECT_EQ(first.actions, second.actions);
  EXPECT_EQ(first.status, second.status);
  // c joins, one old replica can leave (3 serving, 2 desired), and the surge
  // allowance starts the next new one.
  EXPECT_EQ(first.actions, (std::vector<Action>{{ActionKind::kAddToLoadBalancer, 0, "c"},
                                                {ActionKind::kDrainAndStop, 0, "a"},
                                                {ActionKind::kStartReplica, 2, ""}}));
}

TEST(RollingTest, DeadlineCountsFromLastProgress) {
  testing::FakeClock clock;
  spec::RollingPolicy p;
  p.progress_deadline = seconds(60);
  std::vector<ReplicaView> replicas = {
      {"a", 1, ReplicaState::kReady, true, clock.Now(), ""},
      {"n", 2, ReplicaState::kStarting, false, clock.Now(), ""},
  };
  RollingStatus s = Begin(2, 1, clock.Now());
  clock.Advance(seconds(60));
  EXPECT_EQ(DecideRolling(p, 1, s, replicas, clock.Now()).status.phase, Phase::kProgressing);
  clock.Advance(std::chrono::milliseconds(1));
  RollingPlan late = DecideRolling(p, 1, s, replicas, clock.Now());
  // The starting replica of the abandoned revision is stopped at once; the old
  // one never stopped serving, so the rollback is already complete.
  EXPECT_EQ(late.actions, (std::vector<Action>{{ActionKind::kStop, 0, "n"}}));
  EXPECT_EQ(late.status.phase, Phase::kRolledBack);
  EXPECT_NE(late.status.reason.find("progress deadline (1m)"), std::string::npos);
}

}  // namespace
}  // namespace hut::rollout

#include "src/rollout/canary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>

#include "testing/fake_clock.h"

namespace hut::rollout {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

constexpr int kOld = 1;  // the stable revision
constexpr int kNew = 2;  // the canary

struct Replica {
  ReplicaView view;
  int weight = 0;
};

double NewShare(const std::vector<Replica>& replicas, int revision) {
  double mine = 0, total = 0;
  for (const Replica& r : replicas) {
    if (!r.view.in_load_balancer || r.view.state != ReplicaState::kReady) continue;
    total += r.weight;
    if (r.view.revision == revision) mine += r.weight;
  }
  return total == 0 ? 0 : mine / total;
}

double TotalWeight(const std::vector<Replica>& replicas) {
  double total = 0;
  for (const Replica& r : replicas) {
    if (r.view.in_load_balancer && r.view.state == ReplicaState::kReady) total += r.weight;
  }
  return total;
}

// A small world that carries out plans the way the controller will: a started
// replica is ready on the next tick when its revision is healthy; a drained
// replica is gone on the next tick. Every tick it checks that the decision is
// repeatable (same inputs, and the plan's own status, give the same plan), that
// actions are legal, that no moment of a plan gives the canary more share than
// before or after it, and that the load balancer never drops every serving
// replica to weight 0.
class World {
 public:
  enum class Health { kHealthy, kNeverReady, kFailsAfterReady };

  explicit World(int desired, CanaryConfig config = {}) : desired_(desired), config_(config) {}

  void SetHealth(int revision, Health h) { health_[revision] = h; }
  void Seed(int revision, int count) {
    for (int i = 0; i < count; ++i) {
      replicas_.push_back({{Name(revision), revision, ReplicaState::kReady, true, clock_.Now(), ""},
                           kNormalWeight});
    }
  }
  // `count` starting replicas of `revision` become ready.
  void MakeReady(int revision, int count) {
    for (Replica& r : replicas_) {
      if (count > 0 && r.view.revision == revision && r.view.state == ReplicaState::kStarting) {
        r.view.state = ReplicaState::kReady;
        --count;
      }
    }
  }
  CanaryStatus Begin(int target = kNew, int previous = kOld) {
    return BeginCanary(target, previous, clock_.Now());
  }

  CanaryObservation Observe(Analysis analysis = {}, Command command = Command::kNone) {
    CanaryObservation o;
    for (const Replica& r : replicas_) {
      o.replicas.push_back(r.view);
      if (r.view.in_load_balancer) o.weights[r.view.name] = r.weight;
    }
    o.analysis = std::move(analysis);
    o.command = command;
    if (command != Command::kNone) o.command_id = ++command_ids_;
    return o;
  }

  // One tick: decide, check, carry out. Time does not move.
  CanaryPlan Tick(CanaryStatus& status, Analysis analysis = {}, Command command = Command::kNone) {
    const CanaryObservation o = Observe(std::move(analysis), command);
    CanaryPlan plan = DecideCanary(config_, desired_, status, o, clock_.Now());
    CanaryPlan again = DecideCanary(config_, desired_, status, o, clock_.Now());
    EXPECT_EQ(again.status, plan.status) << "same inputs, same plan";
    EXPECT_EQ(again.actions, plan.actions) << "same inputs, same plan";
    CanaryPlan replay = DecideCanary(config_, desired_, plan.status, o, clock_.Now());
    EXPECT_EQ(replay.status, plan.status) << "the plan's own status is a fixed point";
    EXPECT_EQ(replay.actions, plan.actions) << "repeating a plan repeats its actions";
    Apply(plan.actions);
    status = plan.status;
    last_plan_ = plan;
    if (phases_.empty() || phases_.back() != status.phase) phases_.push_back(status.phase);
    if (status.phase == CanaryPhase::kStarting || status.phase == CanaryPhase::kAnalysing ||
        status.phase == CanaryPhase::kPaused) {
      min_stable_during_canary_ = std::min(min_stable_during_canary_, Serving(kOld));
    }
    return plan;
  }

  // Time passes: replicas boot, fail and finish draining.
  void Pass(std::chrono::milliseconds d = seconds(1)) {
    clock_.Advance(d);
    std::erase_if(replicas_,
                  [](const Replica& r) { return r.view.state == ReplicaState::kDraining; });
    for (Replica& r : replicas_) {
      Health h = health_.count(r.view.revision) ? health_[r.view.revision] : Health::kHealthy;
      if (r.view.state == ReplicaState::kStarting && h != Health::kNeverReady) {
        r.view.state = ReplicaState::kReady;
      } else if (r.view.state == ReplicaState::kReady && r.view.in_load_balancer &&
                 h == Health::kFailsAfterReady) {
        r.view.state = ReplicaState::kFailed;
        r.view.failure = "3 consecutive failed health checks";
      }
    }
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

  int Serving(int revision) const {
    return static_cast<int>(std::count_if(replicas_.begin(), replicas_.end(), [&](auto& r) {
      return r.view.revision == revision && r.view.in_load_balancer &&
             r.view.state == ReplicaState::kReady;
    }));
  }
  int Running(int revision) const {
    return static_cast<int>(std::count_if(replicas_.begin(), replicas_.end(), [&](auto& r) {
      return r.view.revision == revision && r.view.state != ReplicaState::kDraining;
    }));
  }
  // Weights of the revision's replicas in the load balancer.
  std::vector<int> Weights(int revision) const {
    std::vector<int> w;
    for (const Replica& r : replicas_) {
      if (r.view.revision == revision && r.view.in_load_balancer) w.push_back(r.weight);
    }
    return w;
  }
  double Share(int revision = kNew) const { return NewShare(replicas_, revision); }
  const ReplicaView* Find(int revision, ReplicaState state) const {
    for (const Replica& r : replicas_) {
      if (r.view.revision == revision && r.view.state == state) return &r.view;
    }
    return nullptr;
  }
  bool IsNew(const std::string& name) const {
    for (const Replica& r : replicas_) {
      if (r.view.name == name) return r.view.revision == kNew;
    }
    return false;
  }
  const std::vector<CanaryPhase>& phases() const { return phases_; }
  const CanaryPlan& last_plan() const { return last_plan_; }
  int min_stable_during_canary() const { return min_stable_during_canary_; }
  testing::FakeClock& clock() { return clock_; }
  CanaryConfig& config() { return config_; }

 private:
  std::string Name(int revision) {
    return "r" + std::to_string(revision) + "-" + std::to_string(next_++);
  }

  void Apply(const std::vector<Action>& actions) {
    const double share_before = Share();
    const bool served = TotalWeight(replicas_) > 0;
    std::vector<double> shares;
    for (const Action& a : actions) {
      auto it = std::find_if(replicas_.begin(), replicas_.end(),
                             [&](const Replica& r) { return r.view.name == a.replica; });
      switch (a.kind) {
        case ActionKind::kStartReplica:
          replicas_.push_back(
              {{Name(a.revision), a.revision, ReplicaState::kStarting, false, clock_.Now(), ""},
               0});
          break;
        case ActionKind::kAddToLoadBalancer:
          ASSERT_NE(it, replicas_.end());
          ASSERT_EQ(it->view.state, ReplicaState::kReady) << "only ready replicas get traffic";
          ASSERT_FALSE(it->view.in_load_balancer);
          ASSERT_GE(a.weight, 1);
          ASSERT_LE(a.weight, kMaxWeight);
          it->view.in_load_balancer = true;
          it->weight = a.weight;
          break;
        case ActionKind::kSetWeight:
          ASSERT_NE(it, replicas_.end());
          ASSERT_TRUE(it->view.in_load_balancer) << a.replica;
          ASSERT_GE(a.weight, 0);
          ASSERT_LE(a.weight, kMaxWeight);
          it->weight = a.weight;
          break;
        case ActionKind::kDrainAndStop:
          ASSERT_NE(it, replicas_.end());
          ASSERT_TRUE(it->view.in_load_balancer);
          it->view.state = ReplicaState::kDraining;
          it->view.in_load_balancer = false;
          break;
        case ActionKind::kStop:
          ASSERT_NE(it, replicas_.end());
          ASSERT_FALSE(it->view.in_load_balancer);
          replicas_.erase(it);
          break;
      }
      shares.push_back(Share());
      if (served) {
        ASSERT_GT(TotalWeight(replicas_), 0) << "every serving replica at weight 0 after "
                                             << static_cast<int>(a.kind) << " " << a.replica;
      }
    }
    const double share_after = Share();
    for (double s : shares) {
      ASSERT_LE(s, std::max(share_before, share_after) + 1e-9)
          << "a moment of the plan gave the canary more traffic than before and after it";
    }
  }

  int desired_;
  CanaryConfig config_;
  testing::FakeClock clock_;
  std::vector<Replica> replicas_;
  std::map<int, Health> health_;
  std::vector<CanaryPhase> phases_;
  CanaryPlan last_plan_;
  int next_ = 0;
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
  EXPECT_EQ(first.actions, (std::vector<Action>{{ActionKind::kStartReplica, kNew, ""}}))
      << "one canary replica (10 % of 10), nothing else";
  w.Pass();

  w.Tick(st, {});
  ASSERT_EQ(st.phase, CanaryPhase::kAnalysing);
  const TimePoint hold_start = st.hold_started_at;
  EXPECT_EQ(hold_start, w.clock().Now());
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
  EXPECT_EQ(w.Running(kNew), 10) << "the new revision scales to full size";
  EXPECT_NEAR(w.Share(), 0.10, 1e-9) << "the share holds while it scales";

  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  {
    // The flip: the new replicas join before the previous ones go to 0, so
    // the one canary never carries everything alone.
    const std::vector<Action>& flip = w.last_plan().actions;
    int adds = 0, last_add = -1, first_zero = -1;
    for (int i = 0; i < static_cast<int>(flip.size()); ++i) {
      if (flip[i].kind == ActionKind::kAddToLoadBalancer) {
        ++adds;
        last_add = i;
      }
      if (flip[i].kind == ActionKind::kSetWeight && flip[i].weight == 0 && first_zero < 0) {
        first_zero = i;
      }
    }
    EXPECT_EQ(adds, 9) << "nine new replicas join";
    EXPECT_GT(first_zero, last_add);
  }
  const TimePoint promoted = st.promoted_at;
  EXPECT_EQ(promoted, w.clock().Now());
  EXPECT_DOUBLE_EQ(w.Share(), 1.0);
  EXPECT_EQ(w.Weights(kNew), std::vector<int>(10, kNormalWeight));
  EXPECT_EQ(w.Weights(kOld), std::vector<int>(10, 0)) << "previous revision warm at weight 0";
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
  EXPECT_EQ(release.actions.size(), 10u);
  for (const Action& a : release.actions) EXPECT_EQ(a.kind, ActionKind::kDrainAndStop);
  w.Pass();
  EXPECT_EQ(w.Running(kOld), 0);
  EXPECT_EQ(w.Serving(kNew), 10);
  EXPECT_TRUE(CanaryFinished(st));
  EXPECT_TRUE(w.Tick(st, {}).actions.empty()) << "nothing left to do";

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
  EXPECT_EQ(w.Weights(kOld), std::vector<int>(4, 0));
  EXPECT_EQ(w.min_stable_during_canary(), 4);
}

TEST(CanaryTest, ShareGrowsWithTheCanaryReplicasOfAStep) {
  // 10 % of 20 is two canary replicas; with one ready it takes 5 %, so no
  // canary replica carries more than its part of the step.
  World w(20);
  w.Seed(kOld, 20);
  w.SetHealth(kNew, World::Health::kNeverReady);
  CanaryStatus st = w.Begin();
  w.Tick(st);
  w.Pass();
  EXPECT_EQ(w.Running(kNew), 2);
  EXPECT_DOUBLE_EQ(w.Share(), 0.0) << "no canary ready: no canary traffic";
  // One canary becomes ready.
  w.MakeReady(kNew, 1);
  CanaryPlan plan = w.Tick(st);
  EXPECT_EQ(st.phase, CanaryPhase::kStarting);
  EXPECT_NEAR(w.Share(), 0.05, 1e-9);
  int canary_weight = 0, stable_weight = 0;
  for (const Action& a : plan.actions) {
    if (a.kind == ActionKind::kAddToLoadBalancer) canary_weight = a.weight;
    if (a.kind == ActionKind::kSetWeight) stable_weight = a.weight;
  }
  ASSERT_GT(canary_weight, 0);
  ASSERT_GT(stable_weight, 0);
  EXPECT_NEAR(1.0 * canary_weight / (canary_weight + 20.0 * stable_weight), 0.05, 1e-9);
  // Both ready: the whole 10 % and the hold starts.
  w.SetHealth(kNew, World::Health::kHealthy);
  w.Pass();
  w.Tick(st);
  EXPECT_EQ(st.phase, CanaryPhase::kAnalysing);
  EXPECT_NEAR(w.Share(), 0.10, 1e-9);
}

TEST(CanaryTest, CanaryJoinsOnlyNextToAServingStableRevision) {
  // The stable replicas are all restarting: a ready canary would take all the
  // traffic, so it waits out of the load balancer.
  testing::FakeClock clock;
  CanaryObservation o;
  for (int i = 0; i < 3; ++i) {
    o.replicas.push_back(
        {"old" + std::to_string(i), kOld, ReplicaState::kStarting, true, clock.Now(), ""});
    o.weights["old" + std::to_string(i)] = kNormalWeight;
  }
  o.replicas.push_back({"c0", kNew, ReplicaState::kReady, false, clock.Now(), ""});
  const CanaryStatus st = BeginCanary(kNew, kOld, clock.Now());
  CanaryPlan plan = DecideCanary(CanaryConfig{}, 3, st, o, clock.Now());
  EXPECT_EQ(plan.status.phase, CanaryPhase::kStarting);
  EXPECT_TRUE(plan.actions.empty());
  o.replicas[0].state = ReplicaState::kReady;
  plan = DecideCanary(CanaryConfig{}, 3, st, o, clock.Now());
  EXPECT_EQ(plan.status.phase, CanaryPhase::kAnalysing);
  ASSERT_FALSE(plan.actions.empty());
  EXPECT_EQ(plan.actions.back().kind, ActionKind::kAddToLoadBalancer);
}

TEST(CanaryTest, ExtraCanaryReplicasLeaveThoseNotServingFirst) {
  testing::FakeClock clock;
  CanaryObservation o;
  for (int i = 0; i < 10; ++i) {
    o.replicas.push_back(
        {"old" + std::to_string(i), kOld, ReplicaState::kReady, true, clock.Now(), ""});
  }
  o.replicas.push_back({"c-serving", kNew, ReplicaState::kReady, true, clock.Now(), ""});
  o.replicas.push_back(
      {"c-ready", kNew, ReplicaState::kReady, false, clock.Now() + seconds(1), ""});
  o.replicas.push_back(
      {"c-booting", kNew, ReplicaState::kStarting, false, clock.Now() + seconds(2), ""});
  const WeightSplit split = SplitWeights(1, 10, 0.10);
  for (const ReplicaView& r : o.replicas) {
    o.weights[r.name] = r.revision == kOld ? split.stable : split.canary;
  }
  o.weights.erase("c-ready");
  o.weights.erase("c-booting");
  CanaryStatus st = BeginCanary(kNew, kOld, clock.Now());
  CanaryPlan plan = DecideCanary(CanaryConfig{}, 10, st, o, clock.Now());
  EXPECT_EQ(plan.actions, (std::vector<Action>{{ActionKind::kStop, 0, "c-booting"},
                                               {ActionKind::kStop, 0, "c-ready"}}));
  EXPECT_EQ(plan.status.phase, CanaryPhase::kAnalysing);
}

// ---------------------------------------------------------------- weights

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

TEST(CanaryTest, SplitWeightsExamples) {
  // 1 canary against 9 stable at 10 %: equal weights.
  WeightSplit a = SplitWeights(1, 9, 0.10);
  EXPECT_EQ(a.canary, a.stable);
  EXPECT_NEAR(a.achieved, 0.10, 1e-12);
  // 1 against 3 at 10 %: canary/stable = 1/3; the largest exact pair.
  EXPECT_EQ(SplitWeights(1, 3, 0.10), (WeightSplit{85, 255, 85.0 / 850.0}));
  // 2 against 3 at 50 %: canary/stable = 3/2.
  WeightSplit c = SplitWeights(2, 3, 0.50);
  EXPECT_EQ(c.canary * 2, c.stable * 3);
  EXPECT_NEAR(c.achieved, 0.5, 1e-12);
  // Beyond the range: 1 against 20 at 99 % needs canary/stable = 1980.
  WeightSplit d = SplitWeights(1, 20, 0.99);
  EXPECT_EQ(d, (WeightSplit{256, 1, 256.0 / 276.0}));
  // Below the range: 1 against 3 at 0.1 % needs stable/canary = 333.
  WeightSplit e = SplitWeights(1, 3, 0.001);
  EXPECT_EQ(e.canary, 1);
  EXPECT_EQ(e.stable, 256);
}

TEST(CanaryTest, SplitWeightsIsOptimalForEveryCombination) {
  const double shares[] = {0.01, 0.05, 0.10, 0.15, 0.20, 0.25, 1.0 / 3, 0.40,
                           0.50, 0.60, 0.75, 0.80, 0.90, 0.95, 0.99};
  double max_error = 0, max_relative = 0;
  double max_error_fixed_base = 0;  // Ws = kNormalWeight, Wc rounded: for comparison
  int combos = 0;
  for (int c = 1; c <= 20; ++c) {
    for (int s = 1; s <= 20; ++s) {
      for (double w : shares) {
        const WeightSplit got = SplitWeights(c, s, w);
        ASSERT_GE(got.canary, 1);
        ASSERT_LE(got.canary, kMaxWeight);
        ASSERT_GE(got.stable, 1);
        ASSERT_LE(got.stable, kMaxWeight);
        const double achieved = 1.0 * c * got.canary / (c * got.canary + s * got.stable);
        ASSERT_DOUBLE_EQ(got.achieved, achieved);
        // Brute force over every pair of weights.
        double best = 1;
        for (int wc = 1; wc <= kMaxWeight; ++wc) {
          for (int ws = 1; ws <= kMaxWeight; ++ws) {
            best = std::min(best, std::abs(1.0 * c * wc / (c * wc + s * ws) - w));
          }
        }
        const double error = std::abs(achieved - w);
        ASSERT_LE(error, best + 1e-12) << "c=" << c << " s=" << s << " w=" << w;
        // Inside the representable range the error is HAProxy's resolution only.
        const double lo = 1.0 * c / (c + kMaxWeight * s);
        const double hi = 1.0 * kMaxWeight * c / (kMaxWeight * c + s);
        if (w >= lo && w <= hi) {
          ++combos;
          max_error = std::max(max_error, error);
          max_relative = std::max(max_relative, error / w);
          const int wc = std::clamp(
              static_cast<int>(std::lround(w * s * kNormalWeight / ((1 - w) * c))), 1, kMaxWeight);
          max_error_fixed_base = std::max(
              max_error_fixed_base, std::abs(1.0 * c * wc / (c * wc + s * kNormalWeight) - w));
        }
      }
    }
  }
  std::cout << "SplitWeights over " << combos << " representable (c, s, w): max |error| "
            << max_error << ", max relative " << max_relative
            << "; with a fixed stable weight of 100: max |error| " << max_error_fixed_base << "\n";
  EXPECT_LT(max_error, 1e-3);
  EXPECT_LT(max_relative, 5e-3);
}

TEST(CanaryTest, SplitWeightsIsExactForTheCountsTheStrategyUses) {
  // c = CanaryReplicas(w, N) canaries against N stable replicas.
  double max_error = 0;
  int exact = 0, combos = 0;
  for (int n = 1; n <= 100; ++n) {
    for (double w : {0.01, 0.05, 0.10, 0.20, 0.25, 0.50, 0.75, 0.90, 0.99}) {
      const int c = CanaryReplicas(w, n);
      const double error = std::abs(SplitWeights(c, n, w).achieved - w);
      max_error = std::max(max_error, error);
      exact += error < 1e-12;
      ++combos;
    }
  }
  std::cout << "SplitWeights for c = ceil(w N), s = N, N in 1..100: " << exact << " of " << combos
            << " exact, max |error| " << max_error << "\n";
  EXPECT_LT(max_error, 2e-4);  // worst: N = 51 at 90 %, 46 canaries: 89.984 %
  EXPECT_GT(exact, combos * 9 / 10);
}

// ---------------------------------------------------------------- rollback

struct PhaseCase {
  const char* name;
  CanaryPhase phase;
};

// Drives a fresh world to `phase` and returns it with its status.
void DriveTo(World& w, CanaryStatus& st, CanaryPhase phase) {
  w.Seed(kOld, 20);
  st = w.Begin();
  if (phase == CanaryPhase::kStarting) {
    // Two canary replicas (10 % of 20); one ready and serving, one booting.
    w.SetHealth(kNew, World::Health::kNeverReady);
    w.Tick(st);
    w.Pass();
    w.MakeReady(kNew, 1);
    w.Tick(st);
    return;
  }
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  if (phase == CanaryPhase::kAnalysing) return;
  if (phase == CanaryPhase::kPaused) {
    w.Tick(st, {Verdict::kPause, "error budget low"});
    ASSERT_EQ(st.phase, CanaryPhase::kPaused);
    return;
  }
  if (phase == CanaryPhase::kPromoting) {
    w.Tick(st, {}, Command::kPromote);
    ASSERT_EQ(st.phase, CanaryPhase::kPromoting);
    w.Pass();  // some new replicas ready, not all serving yet
    return;
  }
}

class RollbackInPhase : public ::testing::TestWithParam<PhaseCase> {};

TEST_P(RollbackInPhase, TakesTheCanaryOutOfTrafficFirstInTheSamePlan) {
  World w(20);
  CanaryStatus st;
  DriveTo(w, st, GetParam().phase);
  if (HasFatalFailure()) return;
  ASSERT_EQ(st.phase, GetParam().phase);
  ASSERT_GT(w.Serving(kNew), 0);
  ASSERT_GT(w.Share(), 0);

  CanaryPlan plan = w.Tick(st, {Verdict::kRollback, "error rate 7% > 5% for 2m"});
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack) << "the stable revision is at full size already";
  EXPECT_EQ(st.reason, "error rate 7% > 5% for 2m");
  EXPECT_DOUBLE_EQ(w.Share(), 0.0) << "no canary traffic once the plan is carried out";
  // Every serving canary goes to weight 0 before anything else happens.
  const int serving_canaries = static_cast<int>(std::count_if(
      plan.actions.begin(), plan.actions.end(),
      [&](const Action& a) { return a.kind == ActionKind::kDrainAndStop && w.IsNew(a.replica); }));
  ASSERT_GT(serving_canaries, 0);
  ASSERT_GE(plan.actions.size(), static_cast<size_t>(serving_canaries));
  for (int i = 0; i < serving_canaries; ++i) {
    EXPECT_EQ(plan.actions[i].kind, ActionKind::kSetWeight) << i;
    EXPECT_EQ(plan.actions[i].weight, 0) << i;
    EXPECT_TRUE(w.IsNew(plan.actions[i].replica)) << i;
  }
  for (const Action& a : plan.actions) {
    EXPECT_NE(a.kind, ActionKind::kStartReplica) << "a rollback starts nothing";
  }
  w.Pass();
  w.Tick(st);
  EXPECT_EQ(w.Running(kNew), 0);
  EXPECT_EQ(w.Serving(kOld), 20);
  EXPECT_EQ(w.Weights(kOld), std::vector<int>(20, kNormalWeight));
  EXPECT_TRUE(CanaryFinished(st));
}

INSTANTIATE_TEST_SUITE_P(Phases, RollbackInPhase,
                         ::testing::Values(PhaseCase{"starting", CanaryPhase::kStarting},
                                           PhaseCase{"analysing", CanaryPhase::kAnalysing},
                                           PhaseCase{"paused", CanaryPhase::kPaused},
                                           PhaseCase{"promoting", CanaryPhase::kPromoting}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(CanaryTest, RollbackAtAHighStepTakesTheCanaryOutBeforeTheStableComesUp) {
  // At 90 % the stable replicas run below the normal weight (2 canaries
  // against 2 stable: 252 and 28). Going back raises
  // them to 100, but only after the canaries are at 0.
  CanaryConfig config;
  config.policy.weight = 0.90;
  World w(2, config);
  w.Seed(kOld, 2);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kAnalysing)));
  EXPECT_NEAR(w.Share(), 0.90, 1e-9);
  ASSERT_EQ(w.Weights(kOld), (std::vector<int>{28, 28}));
  CanaryPlan plan = w.Tick(st, {Verdict::kRollback, "error rate 6% > 5% for 2m"});
  EXPECT_EQ(st.phase, CanaryPhase::kRolledBack);
  ASSERT_EQ(plan.actions.size(), 6u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(plan.actions[i].kind, ActionKind::kSetWeight);
    EXPECT_TRUE(w.IsNew(plan.actions[i].replica));
    EXPECT_EQ(plan.actions[i].weight, 0);
  }
  for (int i = 2; i < 4; ++i) {
    EXPECT_EQ(plan.actions[i].kind, ActionKind::kSetWeight);
    EXPECT_FALSE(w.IsNew(plan.actions[i].replica));
    EXPECT_EQ(plan.actions[i].weight, kNormalWeight);
  }
  EXPECT_EQ(plan.actions[4].kind, ActionKind::kDrainAndStop);
  EXPECT_EQ(plan.actions[5].kind, ActionKind::kDrainAndStop);
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
  // A weight flip: the warm previous revision comes back first (it is at 0,
  // so taking the new one to 0 first would leave nothing serving), then the
  // new revision goes to 0, then it drains. No replica starts.
  ASSERT_EQ(plan.actions.size(), 15u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(plan.actions[i].kind, ActionKind::kSetWeight);
    EXPECT_FALSE(w.IsNew(plan.actions[i].replica));
    EXPECT_EQ(plan.actions[i].weight, kNormalWeight);
  }
  for (int i = 5; i < 10; ++i) {
    EXPECT_EQ(plan.actions[i].kind, ActionKind::kSetWeight);
    EXPECT_EQ(plan.actions[i].weight, 0);
  }
  for (int i = 10; i < 15; ++i) EXPECT_EQ(plan.actions[i].kind, ActionKind::kDrainAndStop);
  EXPECT_DOUBLE_EQ(w.Share(kOld), 1.0);
}

TEST(CanaryTest, FailedCanaryReplicaRollsBackAtOnce) {
  World w(10);
  w.Seed(kOld, 10);
  w.SetHealth(kNew, World::Health::kFailsAfterReady);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kRolledBack), 10));
  EXPECT_NE(st.reason.find("of revision 2 failed: 3 consecutive failed health checks"),
            std::string::npos)
      << st.reason;
  EXPECT_NE(st.reason.find("replica r2-"), std::string::npos) << st.reason;
  w.Pass();
  w.Tick(st);
  EXPECT_EQ(w.Running(kNew), 0);
  EXPECT_EQ(w.Serving(kOld), 10);
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
  EXPECT_EQ(plan.actions, (std::vector<Action>{{ActionKind::kStop, 0, "r2-10"}}));
}

TEST(CanaryTest, RollbackThatCannotBringThePreviousBackFailsAndKeepsServing) {
  // Inside the window the warm previous replicas died; the rollback starts
  // new ones, which never become ready: the new revision keeps serving and
  // the rollout fails at the deadline for a human to decide.
  World w(3);
  w.Seed(kOld, 3);
  CanaryStatus st = w.Begin();
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  w.SetHealth(kOld, World::Health::kNeverReady);
  // The warm replicas crash: the runtime reports them failed; they are stopped.
  CanaryObservation o = w.Observe();
  for (ReplicaView& r : o.replicas) {
    if (r.revision == kOld) r.state = ReplicaState::kFailed;
  }
  CanaryPlan crashed = DecideCanary(w.config(), 3, st, o, w.clock().Now());
  EXPECT_EQ(crashed.status.phase, CanaryPhase::kSucceeded) << "old replicas failing is no trigger";
  int drains = 0;
  for (const Action& a : crashed.actions) drains += a.kind == ActionKind::kDrainAndStop;
  EXPECT_EQ(drains, 3);
  // Undo now: nothing warm to flip to.
  World w2(3);
  w2.SetHealth(kOld, World::Health::kNeverReady);
  w2.Seed(kNew, 3);
  CanaryStatus s2 = st;
  s2.last_command_id = 0;
  CanaryPlan undo = w2.Tick(s2, {}, Command::kUndo);
  EXPECT_EQ(s2.phase, CanaryPhase::kRollingBack);
  EXPECT_EQ(undo.actions, (std::vector<Action>{{ActionKind::kStartReplica, kOld, ""},
                                               {ActionKind::kStartReplica, kOld, ""},
                                               {ActionKind::kStartReplica, kOld, ""}}))
      << "the new revision keeps serving until the previous one is back";
  w2.clock().Advance(minutes(10) + seconds(1));
  w2.Pass();
  w2.Tick(s2);
  EXPECT_EQ(s2.phase, CanaryPhase::kFailed);
  EXPECT_NE(s2.reason.find("rollback stalled"), std::string::npos) << s2.reason;
  EXPECT_EQ(w2.Serving(kNew), 3);
  EXPECT_TRUE(w2.Tick(s2).actions.empty()) << "failed: a human decides";
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
  ASSERT_FALSE(abort.actions.empty());
  EXPECT_EQ(abort.actions[0].kind, ActionKind::kSetWeight);
  EXPECT_EQ(abort.actions[0].weight, 0);
  w.Pass();

  w.clock().Advance(minutes(30));
  CanaryPlan retry = w.Tick(st, {}, Command::kRetry);
  EXPECT_TRUE(retry.command_status.ok());
  EXPECT_EQ(st.phase, CanaryPhase::kStarting);
  EXPECT_EQ(st.attempt, 2);
  EXPECT_EQ(st.step, 0);
  EXPECT_EQ(st.reason, "");
  EXPECT_EQ(st.last_progress, w.clock().Now()) << "a fresh progress deadline";
  EXPECT_EQ(retry.actions, (std::vector<Action>{{ActionKind::kStartReplica, kNew, ""}}));
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  EXPECT_EQ(st.attempt, 2);
}

TEST(CanaryTest, UndoInsideTheWindowIsAWeightFlip) {
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
  for (const Action& a : undo.actions) {
    EXPECT_NE(a.kind, ActionKind::kStartReplica) << "no cold start";
    EXPECT_NE(a.kind, ActionKind::kAddToLoadBalancer);
  }
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
  std::vector<ReplicaView> replicas;
  for (int i = 0; i < 10; ++i) {
    replicas.push_back(
        {"old" + std::to_string(i), kOld, ReplicaState::kReady, true, clock.Now(), ""});
  }
  replicas.push_back({"canary", kNew, ReplicaState::kReady, true, clock.Now(), ""});
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
  EXPECT_EQ(plan.actions.size(), 3u);
  ASSERT_TRUE(w.RunUntil(st, PhaseIs(CanaryPhase::kSucceeded)));
  EXPECT_TRUE(st.previous_released);
  EXPECT_TRUE(CanaryFinished(st));
  EXPECT_EQ(w.Weights(kNew), std::vector<int>(3, kNormalWeight));
  // A failure now has nothing to go back to.
  EXPECT_TRUE(absl::IsFailedPrecondition(CheckCommand(st, Command::kUndo)));
}

// ---------------------------------------------------------------- purity

TEST(CanaryTest, SameInputsGiveTheSamePlan) {
  CanaryConfig config;
  testing::FakeClock clock;
  CanaryObservation o;
  for (int i = 0; i < 6; ++i) {
    o.replicas.push_back(
        {"old" + std::to_string(i), kOld, ReplicaState::kReady, true, clock.Now(), ""});
    o.weights["old" + std::to_string(i)] = kNormalWeight;
  }
  o.replicas.push_back({"c0", kNew, ReplicaState::kReady, false, clock.Now(), ""});
  CanaryStatus st = BeginCanary(kNew, kOld, clock.Now());
  const CanaryPlan a = DecideCanary(config, 6, st, o, clock.Now());
  const CanaryPlan b = DecideCanary(config, 6, st, o, clock.Now());
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.actions, b.actions);
  EXPECT_EQ(a.status.phase, CanaryPhase::kAnalysing);
  // Repeating with the plan's own status (the controller crashed before the
  // actions took effect) gives the same actions again.
  const CanaryPlan c = DecideCanary(config, 6, a.status, o, clock.Now());
  EXPECT_EQ(c.status, a.status);
  EXPECT_EQ(c.actions, a.actions);
  // The canary joins with its exact weight; the stable replicas are
  // re-weighted first so the share never overshoots.
  ASSERT_FALSE(a.actions.empty());
  EXPECT_EQ(a.actions.back().kind, ActionKind::kAddToLoadBalancer);
  const WeightSplit split = SplitWeights(1, 6, 0.10);
  EXPECT_EQ(a.actions.back().weight, split.canary);
  for (size_t i = 0; i + 1 < a.actions.size(); ++i) {
    EXPECT_EQ(a.actions[i].kind, ActionKind::kSetWeight);
    EXPECT_EQ(a.actions[i].weight, split.stable);
  }
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

}  // namespace
}  // namespace hut::rollout

#include "src/local/replica_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <random>

namespace hut::local {
namespace {

using runtime::ReplicaState;
using runtime::ServicePlan;

constexpr int kOld = 1;
constexpr int kNew = 2;

TimePoint At(int seconds) { return TimePoint(std::chrono::seconds(seconds)); }

ReplicaSlot Serving(std::string name, int revision, int weight = kNormalWeight, int started = 0) {
  return {std::move(name), revision, ReplicaState::kReady, true, weight, At(started)};
}
ReplicaSlot Booting(std::string name, int revision, int started = 0) {
  return {std::move(name), revision, ReplicaState::kStarting, false, 0, At(started)};
}
ReplicaSlot ReadyOut(std::string name, int revision, int started = 0) {
  return {std::move(name), revision, ReplicaState::kReady, false, 0, At(started)};
}

ServicePlan Rolling(std::vector<std::pair<int, int>> counts) {
  ServicePlan plan;
  for (auto [revision, n] : counts) plan.revisions.push_back({revision, n, 0});
  return plan;
}
ServicePlan Split(int old_n, double old_share, int new_n, double new_share) {
  return {{{kOld, old_n, old_share}, {kNew, new_n, new_share}}, true};
}

int Count(const std::vector<Step>& steps, StepKind kind, int revision = 0) {
  return static_cast<int>(std::count_if(steps.begin(), steps.end(), [&](const Step& s) {
    return s.kind == kind && (revision == 0 || s.revision == revision);
  }));
}

// The world after each step: weights of the serving replicas, to check the
// shares at every moment of a plan.
class Replay {
 public:
  explicit Replay(std::vector<ReplicaSlot> replicas) : replicas_(std::move(replicas)) {}
  double Share(int revision) const {
    double mine = 0, total = 0;
    for (const ReplicaSlot& r : replicas_) {
      if (!r.in_load_balancer || r.state != ReplicaState::kReady) continue;
      total += r.weight;
      if (r.revision == revision) mine += r.weight;
    }
    return total == 0 ? 0 : mine / total;
  }
  double Total() const {
    double total = 0;
    for (const ReplicaSlot& r : replicas_) {
      if (r.in_load_balancer && r.state == ReplicaState::kReady) total += r.weight;
    }
    return total;
  }
  void Take(const Step& s) {
    auto it = std::find_if(replicas_.begin(), replicas_.end(),
                           [&](const ReplicaSlot& r) { return r.name == s.replica; });
    switch (s.kind) {
      case StepKind::kStart:
        replicas_.push_back(Booting("new-" + std::to_string(replicas_.size()), s.revision));
        return;
      case StepKind::kJoin:
        ASSERT_NE(it, replicas_.end());
        ASSERT_EQ(it->state, ReplicaState::kReady) << "only ready replicas get traffic";
        ASSERT_FALSE(it->in_load_balancer);
        it->in_load_balancer = true;
        it->weight = s.weight;
        return;
      case StepKind::kSetWeight:
        ASSERT_NE(it, replicas_.end());
        ASSERT_TRUE(it->in_load_balancer) << s.replica;
        ASSERT_GE(s.weight, 0);
        ASSERT_LE(s.weight, kMaxWeight);
        it->weight = s.weight;
        return;
      case StepKind::kDrainAndStop:
        ASSERT_NE(it, replicas_.end());
        ASSERT_TRUE(it->in_load_balancer);
        it->state = ReplicaState::kDraining;
        it->in_load_balancer = false;
        return;
      case StepKind::kStop:
        ASSERT_NE(it, replicas_.end());
        ASSERT_FALSE(it->in_load_balancer);
        replicas_.erase(it);
        return;
    }
  }

 private:
  std::vector<ReplicaSlot> replicas_;
};

// ---------------------------------------------------------------- rolling

TEST(PlanStepsTest, RollingStartsJoinsAndLetsOtherRevisionsGo) {
  const std::vector<ReplicaSlot> now = {Serving("a", kOld), Booting("b", kOld),
                                        ReadyOut("c", kNew), Booting("d", kNew)};
  const std::vector<Step> steps = PlanSteps(Rolling({{kNew, 3}}), now);
  const std::vector<Step> expected = {{StepKind::kJoin, "c", kNew, kNormalWeight},
                                      {StepKind::kDrainAndStop, "a", kOld, 0},
                                      {StepKind::kStop, "b", kOld, 0},
                                      {StepKind::kStart, "", kNew, 0}};
  EXPECT_EQ(steps, expected);
}

TEST(PlanStepsTest, ExtraReplicasLeaveThoseNotServingFirstThenTheYoungest) {
  const std::vector<ReplicaSlot> now = {Serving("old", kOld, kNormalWeight, 1),
                                        Serving("young", kOld, kNormalWeight, 5),
                                        Booting("booting", kOld, 3), ReadyOut("ready", kOld, 2)};
  // Two of four stay: the two serving ones.
  std::vector<Step> steps = PlanSteps(Rolling({{kOld, 2}}), now);
  EXPECT_EQ(steps, (std::vector<Step>{{StepKind::kStop, "booting", kOld, 0},
                                      {StepKind::kStop, "ready", kOld, 0}}));
  // One stays: the oldest serving one.
  steps = PlanSteps(Rolling({{kOld, 1}}), now);
  EXPECT_EQ(Count(steps, StepKind::kDrainAndStop), 1);
  EXPECT_EQ(steps.back(), (Step{StepKind::kDrainAndStop, "young", kOld, 0}));
}

TEST(PlanStepsTest, UnhealthyReplicasAreReplacedAndDrainingOnesIgnored) {
  std::vector<ReplicaSlot> now = {Serving("a", kOld), Serving("b", kOld), Booting("c", kOld)};
  now[1].state = ReplicaState::kFailing;
  now[2].state = ReplicaState::kCrashLooping;
  now.push_back({"gone", kOld, ReplicaState::kDraining, false, 0, At(0)});
  const std::vector<Step> steps = PlanSteps(Rolling({{kOld, 3}}), now);
  EXPECT_EQ(steps, (std::vector<Step>{{StepKind::kDrainAndStop, "b", kOld, 0},
                                      {StepKind::kStop, "c", kOld, 0},
                                      {StepKind::kStart, "", kOld, 0},
                                      {StepKind::kStart, "", kOld, 0}}));
}

TEST(PlanStepsTest, SamePlanOnTheWorldItMadeAsksForNothing) {
  const std::vector<ReplicaSlot> now = {Serving("a", kOld), Serving("b", kOld)};
  EXPECT_TRUE(PlanSteps(Rolling({{kOld, 2}}), now).empty());
  const WeightSplit w = SplitWeights(1, 2, 0.1);
  const std::vector<ReplicaSlot> split = {Serving("a", kOld, w.stable), Serving("b", kOld, w.stable),
                                          Serving("c", kNew, w.canary)};
  EXPECT_TRUE(PlanSteps(Split(2, 0.9, 1, 0.1), split).empty());
}

// ---------------------------------------------------------------- split

TEST(PlanStepsTest, SplitGivesEachRevisionItsShareWhateverTheCounts) {
  const std::vector<ReplicaSlot> now = {Serving("o1", kOld), Serving("o2", kOld),
                                        Serving("o3", kOld), ReadyOut("n1", kNew)};
  Replay world(now);
  for (const Step& s : PlanSteps(Split(3, 0.9, 1, 0.1), now)) world.Take(s);
  EXPECT_NEAR(world.Share(kNew), 0.10, 1e-3);
}

TEST(PlanStepsTest, ARevisionWithoutServingReplicasLeavesTheTrafficToTheOthers) {
  // The canary is not ready yet: the stable revision keeps its full weight.
  const std::vector<ReplicaSlot> now = {Serving("o1", kOld), Booting("n1", kNew)};
  EXPECT_TRUE(PlanSteps(Split(1, 0.9, 1, 0.1), now).empty());
}

TEST(PlanStepsTest, FailsOpenWhenEveryServingRevisionHasShareZero) {
  // Rolling back before the previous revision is back: the new replicas
  // keep serving meanwhile.
  const std::vector<ReplicaSlot> now = {Serving("n1", kNew, 40), Booting("o1", kOld)};
  const std::vector<Step> steps = PlanSteps(Split(1, 1.0, 1, 0.0), now);
  EXPECT_EQ(steps, (std::vector<Step>{{StepKind::kSetWeight, "n1", kNew, kNormalWeight}}));
}

TEST(PlanStepsTest, ALeavingCanaryLeavesTrafficBeforeAnythingElse) {
  const WeightSplit w = SplitWeights(2, 4, 0.5);
  std::vector<ReplicaSlot> now;
  for (int i = 0; i < 4; ++i) now.push_back(Serving("o" + std::to_string(i), kOld, w.stable));
  for (int i = 0; i < 2; ++i) now.push_back(Serving("n" + std::to_string(i), kNew, w.canary));
  const std::vector<Step> steps = PlanSteps(Split(4, 1.0, 0, 0.0), now);
  ASSERT_GE(steps.size(), 2u);
  EXPECT_EQ(steps[0], (Step{StepKind::kSetWeight, "n0", kNew, 0}));
  EXPECT_EQ(steps[1], (Step{StepKind::kSetWeight, "n1", kNew, 0}));
  EXPECT_EQ(Count(steps, StepKind::kDrainAndStop, kNew), 2);
  EXPECT_EQ(Count(steps, StepKind::kSetWeight, kOld), 4);  // back to a full weight each
}

TEST(PlanStepsTest, AWarmRevisionComesBackBeforeTheNewOneLeaves) {
  // Undo inside the rollback window: the previous revision is at weight 0.
  std::vector<ReplicaSlot> now = {Serving("o1", kOld, 0), Serving("o2", kOld, 0),
                                  Serving("n1", kNew), Serving("n2", kNew)};
  const std::vector<Step> steps = PlanSteps(Split(2, 1.0, 0, 0.0), now);
  ASSERT_EQ(steps.size(), 6u);
  EXPECT_EQ(steps[0].replica.front(), 'o');
  EXPECT_EQ(steps[1].replica.front(), 'o');
  Replay world(now);
  for (const Step& s : steps) {
    world.Take(s);
    EXPECT_GT(world.Total(), 0) << "every serving replica at weight 0";
  }
  EXPECT_DOUBLE_EQ(world.Share(kOld), 1.0);
}

// Every moment of every plan between random splits: the newest revision never
// has more than the larger of its shares before and after, and the serving
// replicas never all sit at weight 0.
TEST(PlanStepsTest, NoMomentGivesTheNewestMoreThanBeforeAndAfter) {
  std::mt19937 random(7);
  const double shares[] = {0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0};
  int plans = 0;
  for (int round = 0; round < 3000; ++round) {
    const int olds = 1 + random() % 6, news = random() % 5;
    std::vector<ReplicaSlot> now;
    for (int i = 0; i < olds; ++i) {
      now.push_back(Serving("o" + std::to_string(i), kOld, random() % 2 ? 0 : 1 + random() % 256, i));
    }
    for (int i = 0; i < news; ++i) {
      ReplicaSlot r = random() % 3 ? Serving("n" + std::to_string(i), kNew, random() % 257, i)
                                   : ReadyOut("n" + std::to_string(i), kNew, i);
      now.push_back(r);
    }
    const double share = shares[random() % std::size(shares)];
    const ServicePlan plan = Split(olds, 1 - share, static_cast<int>(random() % 6), share);
    Replay world(now);
    const double before = world.Share(kNew);
    const bool served = world.Total() > 0;
    std::vector<double> moments;
    for (const Step& s : PlanSteps(plan, now)) {
      world.Take(s);
      moments.push_back(world.Share(kNew));
      if (served) ASSERT_GT(world.Total(), 0) << "round " << round;
    }
    const double after = world.Share(kNew);
    for (double m : moments) ASSERT_LE(m, std::max(before, after) + 1e-9) << "round " << round;
    ++plans;
  }
  EXPECT_EQ(plans, 3000);
}

// ---------------------------------------------------------------- weights

TEST(SplitWeightsTest, Examples) {
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

TEST(SplitWeightsTest, IsOptimalForEveryCombination) {
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

TEST(SplitWeightsTest, IsExactForTheCountsACanaryUses) {
  // c = max(1, ceil(w N)) canaries (the canary strategy's count) against N
  // stable replicas.
  double max_error = 0;
  int exact = 0, combos = 0;
  for (int n = 1; n <= 100; ++n) {
    for (double w : {0.01, 0.05, 0.10, 0.20, 0.25, 0.50, 0.75, 0.90, 0.99}) {
      const int c = std::clamp(static_cast<int>(std::ceil(w * n - 1e-9)), 1, n);
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

}  // namespace
}  // namespace hut::local

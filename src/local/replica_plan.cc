#include "src/local/replica_plan.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace hut::local {

WeightSplit SplitWeights(int canary_replicas, int stable_replicas, double share) {
  const double c = std::max(canary_replicas, 1);
  const double s = std::max(stable_replicas, 1);
  share = std::clamp(share, 0.0, 1.0);
  auto achieved = [&](int wc, int ws) { return c * wc / (c * wc + s * ws); };
  // share = c*Wc / (c*Wc + s*Ws)  <=>  Wc/Ws = share*s / ((1-share)*c) = ratio.
  // The achieved share grows with Wc, so for each Ws the best Wc is one of the
  // two integers around ratio*Ws.
  const double ratio =
      share >= 1.0 ? std::numeric_limits<double>::infinity() : share * s / ((1.0 - share) * c);
  WeightSplit best{kMaxWeight, 1, achieved(kMaxWeight, 1)};
  double best_error = std::numeric_limits<double>::infinity();
  for (int ws = kMaxWeight; ws >= 1; --ws) {
    const double ideal = std::min(ratio * ws, static_cast<double>(kMaxWeight));
    const int low = static_cast<int>(std::floor(ideal));
    for (int wc : {low, low + 1}) {
      wc = std::clamp(wc, 1, kMaxWeight);
      const double a = achieved(wc, ws);
      const double error = std::abs(a - share);
      if (error < best_error - 1e-12) {
        best_error = error;
        best = {wc, ws, a};
      }
    }
  }
  return best;
}

namespace {

using runtime::ReplicaState;

bool Serving(const ReplicaSlot& r) { return r.in_load_balancer && r.state == ReplicaState::kReady; }

struct Choice {
  std::vector<const ReplicaSlot*> kept;
  std::vector<const ReplicaSlot*> leaving;
};

// Unhealthy replicas, those of revisions the plan does not keep, and each
// revision's extras (not serving first, then the youngest) leave.
Choice ChooseLeaving(const runtime::ServicePlan& plan, const std::vector<ReplicaSlot>& replicas) {
  Choice choice;
  std::map<int, std::vector<const ReplicaSlot*>> by_revision;
  for (const ReplicaSlot& r : replicas) {
    if (r.state == ReplicaState::kDraining) continue;
    const runtime::RevisionTarget* t = plan.Find(r.revision);
    if (t == nullptr || t->replicas <= 0 || runtime::Unhealthy(r.state)) {
      choice.leaving.push_back(&r);
    } else {
      by_revision[r.revision].push_back(&r);
    }
  }
  for (auto& [revision, list] : by_revision) {
    std::stable_sort(list.begin(), list.end(), [](const ReplicaSlot* a, const ReplicaSlot* b) {
      if (Serving(*a) != Serving(*b)) return !Serving(*a);
      return a->started_at > b->started_at;
    });
    const int extra = static_cast<int>(list.size()) - plan.Find(revision)->replicas;
    for (int i = 0; i < static_cast<int>(list.size()); ++i) {
      (i < extra ? choice.leaving : choice.kept).push_back(list[i]);
    }
  }
  return choice;
}

// The per-replica weight of each revision that keeps replicas.
std::map<int, int> RevisionWeights(const runtime::ServicePlan& plan,
                                   const std::vector<const ReplicaSlot*>& kept) {
  std::map<int, int> serving;  // ready replicas per revision, after the plan
  std::map<int, int> weights;
  for (const ReplicaSlot* r : kept) {
    weights[r->revision] = plan.split ? 0 : kNormalWeight;
    if (r->state == ReplicaState::kReady) ++serving[r->revision];
  }
  if (!plan.split) return weights;
  std::vector<int> positive;  // revisions with serving replicas and a share
  for (const auto& [revision, n] : serving) {
    if (plan.Find(revision)->share > 0) positive.push_back(revision);
  }
  if (positive.empty()) {  // fail open: whoever serves shares the traffic
    for (auto& [revision, w] : weights) w = kNormalWeight;
  } else if (positive.size() == 1) {
    weights[positive[0]] = kNormalWeight;
  } else if (positive.size() == 2) {
    const int older = positive[0], newer = positive[1];  // std::map: ascending
    const double s_new = plan.Find(newer)->share, s_old = plan.Find(older)->share;
    const WeightSplit split = SplitWeights(serving[newer], serving[older], s_new / (s_new + s_old));
    weights[newer] = split.canary;
    weights[older] = split.stable;
  } else {  // rare (a stray revision in a split): proportional per replica
    double densest = 0;
    for (int revision : positive) {
      densest = std::max(densest, plan.Find(revision)->share / serving[revision]);
    }
    for (int revision : positive) {
      const double d = plan.Find(revision)->share / serving[revision];
      weights[revision] = std::clamp(static_cast<int>(std::lround(kMaxWeight * d / densest)), 1,
                                     kMaxWeight);
    }
  }
  return weights;
}

// Weight changes and joins, ordered as PlanSteps says.
std::vector<Step> TrafficSteps(const runtime::ServicePlan& plan, const Choice& choice) {
  const std::map<int, int> weights = RevisionWeights(plan, choice.kept);
  int newest = 0;
  for (const runtime::RevisionTarget& t : plan.revisions) newest = std::max(newest, t.revision);
  std::vector<Step> newest_down, newest_up, others_up, others_down;
  bool others_carry = false;  // another revision's serving replicas take traffic now
  bool carried_after = false;  // some kept replica takes traffic after the plan
  for (const ReplicaSlot* r : choice.kept) {
    const int w = weights.at(r->revision);
    const bool is_newest = r->revision == newest;
    if (Serving(*r) && r->weight != 0 && !is_newest) others_carry = true;
    if (r->state == ReplicaState::kReady && w > 0) carried_after = true;
    if (r->in_load_balancer) {
      if (r->weight == w) continue;
      const Step step{StepKind::kSetWeight, r->name, r->revision, w};
      if (w < r->weight) {
        (is_newest ? newest_down : others_down).push_back(step);
      } else {
        (is_newest ? newest_up : others_up).push_back(step);
      }
    } else if (r->state == ReplicaState::kReady) {
      (is_newest ? newest_up : others_up).push_back({StepKind::kJoin, r->name, r->revision, w});
    }
  }
  for (const ReplicaSlot* r : choice.leaving) {
    if (Serving(*r) && r->weight != 0 && r->revision != newest) others_carry = true;
    // With a split, traffic leaves a revision at once, before it drains.
    if (!plan.split || !r->in_load_balancer || r->weight == 0 || !carried_after) continue;
    const Step step{StepKind::kSetWeight, r->name, r->revision, 0};
    (r->revision == newest ? newest_down : others_down).push_back(step);
  }
  std::vector<Step> steps;
  auto append = [&](const std::vector<Step>& v) { steps.insert(steps.end(), v.begin(), v.end()); };
  // The newest revision's share first falls, then rises; while nothing else
  // carries traffic, the others come up before the newest goes down.
  if (others_carry) {
    append(newest_down);
    append(others_up);
  } else {
    append(others_up);
    append(newest_down);
  }
  append(newest_up);
  append(others_down);
  return steps;
}

}  // namespace

std::vector<Step> PlanSteps(const runtime::ServicePlan& plan,
                            const std::vector<ReplicaSlot>& replicas) {
  const Choice choice = ChooseLeaving(plan, replicas);
  std::vector<Step> steps = TrafficSteps(plan, choice);
  for (const ReplicaSlot* r : choice.leaving) {
    steps.push_back({r->in_load_balancer ? StepKind::kDrainAndStop : StepKind::kStop, r->name,
                     r->revision, 0});
  }
  for (const runtime::RevisionTarget& t : plan.revisions) {
    const int kept = static_cast<int>(std::count_if(
        choice.kept.begin(), choice.kept.end(),
        [&](const ReplicaSlot* r) { return r->revision == t.revision; }));
    for (int i = kept; i < t.replicas; ++i) steps.push_back({StepKind::kStart, "", t.revision, 0});
  }
  return steps;
}

}  // namespace hut::local

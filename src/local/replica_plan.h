#ifndef HUT_LOCAL_REPLICA_PLAN_H_
#define HUT_LOCAL_REPLICA_PLAN_H_

// How the local runtime carries a ServicePlan out (a pure function, tested on
// its own): which replica processes start and leave, and which HAProxy
// per-server weights change, in an order that keeps every request served.

#include <string>
#include <vector>

#include "src/common/clock.h"
#include "src/runtime/runtime.h"

namespace hut::local {

// HAProxy's per-server weight range; weights are relative within a backend.
inline constexpr int kMaxWeight = 256;
// The weight of a replica that takes an equal part of the traffic.
inline constexpr int kNormalWeight = 100;

// Per-server weights that give `canary_replicas` replicas `share` of the
// traffic next to `stable_replicas` replicas, both counts >= 1, share in
// [0, 1]: canary and stable in 1..kMaxWeight minimising
// |c*canary / (c*canary + s*stable) - share| (ties: the larger stable weight,
// then the smaller canary weight). `achieved` is that share. Exact whenever
// the ratio canary/stable = share*s / ((1-share)*c) is a fraction with both
// terms <= 256; the representable shares are [c/(c+256s), 256c/(256c+s)].
struct WeightSplit {
  int canary = 0;
  int stable = 0;
  double achieved = 0;
  bool operator==(const WeightSplit&) const = default;
};
WeightSplit SplitWeights(int canary_replicas, int stable_replicas, double share);

// One local replica as the planner sees it.
struct ReplicaSlot {
  std::string name;
  int revision = 0;
  runtime::ReplicaState state = runtime::ReplicaState::kStarting;
  bool in_load_balancer = false;
  int weight = 0;  // in the load balancer
  TimePoint started_at;
};

enum class StepKind {
  kSetWeight,     // `replica` is in the load balancer: weight `weight`
  kJoin,          // `replica` is ready: into the load balancer at `weight`
  kDrainAndStop,  // `replica` serves: drain it, then stop it
  kStop,          // `replica` serves nothing: stop it
  kStart,         // start one replica of `revision`
};

struct Step {
  StepKind kind = StepKind::kStart;
  std::string replica;
  int revision = 0;
  int weight = 0;
  bool operator==(const Step&) const = default;
};

// The steps that move `replicas` (draining ones included) to `plan`, in
// order: weight changes and joins first - with a split, those lowering the
// newest revision's share before those raising it, so that no moment gives it
// more than the larger of its shares before and after, and (unless nothing
// else serves) a revision leaving traffic at weight 0 before anything else;
// then drains and stops; then starts. Leaving: unhealthy replicas, those of
// revisions not in the plan, and the extras of each revision, not serving
// first, then the youngest.
std::vector<Step> PlanSteps(const runtime::ServicePlan& plan,
                            const std::vector<ReplicaSlot>& replicas);

}  // namespace hut::local

#endif  // HUT_LOCAL_REPLICA_PLAN_H_

#ifndef HUT_ROLLOUT_CANARY_STAGES_H_
#define HUT_ROLLOUT_CANARY_STAGES_H_

// The stages of DecideCanary (canary.h), exposed for their table tests; the
// controller calls DecideCanary only. Every stage is a pure function of its
// arguments. DecideCanary runs them once each, in this order:
//
//   ClampStep -> ApplyCommand -> SkipCanaryWithoutPrevious -> EvaluateTriggers
//   -> TrackProgress -> AdvanceClocks -> PlanReplicas -> SettlePhase
//   -> PlanReplicas (for the settled phase) -> PlanTraffic
//
// A failed rollout stops after ApplyCommand or AdvanceClocks (no target).
// Each stage leaves a status the earlier stages would not change again (a
// phase entered after TrackProgress records the progress TrackProgress would;
// SettlePhase enters only phases that settle nothing further), so one pass
// is a fixed point.

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "src/common/clock.h"
#include "src/rollout/canary.h"
#include "src/runtime/runtime.h"
#include "src/spec/spec.h"

namespace hut::rollout::canary_stages {

// What every stage may read besides the status.
struct Context {
  CanaryConfig config;
  int desired = 1;                      // >= 1
  std::vector<spec::CanaryStep> steps;  // config.policy.EffectiveSteps(), not empty
  TimePoint now;
};
Context MakeContext(const CanaryConfig& config, int desired, TimePoint now);

// The observed replicas that count, by role: not draining, oldest first.
struct Fleet {
  std::vector<runtime::Replica> target;
  std::vector<runtime::Replica> previous;  // empty without a previous revision
  std::map<int, std::vector<runtime::Replica>> others;  // strays, by revision
};
Fleet SortReplicas(const CanaryStatus& status, const std::vector<runtime::Replica>& replicas);

// Takes requests now: behind the load balancer and ready.
bool Serving(const runtime::Replica& replica);
int CountReady(const std::vector<runtime::Replica>& replicas);
int CountServing(const std::vector<runtime::Replica>& replicas);
// How many of `replicas` serve once a runtime keeps `count` of them (as
// runtime.h says: unhealthy ones are replaced, extra ones leave - those not
// serving first, then the youngest) and puts the ready ones it keeps behind
// the load balancer. Replicas it has yet to start do not serve.
int ServingAfter(const std::vector<runtime::Replica>& replicas, int count);

// A policy with fewer steps than when the rollout began: stay on its last one.
CanaryStatus ClampStep(const Context& ctx, CanaryStatus status);

// An operator's command, each at most once by id; one the phase does not
// allow is refused (and consumed). `applied`: it changed the status, so the
// analysis verdict (which judged the older status) is stale.
struct CommandOutcome {
  CanaryStatus status;
  absl::Status command_status;
  bool applied = false;
};
CommandOutcome ApplyCommand(const Context& ctx, const CanaryStatus& status, Command command,
                            int64_t command_id, const std::string& reason, const Fleet& fleet);

// A first deployment has nothing to compare a canary with: promote at once
// (as Argo Rollouts does without a stable ReplicaSet).
CanaryStatus SkipCanaryWithoutPrevious(const Context& ctx, CanaryStatus status,
                                       const Fleet& fleet);

// Rollback triggers, while the canary runs or inside the rollback window: an
// unhealthy replica of the target revision, the target revision cannot start
// (`cannot_start`), the analysis' kRollback. Rolls back, or with automatic
// rollback off pauses (succeeded: holds the previous revision warm).
CanaryStatus EvaluateTriggers(const Context& ctx, CanaryStatus status, const Fleet& fleet,
                              const std::map<int, std::string>& cannot_start,
                              const Analysis& analysis);

// Progress (starting, promoting, rolling-back): one more ready replica of the
// revision the phase waits for restarts the progress deadline.
CanaryStatus TrackProgress(const Context& ctx, CanaryStatus status, const Fleet& fleet);

// The verdict and the clocks: kPause, the hold and its verdicts, the progress
// deadline, the rollback window, a stalled rollback (failed).
CanaryStatus AdvanceClocks(const Context& ctx, CanaryStatus status, const Analysis& analysis,
                           const Fleet& fleet);

// What each revision should have, and how many of those will serve.
struct ReplicaCounts {
  int previous = 0;          // 0 without a previous revision
  int target = 0;
  int previous_serving = 0;  // ServingAfter(previous replicas, previous)
  int target_serving = 0;    // ServingAfter(target replicas, target)
  std::map<int, int> others;  // strays, by revision
  bool operator==(const ReplicaCounts&) const = default;
};
// The previous revision: `desired` in the canary phases and going back; warm
// after success (those present and healthy, none started) until released
// (0). The target: the step's CanaryReplicas, `desired` once promoting,
// going back 0 once the previous revision serves (until then those serving,
// so they go on serving). Strays: those serving, until the revision that
// stays serves at full size, then 0.
ReplicaCounts PlanReplicas(const Context& ctx, const CanaryStatus& status, const Fleet& fleet);

// Phase changes that follow from the replicas after the plan: starting ->
// analysing (the step's canaries serve, next to a serving stable replica),
// promoting -> succeeded (the new revision serves at full size; with the
// rollback window checked at once), rolling-back -> rolled-back (the previous
// revision serves at full size).
CanaryStatus SettlePhase(const Context& ctx, CanaryStatus status, const ReplicaCounts& counts);

// The target revision's share of the traffic: the step's (growing with the
// step's serving canaries, never below the last step's; 0 unless canaries
// and a stable replica serve), 1 once succeeded or without a previous
// revision, 0 going back.
double TargetShare(const Context& ctx, const CanaryStatus& status, const ReplicaCounts& counts);
// The ServicePlan: split; previous (1 - TargetShare), target, strays at 0.
runtime::ServicePlan PlanTraffic(const Context& ctx, const CanaryStatus& status,
                                 const ReplicaCounts& counts);

}  // namespace hut::rollout::canary_stages

#endif  // HUT_ROLLOUT_CANARY_STAGES_H_

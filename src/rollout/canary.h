#ifndef HUT_ROLLOUT_CANARY_H_
#define HUT_ROLLOUT_CANARY_H_

// The canary strategy as a pure decision (STYLE.md rule 5), the sibling of
// rolling.h: from the saved status of a canary rollout, what is observed of
// its replicas and their load-balancer weights, the analysis verdict and an
// operator's command, the next actions. The controller persists the plan's
// status, carries the actions out in order, and calls again on the next tick.
// No I/O and no clock: `now` is an input. Calling twice with the same inputs
// gives the same plan, and calling again with the plan's own status before the
// actions took effect asks for the same actions again; each is safe to repeat.
//
// The shape (ADR-009's production strategy plus hut's improvements):
//  - the stable (previous) revision stays at full size during the canary, so
//    a rollback is a weight change and never waits for a replica to start;
//  - the canary gets max(1, ceil(weight * desired)) replicas and exactly the
//    step's share of the traffic through per-server load-balancer weights,
//    whatever the replica counts (SplitWeights); a canary replica joins the
//    load balancer only when ready and only next to a serving stable one, and
//    while a step's replicas start the share grows with those serving (never
//    below the previous step's), so no canary replica takes more than its part;
//  - each step is analysed for its hold; the verdict comes from outside;
//  - after the last step the new revision is scaled to full size, takes all
//    traffic, and the previous revision is kept warm (running, weight 0) for
//    the rollback window, so `undo` inside it is a weight flip.
//
// Phases (status.phase) and what moves them:
//
//   phase        | leaves to          | when
//   -------------+--------------------+--------------------------------------------
//   starting     | analysing          | every canary replica of the step serves
//                | promoting          | first deployment (no previous revision)
//   analysing    | starting (step+1)  | verdict kPromote after the hold, or `promote`
//                | promoting          | same, after the last step, or `promote --full`
//                | (hold restarts)    | inconclusive with policy extend, first time (no
//                |                    | verdict for progress_deadline after the hold
//                |                    | counts as inconclusive)
//                | paused             | verdict kPause; inconclusive with policy pause
//   starting,    | paused             | verdict kPause
//   promoting    |                    |
//   paused       | starting/promoting | `promote` (`promote --full`); nothing else
//                |                    | but a rollback moves it
//   promoting    | succeeded          | the new revision serves at full size: all
//                |                    | traffic to it, the previous kept at weight 0
//   succeeded    | (previous drained) | the rollback window closed, or `promote`
//                | rolling-back       | `undo`, a failed replica or a kRollback
//                |                    | verdict inside the window
//   any of the   | rolling-back       | `abort`, a failed canary replica, a kRollback
//   first four   |                    | verdict, inconclusive with policy fail, no
//                |                    | progress within the progress deadline
//   rolling-back | rolled-back        | the new revision is out of traffic and leaving,
//                |                    | the previous one serves at full size
//                | failed             | the previous one does not come back in time
//   rolled-back  | starting           | `retry` (attempt + 1)
//
// A rollback with no previous revision (first deployment) is `failed`.
// With rollback.automatic off, a failed replica or a kRollback verdict pauses
// instead (inside the rollback window: holds the previous revision warm until
// `undo` or `promote`).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/common/clock.h"
#include "src/rollout/rolling.h"
#include "src/spec/spec.h"

namespace hut::rollout {

// HAProxy's per-server weight range; weights are relative within a backend.
inline constexpr int kMaxWeight = 256;
// The weight of a replica outside a canary split (equals controller::kFullWeight).
inline constexpr int kNormalWeight = 100;

enum class CanaryPhase {
  kStarting,     // canary replicas of the current step start and join
  kAnalysing,    // the step's share goes to the canary; its hold runs
  kPaused,       // held at the current share until `promote` or `abort`
  kPromoting,    // the new revision scales to full size
  kSucceeded,    // the new revision takes all traffic (previous warm until the window closes)
  kRollingBack,  // the new revision is out of traffic and leaving
  kRolledBack,   // only the previous revision serves
  kFailed,       // nothing to roll back to, or the rollback stalled: a human decides
};
// "starting", "analysing", "paused", "promoting", "succeeded", "rolling-back",
// "rolled-back", "failed" (the last three as rolling.h's PhaseName).
std::string_view CanaryPhaseName(CanaryPhase phase);

// The persisted part of a canary rollout. Times are absolute; an unset time is
// the epoch (TimePoint{}); the JSON form keeps milliseconds.
struct CanaryStatus {
  int target_revision = 0;    // the new revision (the canary)
  int previous_revision = 0;  // the stable one; 0: first deployment
  int attempt = 1;            // 1, then +1 per `retry`
  CanaryPhase phase = CanaryPhase::kStarting;
  // Index into CanaryPolicy::EffectiveSteps(); the number of steps once the
  // rollout is promoting (or paused while promoting) and after.
  int step = 0;
  TimePoint hold_started_at;  // when the current step's analysis began (analysing)
  bool extended = false;      // the current step's hold was extended once (inconclusive)
  // Progress deadline: when the rollout last made progress (phase entered, or
  // one more replica of the revision it waits for began serving).
  TimePoint last_progress;
  int serving_at_progress = 0;  // such replicas serving at last_progress
  TimePoint promoted_at;        // when the new revision took all traffic (succeeded)
  // Succeeded with rollback.automatic off and a trigger fired in the window:
  // the previous revision stays warm past the window until `undo` or `promote`.
  bool warm_held = false;
  bool previous_released = false;  // succeeded: the warm previous revision was let go
  std::string reason;              // why it paused, rolled back or failed
  int64_t last_command_id = 0;     // the newest operator command applied or refused
  bool operator==(const CanaryStatus&) const = default;
};

// The status of a new canary rollout started at `now`.
CanaryStatus BeginCanary(int target_revision, int previous_revision, TimePoint now);

// True when the rollout needs no more decisions of its own: failed, rolled
// back, or succeeded with the previous revision released. (A rolled-back
// rollout may still be retried.)
bool CanaryFinished(const CanaryStatus& status);

// The analysis engine's verdict on the current step, computed from the same
// saved status (it analyses the canary since status.hold_started_at).
enum class Verdict {
  kContinue,      // keep analysing
  kPromote,       // the hold is over and the canary is healthy
  kRollback,      // a rollback trigger fired (reason says which)
  kInconclusive,  // the hold is over and the metrics cannot tell
  kPause,         // hold here for a human (e.g. a trigger with rollback.automatic off)
};
std::string_view VerdictName(Verdict verdict);

struct Analysis {
  Verdict verdict = Verdict::kContinue;
  std::string reason;  // for kRollback, kInconclusive, kPause: shown to the operator
};

// An operator's command (`hut rollout promote|abort|retry|undo`). Each has an
// id, and a command is applied at most once: one whose id is not above
// status.last_command_id is ignored, so the controller may pass the newest
// command on every tick (and again after a crash). A command the phase does
// not allow is refused (plan.command_status says why; CheckCommand lets the
// API refuse it before queueing it).
enum class Command {
  kNone,
  kPromote,      // skip the rest of the hold: next step (promote after the last);
                 // succeeded with the previous still warm: release it (the
                 // rollback window ends now)
  kPromoteFull,  // skip every remaining step: promote now
  kAbort,        // roll back now
  kRetry,        // a rolled-back canary starts again as a new attempt
  kUndo,         // succeeded, previous still warm: flip traffic back to it
};
std::string_view CommandName(Command command);

// What the controller observes on one tick.
struct CanaryObservation {
  std::vector<ReplicaView> replicas;
  // The load-balancer weight (0..256) of each replica in the load balancer,
  // by name; a replica in the load balancer missing here gets its weight set.
  std::map<std::string, int> weights;
  Analysis analysis;  // ignored on the tick a command is applied (it judged the older status)
  Command command = Command::kNone;
  int64_t command_id = 0;  // >= 1 and increasing per rollout, e.g. the store's event id
};

struct CanaryConfig {
  spec::CanaryPolicy policy;
  // No progress for this long rolls back (rolling-back: fails); also the time
  // the analysis has to give a verdict once a hold is over. RollingPolicy's.
  Duration progress_deadline = std::chrono::minutes(10);
  bool automatic_rollback = true;  // RollbackPolicy::automatic
};

struct CanaryPlan {
  CanaryStatus status;  // to persist before acting
  // In order. Weight changes come first (kSetWeight, kAddToLoadBalancer with
  // its weight): those lowering the new revision's share, then those raising
  // it, so no moment gives the canary more than the larger of its shares
  // before and after the plan, and the serving replicas never all sit at
  // weight 0. While the stable revision carries traffic, a canary leaving it
  // gets SetWeight 0 before any other action (a rollback never waits); when
  // the previous revision is warm at 0 (undo), it comes back first. Then
  // drains and stops; then starts.
  std::vector<Action> actions;
  // The fate of observed.command when it was new: OK when applied (or there
  // was none), FailedPrecondition (CheckCommand's) when refused.
  absl::Status command_status;
};

// OK when `command` may be applied to `status`; FailedPrecondition saying why
// not otherwise. kNone is always OK. (`undo` is allowed while the previous
// revision is still warm, which may be a tick past the window's end.)
absl::Status CheckCommand(const CanaryStatus& status, Command command);

// One tick of the canary strategy for `desired` replicas (>= 1) of the service.
// Phase changes that follow from one another on the same observation happen
// in the same call (e.g. a rollback whose stable revision is already at full
// size is rolled-back at once), so calling again with the plan's own status
// and the same observation asks for the same actions.
CanaryPlan DecideCanary(const CanaryConfig& config, int desired, const CanaryStatus& status,
                        const CanaryObservation& observed, TimePoint now);

// Canary replicas for a step of `weight` (0, 1): max(1, ceil(weight * desired)),
// at most `desired`.
int CanaryReplicas(double weight, int desired);

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

// The status as JSON for the store, and back. FromJson returns DataLoss,
// naming the field, for JSON that is not a CanaryStatus.
nlohmann::json CanaryStatusToJson(const CanaryStatus& status);
absl::StatusOr<CanaryStatus> CanaryStatusFromJson(const nlohmann::json& json);

}  // namespace hut::rollout

#endif  // HUT_ROLLOUT_CANARY_H_

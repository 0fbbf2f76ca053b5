#ifndef HUT_ROLLOUT_CANARY_H_
#define HUT_ROLLOUT_CANARY_H_

// The canary strategy as a pure decision (STYLE.md rule 5), the sibling of
// rolling.h: from the saved status of a canary rollout, what the runtime
// reports of its replicas, the analysis verdict and an operator's command, the
// next status and the runtime::ServicePlan the service should move to. The
// controller persists the plan's status, hands the target to the Runtime, and
// calls again on the next tick. No I/O and no clock: `now` is an input.
// Calling twice with the same inputs gives the same plan, and calling again
// with the plan's own status before the runtime carried the target out gives
// the same status and target (a fixed point); applying a target is safe to
// repeat.
//
// The shape (ADR-009's production strategy plus hut's improvements):
//  - the stable (previous) revision stays at full size during the canary, so
//    a rollback is a traffic change and never waits for a replica to start;
//  - the canary gets max(1, ceil(weight * desired)) replicas and exactly the
//    step's share of the traffic, whatever the replica counts (the runtime
//    turns shares into load-balancer weights); a canary takes traffic only
//    next to a serving stable replica, and while a step's replicas start the
//    share grows with those serving (never below the previous step's), so no
//    canary replica takes more than its part;
//  - each step is analysed for its hold; the verdict comes from outside;
//  - after the last step the new revision is scaled to full size, takes all
//    traffic, and the previous revision is kept warm (running, share 0) for
//    the rollback window, so `undo` inside it is a traffic flip.
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
//                |                    | traffic to it, the previous kept at share 0
//   succeeded    | (previous drained) | the rollback window closed, or `promote`
//                | rolling-back       | `undo`, a failed replica, the new revision
//                |                    | cannot start, or a kRollback verdict, inside
//                |                    | the window
//   any of the   | rolling-back       | `abort`, a failed canary replica, a target
//   first four   |                    | revision that cannot start, a kRollback
//                |                    | verdict, inconclusive with policy fail, no
//                |                    | progress within the progress deadline
//   rolling-back | rolled-back        | the new revision is out of traffic and leaving,
//                |                    | the previous one serves at full size
//                | failed             | the previous one does not come back in time
//   rolled-back  | starting           | `retry` (attempt + 1)
//
// A rollback with no previous revision (first deployment) is `failed`.
// A "failed replica" is one of the target revision the runtime classifies as
// unhealthy (runtime::Unhealthy: failing or crash-looping); a replica
// "serves" when runtime::Replica::serving and ready. Phase changes that follow
// from the replicas count a ready replica the plan keeps as serving: the
// runtime puts it behind the load balancer when it carries the plan out.
// With rollback.automatic off, a failed replica, a target revision that cannot
// start or a kRollback verdict pauses instead (inside the rollback window:
// holds the previous revision warm until `undo` or `promote`). Failed: the
// plan has no target (the replicas stay as they are).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/common/clock.h"
#include "src/runtime/runtime.h"
#include "src/spec/spec.h"

namespace hut::rollout {

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
  kPause,        // in the canary: hold at the current step until promoted or aborted
};
std::string_view CommandName(Command command);

// What the controller observes on one tick (runtime::Observation's replicas
// and cannot_start, the analysis and the newest command).
struct CanaryObservation {
  std::vector<runtime::Replica> replicas;
  // Revisions whose replicas cannot be started at all, with why. The target
  // revision here is a rollback trigger, as a failed canary replica.
  std::map<int, std::string> cannot_start;
  Analysis analysis;  // ignored on the tick a command is applied (it judged the older status)
  Command command = Command::kNone;
  int64_t command_id = 0;  // >= 1 and increasing per rollout, e.g. the store's event id
  // Why the command was given, for the status's reason (an alert that
  // fired); "": the operator asked.
  std::string command_reason;
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
  // What to hand to Runtime::Apply: split, with the previous revision (when
  // there is one), the target revision, and any other revision still running
  // (kept, at share 0, while it serves and the revision that stays does not
  // serve at full size yet; 0 replicas after). nullopt: leave the replicas as
  // they are (the rollout failed: a human decides).
  std::optional<runtime::ServicePlan> target;
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
// and the same observation gives the same status and target. The stages it
// runs, in order, are in canary_stages.h.
CanaryPlan DecideCanary(const CanaryConfig& config, int desired, const CanaryStatus& status,
                        const CanaryObservation& observed, TimePoint now);

// Canary replicas for a step of `weight` (0, 1): max(1, ceil(weight * desired)),
// at most `desired`.
int CanaryReplicas(double weight, int desired);

// The status as JSON for the store, and back. FromJson returns DataLoss,
// naming the field, for JSON that is not a CanaryStatus.
nlohmann::json CanaryStatusToJson(const CanaryStatus& status);
absl::StatusOr<CanaryStatus> CanaryStatusFromJson(const nlohmann::json& json);

// The operator's command waiting in a canary rollout's state (its "command"
// member: {"name": "promote", "id": 42}); kNone for none or a corrupt one,
// never an exception.
std::pair<Command, int64_t> PendingCommand(const nlohmann::json& state);
// Its "reason" member, "" when none.
std::string PendingCommandReason(const nlohmann::json& state);

// What `hut rollout status` shows of a canary beyond its phase: where it is
// in its steps, its share of traffic (`share`, as the runtime reports it),
// when its hold or rollback window ends.
nlohmann::json CanaryProgressJson(const CanaryStatus& status, const spec::CanaryPolicy& policy,
                                  double share);

}  // namespace hut::rollout

#endif  // HUT_ROLLOUT_CANARY_H_

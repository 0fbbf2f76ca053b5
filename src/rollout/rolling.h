#ifndef HUT_ROLLOUT_ROLLING_H_
#define HUT_ROLLOUT_ROLLING_H_

// The rolling strategy as a pure decision (STYLE.md rule 5): from the saved
// status of a rollout and what the runtime observes of its replicas, how many
// replicas of each revision there should be now. The controller has the
// runtime carry it out and calls again on the next tick; calling twice with
// the same inputs gives the same plan, and the plan's own status is a fixed
// point, so every plan is safe to repeat. One pass of named stages:
// EvaluateTriggers, then PlanReplicas (which also tracks progress), then
// Settle.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/common/clock.h"
#include "src/runtime/runtime.h"
#include "src/spec/spec.h"

namespace hut::rollout {

enum class Phase {
  kProgressing,  // moving replicas to the target revision
  kRollingBack,  // moving them back to the previous revision
  kSucceeded,    // every replica runs the target revision
  kRolledBack,   // every replica runs the previous revision again
  kFailed,       // could not progress and there is nowhere to go back to
};
std::string_view PhaseName(Phase phase);
bool IsTerminal(Phase phase);

// The persisted part of a rolling rollout.
struct RollingStatus {
  int target_revision = 0;
  int previous_revision = 0;  // 0: first deployment, nothing to roll back to
  Phase phase = Phase::kProgressing;
  TimePoint last_progress;  // start, or when a replica last became serving
  int serving_at_progress = 0;  // replicas of the revision sought serving at last_progress
  std::string reason;           // why it rolled back or failed
  bool operator==(const RollingStatus&) const = default;
};

struct RollingPlan {
  RollingStatus status;  // to persist before acting
  // The replicas per revision, traffic by serving replicas (no split);
  // nullopt: leave them as they are (failed: a human decides).
  std::optional<runtime::ServicePlan> target;
};

// Turns a progressing rollout around (rolling back, or failed when there is
// no previous revision) and a rolling-back one into failed, for a reason seen
// outside the replicas (e.g. the release cannot be started at all).
RollingStatus TurnAround(const RollingStatus& status, std::string reason, TimePoint now);

// One tick of the rolling strategy for `desired` replicas.
// maxSurge: at most desired + max_surge replicas that are not draining.
// maxUnavailable: at least desired - max_unavailable replicas keep serving
// while replicas are replaced. A replica of the target revision that fails,
// a target revision that cannot be started, or no new serving replica within
// the progress deadline, rolls back to the previous revision under the same
// rules (or fails when there is none). After the rollout ended, the same
// rules keep the service at `desired` replicas of the revision it ended on.
RollingPlan DecideRolling(const spec::RollingPolicy& policy, int desired,
                          const RollingStatus& status, const runtime::Observation& observed,
                          TimePoint now);

// The stages of DecideRolling, for their tests.
// Turns the rollout around (or fails it) for a failed replica, a revision that
// cannot start, or the progress deadline.
RollingStatus EvaluateTriggers(const spec::RollingPolicy& policy, const RollingStatus& status,
                               const runtime::Observation& observed, TimePoint now);
// Replicas per revision for the status' phase (never failed); moves
// last_progress when one more replica of the revision sought is ready.
RollingPlan PlanReplicas(const spec::RollingPolicy& policy, int desired,
                         const RollingStatus& status, const runtime::Observation& observed,
                         TimePoint now);
// Succeeded (rolled back) once exactly `desired` ready replicas of the
// revision sought are all the plan keeps, nothing else but draining ones.
RollingStatus Settle(const RollingStatus& status, const runtime::ServicePlan& plan,
                     const runtime::Observation& observed, int desired);

// The status as JSON for the store, and back; DataLoss naming the field for
// JSON that is not a RollingStatus.
nlohmann::json RollingStatusToJson(const RollingStatus& status);
absl::StatusOr<RollingStatus> RollingStatusFromJson(const nlohmann::json& json);

}  // namespace hut::rollout

#endif  // HUT_ROLLOUT_ROLLING_H_

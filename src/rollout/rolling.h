#ifndef HUT_ROLLOUT_ROLLING_H_
#define HUT_ROLLOUT_ROLLING_H_

// The rolling strategy as a pure decision (STYLE.md rule 5): from the saved
// status of a rollout and what is observed of its replicas, the next actions.
// The controller carries them out and calls again on the next tick; calling
// twice with the same inputs gives the same plan, so every action is safe to
// repeat.

#include <string>
#include <vector>

#include "src/common/clock.h"
#include "src/spec/spec.h"

namespace hut::rollout {

// What the controller observes of one replica (runtime + health prober).
enum class ReplicaState {
  kStarting,  // running, not ready yet
  kReady,     // its readiness check passes
  kFailed,    // too many consecutive failed checks, or crash-looping
  kDraining,  // being taken out of service; stopping
};

struct ReplicaView {
  std::string name;
  int revision = 0;
  ReplicaState state = ReplicaState::kStarting;
  bool in_load_balancer = false;
  TimePoint started_at;
  std::string failure;  // why it is kFailed, e.g. "3 consecutive failed health checks"
};

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

enum class ActionKind {
  kStartReplica,        // start one replica of `revision`
  kAddToLoadBalancer,   // `replica` is ready: send it traffic
  kDrainAndStop,        // `replica` serves traffic: drain it, then stop it
  kStop,                // `replica` serves no traffic: stop it now
  kSetWeight,           // `replica` is in the load balancer: set its weight to `weight`
};

struct Action {
  ActionKind kind;
  int revision = 0;     // kStartReplica
  std::string replica;  // the others
  // kSetWeight: the load-balancer weight, 0..256. kAddToLoadBalancer: the
  // weight to join with, 0..256 (canary plans); rolling plans leave it 0,
  // meaning the controller's full weight.
  int weight = 0;
  bool operator==(const Action&) const = default;
};

struct RollingPlan {
  RollingStatus status;  // to persist before acting
  std::vector<Action> actions;
};

// Turns a progressing rollout around (rolling back, or failed when there is
// no previous revision) and a rolling-back one into failed, for a reason seen
// outside the replicas (e.g. the release cannot be started at all).
RollingStatus TurnAround(const RollingStatus& status, std::string reason, TimePoint now);

// One tick of the rolling strategy for `desired` replicas.
// maxSurge: at most desired + max_surge replicas that are not draining.
// maxUnavailable: at least desired - max_unavailable replicas keep serving
// (ready and in the load balancer) while replicas are replaced.
// A replica of the target revision that fails, or no new serving replica
// within the progress deadline, rolls back to the previous revision under
// the same rules (or fails when there is none).
RollingPlan DecideRolling(const spec::RollingPolicy& policy, int desired,
                          const RollingStatus& status, const std::vector<ReplicaView>& replicas,
                          TimePoint now);

}  // namespace hut::rollout

#endif  // HUT_ROLLOUT_ROLLING_H_

#include "src/rollout/rolling.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "src/common/units.h"

namespace hut::rollout {

std::string_view PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kProgressing:
      return "progressing";
    case Phase::kRollingBack:
      return "rolling-back";
    case Phase::kSucceeded:
      return "succeeded";
    case Phase::kRolledBack:
      return "rolled-back";
    case Phase::kFailed:
      return "failed";
  }
  return "unknown";
}

bool IsTerminal(Phase phase) {
  return phase == Phase::kSucceeded || phase == Phase::kRolledBack || phase == Phase::kFailed;
}

namespace {

bool Serving(const ReplicaView& r) {
  return r.in_load_balancer && r.state == ReplicaState::kReady;
}

// Moves the rollout to rolling back (or failed, with nowhere to go).
void StartRollback(RollingStatus& status, std::string reason, TimePoint now) {
  status.reason = std::move(reason);
  status.last_progress = now;
  status.serving_at_progress = 0;
  status.phase = status.previous_revision > 0 ? Phase::kRollingBack : Phase::kFailed;
}

}  // namespace

RollingStatus TurnAround(const RollingStatus& status, std::string reason, TimePoint now) {
  RollingStatus st = status;
  if (st.phase == Phase::kProgressing) {
    StartRollback(st, std::move(reason), now);
  } else if (st.phase == Phase::kRollingBack) {
    st.phase = Phase::kFailed;
    st.reason = absl::StrCat(st.reason, "; rollback failed: ", reason);
  }
  return st;
}

RollingPlan DecideRolling(const spec::RollingPolicy& policy, int desired,
                          const RollingStatus& status, const std::vector<ReplicaView>& replicas,
                          TimePoint now) {
  RollingPlan plan{status, {}};
  RollingStatus& st = plan.status;

  auto sought = [&st] {
    return st.phase == Phase::kRollingBack || st.phase == Phase::kRolledBack
               ? st.previous_revision
               : st.target_revision;
  };

  // A failed replica of the revision being rolled out, or no progress within
  // the deadline, turns the rollout around.
  if (st.phase == Phase::kProgressing || st.phase == Phase::kRollingBack) {
    const bool rolling_back = st.phase == Phase::kRollingBack;
    for (const ReplicaView& r : replicas) {
      if (r.revision == sought() && r.state == ReplicaState::kFailed && !rolling_back) {
        StartRollback(st,
                      absl::StrCat("replica ", r.name, " of revision ", r.revision, " failed: ",
                                   r.failure.empty() ? "unhealthy" : r.failure),
                      now);
        break;
      }
    }
    if (!IsTerminal(st.phase) && now - st.last_progress > policy.progress_deadline) {
      std::string why = absl::StrCat("no new replica became ready within the progress deadline (",
                                     FormatDuration(policy.progress_deadline), ")");
      if (st.phase == Phase::kProgressing) {
        StartRollback(st, why, now);
      } else {
        st.phase = Phase::kFailed;
        st.reason = absl::StrCat(st.reason, "; rollback stalled: ", why);
      }
    }
  }
  if (st.phase == Phase::kFailed) return plan;  // a human decides from here

  const int want = sought();
  const int min_serving = std::max(0, desired - policy.max_unavailable);
  const int max_pods = desired + policy.max_surge;

  std::vector<const ReplicaView*> active;  // not draining
  for (const ReplicaView& r : replicas) {
    if (r.state != ReplicaState::kDraining) active.push_back(&r);
  }
  // Oldest first: they leave first.
  std::stable_sort(active.begin(), active.end(), [](const ReplicaView* a, const ReplicaView* b) {
    return a->started_at < b->started_at;
  });

  std::set<std::string> leaving;
  auto leave = [&](const ReplicaView& r) {
    plan.actions.push_back({r.in_load_balancer ? ActionKind::kDrainAndStop : ActionKind::kStop, 0,
                            r.name});
    leaving.insert(r.name);
  };

  // While progressing, the previous revision is the stable one: a replica of
  // it that is not in the load balancer is one started to restore capacity
  // (after hut itself restarted, say), kept until it is known to be needed.
  const int stable = st.phase == Phase::kProgressing ? st.previous_revision : 0;
  auto restoring = [&](const ReplicaView& r) {
    return stable > 0 && r.revision == stable && !r.in_load_balancer &&
           r.state != ReplicaState::kFailed;
  };

  // Replicas that serve nothing go at once: other revisions not in the load
  // balancer, and failed replicas (the load balancer's checks took them out).
  int serving = 0;
  for (const ReplicaView* r : active) {
    if (restoring(*r)) continue;
    if (r->revision != want && !r->in_load_balancer) {
      leave(*r);
    } else if (r->state == ReplicaState::kFailed) {
      leave(*r);
    } else if (Serving(*r)) {
      ++serving;
    }
  }

  // Capacity first: with fewer than min_serving replicas serving (all of
  // them gone with a crashed control plane, say), stable replicas are
  // started, and join as they become ready, before the rollout goes on.
  bool restoring_capacity = false;
  if (stable > 0) {
    int booting = 0;
    for (const ReplicaView* r : active) {
      if (!restoring(*r)) continue;
      if (r->state == ReplicaState::kReady && serving < min_serving) {
        plan.actions.push_back({ActionKind::kAddToLoadBalancer, 0, r->name});
        ++serving;
      } else if (r->state == ReplicaState::kReady || serving + booting >= min_serving) {
        leave(*r);  // not needed (any more)
      } else {
        ++booting;
      }
    }
    const int missing = min_serving - serving - booting;
    for (int i = 0; i < missing; ++i) {
      plan.actions.push_back({ActionKind::kStartReplica, stable, ""});
    }
    restoring_capacity = serving < min_serving;
  }

  // Ready replicas of the wanted revision join the load balancer.
  for (const ReplicaView* r : active) {
    if (leaving.count(r->name) == 0 && r->revision == want && r->state == ReplicaState::kReady &&
        !r->in_load_balancer) {
      plan.actions.push_back({ActionKind::kAddToLoadBalancer, 0, r->name});
      ++serving;
    }
  }

  // Progress is a new serving replica of the wanted revision.
  int wanted_serving = 0;
  int wanted_count = 0;
  for (const ReplicaView* r : active) {
    if (leaving.count(r->name) || r->revision != want) continue;
    ++wanted_count;
    if (r->state == ReplicaState::kReady) ++wanted_serving;
  }
  if (wanted_serving > st.serving_at_progress) {
    st.serving_at_progress = wanted_serving;
    st.last_progress = now;
  }

  // Old replicas leave while enough others keep serving; extra replicas of
  // the wanted revision (more than desired) leave too.
  int extra_wanted = std::max(0, wanted_count - desired);
  for (const ReplicaView* r : active) {
    if (leaving.count(r->name) || !Serving(*r)) continue;
    bool old = r->revision != want;
    if (!old && extra_wanted == 0) continue;
    if (serving - 1 < min_serving) break;
    leave(*r);
    --serving;
    if (!old) {
      --extra_wanted;
      --wanted_count;
    }
  }

  // New replicas start within the surge allowance.
  int pods = 0;
  for (const ReplicaView* r : active) {
    if (leaving.count(r->name) == 0) ++pods;
  }
  int to_start = std::min(desired - wanted_count, max_pods - pods);
  if (restoring_capacity) to_start = 0;
  for (int i = 0; i < to_start; ++i) plan.actions.push_back({ActionKind::kStartReplica, want, ""});

  // Done when exactly the desired replicas of the wanted revision serve and
  // nothing else is left but replicas already draining.
  bool others_left = false;
  for (const ReplicaView* r : active) {
    if (leaving.count(r->name) == 0 && r->revision != want) others_left = true;
  }
  int wanted_in_lb = 0;
  for (const ReplicaView* r : active) {
    if (leaving.count(r->name) == 0 && r->revision == want && r->state == ReplicaState::kReady) {
      ++wanted_in_lb;
    }
  }
  if (!others_left && wanted_in_lb == desired && wanted_count == desired) {
    if (st.phase == Phase::kProgressing) st.phase = Phase::kSucceeded;
    if (st.phase == Phase::kRollingBack) st.phase = Phase::kRolledBack;
  }
  return plan;
}

}  // namespace hut::rollout

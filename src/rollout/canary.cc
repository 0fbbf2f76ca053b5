#include "src/rollout/canary.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/common/units.h"

namespace hut::rollout {

std::string_view CanaryPhaseName(CanaryPhase phase) {
  switch (phase) {
    case CanaryPhase::kStarting:
      return "starting";
    case CanaryPhase::kAnalysing:
      return "analysing";
    case CanaryPhase::kPaused:
      return "paused";
    case CanaryPhase::kPromoting:
      return "promoting";
    case CanaryPhase::kSucceeded:
      return "succeeded";
    case CanaryPhase::kRollingBack:
      return "rolling-back";
    case CanaryPhase::kRolledBack:
      return "rolled-back";
    case CanaryPhase::kFailed:
      return "failed";
  }
  return "unknown";
}

std::string_view VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kContinue:
      return "continue";
    case Verdict::kPromote:
      return "promote";
    case Verdict::kRollback:
      return "rollback";
    case Verdict::kInconclusive:
      return "inconclusive";
    case Verdict::kPause:
      return "pause";
  }
  return "unknown";
}

std::string_view CommandName(Command command) {
  switch (command) {
    case Command::kNone:
      return "none";
    case Command::kPromote:
      return "promote";
    case Command::kPromoteFull:
      return "promote --full";
    case Command::kAbort:
      return "abort";
    case Command::kRetry:
      return "retry";
    case Command::kUndo:
      return "undo";
  }
  return "unknown";
}

CanaryStatus BeginCanary(int target_revision, int previous_revision, TimePoint now) {
  CanaryStatus s;
  s.target_revision = target_revision;
  s.previous_revision = previous_revision;
  s.last_progress = now;
  return s;
}

bool CanaryFinished(const CanaryStatus& status) {
  switch (status.phase) {
    case CanaryPhase::kFailed:
    case CanaryPhase::kRolledBack:
      return true;
    case CanaryPhase::kSucceeded:
      return status.previous_released;
    default:
      return false;
  }
}

int CanaryReplicas(double weight, int desired) {
  desired = std::max(desired, 1);
  // The epsilon keeps 0.3 * 10 (3.0000000000000004) at 3.
  const int n = static_cast<int>(std::ceil(weight * desired - 1e-9));
  return std::clamp(n, 1, desired);
}

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

constexpr CanaryPhase kPhases[] = {
    CanaryPhase::kStarting,   CanaryPhase::kAnalysing, CanaryPhase::kPaused,
    CanaryPhase::kPromoting,  CanaryPhase::kSucceeded, CanaryPhase::kRollingBack,
    CanaryPhase::kRolledBack, CanaryPhase::kFailed,
};

// The phases in which the canary runs next to a full-size stable revision.
bool InCanary(CanaryPhase p) {
  return p == CanaryPhase::kStarting || p == CanaryPhase::kAnalysing || p == CanaryPhase::kPaused ||
         p == CanaryPhase::kPromoting;
}

bool GoingBack(CanaryPhase p) {
  return p == CanaryPhase::kRollingBack || p == CanaryPhase::kRolledBack;
}

bool Serving(const ReplicaView& r) { return r.in_load_balancer && r.state == ReplicaState::kReady; }

std::string PhaseText(const CanaryStatus& st) { return std::string(CanaryPhaseName(st.phase)); }

// Rolling back, or failed when there is nothing to go back to.
void StartRollback(CanaryStatus& st, std::string reason, TimePoint now) {
  st.reason = std::move(reason);
  st.last_progress = now;
  st.serving_at_progress = 0;
  st.warm_held = false;
  if (st.previous_revision > 0) {
    st.phase = CanaryPhase::kRollingBack;
  } else {
    st.phase = CanaryPhase::kFailed;
    absl::StrAppend(&st.reason, "; there is no previous revision to roll back to");
  }
}

void Pause(CanaryStatus& st, std::string reason) {
  st.phase = CanaryPhase::kPaused;
  st.reason = std::move(reason);
}

// The next step; promoting after the last one, or at once with `full`.
void Advance(CanaryStatus& st, int steps, bool full, int new_ready, TimePoint now) {
  st.reason.clear();
  st.extended = false;
  st.hold_started_at = TimePoint{};
  st.last_progress = now;
  st.serving_at_progress = new_ready;
  if (!full && st.step + 1 < steps) {
    ++st.step;
    st.phase = CanaryPhase::kStarting;
  } else {
    st.step = steps;
    st.phase = CanaryPhase::kPromoting;
  }
}

// A rollback trigger fired: a failed replica of the new revision, or the
// analysis said roll back.
void Trigger(CanaryStatus& st, const CanaryConfig& config, const std::string& reason,
             TimePoint now) {
  if (st.phase == CanaryPhase::kSucceeded) {
    if (config.automatic_rollback) {
      StartRollback(st, absl::StrCat("inside the rollback window: ", reason), now);
    } else if (!st.warm_held) {
      st.warm_held = true;
      st.reason = absl::StrCat(reason,
                               "; automatic rollback is off: the previous revision stays warm "
                               "until undo or promote");
    }
    return;
  }
  if (config.automatic_rollback) {
    StartRollback(st, reason, now);
  } else if (st.phase != CanaryPhase::kPaused) {
    Pause(st, absl::StrCat(reason, "; automatic rollback is off: waiting for promote or abort"));
  }
}

void Inconclusive(CanaryStatus& st, const CanaryConfig& config, const std::string& reason,
                  TimePoint now) {
  switch (config.policy.inconclusive) {
    case spec::InconclusiveAction::kExtend:
      if (!st.extended) {
        st.extended = true;
        st.hold_started_at = now;  // one more analysis period
        return;
      }
      StartRollback(st, absl::StrCat("analysis inconclusive after an extended hold: ", reason),
                    now);
      return;
    case spec::InconclusiveAction::kPause:
      Pause(st, absl::StrCat("analysis inconclusive: ", reason, "; waiting for promote or abort"));
      return;
    case spec::InconclusiveAction::kFail:
      StartRollback(st, absl::StrCat("analysis inconclusive: ", reason), now);
      return;
  }
}

std::string Or(const std::string& s, std::string_view fallback) {
  return s.empty() ? std::string(fallback) : s;
}

}  // namespace

absl::Status CheckCommand(const CanaryStatus& st, Command command) {
  auto refuse = [&](std::string_view why) {
    return absl::FailedPreconditionError(absl::StrCat("cannot ", std::string(CommandName(command)),
                                                      " the canary of revision ",
                                                      st.target_revision, ": ", std::string(why)));
  };
  const std::string is = absl::StrCat("it is ", PhaseText(st));
  const bool canary = st.phase == CanaryPhase::kStarting || st.phase == CanaryPhase::kAnalysing ||
                      st.phase == CanaryPhase::kPaused;
  switch (command) {
    case Command::kNone:
      return absl::OkStatus();
    case Command::kPromote:
      if (canary) return absl::OkStatus();
      // Succeeded: ends the rollback window now (and a warm hold).
      if (st.phase == CanaryPhase::kSucceeded && !st.previous_released) return absl::OkStatus();
      return refuse(st.phase == CanaryPhase::kPromoting ? "it is already promoting" : is);
    case Command::kPromoteFull:
      if (canary) return absl::OkStatus();
      return refuse(st.phase == CanaryPhase::kPromoting ? "it is already promoting" : is);
    case Command::kAbort:
      if (InCanary(st.phase)) return absl::OkStatus();
      if (st.phase == CanaryPhase::kSucceeded) {
        return refuse("it has succeeded; use undo to go back to the previous revision");
      }
      return refuse(is);
    case Command::kRetry:
      if (st.phase == CanaryPhase::kRolledBack) return absl::OkStatus();
      return refuse(absl::StrCat("only a rolled-back canary can be retried, and ", is));
    case Command::kUndo:
      if (st.phase == CanaryPhase::kSucceeded && !st.previous_released &&
          st.previous_revision > 0) {
        return absl::OkStatus();
      }
      if (st.phase == CanaryPhase::kSucceeded) {
        return refuse(st.previous_revision > 0
                          ? "the rollback window has closed and the previous revision is "
                            "stopped; undo it with a new rollout"
                          : "there is no previous revision");
      }
      if (InCanary(st.phase)) return refuse(absl::StrCat(is, "; use abort"));
      return refuse(is);
  }
  return refuse("unknown command");
}

namespace {

// One pass of DecideCanary. `use_analysis` false: ignore the verdict.
CanaryPlan DecideOnce(const CanaryConfig& config, int desired, const CanaryStatus& status,
                      const CanaryObservation& observed, bool use_analysis, TimePoint now) {
  CanaryPlan plan{status, {}, absl::OkStatus()};
  CanaryStatus& st = plan.status;
  desired = std::max(desired, 1);
  const std::vector<spec::CanaryStep> steps = config.policy.EffectiveSteps();
  const int nsteps = static_cast<int>(steps.size());
  // A policy with fewer steps than when the rollout began: stay on its last one.
  st.step = std::clamp(st.step, 0,
                       st.phase == CanaryPhase::kStarting || st.phase == CanaryPhase::kAnalysing
                           ? nsteps - 1
                           : nsteps);
  const int target = st.target_revision;
  const int previous = st.previous_revision;
  auto is_new = [&](const ReplicaView& r) { return r.revision == target; };
  auto is_old = [&](const ReplicaView& r) { return previous > 0 && r.revision == previous; };

  std::vector<const ReplicaView*> active;  // not draining, oldest first
  for (const ReplicaView& r : observed.replicas) {
    if (r.state != ReplicaState::kDraining) active.push_back(&r);
  }
  std::stable_sort(active.begin(), active.end(), [](const ReplicaView* a, const ReplicaView* b) {
    return a->started_at < b->started_at;
  });
  auto count_ready = [&](auto pred) {
    return static_cast<int>(std::count_if(active.begin(), active.end(), [&](const ReplicaView* r) {
      return pred(*r) && r->state == ReplicaState::kReady;
    }));
  };
  const int new_ready = count_ready(is_new);

  // 1. An operator's command, each at most once; one the phase does not
  // allow is refused.
  if (observed.command != Command::kNone && observed.command_id > st.last_command_id) {
    st.last_command_id = observed.command_id;
    plan.command_status = CheckCommand(st, observed.command);
  }
  const bool commanded = plan.command_status.ok() && st.last_command_id != status.last_command_id;
  if (commanded) {
    switch (observed.command) {
      case Command::kNone:
        break;
      case Command::kPromote:
        if (st.phase == CanaryPhase::kSucceeded) {
          st.warm_held = false;
          st.previous_released = true;
          absl::StrAppend(&st.reason, "; promoted by the operator: previous revision released");
        } else {
          Advance(st, nsteps, false, new_ready, now);
        }
        break;
      case Command::kPromoteFull:
        Advance(st, nsteps, true, new_ready, now);
        break;
      case Command::kAbort:
        StartRollback(st, "aborted by the operator", now);
        break;
      case Command::kRetry: {
        CanaryStatus again = BeginCanary(target, previous, now);
        again.attempt = st.attempt + 1;
        again.last_command_id = st.last_command_id;
        st = again;
        break;
      }
      case Command::kUndo:
        StartRollback(st, "undone by the operator inside the rollback window", now);
        break;
    }
  }

  if (st.phase == CanaryPhase::kFailed) return plan;  // a human decides from here

  // A first deployment has nothing to compare a canary with: promote (as Argo
  // Rollouts does without a stable ReplicaSet).
  if (previous == 0 &&
      (st.phase == CanaryPhase::kStarting || st.phase == CanaryPhase::kAnalysing)) {
    Advance(st, nsteps, true, new_ready, now);
  }

  // 2. Rollback triggers: a failed replica of the new revision, the analysis.
  auto watching = [&] {
    return InCanary(st.phase) || (st.phase == CanaryPhase::kSucceeded && !st.previous_released);
  };
  if (watching()) {
    for (const ReplicaView* r : active) {
      if (is_new(*r) && r->state == ReplicaState::kFailed) {
        Trigger(st, config,
                absl::StrCat("replica ", r->name, " of revision ", r->revision,
                             " failed: ", Or(r->failure, "unhealthy")),
                now);
        break;
      }
    }
  }
  // The verdict was computed for the saved status; after a command changed
  // it, the verdict is stale.
  const Analysis no_verdict;
  const Analysis& analysis = use_analysis && !commanded ? observed.analysis : no_verdict;
  if (watching() && analysis.verdict == Verdict::kRollback) {
    Trigger(st, config, Or(analysis.reason, "the analysis failed"), now);
  }

  // 3. Progress: one more ready replica of the revision the phase waits for.
  if (st.phase == CanaryPhase::kStarting || st.phase == CanaryPhase::kPromoting ||
      st.phase == CanaryPhase::kRollingBack) {
    const int ready = st.phase == CanaryPhase::kRollingBack ? count_ready(is_old) : new_ready;
    if (ready > st.serving_at_progress) {
      st.serving_at_progress = ready;
      st.last_progress = now;
    }
  }

  // 4. The analysis verdict and the clocks.
  const std::string deadline = FormatDuration(config.progress_deadline);
  switch (st.phase) {
    case CanaryPhase::kStarting:
    case CanaryPhase::kPromoting:
      if (analysis.verdict == Verdict::kPause) {
        Pause(st, Or(analysis.reason, "paused by the analysis"));
      } else if (now - st.last_progress > config.progress_deadline) {
        StartRollback(
            st,
            st.phase == CanaryPhase::kStarting
                ? absl::StrCat("the canary replicas of step ", st.step + 1, " (",
                               FormatPercent(steps[st.step].weight),
                               ") did not all become ready within the progress deadline (",
                               deadline, ")")
                : absl::StrCat("revision ", target, " did not reach ", desired,
                               " ready replicas within the progress deadline (", deadline, ")"),
            now);
      }
      break;
    case CanaryPhase::kAnalysing: {
      if (analysis.verdict == Verdict::kPause) {
        Pause(st, Or(analysis.reason, "paused by the analysis"));
        break;
      }
      const TimePoint hold_end = st.hold_started_at + steps[st.step].hold;
      if (now < hold_end) break;  // an early or stale kPromote/kInconclusive waits
      if (analysis.verdict == Verdict::kPromote) {
        Advance(st, nsteps, false, new_ready, now);
      } else if (analysis.verdict == Verdict::kInconclusive) {
        Inconclusive(st, config, Or(analysis.reason, "no reason given"), now);
      } else if (now - hold_end > config.progress_deadline) {
        Inconclusive(st, config,
                     absl::StrCat("no verdict within ", deadline, " after the hold ended"), now);
      }
      break;
    }
    case CanaryPhase::kSucceeded:
      if (!st.previous_released && !st.warm_held &&
          now >= st.promoted_at + config.policy.rollback_window) {
        st.previous_released = true;
      }
      break;
    case CanaryPhase::kRollingBack:
      if (now - st.last_progress > config.progress_deadline) {
        st.phase = CanaryPhase::kFailed;
        absl::StrAppend(&st.reason, "; rollback stalled: revision ", previous, " did not reach ",
                        desired, " ready replicas within the progress deadline (", deadline, ")");
        return plan;
      }
      break;
    default:
      break;
  }

  // 5. Which replicas stay, leave and start.
  const bool back = GoingBack(st.phase);
  const bool full_new = st.phase == CanaryPhase::kPromoting ||
                        st.phase == CanaryPhase::kSucceeded ||
                        (st.phase == CanaryPhase::kPaused && st.step >= nsteps);
  const int step_index = std::min(st.step, nsteps - 1);
  const int new_target = back       ? 0
                         : full_new ? desired
                                    : CanaryReplicas(steps[step_index].weight, desired);
  enum class OldMode { kFull, kWarm, kRelease };
  const OldMode old_mode = st.phase != CanaryPhase::kSucceeded ? OldMode::kFull
                           : st.previous_released              ? OldMode::kRelease
                                                               : OldMode::kWarm;

  std::vector<Action> leave_actions;
  auto leave = [&](const ReplicaView& r) {
    leave_actions.push_back(
        {r.in_load_balancer ? ActionKind::kDrainAndStop : ActionKind::kStop, 0, r.name});
  };
  // Extra replicas leave, those not serving and the youngest first.
  auto trim = [&](std::vector<const ReplicaView*>& kept, int keep) {
    while (static_cast<int>(kept.size()) > std::max(keep, 0)) {
      auto victim = kept.end() - 1;
      for (auto it = kept.end(); it != kept.begin();) {
        --it;
        if (!Serving(**it)) {
          victim = it;
          break;
        }
      }
      leave(**victim);
      kept.erase(victim);
    }
  };
  auto joins = [](const ReplicaView& r) {
    return r.state == ReplicaState::kReady && !r.in_load_balancer;
  };

  // The previous revision: full size, or warm, or released.
  std::vector<const ReplicaView*> old_kept;
  for (const ReplicaView* r : active) {
    if (!is_old(*r)) continue;
    if (r->state == ReplicaState::kFailed || old_mode == OldMode::kRelease) {
      leave(*r);
    } else {
      old_kept.push_back(r);
    }
  }
  if (old_mode == OldMode::kFull) trim(old_kept, desired);
  int old_serving = 0;  // after this plan
  for (const ReplicaView* r : old_kept) {
    if (Serving(*r) || (old_mode == OldMode::kFull && joins(*r))) ++old_serving;
  }
  const int old_starts =
      old_mode == OldMode::kFull && previous > 0 ? desired - static_cast<int>(old_kept.size()) : 0;

  // The new revision: the step's canary replicas, full size, or leaving. Going
  // back, it leaves traffic only once the previous revision serves.
  std::vector<const ReplicaView*> new_kept;
  std::vector<const ReplicaView*> new_out;  // in the load balancer, leaving: weight 0 first
  for (const ReplicaView* r : active) {
    if (!is_new(*r)) continue;
    if (!back) {
      if (r->state == ReplicaState::kFailed) {
        leave(*r);
      } else {
        new_kept.push_back(r);
      }
    } else if (!r->in_load_balancer) {
      leave(*r);
    } else if (old_serving > 0) {
      new_out.push_back(r);
      leave(*r);
    } else if (r->state == ReplicaState::kFailed) {
      leave(*r);  // the load balancer's checks took it out already
    } else {
      new_kept.push_back(r);  // keeps serving until the previous revision is back
    }
  }
  if (!back) trim(new_kept, new_target);
  // A canary joins only next to a serving stable revision, so its share never
  // exceeds the step's.
  const bool new_may_join =
      !back && (previous == 0 || old_serving > 0 || st.phase == CanaryPhase::kSucceeded);
  int new_serving = 0;  // after this plan
  for (const ReplicaView* r : new_kept) {
    if (Serving(*r) || (new_may_join && joins(*r))) ++new_serving;
  }
  const int new_starts = back ? 0 : std::max(0, new_target - static_cast<int>(new_kept.size()));

  // Replicas of other revisions leave once the revision that stays serves at
  // full size (at once when they serve nothing).
  const int staying_serving =
      st.phase == CanaryPhase::kSucceeded || previous == 0 ? new_serving : old_serving;
  for (const ReplicaView* r : active) {
    if (is_new(*r) || is_old(*r)) continue;
    if (!r->in_load_balancer || r->state == ReplicaState::kFailed || staying_serving >= desired) {
      leave(*r);
    }
  }

  // 6. Phase changes that follow from the replicas after this plan.
  switch (st.phase) {
    case CanaryPhase::kStarting:
      if (new_serving >= new_target && old_serving > 0) {
        st.phase = CanaryPhase::kAnalysing;
        st.hold_started_at = now;
        st.extended = false;
      }
      break;
    case CanaryPhase::kPromoting:
      if (new_serving >= desired) {
        st.phase = CanaryPhase::kSucceeded;
        st.promoted_at = now;
        st.warm_held = false;
        st.previous_released = previous == 0;
        st.reason.clear();
      }
      break;
    case CanaryPhase::kRollingBack:
      if (new_kept.empty() && old_serving >= desired) st.phase = CanaryPhase::kRolledBack;
      break;
    default:
      break;
  }

  // 7. Weights for the phase after this plan.
  int new_weight = kNormalWeight;
  int old_weight = kNormalWeight;
  if (InCanary(st.phase)) {
    if (new_serving > 0 && old_serving > 0) {
      double share = steps[step_index].weight;
      if (st.step < nsteps) {
        // While the step's canary replicas start, the share grows with them
        // (never below the last step's), so no canary replica takes more
        // than its part of the step's traffic.
        const int wanted = CanaryReplicas(share, desired);
        if (new_serving < wanted) {
          const double last_share = step_index > 0 ? steps[step_index - 1].weight : 0.0;
          share = std::max(last_share, share * new_serving / wanted);
        }
      }
      const WeightSplit split = SplitWeights(new_serving, old_serving, share);
      new_weight = split.canary;
      old_weight = split.stable;
    }
  } else if (st.phase == CanaryPhase::kSucceeded) {
    old_weight = 0;  // warm: running, out of traffic
  } else {
    new_weight = 0;  // going back
  }

  auto current = [&](const ReplicaView& r) {
    auto it = observed.weights.find(r.name);
    return it == observed.weights.end() ? -1 : it->second;  // -1: unknown
  };
  std::vector<Action> new_down, new_up, old_up, old_down;
  for (const ReplicaView* r : old_kept) {
    const int cur = current(*r);
    if (r->in_load_balancer) {
      if (cur == old_weight) continue;
      // An unknown weight (-1) counts as 0 going up and as more going down.
      (old_weight > std::max(cur, 0) ? old_up : old_down)
          .push_back({ActionKind::kSetWeight, 0, r->name, old_weight});
    } else if (joins(*r) && old_mode == OldMode::kFull && old_weight > 0) {
      old_up.push_back({ActionKind::kAddToLoadBalancer, 0, r->name, old_weight});
    }
  }
  if (!back) {
    for (const ReplicaView* r : new_kept) {
      const int cur = current(*r);
      if (r->in_load_balancer) {
        if (cur == new_weight) continue;
        const Action a{ActionKind::kSetWeight, 0, r->name, new_weight};
        if (new_weight <= std::max(cur, 0)) {
          new_down.push_back(a);
        } else {
          new_up.push_back(a);
        }
      } else if (new_may_join && joins(*r)) {
        new_up.push_back({ActionKind::kAddToLoadBalancer, 0, r->name, new_weight});
      }
    }
  }
  for (const ReplicaView* r : new_out) {
    if (current(*r) == 0) continue;
    new_down.push_back({ActionKind::kSetWeight, 0, r->name, 0});
  }

  // First the changes that lower the new revision's share, then those that
  // raise it: every moment of the plan gives the canary at most the larger of
  // its shares before and after. Within each group an increase comes before a
  // decrease, so the serving replicas never all sit at weight 0 - except that
  // a canary leaves traffic first of all while the stable revision carries
  // some, so a rollback never waits.
  bool old_carries = false;
  for (const ReplicaView* r : active) {
    if (is_old(*r) && Serving(*r) && current(*r) != 0) old_carries = true;
  }
  auto append = [&](const std::vector<Action>& v) {
    plan.actions.insert(plan.actions.end(), v.begin(), v.end());
  };
  if (old_carries) {
    append(new_down);
    append(old_up);
  } else {
    append(old_up);  // the warm previous revision comes back before the new one leaves
    append(new_down);
  }
  append(new_up);
  append(old_down);
  append(leave_actions);
  for (int i = 0; i < old_starts; ++i) {
    plan.actions.push_back({ActionKind::kStartReplica, previous, ""});
  }
  for (int i = 0; i < new_starts; ++i) {
    plan.actions.push_back({ActionKind::kStartReplica, target, ""});
  }
  return plan;
}

}  // namespace

CanaryPlan DecideCanary(const CanaryConfig& config, int desired, const CanaryStatus& status,
                        const CanaryObservation& observed, TimePoint now) {
  // Phase changes that follow from one another on the same observation
  // happen now: pass again until the status settles (a few passes at most;
  // the bound only guards against a bug).
  CanaryPlan plan = DecideOnce(config, desired, status, observed, true, now);
  const absl::Status command_status = plan.command_status;
  const bool commanded = plan.status.last_command_id != status.last_command_id;
  for (int pass = 0; pass < 8; ++pass) {
    CanaryPlan next = DecideOnce(config, desired, plan.status, observed, !commanded, now);
    const bool settled = next.status == plan.status;
    plan = std::move(next);
    if (settled) break;
  }
  plan.command_status = command_status;
  return plan;
}

// ---------------------------------------------------------------- JSON

namespace {

int64_t Millis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

absl::Status Unreadable(std::string_view key, std::string_view what) {
  return absl::DataLossError(absl::StrCat("saved canary state is unreadable: \"", std::string(key),
                                          "\" ", std::string(what)));
}

absl::StatusOr<int64_t> Int(const nlohmann::json& j, const char* key, int64_t min, int64_t max) {
  auto it = j.find(key);
  if (it == j.end()) return Unreadable(key, "is missing");
  if (!it->is_number_integer()) return Unreadable(key, "is not an integer");
  int64_t v = 0;
  if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) {
      return Unreadable(key, absl::StrCat("is out of range (", u, ")"));
    }
    v = static_cast<int64_t>(u);
  } else {
    v = it->get<int64_t>();
  }
  if (v < min || v > max) return Unreadable(key, absl::StrCat("is out of range (", v, ")"));
  return v;
}

absl::StatusOr<bool> Bool(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return Unreadable(key, "is missing");
  if (!it->is_boolean()) return Unreadable(key, "is not a boolean");
  return it->get<bool>();
}

absl::StatusOr<std::string> String(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return Unreadable(key, "is missing");
  if (!it->is_string()) return Unreadable(key, "is not a string");
  return it->get<std::string>();
}

}  // namespace

nlohmann::json CanaryStatusToJson(const CanaryStatus& s) {
  return {{"target_revision", s.target_revision},
          {"previous_revision", s.previous_revision},
          {"attempt", s.attempt},
          {"phase", std::string(CanaryPhaseName(s.phase))},
          {"step", s.step},
          {"hold_started_at_ms", Millis(s.hold_started_at)},
          {"extended", s.extended},
          {"last_progress_ms", Millis(s.last_progress)},
          {"serving_at_progress", s.serving_at_progress},
          {"promoted_at_ms", Millis(s.promoted_at)},
          {"warm_held", s.warm_held},
          {"previous_released", s.previous_released},
          {"reason", s.reason},
          {"last_command_id", s.last_command_id}};
}

absl::StatusOr<CanaryStatus> CanaryStatusFromJson(const nlohmann::json& j) {
  if (!j.is_object()) {
    return absl::DataLossError(absl::StrCat(
        "saved canary state is unreadable: expected an object, got ", std::string(j.type_name())));
  }
  constexpr int64_t kIntMax = std::numeric_limits<int>::max();
  // Times as milliseconds since the epoch, within what a TimePoint holds.
  constexpr int64_t kMsMax = 9'000'000'000'000;
  constexpr int64_t kMsMin = -kMsMax;
  auto ms = [](int64_t v) { return TimePoint(std::chrono::milliseconds(v)); };
  CanaryStatus s;
  HUT_ASSIGN_OR_RETURN(int64_t target, Int(j, "target_revision", 1, kIntMax));
  HUT_ASSIGN_OR_RETURN(int64_t previous, Int(j, "previous_revision", 0, kIntMax));
  HUT_ASSIGN_OR_RETURN(int64_t attempt, Int(j, "attempt", 1, kIntMax));
  HUT_ASSIGN_OR_RETURN(std::string phase, String(j, "phase"));
  HUT_ASSIGN_OR_RETURN(int64_t step, Int(j, "step", 0, kIntMax));
  HUT_ASSIGN_OR_RETURN(int64_t hold, Int(j, "hold_started_at_ms", kMsMin, kMsMax));
  HUT_ASSIGN_OR_RETURN(s.extended, Bool(j, "extended"));
  HUT_ASSIGN_OR_RETURN(int64_t progress, Int(j, "last_progress_ms", kMsMin, kMsMax));
  HUT_ASSIGN_OR_RETURN(int64_t serving, Int(j, "serving_at_progress", 0, kIntMax));
  HUT_ASSIGN_OR_RETURN(int64_t promoted, Int(j, "promoted_at_ms", kMsMin, kMsMax));
  HUT_ASSIGN_OR_RETURN(s.warm_held, Bool(j, "warm_held"));
  HUT_ASSIGN_OR_RETURN(s.previous_released, Bool(j, "previous_released"));
  HUT_ASSIGN_OR_RETURN(s.reason, String(j, "reason"));
  HUT_ASSIGN_OR_RETURN(s.last_command_id,
                       Int(j, "last_command_id", 0, std::numeric_limits<int64_t>::max()));
  bool known = false;
  for (CanaryPhase p : kPhases) {
    if (CanaryPhaseName(p) == phase) {
      s.phase = p;
      known = true;
    }
  }
  if (!known) return Unreadable("phase", absl::StrCat("is not a canary phase: \"", phase, "\""));
  s.target_revision = static_cast<int>(target);
  s.previous_revision = static_cast<int>(previous);
  s.attempt = static_cast<int>(attempt);
  s.step = static_cast<int>(step);
  s.hold_started_at = ms(hold);
  s.last_progress = ms(progress);
  s.serving_at_progress = static_cast<int>(serving);
  s.promoted_at = ms(promoted);
  return s;
}

}  // namespace hut::rollout

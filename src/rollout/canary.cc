#include "src/rollout/canary.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/common/units.h"
#include "src/rollout/canary_stages.h"

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
    case Command::kPause:
      return "pause";
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

// While the rollback triggers watch the new revision.
bool Watching(const CanaryStatus& st) {
  return InCanary(st.phase) || (st.phase == CanaryPhase::kSucceeded && !st.previous_released);
}

std::string PhaseText(const CanaryStatus& st) { return std::string(CanaryPhaseName(st.phase)); }

int Steps(const canary_stages::Context& ctx) { return static_cast<int>(ctx.steps.size()); }

// Rolling back, or failed when there is nothing to go back to. The progress
// count is the one TrackProgress keeps for rolling-back: `previous_ready`.
void StartRollback(CanaryStatus& st, std::string reason, TimePoint now, int previous_ready) {
  st.reason = std::move(reason);
  st.last_progress = now;
  st.serving_at_progress = previous_ready;
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
void Advance(CanaryStatus& st, int steps, bool full, int target_ready, TimePoint now) {
  st.reason.clear();
  st.extended = false;
  st.hold_started_at = TimePoint{};
  st.last_progress = now;
  st.serving_at_progress = target_ready;
  if (!full && st.step + 1 < steps) {
    ++st.step;
    st.phase = CanaryPhase::kStarting;
  } else {
    st.step = steps;
    st.phase = CanaryPhase::kPromoting;
  }
}

// A rollback trigger fired.
void Trigger(CanaryStatus& st, const canary_stages::Context& ctx, const std::string& reason,
             int previous_ready) {
  if (st.phase == CanaryPhase::kSucceeded) {
    if (ctx.config.automatic_rollback) {
      StartRollback(st, absl::StrCat("inside the rollback window: ", reason), ctx.now,
                    previous_ready);
    } else if (!st.warm_held) {
      st.warm_held = true;
      st.reason = absl::StrCat(reason,
                               "; automatic rollback is off: the previous revision stays warm "
                               "until undo or promote");
    }
    return;
  }
  if (ctx.config.automatic_rollback) {
    StartRollback(st, reason, ctx.now, previous_ready);
  } else if (st.phase != CanaryPhase::kPaused) {
    Pause(st, absl::StrCat(reason, "; automatic rollback is off: waiting for promote or abort"));
  }
}

void Inconclusive(CanaryStatus& st, const canary_stages::Context& ctx, const std::string& reason,
                  int previous_ready) {
  switch (ctx.config.policy.inconclusive) {
    case spec::InconclusiveAction::kExtend:
      if (!st.extended) {
        st.extended = true;
        st.hold_started_at = ctx.now;  // one more analysis period
        return;
      }
      StartRollback(st, absl::StrCat("analysis inconclusive after an extended hold: ", reason),
                    ctx.now, previous_ready);
      return;
    case spec::InconclusiveAction::kPause:
      Pause(st, absl::StrCat("analysis inconclusive: ", reason, "; waiting for promote or abort"));
      return;
    case spec::InconclusiveAction::kFail:
      StartRollback(st, absl::StrCat("analysis inconclusive: ", reason), ctx.now, previous_ready);
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
    case Command::kPause:
      if (st.phase == CanaryPhase::kStarting || st.phase == CanaryPhase::kAnalysing) {
        return absl::OkStatus();
      }
      return refuse(st.phase == CanaryPhase::kPaused ? "it is paused already" : is);
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

namespace canary_stages {

Context MakeContext(const CanaryConfig& config, int desired, TimePoint now) {
  return {config, std::max(desired, 1), config.policy.EffectiveSteps(), now};
}

Fleet SortReplicas(const CanaryStatus& status, const std::vector<runtime::Replica>& replicas) {
  std::vector<runtime::Replica> active;
  for (const runtime::Replica& r : replicas) {
    if (r.state != runtime::ReplicaState::kDraining) active.push_back(r);
  }
  std::stable_sort(active.begin(), active.end(),
                   [](const auto& a, const auto& b) { return a.started_at < b.started_at; });
  Fleet fleet;
  for (runtime::Replica& r : active) {
    if (r.revision == status.target_revision) {
      fleet.target.push_back(std::move(r));
    } else if (status.previous_revision > 0 && r.revision == status.previous_revision) {
      fleet.previous.push_back(std::move(r));
    } else {
      fleet.others[r.revision].push_back(std::move(r));
    }
  }
  return fleet;
}

bool Serving(const runtime::Replica& r) {
  return r.serving && r.state == runtime::ReplicaState::kReady;
}

int CountReady(const std::vector<runtime::Replica>& replicas) {
  return static_cast<int>(std::count_if(replicas.begin(), replicas.end(), [](const auto& r) {
    return r.state == runtime::ReplicaState::kReady;
  }));
}

int CountServing(const std::vector<runtime::Replica>& replicas) {
  return static_cast<int>(std::count_if(replicas.begin(), replicas.end(), Serving));
}

int ServingAfter(const std::vector<runtime::Replica>& replicas, int count) {
  std::vector<const runtime::Replica*> kept;  // healthy; serving first, then the oldest
  for (const runtime::Replica& r : replicas) {
    if (!runtime::Unhealthy(r.state) && r.state != runtime::ReplicaState::kDraining) {
      kept.push_back(&r);
    }
  }
  std::stable_sort(kept.begin(), kept.end(), [](const auto* a, const auto* b) {
    if (Serving(*a) != Serving(*b)) return Serving(*a);
    return a->started_at < b->started_at;
  });
  kept.resize(std::min<size_t>(kept.size(), static_cast<size_t>(std::max(count, 0))));
  return static_cast<int>(std::count_if(kept.begin(), kept.end(), [](const auto* r) {
    return r->state == runtime::ReplicaState::kReady;
  }));
}

CanaryStatus ClampStep(const Context& ctx, CanaryStatus st) {
  const bool in_step = st.phase == CanaryPhase::kStarting || st.phase == CanaryPhase::kAnalysing;
  st.step = std::clamp(st.step, 0, in_step ? Steps(ctx) - 1 : Steps(ctx));
  return st;
}

CommandOutcome ApplyCommand(const Context& ctx, const CanaryStatus& status, Command command,
                            int64_t command_id, const std::string& reason, const Fleet& fleet) {
  const auto why = [&reason](const char* by_operator) {
    return reason.empty() ? std::string(by_operator) : reason;
  };
  CommandOutcome out{status, absl::OkStatus(), false};
  if (command == Command::kNone || command_id <= status.last_command_id) return out;
  CanaryStatus& st = out.status;
  st.last_command_id = command_id;
  out.command_status = CheckCommand(status, command);
  if (!out.command_status.ok()) return out;
  out.applied = true;
  const int target_ready = CountReady(fleet.target);
  const int previous_ready = CountReady(fleet.previous);
  switch (command) {
    case Command::kNone:
      break;
    case Command::kPromote:
      if (st.phase == CanaryPhase::kSucceeded) {
        st.warm_held = false;
        st.previous_released = true;
        absl::StrAppend(&st.reason, "; promoted by the operator: previous revision released");
      } else {
        Advance(st, Steps(ctx), false, target_ready, ctx.now);
      }
      break;
    case Command::kPromoteFull:
      Advance(st, Steps(ctx), true, target_ready, ctx.now);
      break;
    case Command::kAbort:
      StartRollback(st, why("aborted by the operator"), ctx.now, previous_ready);
      break;
    case Command::kRetry: {
      CanaryStatus again = BeginCanary(st.target_revision, st.previous_revision, ctx.now);
      again.attempt = st.attempt + 1;
      again.last_command_id = st.last_command_id;
      st = again;
      break;
    }
    case Command::kUndo:
      StartRollback(st, why("undone by the operator inside the rollback window"), ctx.now,
                    previous_ready);
      break;
    case Command::kPause:
      Pause(st, why("paused by the operator"));
      break;
  }
  return out;
}

CanaryStatus SkipCanaryWithoutPrevious(const Context& ctx, CanaryStatus st, const Fleet& fleet) {
  if (st.previous_revision == 0 &&
      (st.phase == CanaryPhase::kStarting || st.phase == CanaryPhase::kAnalysing)) {
    Advance(st, Steps(ctx), true, CountReady(fleet.target), ctx.now);
  }
  return st;
}

CanaryStatus EvaluateTriggers(const Context& ctx, CanaryStatus st, const Fleet& fleet,
                              const std::map<int, std::string>& cannot_start,
                              const Analysis& analysis) {
  const int previous_ready = CountReady(fleet.previous);
  for (const runtime::Replica& r : fleet.target) {
    if (!Watching(st)) break;
    if (runtime::Unhealthy(r.state)) {
      Trigger(st, ctx,
              absl::StrCat("replica ", r.name, " of revision ", r.revision,
                           " failed: ", Or(r.reason, "unhealthy")),
              previous_ready);
      break;
    }
  }
  if (auto it = cannot_start.find(st.target_revision); Watching(st) && it != cannot_start.end()) {
    Trigger(st, ctx, absl::StrCat("cannot start revision ", st.target_revision, ": ", it->second),
            previous_ready);
  }
  if (Watching(st) && analysis.verdict == Verdict::kRollback) {
    Trigger(st, ctx, Or(analysis.reason, "the analysis failed"), previous_ready);
  }
  return st;
}

CanaryStatus TrackProgress(const Context& ctx, CanaryStatus st, const Fleet& fleet) {
  if (st.phase != CanaryPhase::kStarting && st.phase != CanaryPhase::kPromoting &&
      st.phase != CanaryPhase::kRollingBack) {
    return st;
  }
  const bool back = st.phase == CanaryPhase::kRollingBack;
  const int ready = CountReady(back ? fleet.previous : fleet.target);
  if (ready > st.serving_at_progress) {
    st.serving_at_progress = ready;
    st.last_progress = ctx.now;
  }
  return st;
}

namespace {

// Starting and promoting: a kPause verdict, or the replicas waited for are
// not all ready within the progress deadline.
void WaitForReplicas(const Context& ctx, CanaryStatus& st, const Analysis& analysis,
                     int previous_ready) {
  if (analysis.verdict == Verdict::kPause) {
    Pause(st, Or(analysis.reason, "paused by the analysis"));
    return;
  }
  if (ctx.now - st.last_progress <= ctx.config.progress_deadline) return;
  const std::string deadline = FormatDuration(ctx.config.progress_deadline);
  StartRollback(
      st,
      st.phase == CanaryPhase::kStarting
          ? absl::StrCat("the canary replicas of step ", st.step + 1, " (",
                         FormatPercent(ctx.steps[st.step].weight),
                         ") did not all become ready within the progress deadline (", deadline,
                         ")")
          : absl::StrCat("revision ", st.target_revision, " did not reach ", ctx.desired,
                         " ready replicas within the progress deadline (", deadline, ")"),
      ctx.now, previous_ready);
}

// Analysing: the verdict once the step's hold is over.
void JudgeHold(const Context& ctx, CanaryStatus& st, const Analysis& analysis, const Fleet& fleet) {
  if (analysis.verdict == Verdict::kPause) {
    Pause(st, Or(analysis.reason, "paused by the analysis"));
    return;
  }
  const TimePoint hold_end = st.hold_started_at + ctx.steps[st.step].hold;
  if (ctx.now < hold_end) return;  // an early or stale kPromote/kInconclusive waits
  const int previous_ready = CountReady(fleet.previous);
  if (analysis.verdict == Verdict::kPromote) {
    Advance(st, Steps(ctx), false, CountReady(fleet.target), ctx.now);
  } else if (analysis.verdict == Verdict::kInconclusive) {
    Inconclusive(st, ctx, Or(analysis.reason, "no reason given"), previous_ready);
  } else if (ctx.now - hold_end > ctx.config.progress_deadline) {
    Inconclusive(st, ctx,
                 absl::StrCat("no verdict within ", FormatDuration(ctx.config.progress_deadline),
                              " after the hold ended"),
                 previous_ready);
  }
}

// Succeeded: the warm previous revision is let go when the window closes
// (not while held warm for a human).
void CloseRollbackWindow(const Context& ctx, CanaryStatus& st) {
  if (!st.previous_released && !st.warm_held &&
      ctx.now >= st.promoted_at + ctx.config.policy.rollback_window) {
    st.previous_released = true;
  }
}

void FailStalledRollback(const Context& ctx, CanaryStatus& st) {
  if (ctx.now - st.last_progress <= ctx.config.progress_deadline) return;
  st.phase = CanaryPhase::kFailed;
  absl::StrAppend(&st.reason, "; rollback stalled: revision ", st.previous_revision,
                  " did not reach ", ctx.desired,
                  " ready replicas within the progress deadline (",
                  FormatDuration(ctx.config.progress_deadline), ")");
}

}  // namespace

CanaryStatus AdvanceClocks(const Context& ctx, CanaryStatus st, const Analysis& analysis,
                           const Fleet& fleet) {
  switch (st.phase) {
    case CanaryPhase::kStarting:
    case CanaryPhase::kPromoting:
      WaitForReplicas(ctx, st, analysis, CountReady(fleet.previous));
      break;
    case CanaryPhase::kAnalysing:
      JudgeHold(ctx, st, analysis, fleet);
      break;
    case CanaryPhase::kSucceeded:
      CloseRollbackWindow(ctx, st);
      break;
    case CanaryPhase::kRollingBack:
      FailStalledRollback(ctx, st);
      break;
    default:
      break;
  }
  return st;
}

ReplicaCounts PlanReplicas(const Context& ctx, const CanaryStatus& st, const Fleet& fleet) {
  ReplicaCounts c;
  if (st.previous_revision > 0) {
    if (st.phase != CanaryPhase::kSucceeded) {
      c.previous = ctx.desired;
    } else if (!st.previous_released) {  // warm: keep what runs, start none
      c.previous = static_cast<int>(std::count_if(
          fleet.previous.begin(), fleet.previous.end(),
          [](const runtime::Replica& r) { return !runtime::Unhealthy(r.state); }));
    }
    c.previous_serving = ServingAfter(fleet.previous, c.previous);
  }
  const bool full = st.phase == CanaryPhase::kPromoting || st.phase == CanaryPhase::kSucceeded ||
                    (st.phase == CanaryPhase::kPaused && st.step >= Steps(ctx));
  if (GoingBack(st.phase)) {
    // The new revision leaves traffic only once the previous one serves.
    c.target = c.previous_serving > 0 ? 0 : CountServing(fleet.target);
  } else if (full) {
    c.target = ctx.desired;
  } else {
    c.target = CanaryReplicas(ctx.steps[std::min(st.step, Steps(ctx) - 1)].weight, ctx.desired);
  }
  c.target_serving = ServingAfter(fleet.target, c.target);
  const bool target_stays = st.phase == CanaryPhase::kSucceeded || st.previous_revision == 0;
  const int staying = target_stays ? c.target_serving : c.previous_serving;
  for (const auto& [revision, replicas] : fleet.others) {
    c.others[revision] = staying >= ctx.desired ? 0 : CountServing(replicas);
  }
  return c;
}

CanaryStatus SettlePhase(const Context& ctx, CanaryStatus st, const ReplicaCounts& counts) {
  switch (st.phase) {
    case CanaryPhase::kStarting:
      if (counts.target_serving >= counts.target && counts.previous_serving > 0) {
        st.phase = CanaryPhase::kAnalysing;
        st.hold_started_at = ctx.now;
        st.extended = false;
      }
      break;
    case CanaryPhase::kPromoting:
      if (counts.target_serving >= ctx.desired) {
        st.phase = CanaryPhase::kSucceeded;
        st.promoted_at = ctx.now;
        st.warm_held = false;
        st.previous_released = st.previous_revision == 0;
        st.reason.clear();
        CloseRollbackWindow(ctx, st);  // a window of 0 releases the previous revision now
      }
      break;
    case CanaryPhase::kRollingBack:
      // The target then keeps no replicas (PlanReplicas).
      if (counts.previous_serving >= ctx.desired) st.phase = CanaryPhase::kRolledBack;
      break;
    default:
      break;
  }
  return st;
}

double TargetShare(const Context& ctx, const CanaryStatus& st, const ReplicaCounts& counts) {
  if (st.previous_revision == 0 || st.phase == CanaryPhase::kSucceeded) return 1.0;
  if (GoingBack(st.phase)) return 0.0;
  // A canary takes traffic only next to a serving stable replica.
  if (counts.target_serving == 0 || counts.previous_serving == 0) return 0.0;
  const int index = std::min(st.step, Steps(ctx) - 1);
  double share = ctx.steps[index].weight;
  if (st.step < Steps(ctx)) {
    // While the step's canary replicas start, the share grows with them
    // (never below the last step's), so no canary replica takes more than
    // its part of the step's traffic.
    const int wanted = CanaryReplicas(share, ctx.desired);
    if (counts.target_serving < wanted) {
      const double last_share = index > 0 ? ctx.steps[index - 1].weight : 0.0;
      share = std::max(last_share, share * counts.target_serving / wanted);
    }
  }
  return share;
}

runtime::ServicePlan PlanTraffic(const Context& ctx, const CanaryStatus& st,
                                 const ReplicaCounts& counts) {
  runtime::ServicePlan plan;
  plan.split = true;
  const double share = TargetShare(ctx, st, counts);
  if (st.previous_revision > 0) {
    plan.revisions.push_back({st.previous_revision, counts.previous, 1.0 - share});
  }
  plan.revisions.push_back({st.target_revision, counts.target, share});
  for (const auto& [revision, replicas] : counts.others) {
    plan.revisions.push_back({revision, replicas, 0.0});
  }
  return plan;
}

}  // namespace canary_stages

CanaryPlan DecideCanary(const CanaryConfig& config, int desired, const CanaryStatus& status,
                        const CanaryObservation& observed, TimePoint now) {
  using namespace canary_stages;  // NOLINT(google-build-using-namespace): the stages, in order
  const Context ctx = MakeContext(config, desired, now);
  const Fleet fleet = SortReplicas(status, observed.replicas);
  const CommandOutcome command =
      ApplyCommand(ctx, ClampStep(ctx, status), observed.command, observed.command_id,
                   observed.command_reason, fleet);
  CanaryPlan plan{command.status, std::nullopt, command.command_status};
  CanaryStatus& st = plan.status;
  if (st.phase == CanaryPhase::kFailed) return plan;  // a human decides from here
  // The verdict judged the saved status; after a command changed it, it is stale.
  const Analysis analysis = command.applied ? Analysis{} : observed.analysis;
  st = SkipCanaryWithoutPrevious(ctx, st, fleet);
  st = EvaluateTriggers(ctx, st, fleet, observed.cannot_start, analysis);
  st = TrackProgress(ctx, st, fleet);
  st = AdvanceClocks(ctx, st, analysis, fleet);
  if (st.phase == CanaryPhase::kFailed) return plan;
  st = SettlePhase(ctx, st, PlanReplicas(ctx, st, fleet));
  // The counts and shares of the phase the rollout is left in.
  plan.target = PlanTraffic(ctx, st, PlanReplicas(ctx, st, fleet));
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

// ---------------------------------------------------------------- state

namespace {

const spec::CanaryStep& StepOf(const std::vector<spec::CanaryStep>& steps, int step) {
  return steps[std::clamp<size_t>(step, 0, steps.size() - 1)];
}

}  // namespace

std::pair<Command, int64_t> PendingCommand(const nlohmann::json& state) {
  auto c = state.find("command");
  if (c == state.end() || !c->is_object()) return {Command::kNone, 0};
  // A corrupt command (mistyped fields) is no command, never an exception.
  auto name_it = c->find("name");
  auto id_it = c->find("id");
  if (name_it == c->end() || !name_it->is_string() || id_it == c->end() ||
      !id_it->is_number_integer()) {
    return {Command::kNone, 0};
  }
  const std::string name = name_it->get<std::string>();
  const int64_t id = id_it->get<int64_t>();
  for (rollout::Command command :
       {Command::kPromote, Command::kPromoteFull, Command::kAbort,
        Command::kRetry, Command::kUndo, Command::kPause}) {
    if (CommandName(command) == name) return {command, id};
  }
  return {Command::kNone, 0};
}

std::string PendingCommandReason(const nlohmann::json& state) {
  auto c = state.find("command");
  if (c == state.end() || !c->is_object()) return "";
  auto reason = c->find("reason");
  return reason != c->end() && reason->is_string() ? reason->get<std::string>() : "";
}

nlohmann::json CanaryProgressJson(const CanaryStatus& st, const spec::CanaryPolicy& policy,
                              double share) {
  const std::vector<spec::CanaryStep> steps = policy.EffectiveSteps();
  const int nsteps = static_cast<int>(steps.size());
  nlohmann::json p = {{"step", std::min(st.step + 1, nsteps)},
                      {"steps", nsteps},
                      {"step_weight", StepOf(steps, st.step).weight},
                      {"canary_share", share},
                      {"attempt", st.attempt}};
  if (st.phase == CanaryPhase::kAnalysing) {
    p["hold_ends_at"] = FormatTimestamp(st.hold_started_at + StepOf(steps, st.step).hold);
  }
  if (st.phase == CanaryPhase::kSucceeded && !st.previous_released && !st.warm_held) {
    p["window_ends_at"] = FormatTimestamp(st.promoted_at + policy.rollback_window);
  }
  return p;
}

}  // namespace hut::rollout

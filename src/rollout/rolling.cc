#include "src/rollout/rolling.h"

#include <algorithm>
#include <map>

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

using runtime::ReplicaState;

bool Serving(const runtime::Replica& r) { return r.serving && r.state == ReplicaState::kReady; }
bool Present(const runtime::Replica& r) {
  return r.state != ReplicaState::kDraining && !runtime::Unhealthy(r.state);
}

// Moves the rollout to rolling back (or failed, with nowhere to go).
void StartRollback(RollingStatus& status, std::string reason, TimePoint now) {
  status.reason = std::move(reason);
  status.last_progress = now;
  status.serving_at_progress = 0;
  status.phase = status.previous_revision > 0 ? Phase::kRollingBack : Phase::kFailed;
}

int Sought(const RollingStatus& st) {
  return st.phase == Phase::kRollingBack || st.phase == Phase::kRolledBack ? st.previous_revision
                                                                           : st.target_revision;
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

RollingStatus EvaluateTriggers(const spec::RollingPolicy& policy, const RollingStatus& status,
                               const runtime::Observation& observed, TimePoint now) {
  RollingStatus st = status;
  if (st.phase != Phase::kProgressing && st.phase != Phase::kRollingBack) return st;
  if (st.phase == Phase::kProgressing) {
    for (const runtime::Replica& r : observed.replicas) {
      if (r.revision == st.target_revision && runtime::Unhealthy(r.state)) {
        StartRollback(st,
                      absl::StrCat("replica ", r.name, " of revision ", r.revision, " failed: ",
                                   r.reason.empty() ? "unhealthy" : r.reason),
                      now);
        break;
      }
    }
  }
  if (IsTerminal(st.phase)) return st;
  // A release that cannot be started will not start on the next tick either.
  if (auto it = observed.cannot_start.find(Sought(st)); it != observed.cannot_start.end()) {
    return TurnAround(st, absl::StrCat("cannot start revision ", it->first, ": ", it->second),
                      now);
  }
  if (now - st.last_progress > policy.progress_deadline) {
    std::string why = absl::StrCat("no new replica became ready within the progress deadline (",
                                   FormatDuration(policy.progress_deadline), ")");
    if (st.phase == Phase::kProgressing) {
      StartRollback(st, why, now);
    } else {
      st.phase = Phase::kFailed;
      st.reason = absl::StrCat(st.reason, "; rollback stalled: ", why);
    }
  }
  return st;
}

namespace {

// What PlanReplicas works out, revision by revision.
struct Tally {
  int want = 0;    // the revision sought
  int stable = 0;  // progressing: the previous revision, whose capacity comes first
  std::map<int, int> keep;  // revision -> replicas kept (before starts)
  int serving = 0;          // serving after this plan (ready replicas of `want` join)
  int wanted_ready = 0;
  int wanted_count = 0;
};

// Replicas that serve nothing leave: other revisions' replicas not serving
// (but the stable revision's, kept to restore capacity), unhealthy ones.
Tally Count(const RollingStatus& st, const runtime::Observation& observed) {
  Tally t;
  t.want = Sought(st);
  t.stable = st.phase == Phase::kProgressing ? st.previous_revision : 0;
  for (const runtime::Replica& r : observed.replicas) {
    if (!Present(r)) continue;
    if (r.revision == t.want) {
      ++t.keep[r.revision];
      ++t.wanted_count;
      if (r.state == ReplicaState::kReady) {
        ++t.wanted_ready;
        ++t.serving;
      }
    } else if (Serving(r)) {
      ++t.keep[r.revision];
      ++t.serving;
    }
  }
  return t;
}

// Capacity first: with fewer than min_serving replicas serving (all of them
// gone with a crashed control plane, say), stable replicas are started, and
// join as they become ready, before the rollout goes on. Returns whether
// capacity is still short.
bool RestoreCapacity(Tally& t, const runtime::Observation& observed, int min_serving,
                     std::map<int, int>& starts) {
  if (t.stable == 0) return false;
  int booting = 0;
  for (const runtime::Replica& r : observed.replicas) {
    if (r.revision != t.stable || !Present(r) || Serving(r)) continue;
    if (r.state == ReplicaState::kReady && t.serving < min_serving) {
      ++t.keep[t.stable];  // joins
      ++t.serving;
    } else if (r.state != ReplicaState::kReady && t.serving + booting < min_serving) {
      ++t.keep[t.stable];
      ++booting;
    }
  }
  starts[t.stable] += std::max(0, min_serving - t.serving - booting);
  return t.serving < min_serving;
}

}  // namespace

RollingPlan PlanReplicas(const spec::RollingPolicy& policy, int desired,
                         const RollingStatus& status, const runtime::Observation& observed,
                         TimePoint now) {
  RollingPlan plan{status, runtime::ServicePlan{}};
  const int min_serving = std::max(0, desired - policy.max_unavailable);
  Tally t = Count(status, observed);
  std::map<int, int> starts;
  const bool short_of_capacity = RestoreCapacity(t, observed, min_serving, starts);

  // Progress is one more ready replica of the revision sought.
  if (t.wanted_ready > plan.status.serving_at_progress) {
    plan.status.serving_at_progress = t.wanted_ready;
    plan.status.last_progress = now;
  }

  // Serving replicas of other revisions leave, oldest first, while enough
  // others keep serving; then extra replicas of the revision sought.
  std::vector<const runtime::Replica*> old;
  for (const runtime::Replica& r : observed.replicas) {
    if (r.revision != t.want && Present(r) && Serving(r)) old.push_back(&r);
  }
  std::stable_sort(old.begin(), old.end(), [](auto* a, auto* b) {
    return a->started_at < b->started_at;
  });
  for (const runtime::Replica* r : old) {
    if (t.serving - 1 < min_serving) break;
    --t.keep[r->revision];
    --t.serving;
  }
  int extra = std::max(0, t.wanted_count - desired);
  while (extra > 0 && t.serving - 1 >= min_serving) {
    --t.keep[t.want];
    --t.wanted_count;
    --t.serving;
    --extra;
  }

  // New replicas start within the surge allowance.
  int pods = 0;
  for (const auto& [revision, n] : t.keep) pods += n;
  for (const auto& [revision, n] : starts) pods += n;
  if (!short_of_capacity) {
    starts[t.want] +=
        std::max(0, std::min(desired - t.wanted_count, desired + policy.max_surge - pods));
  }
  std::map<int, int> total = t.keep;
  for (const auto& [revision, n] : starts) total[revision] += n;
  total[t.want] += 0;  // always named
  for (const auto& [revision, n] : total) {
    if (n > 0 || revision == t.want) plan.target->revisions.push_back({revision, n, 0});
  }
  return plan;
}

RollingStatus Settle(const RollingStatus& status, const runtime::ServicePlan& plan,
                     const runtime::Observation& observed, int desired) {
  RollingStatus st = status;
  const int want = Sought(st);
  for (const runtime::RevisionTarget& r : plan.revisions) {
    if (r.revision != want && r.replicas > 0) return st;  // others left
  }
  const runtime::RevisionTarget* wanted = plan.Find(want);
  int ready = 0;
  for (const runtime::Replica& r : observed.replicas) {
    if (r.revision == want && Present(r) && r.state == ReplicaState::kReady) ++ready;
  }
  if (wanted == nullptr || wanted->replicas != desired || ready != desired) return st;
  if (st.phase == Phase::kProgressing) st.phase = Phase::kSucceeded;
  if (st.phase == Phase::kRollingBack) st.phase = Phase::kRolledBack;
  return st;
}

RollingPlan DecideRolling(const spec::RollingPolicy& policy, int desired,
                          const RollingStatus& status, const runtime::Observation& observed,
                          TimePoint now) {
  const RollingStatus triggered = EvaluateTriggers(policy, status, observed, now);
  if (triggered.phase == Phase::kFailed) return {triggered, std::nullopt};  // a human decides
  RollingPlan plan = PlanReplicas(policy, desired, triggered, observed, now);
  plan.status = Settle(plan.status, *plan.target, observed, desired);
  return plan;
}

// ---------------------------------------------------------------- JSON

namespace {

int64_t Millis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

nlohmann::json RollingStatusToJson(const RollingStatus& s) {
  return {{"target_revision", s.target_revision},
          {"previous_revision", s.previous_revision},
          {"phase", std::string(PhaseName(s.phase))},
          {"last_progress_ms", Millis(s.last_progress)},
          {"serving_at_progress", s.serving_at_progress},
          {"reason", s.reason}};
}

absl::StatusOr<RollingStatus> RollingStatusFromJson(const nlohmann::json& j) {
  RollingStatus s;
  try {
    s.target_revision = j.at("target_revision").get<int>();
    s.previous_revision = j.at("previous_revision").get<int>();
    std::string phase = j.at("phase").get<std::string>();
    bool known = false;
    for (Phase p : {Phase::kProgressing, Phase::kRollingBack, Phase::kSucceeded,
                    Phase::kRolledBack, Phase::kFailed}) {
      if (PhaseName(p) == phase) {
        s.phase = p;
        known = true;
      }
    }
    if (!known) return absl::DataLossError(absl::StrCat("unknown rollout phase \"", phase, "\""));
    s.last_progress = TimePoint(std::chrono::milliseconds(j.at("last_progress_ms").get<int64_t>()));
    s.serving_at_progress = j.at("serving_at_progress").get<int>();
    s.reason = j.at("reason").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("saved rollout state is unreadable: ", e.what()));
  }
  return s;
}

}  // namespace hut::rollout

#include "src/controller/service_controller.h"

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/common/units.h"

namespace hut::controller {
namespace {

using rollout::ActionKind;
using rollout::Phase;
using rollout::ReplicaState;
using rollout::ReplicaView;
using rollout::RollingStatus;

int64_t Millis(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
TimePoint FromMillis(int64_t ms) { return TimePoint(std::chrono::milliseconds(ms)); }

nlohmann::json ToJson(const RollingStatus& s) {
  return {{"target_revision", s.target_revision},
          {"previous_revision", s.previous_revision},
          {"phase", std::string(rollout::PhaseName(s.phase))},
          {"last_progress_ms", Millis(s.last_progress)},
          {"serving_at_progress", s.serving_at_progress},
          {"reason", s.reason}};
}

absl::StatusOr<RollingStatus> FromJson(const nlohmann::json& j) {
  RollingStatus s;
  try {
    s.target_revision = j.at("target_revision").get<int>();
    s.previous_revision = j.at("previous_revision").get<int>();
    std::string phase = j.at("phase").get<std::string>();
    bool known = false;
    for (Phase p : {Phase::kProgressing, Phase::kRollingBack, Phase::kSucceeded,
                    Phase::kRolledBack, Phase::kFailed}) {
      if (rollout::PhaseName(p) == phase) {
        s.phase = p;
        known = true;
      }
    }
    if (!known) return absl::DataLossError(absl::StrCat("unknown rollout phase \"", phase, "\""));
    s.last_progress = FromMillis(j.at("last_progress_ms").get<int64_t>());
    s.serving_at_progress = j.at("serving_at_progress").get<int>();
    s.reason = j.at("reason").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("saved rollout state is unreadable: ", e.what()));
  }
  return s;
}

// A replace is a rolling update that may take every replica down at once and
// starts no extra one.
spec::RollingPolicy PolicyFor(const std::string& strategy, const spec::RollingPolicy& rolling,
                              int desired) {
  if (strategy != spec::Name(spec::Strategy::kReplace)) return rolling;
  spec::RollingPolicy replace = rolling;
  replace.max_surge = 0;
  replace.max_unavailable = desired;
  return replace;
}

}  // namespace

ServiceController::ServiceController(const spec::Spec& spec, const spec::Environment& environment,
                                     const spec::Service& service, runtime::Runtime& runtime,
                                     store::Store& store, const Clock& clock, Logger logger)
    : spec_(spec),
      environment_(environment),
      service_(service),
      runtime_(runtime),
      store_(store),
      clock_(clock),
      logger_(logger.With({{"environment", environment.name}, {"service", service.name}})) {}

absl::StatusOr<int> ServiceController::CurrentRevision() {
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (!latest) return 0;
  if (latest->phase == rollout::PhaseName(Phase::kRolledBack)) return latest->from_revision;
  if (latest->phase == rollout::PhaseName(Phase::kSucceeded)) return latest->to_revision;
  // Running or failed: what served before it started.
  return latest->from_revision;
}

absl::StatusOr<store::Rollout> ServiceController::Deploy(const DeployRequest& request) {
  if (request.version.empty()) return absl::InvalidArgumentError("empty version");
  spec::Strategy strategy = request.strategy.value_or(environment_.strategy);
  if (strategy == spec::Strategy::kCanary) {
    return absl::UnimplementedError(
        "the canary strategy is not available yet; deploy with --strategy rolling or replace");
  }
  // Refuse before writing a revision that no rollout would use.
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (latest && !latest->finished_at) {
    return absl::FailedPreconditionError(
        absl::StrCat("rollout ", latest->id, " of ", service_.name, " in ", environment_.name,
                     " is still running (", latest->phase, "); wait for it or abort it"));
  }
  store::Revision revision;
  revision.environment = environment_.name;
  revision.service = service_.name;
  revision.version = request.version;
  revision.env = request.env;
  revision.cause = "deploy";
  revision.created_at = clock_.Now();
  HUT_ASSIGN_OR_RETURN(store::Revision saved, store_.AddRevision(revision, kHistoryLimit));
  return StartRollout(saved, strategy);
}

absl::StatusOr<store::Rollout> ServiceController::Undo(std::optional<int> to_revision) {
  HUT_ASSIGN_OR_RETURN(int current, CurrentRevision());
  HUT_ASSIGN_OR_RETURN(std::vector<store::Revision> revisions,
                       store_.ListRevisions(environment_.name, service_.name));
  const store::Revision* target = nullptr;
  for (const store::Revision& r : revisions) {  // newest first
    if (to_revision ? r.number == *to_revision : r.number < current) {
      target = &r;
      break;
    }
  }
  if (target == nullptr) {
    return absl::NotFoundError(
        to_revision ? absl::StrCat("no revision ", *to_revision, " of ", service_.name, " in ",
                                   environment_.name, " (see `hut rollout history`)")
                    : absl::StrCat(service_.name, " has no revision before ", current,
                                   " to go back to"));
  }
  if (target->number == current) {
    return absl::FailedPreconditionError(
        absl::StrCat("revision ", current, " is already the current one"));
  }
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (latest && !latest->finished_at) {
    return absl::FailedPreconditionError(absl::StrCat("rollout ", latest->id,
                                                      " is still running; wait for it"));
  }
  store::Revision revision = *target;
  revision.number = 0;
  revision.cause = absl::StrCat("undo to revision ", target->number);
  revision.created_at = clock_.Now();
  HUT_ASSIGN_OR_RETURN(store::Revision saved, store_.AddRevision(revision, kHistoryLimit));
  // Undo uses the environment's strategy, with the same care as a deploy.
  spec::Strategy strategy = environment_.strategy == spec::Strategy::kCanary
                                ? spec::Strategy::kRolling
                                : environment_.strategy;
  return StartRollout(saved, strategy);
}

absl::StatusOr<store::Rollout> ServiceController::StartRollout(const store::Revision& revision,
                                                               spec::Strategy strategy) {
  HUT_ASSIGN_OR_RETURN(int current, CurrentRevision());
  RollingStatus status;
  status.target_revision = revision.number;
  status.previous_revision = current;
  status.last_progress = clock_.Now();
  store::Rollout r;
  r.environment = environment_.name;
  r.service = service_.name;
  r.from_revision = current;
  r.to_revision = revision.number;
  r.strategy = std::string(spec::Name(strategy));
  r.phase = std::string(rollout::PhaseName(status.phase));
  r.state = ToJson(status);
  r.created_at = r.updated_at = clock_.Now();
  HUT_ASSIGN_OR_RETURN(store::Rollout saved, store_.CreateRollout(r));
  Record(saved, "rollout.started",
         absl::StrCat("rolling out revision ", revision.number, " (", revision.version,
                      ") with the ", saved.strategy, " strategy"),
         {{"from_revision", current}, {"to_revision", revision.number},
          {"version", revision.version}});
  return saved;
}

absl::Status ServiceController::Tick() {
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (!latest) return absl::OkStatus();
  store::Rollout rollout = *latest;
  HUT_ASSIGN_OR_RETURN(RollingStatus status, FromJson(rollout.state));
  HUT_ASSIGN_OR_RETURN(std::vector<runtime::ReplicaStatus> observed,
                       runtime_.Replicas(service_.name));

  const int threshold = environment_.policies.rollback.health_check_failures;
  const TimePoint now = clock_.Now();
  std::vector<ReplicaView> views;
  for (const runtime::ReplicaStatus& r : observed) {
    ReplicaView v{r.name, r.revision, ReplicaState::kStarting, r.in_load_balancer, r.started_at,
                  ""};
    if (r.draining) {
      v.state = ReplicaState::kDraining;
    } else if (!r.ready && r.restarts >= threshold) {
      v.state = ReplicaState::kFailed;
      v.failure = absl::StrCat("crash-looping: exited ", r.restarts, " times (last: ",
                               r.last_failure, ")");
    } else if (r.ever_ready && r.consecutive_failures >= threshold) {
      v.state = ReplicaState::kFailed;
      v.failure = absl::StrCat(r.consecutive_failures, " consecutive failed health checks (last: ",
                               r.last_failure, ")");
    } else if (!r.ever_ready && r.consecutive_failures >= threshold &&
               now - r.process_started_at >= service_.health.start_period) {
      // Failures inside the start period are a replica booting.
      v.state = ReplicaState::kFailed;
      v.failure = absl::StrCat("not ready ", FormatDuration(service_.health.start_period),
                               " after starting: ", r.consecutive_failures,
                               " consecutive failed health checks (last: ", r.last_failure, ")");
    } else if (r.ready) {
      v.state = ReplicaState::kReady;
    }
    views.push_back(std::move(v));
  }

  const spec::ServiceDeployment* deployment = environment_.FindService(service_.name);
  const int desired = deployment ? deployment->replicas : 1;
  rollout::RollingPlan plan =
      rollout::DecideRolling(PolicyFor(rollout.strategy, environment_.policies.rolling, desired),
                             desired, status, views, clock_.Now());

  // Persist the decision before acting on it; say so after acting, so the
  // event log reads in order.
  HUT_RETURN_IF_ERROR(Persist(rollout, status, plan.status));
  absl::Cleanup announce = [&] { AnnouncePhase(rollout, status, plan.status); };
  absl::Status first_error;
  for (const rollout::Action& action : plan.actions) {
    absl::Status s = Apply(rollout, action);
    if (s.ok()) continue;
    if (first_error.ok()) first_error = s;
    // A release that cannot be started at all will not start on the next
    // tick either: turn the rollout around now rather than at the deadline.
    const bool transient = absl::IsUnavailable(s) || absl::IsResourceExhausted(s);
    if (action.kind == ActionKind::kStartReplica && !transient &&
        (plan.status.phase == Phase::kProgressing || plan.status.phase == Phase::kRollingBack)) {
      rollout::RollingStatus turned = rollout::TurnAround(
          plan.status, absl::StrCat("cannot start revision ", action.revision, ": ", s.message()),
          clock_.Now());
      std::move(announce).Invoke();
      HUT_RETURN_IF_ERROR(Persist(rollout, plan.status, turned));
      AnnouncePhase(rollout, plan.status, turned);
      return absl::OkStatus();  // recorded as the rollout's reason
    }
  }
  return first_error;
}

absl::Status ServiceController::Persist(store::Rollout& rollout,
                                        const rollout::RollingStatus& before,
                                        const rollout::RollingStatus& after) {
  if (after == before) return absl::OkStatus();
  rollout.state = ToJson(after);
  rollout.phase = std::string(rollout::PhaseName(after.phase));
  rollout.reason = after.reason;
  rollout.updated_at = clock_.Now();
  if (rollout::IsTerminal(after.phase) && !rollout.finished_at) {
    rollout.finished_at = clock_.Now();
  }
  return store_.UpdateRollout(rollout);
}

void ServiceController::AnnouncePhase(const store::Rollout& rollout,
                                      const rollout::RollingStatus& before,
                                      const rollout::RollingStatus& after) {
  if (after.phase == before.phase) return;
  const std::string phase(rollout::PhaseName(after.phase));
  std::string message = absl::StrCat("rollout ", rollout.id, ": ",
                                     std::string(rollout::PhaseName(before.phase)), " -> ", phase);
  if (!after.reason.empty()) absl::StrAppend(&message, ": ", after.reason);
  Record(rollout, absl::StrCat("rollout.", phase), message, {{"reason", after.reason}});
}

absl::Status ServiceController::Apply(const store::Rollout& rollout,
                                      const rollout::Action& action) {
  switch (action.kind) {
    case ActionKind::kStartReplica: {
      HUT_ASSIGN_OR_RETURN(std::optional<store::Revision> revision,
                           store_.GetRevision(environment_.name, service_.name, action.revision));
      if (!revision) {
        return absl::NotFoundError(absl::StrCat("revision ", action.revision, " is gone"));
      }
      runtime::ReplicaTemplate t;
      t.service = service_.name;
      t.revision = revision->number;
      t.version = revision->version;
      t.release = service_.release;
      t.env = revision->env;
      t.health = service_.health;
      t.termination_grace = service_.termination_grace_period;
      HUT_ASSIGN_OR_RETURN(std::string name, runtime_.StartReplica(t));
      Record(rollout, "replica.started",
             absl::StrCat("started ", name, " (revision ", t.revision, ", ", t.version, ")"),
             {{"replica", name}, {"revision", t.revision}});
      return absl::OkStatus();
    }
    case ActionKind::kAddToLoadBalancer: {
      // Rolling plans leave the weight at 0: a full share.
      const int weight = action.weight > 0 ? action.weight : kFullWeight;
      HUT_RETURN_IF_ERROR(runtime_.AddToLoadBalancer(service_.name, action.replica, weight));
      Record(rollout, "replica.serving", absl::StrCat(action.replica, " is ready: now serving"),
             {{"replica", action.replica}, {"weight", weight}});
      return absl::OkStatus();
    }
    case ActionKind::kSetWeight:
      HUT_RETURN_IF_ERROR(runtime_.SetWeight(service_.name, action.replica, action.weight));
      Record(rollout, "replica.weight",
             absl::StrCat(action.replica, " now has load-balancer weight ", action.weight),
             {{"replica", action.replica}, {"weight", action.weight}});
      return absl::OkStatus();
    case ActionKind::kDrainAndStop:
      HUT_RETURN_IF_ERROR(runtime_.DrainAndStop(service_.name, action.replica));
      Record(rollout, "replica.draining", absl::StrCat("draining and stopping ", action.replica),
             {{"replica", action.replica}});
      return absl::OkStatus();
    case ActionKind::kStop:
      HUT_RETURN_IF_ERROR(runtime_.Stop(service_.name, action.replica));
      Record(rollout, "replica.stopped",
             absl::StrCat("stopped ", action.replica, " (it served no traffic)"),
             {{"replica", action.replica}});
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

void ServiceController::Record(const store::Rollout& rollout, std::string type,
                               std::string message, nlohmann::json data) {
  store::Event event;
  event.at = clock_.Now();
  event.environment = environment_.name;
  event.service = service_.name;
  event.rollout_id = rollout.id;
  event.type = std::move(type);
  event.message = std::move(message);
  event.data = std::move(data);
  logger_.Info(event.message, {{"event", event.type}, {"rollout_id", rollout.id}});
  if (auto saved = store_.AppendEvent(std::move(event)); !saved.ok()) {
    logger_.Error("cannot record event", {{"error", std::string(saved.status().message())}});
  }
}

}  // namespace hut::controller

#include "src/controller/service_controller.h"

#include <algorithm>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "src/common/status.h"
#include "src/common/units.h"

namespace hut::controller {
namespace {

using rollout::Phase;
using rollout::RollingStatus;

using store::RolloutPhase;

// The store's phase of a strategy's phase: the one of the same name
// (StrategyPhasesAreStorePhases in service_controller_test checks each).
RolloutPhase StorePhase(Phase p) { return *store::ParsePhase(rollout::PhaseName(p)); }
RolloutPhase StorePhase(rollout::CanaryPhase p) {
  return *store::ParsePhase(rollout::CanaryPhaseName(p));
}

// A replace is a rolling update that may take every replica down at once and
// starts no extra one.
spec::RollingPolicy PolicyFor(spec::Strategy strategy, const spec::RollingPolicy& rolling,
                              int desired) {
  if (strategy != spec::Strategy::kReplace) return rolling;
  spec::RollingPolicy replace = rolling;
  replace.max_surge = 0;
  replace.max_unavailable = desired;
  return replace;
}

}  // namespace

ServiceController::ServiceController(const spec::Spec& spec, const spec::Environment& environment,
                                     const spec::Service& service, runtime::Runtime& runtime,
                                     store::Store& store, const Clock& clock, Logger logger,
                                     RolloutAnalysisOptions analysis,
                                     const Dependencies* dependencies)
    : spec_(spec),
      environment_(environment),
      service_(service),
      runtime_(runtime),
      store_(store),
      clock_(clock),
      logger_(logger.With({{"environment", environment.name}, {"service", service.name}})),
      analysis_(store, clock, logger_.With({{"component", "analysis"}}), std::move(analysis)),
      dependencies_(dependencies) {}

absl::StatusOr<int> ServiceController::CurrentRevision() {
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (!latest) return 0;
  if (latest->phase == RolloutPhase::kRolledBack) return latest->from_revision;
  if (latest->phase == RolloutPhase::kSucceeded) return latest->to_revision;
  // Running or failed: what served before it started.
  return latest->from_revision;
}

absl::StatusOr<store::Rollout> ServiceController::Deploy(const DeployRequest& request) {
  latest_known_ = false;  // it writes: the next tick reads again
  if (request.version.empty()) return absl::InvalidArgumentError("empty version");
  spec::Strategy strategy = request.strategy.value_or(environment_.strategy);
  // Refuse before writing a revision that no rollout would use.
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (latest && !latest->finished_at && latest->phase == RolloutPhase::kSucceeded) {
    return absl::FailedPreconditionError(absl::StrCat(
        "revision ", latest->from_revision, " of ", service_.name,
        " is kept warm for the rollback window of rollout ", latest->id,
        "; `hut rollout undo` goes back to it, `hut rollout promote` releases it now"));
  }
  if (latest && !latest->finished_at) {
    return absl::FailedPreconditionError(
        absl::StrCat("rollout ", latest->id, " of ", service_.name, " in ", environment_.name,
                     " is still running (", std::string(store::PhaseName(latest->phase)),
                     "); wait for it or abort it (`hut rollout abort`)"));
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
  latest_known_ = false;  // it writes: the next tick reads again
  // Inside a canary's rollback window the previous revision still runs:
  // flip traffic back to it rather than start a new rollout.
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> window,
                       store_.LatestRollout(environment_.name, service_.name));
  if (window && !window->finished_at && window->strategy == spec::Strategy::kCanary &&
      (!to_revision || *to_revision == window->from_revision)) {
    HUT_ASSIGN_OR_RETURN(rollout::CanaryStatus status,
                         rollout::CanaryStatusFromJson(window->state));
    if (rollout::CheckCommand(status, rollout::Command::kUndo).ok()) {
      return Command(rollout::Command::kUndo);
    }
  }
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
    return absl::FailedPreconditionError(absl::StrCat(
        "revision ", current,
        " is already the current one (`hut rollout restart` starts new replicas of it)"));
  }
  return Reissue(*target, absl::StrCat("undo to revision ", target->number));
}

absl::StatusOr<store::Rollout> ServiceController::Restart() {
  latest_known_ = false;  // it writes: the next tick reads again
  HUT_ASSIGN_OR_RETURN(int current, CurrentRevision());
  if (current == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        service_.name, " has no revision that served yet: nothing to restart (deploy one)"));
  }
  HUT_ASSIGN_OR_RETURN(std::vector<store::Revision> revisions,
                       store_.ListRevisions(environment_.name, service_.name));
  for (const store::Revision& r : revisions) {
    if (r.number == current) return Reissue(r, absl::StrCat("restart of revision ", current));
  }
  return absl::NotFoundError(absl::StrCat("revision ", current, " of ", service_.name,
                                          " is no longer in the history"));
}

absl::StatusOr<store::Rollout> ServiceController::Reissue(const store::Revision& source,
                                                          std::string cause) {
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (latest && !latest->finished_at) {
    return absl::FailedPreconditionError(
        absl::StrCat("rollout ", latest->id, " is still running (", std::string(store::PhaseName(latest->phase)),
                     "); wait for it or abort it (`hut rollout abort`)"));
  }
  store::Revision revision = source;
  revision.number = 0;
  revision.cause = std::move(cause);
  revision.created_at = clock_.Now();
  HUT_ASSIGN_OR_RETURN(store::Revision saved, store_.AddRevision(revision, kHistoryLimit));
  // A release that served before needs no canary analysis: a rolling
  // update, health-gated like a deploy.
  spec::Strategy strategy = environment_.strategy == spec::Strategy::kCanary
                                ? spec::Strategy::kRolling
                                : environment_.strategy;
  return StartRollout(saved, strategy);
}

namespace {

using rollout::CanaryPhase;
using rollout::CanaryStatus;

}  // namespace

absl::StatusOr<store::Rollout> ServiceController::StartRollout(const store::Revision& revision,
                                                               spec::Strategy strategy) {
  HUT_ASSIGN_OR_RETURN(int current, CurrentRevision());
  store::Rollout r;
  r.environment = environment_.name;
  r.service = service_.name;
  r.from_revision = current;
  r.to_revision = revision.number;
  r.strategy = strategy;
  if (strategy == spec::Strategy::kCanary) {
    CanaryStatus status = rollout::BeginCanary(revision.number, current, clock_.Now());
    r.phase = StorePhase(status.phase);
    r.state = rollout::CanaryStatusToJson(status);
  } else {
    RollingStatus status;
    status.target_revision = revision.number;
    status.previous_revision = current;
    status.last_progress = clock_.Now();
    r.phase = StorePhase(status.phase);
    r.state = rollout::RollingStatusToJson(status);
  }
  r.created_at = r.updated_at = clock_.Now();
  store::Event started = MakeEvent(
      r, "rollout.started",
      absl::StrCat("rolling out revision ", revision.number, " (", revision.version, ") with the ",
                   std::string(spec::Name(r.strategy)), " strategy"),
      {{"from_revision", current}, {"to_revision", revision.number},
       {"version", revision.version}, {"strategy", std::string(spec::Name(r.strategy))}});
  HUT_ASSIGN_OR_RETURN(store::CreatedRollout saved,
                       store_.CreateRolloutWithEvents(r, {std::move(started)}));
  for (const store::Event& e : saved.events) Logged(e);
  return saved.rollout;
}

absl::StatusOr<store::Rollout> ServiceController::Command(rollout::Command command) {
  latest_known_ = false;  // it writes: the next tick reads again
  const std::string name(rollout::CommandName(command));
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (!latest) {
    return absl::FailedPreconditionError(
        absl::StrCat(service_.name, " has no rollout in ", environment_.name, " to ", name));
  }
  store::Rollout rollout = *std::move(latest);
  if (rollout.strategy != spec::Strategy::kCanary) {
    HUT_ASSIGN_OR_RETURN(RollingStatus status, rollout::RollingStatusFromJson(rollout.state));
    if (command != rollout::Command::kAbort) {
      return absl::FailedPreconditionError(
          absl::StrCat("rollout ", rollout.id, " of ", service_.name, " uses the ",
                       std::string(spec::Name(rollout.strategy)), " strategy; only a canary can be told to ",
                       name));
    }
    if (status.phase != Phase::kProgressing) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot abort rollout ", rollout.id, ": it is ",
                       std::string(rollout::PhaseName(status.phase))));
    }
    RollingStatus turned = rollout::TurnAround(status, "aborted by the operator", clock_.Now());
    AnnouncePhase(rollout, rollout::PhaseName(status.phase), rollout::PhaseName(turned.phase),
                  turned.reason);
    HUT_RETURN_IF_ERROR(Save(rollout, rollout::RollingStatusToJson(turned),
                             StorePhase(turned.phase), turned.reason,
                             rollout::IsTerminal(turned.phase)));
    return rollout;
  }
  HUT_ASSIGN_OR_RETURN(CanaryStatus status, rollout::CanaryStatusFromJson(rollout.state));
  HUT_RETURN_IF_ERROR(QueueCanaryCommand(
      rollout, status, command, "", "rollout.command",
      absl::StrCat("rollout ", rollout.id, ": the operator asked to ", name),
      {{"command", name}}));
  return rollout;
}

absl::Status ServiceController::QueueCanaryCommand(store::Rollout& rollout,
                                                   const CanaryStatus& status,
                                                   rollout::Command command,
                                                   const std::string& reason,
                                                   const std::string& event_type,
                                                   const std::string& message,
                                                   nlohmann::json data) {
  HUT_RETURN_IF_ERROR(rollout::CheckCommand(status, command));
  // The event's id is the command's: increasing, and applied once.
  const int64_t id = Record(rollout, event_type, message, std::move(data));
  if (id == 0) return absl::InternalError("cannot record the command; nothing was changed");
  nlohmann::json state = rollout.state;
  state["command"] = {{"name", std::string(rollout::CommandName(command))}, {"id", id}};
  if (!reason.empty()) state["command"]["reason"] = reason;
  return Save(rollout, std::move(state), rollout.phase, rollout.reason,
              rollout.finished_at.has_value());
}

absl::StatusOr<std::string> ServiceController::React(const AlertSignal& alert) {
  latest_known_ = false;  // it may write: the next tick reads again
  const spec::RollbackPolicy& policy = environment_.policies.rollback;
  const auto listed = [&alert](const std::vector<spec::Severity>& severities) {
    return std::any_of(severities.begin(), severities.end(),
                       [&alert](spec::Severity s) { return spec::Name(s) == alert.severity; });
  };
  const bool rollback = listed(policy.on_alerts) && policy.automatic;
  const bool pause = listed(policy.pause_on_alerts) || (listed(policy.on_alerts) && !policy.automatic);
  if (!rollback && !pause) return std::string();
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (!latest) return std::string();
  store::Rollout rollout = *std::move(latest);
  HUT_ASSIGN_OR_RETURN(std::optional<store::Revision> target,
                       store_.GetRevision(environment_.name, service_.name, rollout.to_revision));
  // An alert about another version, or one that was firing before this
  // rollout began, says nothing about it.
  if (!alert.version.empty() && (!target || target->version != alert.version)) return std::string();
  if (alert.version.empty() && alert.starts_at < rollout.created_at) return std::string();
  const std::string what = absl::StrCat("alert ", alert.name, " (", alert.severity,
                                        ") fired for ", service_.name);
  const nlohmann::json data = {{"alertname", alert.name},
                               {"severity", alert.severity},
                               {"alert_id", alert.alert_id},
                               {"version", alert.version}};
  const auto tell = [&](const std::string& action) {
    return absl::StrCat("rollout ", rollout.id, ": ", what, ": ", action);
  };
  if (rollout.strategy != spec::Strategy::kCanary) {
    if (rollout.finished_at || !rollback) return std::string();  // a rolling update cannot pause
    HUT_ASSIGN_OR_RETURN(RollingStatus status, rollout::RollingStatusFromJson(rollout.state));
    if (status.phase != Phase::kProgressing) return std::string();
    RollingStatus turned = rollout::TurnAround(status, what, clock_.Now());
    Record(rollout, "rollout.alert", tell("rolling back"), data);
    AnnouncePhase(rollout, rollout::PhaseName(status.phase), rollout::PhaseName(turned.phase),
                  turned.reason);
    HUT_RETURN_IF_ERROR(Save(rollout, rollout::RollingStatusToJson(turned),
                             StorePhase(turned.phase), turned.reason,
                             rollout::IsTerminal(turned.phase)));
    return std::string("rolling back");
  }
  HUT_ASSIGN_OR_RETURN(CanaryStatus status, rollout::CanaryStatusFromJson(rollout.state));
  rollout::Command command = rollout::Command::kNone;
  std::string action;
  if (rollback && rollout::CheckCommand(status, rollout::Command::kAbort).ok()) {
    command = rollout::Command::kAbort;
    action = "rolling back";
  } else if (rollback && rollout::CheckCommand(status, rollout::Command::kUndo).ok()) {
    command = rollout::Command::kUndo;
    action = "undoing it inside the rollback window";
  } else if (pause && rollout::CheckCommand(status, rollout::Command::kPause).ok()) {
    command = rollout::Command::kPause;
    action = "pausing it";
  } else {
    return std::string();
  }
  HUT_RETURN_IF_ERROR(
      QueueCanaryCommand(rollout, status, command, what, "rollout.alert", tell(action), data));
  return action;
}

std::optional<std::string> ServiceController::Waiting() const {
  return dependencies_ != nullptr ? dependencies_->Blocked(service_.name) : std::nullopt;
}

absl::Status ServiceController::Tick() {
  // The rollout as this controller saved it last is kept; a cheap check of
  // its id and version reads it again only when someone else wrote (a
  // repaired row, say). Any failure reads it again too.
  if (latest_known_) {
    HUT_ASSIGN_OR_RETURN(auto stored,
                         store_.LatestRolloutVersion(environment_.name, service_.name));
    const std::pair<int64_t, int64_t> kept =
        latest_ ? std::pair<int64_t, int64_t>{latest_->id, latest_->version}
                : std::pair<int64_t, int64_t>{0, 0};
    latest_known_ = stored == kept;
  }
  if (!latest_known_) {
    HUT_ASSIGN_OR_RETURN(latest_, store_.LatestRollout(environment_.name, service_.name));
    latest_known_ = true;
  }
  if (!latest_) return absl::OkStatus();
  absl::Status ticked = TickLatest(*latest_);
  if (!ticked.ok()) latest_known_ = false;
  return ticked;
}

absl::Status ServiceController::TickLatest(store::Rollout& latest) {
  if (std::optional<std::string> blocked = Waiting()) {
    if (!latest.finished_at && *blocked != waiting_) {
      Record(latest, "rollout.waiting", absl::StrCat("rollout ", latest.id, " waits: ", *blocked));
      if (waiting_.empty()) waiting_since_ = clock_.Now();
      waiting_ = *blocked;
    }
    return absl::OkStatus();
  }
  if (!waiting_.empty()) {
    waiting_.clear();
    HUT_RETURN_IF_ERROR(
        Resume(latest, std::chrono::duration_cast<Duration>(clock_.Now() - waiting_since_)));
  }
  HUT_ASSIGN_OR_RETURN(runtime::Observation observed, runtime_.Observe(service_.name));
  if (observed.out_of_band && !(latest.finished_at && latest.phase == RolloutPhase::kSucceeded &&
                                latest.to_revision == observed.out_of_band->revision)) {
    return FollowOutOfBand(latest, *observed.out_of_band);
  }
  out_of_band_noted_.clear();
  if (latest.strategy == spec::Strategy::kCanary) return TickCanary(latest, observed);
  return TickRolling(latest, observed);
}

absl::Status ServiceController::FollowOutOfBand(store::Rollout& latest,
                                                const runtime::OutOfBand& change) {
  const std::string what = absl::StrCat(service_.name, "'s workload was set to revision ",
                                        change.revision, " outside hut (by ", change.by, ")");
  auto note_once = [&](std::string type, std::string message) {
    const std::string key = absl::StrCat(type, "/", change.revision);
    if (out_of_band_noted_ == key) return;
    out_of_band_noted_ = key;
    Record(latest, std::move(type), std::move(message),
           {{"revision", change.revision}, {"by", change.by}});
  };
  HUT_ASSIGN_OR_RETURN(std::optional<store::Revision> revision,
                       store_.GetRevision(environment_.name, service_.name, change.revision));
  if (!revision) {
    note_once("rollout.out-of-band-unknown",
              absl::StrCat(what, "; hut has no revision ", change.revision,
                           " in its history, changes nothing and waits for a deploy"));
    return Carry(latest, runtime::ServicePlan{});  // traffic follows the workload
  }
  if (!change.settled) {
    note_once("rollout.out-of-band-waiting",
              absl::StrCat(what, "; hut changes nothing while it rolls out"));
    return Carry(latest, runtime::ServicePlan{});
  }
  HUT_ASSIGN_OR_RETURN(int current, CurrentRevision());
  const std::string reason = absl::StrCat("out of band: ", what);
  if (!latest.finished_at) {
    const RolloutPhase ended = change.revision == latest.from_revision ? RolloutPhase::kRolledBack
                                                                        : RolloutPhase::kFailed;
    AnnouncePhase(latest, store::PhaseName(latest.phase), store::PhaseName(ended), reason);
    HUT_RETURN_IF_ERROR(Save(latest, latest.state, ended, reason, true));
  }
  latest_known_ = false;
  RollingStatus status;
  status.phase = Phase::kSucceeded;
  status.target_revision = change.revision;
  status.previous_revision = current;
  status.last_progress = clock_.Now();
  status.reason = reason;
  store::Rollout r;
  r.environment = environment_.name;
  r.service = service_.name;
  r.from_revision = current;
  r.to_revision = change.revision;
  r.strategy = spec::Strategy::kRolling;
  r.phase = RolloutPhase::kSucceeded;
  r.reason = reason;
  r.state = rollout::RollingStatusToJson(status);
  r.created_at = r.updated_at = clock_.Now();
  r.finished_at = r.created_at;
  store::Event followed = MakeEvent(
      r, "rollout.out-of-band",
      absl::StrCat(what, "; hut follows it: revision ", change.revision, " (", revision->version,
                   ") is current"),
      {{"from_revision", current}, {"to_revision", change.revision},
       {"version", revision->version}, {"by", change.by}});
  HUT_ASSIGN_OR_RETURN(store::CreatedRollout saved,
                       store_.CreateRolloutWithEvents(r, {std::move(followed)}));
  for (const store::Event& e : saved.events) Logged(e);
  return absl::OkStatus();
}

spec::RollbackPolicy ServiceController::Rollback() const {
  spec::RollbackPolicy rollback = environment_.policies.rollback;
  rollback.health_check_failures = spec::HealthCheckFailures(environment_.policies, service_);
  return rollback;
}

absl::Status ServiceController::Resume(store::Rollout& rollout, Duration waited) {
  const std::string message = absl::StrCat("rollout ", rollout.id, " resumes after ",
                                           FormatDuration(waited),
                                           ": its dependencies are back");
  if (rollout.strategy != spec::Strategy::kCanary && !rollout.finished_at) {
    // The wait was not the release's: its progress deadline starts again.
    HUT_ASSIGN_OR_RETURN(RollingStatus status, rollout::RollingStatusFromJson(rollout.state));
    status.last_progress += waited;
    pending_.push_back(MakeEvent(rollout, "rollout.resumed", message,
                                 {{"waited_ms", waited.count()}}));
    return Save(rollout, rollout::RollingStatusToJson(status), rollout.phase, rollout.reason,
                false);
  }
  Record(rollout, "rollout.resumed", message, {{"waited_ms", waited.count()}});
  return absl::OkStatus();
}

int ServiceController::Desired(const store::Rollout& rollout,
                               const runtime::Observation& observed) {
  const spec::ServiceDeployment* deployment = environment_.FindService(service_.name);
  const int configured = deployment ? deployment->replicas : 1;
  if (!observed.scale) return configured;
  const int scale = *observed.scale;
  if (scale != scale_noted_.value_or(configured)) {
    Record(rollout, "service.scaled",
           absl::StrCat(service_.name, ": its autoscaler asks for ", scale, " replicas (was ",
                        scale_noted_.value_or(configured), ")"),
           {{"replicas", scale}, {"was", scale_noted_.value_or(configured)}});
  }
  scale_noted_ = scale;
  return scale;
}

rollout::CanaryConfig ServiceController::CanaryConfig() const {
  rollout::CanaryConfig c;
  c.policy = environment_.policies.canary;
  c.progress_deadline = environment_.policies.rolling.progress_deadline;
  c.automatic_rollback = environment_.policies.rollback.automatic;
  return c;
}

absl::Status ServiceController::TickRolling(store::Rollout& rollout,
                                            const runtime::Observation& observed) {
  HUT_ASSIGN_OR_RETURN(RollingStatus status, rollout::RollingStatusFromJson(rollout.state));
  const int desired = Desired(rollout, observed);
  rollout::RollingPlan plan = rollout::DecideRolling(
      PolicyFor(rollout.strategy, environment_.policies.rolling, desired), desired, status,
      observed, clock_.Now());

  // Persist the decision before acting on it; say so after acting, so the
  // event log reads in order.
  AnnouncePhase(rollout, rollout::PhaseName(status.phase), rollout::PhaseName(plan.status.phase),
                plan.status.reason);
  HUT_RETURN_IF_ERROR(Save(rollout, rollout::RollingStatusToJson(plan.status),
                           StorePhase(plan.status.phase), plan.status.reason,
                           rollout::IsTerminal(plan.status.phase)));
  return plan.target ? Carry(rollout, *plan.target) : absl::OkStatus();
}

absl::Status ServiceController::TickCanary(store::Rollout& rollout,
                                           const runtime::Observation& observed) {
  HUT_ASSIGN_OR_RETURN(CanaryStatus status, rollout::CanaryStatusFromJson(rollout.state));
  const rollout::CanaryConfig config = CanaryConfig();
  rollout::CanaryObservation seen;
  seen.replicas = observed.replicas;
  seen.cannot_start = observed.cannot_start;
  std::tie(seen.command, seen.command_id) = rollout::PendingCommand(rollout.state);
  seen.command_reason = rollout::PendingCommandReason(rollout.state);

  AnalysisStep step = analysis_.Step(rollout, status, config, Rollback());
  seen.analysis = step.analysis;
  if (step.decided) {
    const std::string decision(analysis::DecisionName(step.verdict->decision));
    pending_.push_back(MakeEvent(rollout, absl::StrCat("analysis.", decision),
           absl::StrCat("rollout ", rollout.id, " analysis: ", step.verdict->Message()),
           step.verdict->Json()));
  }
  const TimePoint now = clock_.Now();
  rollout::CanaryPlan plan = rollout::DecideCanary(config, Desired(rollout, observed), status, seen, now);
  if (!plan.command_status.ok()) {
    pending_.push_back(MakeEvent(
        rollout, "rollout.command-refused",
        absl::StrCat("rollout ", rollout.id, ": ", plan.command_status.message())));
  }

  nlohmann::json state = rollout::CanaryStatusToJson(plan.status);
  if (auto command = rollout.state.find("command"); command != rollout.state.end()) {
    state["command"] = *command;
  }
  const auto share = observed.traffic.find(plan.status.target_revision);
  state["progress"] = rollout::CanaryProgressJson(plan.status, config.policy,
                                     share == observed.traffic.end() ? 0.0 : share->second);
  // The live view of the analysis changes with each scrape; between scrapes
  // (and after the analysis ends) the last one stays on show.
  if (step.verdict != nullptr && (step.scraped || step.decided)) {
    state["analysis"] = step.verdict->Json();
    state["analysis"]["kind"] = std::string(AnalysisKindName(step.kind));
  } else if (auto last = rollout.state.find("analysis"); last != rollout.state.end()) {
    state["analysis"] = *last;
  }
  // The decision, the events that tell of it and the scrapes it came from
  // are saved together.
  AnnouncePhase(rollout, rollout::CanaryPhaseName(status.phase),
                rollout::CanaryPhaseName(plan.status.phase), plan.status.reason);
  if (absl::Status saved =
          Save(rollout, std::move(state), StorePhase(plan.status.phase),
               plan.status.reason, rollout::CanaryFinished(plan.status), analysis_.pending());
      !saved.ok()) {
    analysis_.SaveFailed();
    return saved;
  }
  analysis_.Saved();
  return plan.target ? Carry(rollout, *plan.target) : absl::OkStatus();
}

absl::Status ServiceController::Carry(const store::Rollout& rollout,
                                      const runtime::ServicePlan& plan) {
  std::map<int, runtime::RevisionTemplate> templates;
  for (const runtime::RevisionTarget& r : plan.revisions) {
    if (r.replicas == 0) continue;
    absl::StatusOr<const runtime::RevisionTemplate*> t = Template(r.revision);
    if (!t.ok()) return t.status();
    templates.emplace(r.revision, **t);
  }
  runtime::ApplyResult result = runtime_.Apply(service_.name, plan, templates);
  for (runtime::Change& change : result.changes) {
    Record(rollout, std::move(change.type), std::move(change.message), std::move(change.data));
  }
  return result.status;
}

absl::StatusOr<const runtime::RevisionTemplate*> ServiceController::Template(int number) {
  if (auto it = templates_.find(number); it != templates_.end()) return &it->second;
  HUT_ASSIGN_OR_RETURN(std::optional<store::Revision> revision,
                       store_.GetRevision(environment_.name, service_.name, number));
  if (!revision) return absl::NotFoundError(absl::StrCat("revision ", number, " is gone"));
  runtime::RevisionTemplate t;
  t.service = service_.name;
  t.revision = revision->number;
  t.version = revision->version;
  t.release = service_.release;
  t.env = revision->env;
  t.health = service_.health;
  t.health.failure_threshold = spec::HealthCheckFailures(environment_.policies, service_);
  t.termination_grace = service_.termination_grace_period;
  // Revisions do not change once recorded.
  return &templates_.emplace(number, std::move(t)).first->second;
}

absl::Status ServiceController::Save(store::Rollout& rollout, nlohmann::json state,
                                     store::RolloutPhase phase, const std::string& reason,
                                     bool finished,
                                     const std::vector<store::AnalysisSample>& samples) {
  std::vector<store::Event> events = std::move(pending_);
  pending_.clear();
  const bool was_finished = rollout.finished_at.has_value();
  if (state == rollout.state && phase == rollout.phase && reason == rollout.reason &&
      finished == was_finished && samples.empty() && events.empty()) {
    return absl::OkStatus();
  }
  store::Rollout next = rollout;
  next.state = std::move(state);
  next.phase = phase;
  next.reason = reason;
  // One instant: a rollout finished by this write has finished_at == updated_at.
  next.updated_at = clock_.Now();
  if (finished && !was_finished) next.finished_at = next.updated_at;
  if (!finished) next.finished_at.reset();
  HUT_ASSIGN_OR_RETURN(std::vector<store::Event> saved,
                       store_.UpdateRolloutWithEvents(next, samples, std::move(events)));
  for (const store::Event& e : saved) Logged(e);
  if (tracer_) {
    tracer_->Recorded(next, saved);
    if (finished && !was_finished) tracer_->Finished(next, next.updated_at);
  }
  rollout = std::move(next);
  ++rollout.version;  // as stored now
  return absl::OkStatus();
}

void ServiceController::AnnouncePhase(const store::Rollout& rollout, std::string_view before,
                                      std::string_view after, const std::string& reason) {
  if (after == before) return;
  std::string message =
      absl::StrCat("rollout ", rollout.id, ": ", std::string(before), " -> ", std::string(after));
  if (!reason.empty()) absl::StrAppend(&message, ": ", reason);
  pending_.push_back(MakeEvent(rollout, absl::StrCat("rollout.", std::string(after)), message,
                               {{"reason", reason}}));
  if (tracer_) tracer_->PhaseChanged(rollout, before, after, reason, clock_.Now());
}

store::Event ServiceController::MakeEvent(const store::Rollout& rollout, std::string type,
                                          std::string message, nlohmann::json data) const {
  store::Event event;
  event.at = clock_.Now();
  event.environment = environment_.name;
  event.service = service_.name;
  event.rollout_id = rollout.id;
  event.type = std::move(type);
  event.message = std::move(message);
  event.data = std::move(data);
  return event;
}

void ServiceController::Logged(const store::Event& event) {
  logger_.Info(event.message, {{"event", event.type}, {"rollout_id", event.rollout_id}});
}

int64_t ServiceController::Record(const store::Rollout& rollout, std::string type,
                                  std::string message, nlohmann::json data) {
  absl::StatusOr<store::Event> saved =
      store_.AppendEvent(MakeEvent(rollout, std::move(type), std::move(message), std::move(data)));
  if (!saved.ok()) {
    logger_.Error("cannot record event", {{"error", std::string(saved.status().message())}});
    return 0;
  }
  Logged(*saved);
  if (tracer_) tracer_->Recorded(rollout, {*saved});
  return saved->id;
}

}  // namespace hut::controller

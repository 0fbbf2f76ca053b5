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
  if (latest->phase == rollout::PhaseName(Phase::kRolledBack)) return latest->from_revision;
  if (latest->phase == rollout::PhaseName(Phase::kSucceeded)) return latest->to_revision;
  // Running or failed: what served before it started.
  return latest->from_revision;
}

absl::StatusOr<store::Rollout> ServiceController::Deploy(const DeployRequest& request) {
  if (request.version.empty()) return absl::InvalidArgumentError("empty version");
  spec::Strategy strategy = request.strategy.value_or(environment_.strategy);
  // Refuse before writing a revision that no rollout would use.
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (latest && !latest->finished_at && latest->phase == rollout::PhaseName(Phase::kSucceeded)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "revision ", latest->from_revision, " of ", service_.name,
        " is kept warm for the rollback window of rollout ", latest->id,
        "; `hut rollout undo` goes back to it, `hut rollout promote` releases it now"));
  }
  if (latest && !latest->finished_at) {
    return absl::FailedPreconditionError(
        absl::StrCat("rollout ", latest->id, " of ", service_.name, " in ", environment_.name,
                     " is still running (", latest->phase,
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
  // Inside a canary's rollback window the previous revision still runs:
  // flip traffic back to it rather than start a new rollout.
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> window,
                       store_.LatestRollout(environment_.name, service_.name));
  if (window && !window->finished_at && window->strategy == spec::Name(spec::Strategy::kCanary) &&
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
        absl::StrCat("rollout ", latest->id, " is still running (", latest->phase,
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

const spec::CanaryStep& StepOf(const std::vector<spec::CanaryStep>& steps, int step) {
  return steps[std::clamp<size_t>(step, 0, steps.size() - 1)];
}

// The operator's command waiting in a canary rollout's state, if any.
std::pair<rollout::Command, int64_t> PendingCommand(const nlohmann::json& state) {
  auto c = state.find("command");
  if (c == state.end() || !c->is_object()) return {rollout::Command::kNone, 0};
  // A corrupt command (mistyped fields) is no command, never an exception.
  auto name_it = c->find("name");
  auto id_it = c->find("id");
  if (name_it == c->end() || !name_it->is_string() || id_it == c->end() ||
      !id_it->is_number_integer()) {
    return {rollout::Command::kNone, 0};
  }
  const std::string name = name_it->get<std::string>();
  const int64_t id = id_it->get<int64_t>();
  for (rollout::Command command :
       {rollout::Command::kPromote, rollout::Command::kPromoteFull, rollout::Command::kAbort,
        rollout::Command::kRetry, rollout::Command::kUndo}) {
    if (rollout::CommandName(command) == name) return {command, id};
  }
  return {rollout::Command::kNone, 0};
}

// The canary's share of the traffic the load balancer gives out now.
double CanaryShare(const std::vector<runtime::ReplicaStatus>& observed, int target_revision) {
  double canary = 0;
  double all = 0;
  for (const runtime::ReplicaStatus& r : observed) {
    if (!r.in_load_balancer || r.draining) continue;
    all += r.weight;
    if (r.revision == target_revision) canary += r.weight;
  }
  return all > 0 ? canary / all : 0;
}

// What `hut rollout status` shows of a canary beyond its phase: where it is
// in its steps, its share of traffic, when its hold or window ends.
nlohmann::json CanaryProgress(const CanaryStatus& st, const spec::CanaryPolicy& policy,
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

}  // namespace

absl::StatusOr<store::Rollout> ServiceController::StartRollout(const store::Revision& revision,
                                                               spec::Strategy strategy) {
  HUT_ASSIGN_OR_RETURN(int current, CurrentRevision());
  store::Rollout r;
  r.environment = environment_.name;
  r.service = service_.name;
  r.from_revision = current;
  r.to_revision = revision.number;
  r.strategy = std::string(spec::Name(strategy));
  if (strategy == spec::Strategy::kCanary) {
    CanaryStatus status = rollout::BeginCanary(revision.number, current, clock_.Now());
    r.phase = std::string(rollout::CanaryPhaseName(status.phase));
    r.state = rollout::CanaryStatusToJson(status);
  } else {
    RollingStatus status;
    status.target_revision = revision.number;
    status.previous_revision = current;
    status.last_progress = clock_.Now();
    r.phase = std::string(rollout::PhaseName(status.phase));
    r.state = ToJson(status);
  }
  r.created_at = r.updated_at = clock_.Now();
  HUT_ASSIGN_OR_RETURN(store::Rollout saved, store_.CreateRollout(r));
  Record(saved, "rollout.started",
         absl::StrCat("rolling out revision ", revision.number, " (", revision.version,
                      ") with the ", saved.strategy, " strategy"),
         {{"from_revision", current}, {"to_revision", revision.number},
          {"version", revision.version}, {"strategy", saved.strategy}});
  return saved;
}

absl::StatusOr<store::Rollout> ServiceController::Command(rollout::Command command) {
  const std::string name(rollout::CommandName(command));
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (!latest) {
    return absl::FailedPreconditionError(
        absl::StrCat(service_.name, " has no rollout in ", environment_.name, " to ", name));
  }
  store::Rollout rollout = *std::move(latest);
  if (rollout.strategy != spec::Name(spec::Strategy::kCanary)) {
    HUT_ASSIGN_OR_RETURN(RollingStatus status, FromJson(rollout.state));
    if (command != rollout::Command::kAbort) {
      return absl::FailedPreconditionError(
          absl::StrCat("rollout ", rollout.id, " of ", service_.name, " uses the ",
                       rollout.strategy, " strategy; only a canary can be told to ", name));
    }
    if (status.phase != Phase::kProgressing) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot abort rollout ", rollout.id, ": it is ",
                       std::string(rollout::PhaseName(status.phase))));
    }
    RollingStatus turned = rollout::TurnAround(status, "aborted by the operator", clock_.Now());
    HUT_RETURN_IF_ERROR(Save(rollout, ToJson(turned), rollout::PhaseName(turned.phase),
                             turned.reason, rollout::IsTerminal(turned.phase)));
    AnnouncePhase(rollout, rollout::PhaseName(status.phase), rollout::PhaseName(turned.phase),
                  turned.reason);
    return rollout;
  }
  HUT_ASSIGN_OR_RETURN(CanaryStatus status, rollout::CanaryStatusFromJson(rollout.state));
  HUT_RETURN_IF_ERROR(rollout::CheckCommand(status, command));
  // The event's id is the command's: increasing, and applied once.
  const int64_t id = Record(rollout, "rollout.command",
                            absl::StrCat("rollout ", rollout.id, ": the operator asked to ", name),
                            {{"command", name}});
  if (id == 0) return absl::InternalError("cannot record the command; nothing was changed");
  nlohmann::json state = rollout.state;
  state["command"] = {{"name", name}, {"id", id}};
  HUT_RETURN_IF_ERROR(Save(rollout, std::move(state), rollout.phase, rollout.reason,
                           rollout.finished_at.has_value()));
  return rollout;
}

std::optional<std::string> ServiceController::Waiting() const {
  return dependencies_ != nullptr ? dependencies_->Blocked(service_.name) : std::nullopt;
}

absl::Status ServiceController::Tick() {
  HUT_ASSIGN_OR_RETURN(std::optional<store::Rollout> latest,
                       store_.LatestRollout(environment_.name, service_.name));
  if (!latest) return absl::OkStatus();
  if (std::optional<std::string> blocked = Waiting()) {
    if (!latest->finished_at && *blocked != waiting_) {
      Record(*latest, "rollout.waiting",
             absl::StrCat("rollout ", latest->id, " waits: ", *blocked));
      if (waiting_.empty()) waiting_since_ = clock_.Now();
      waiting_ = *blocked;
    }
    return absl::OkStatus();
  }
  if (!waiting_.empty()) {
    waiting_.clear();
    HUT_RETURN_IF_ERROR(
        Resume(*latest, std::chrono::duration_cast<Duration>(clock_.Now() - waiting_since_)));
  }
  if (latest->strategy == spec::Name(spec::Strategy::kCanary)) {
    return TickCanary(*std::move(latest));
  }
  return TickRolling(*std::move(latest));
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
  if (rollout.strategy != spec::Name(spec::Strategy::kCanary) && !rollout.finished_at) {
    // The wait was not the release's: its progress deadline starts again.
    HUT_ASSIGN_OR_RETURN(RollingStatus status, FromJson(rollout.state));
    status.last_progress += waited;
    HUT_RETURN_IF_ERROR(Save(rollout, ToJson(status), rollout.phase, rollout.reason, false));
  }
  Record(rollout, "rollout.resumed", message, {{"waited_ms", waited.count()}});
  return absl::OkStatus();
}

std::vector<ReplicaView> ServiceController::Views(
    const std::vector<runtime::ReplicaStatus>& observed) {
  const int threshold = spec::HealthCheckFailures(environment_.policies, service_);
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
  return views;
}

int ServiceController::Desired() const {
  const spec::ServiceDeployment* deployment = environment_.FindService(service_.name);
  return deployment ? deployment->replicas : 1;
}

rollout::CanaryConfig ServiceController::CanaryConfig() const {
  rollout::CanaryConfig c;
  c.policy = environment_.policies.canary;
  c.progress_deadline = environment_.policies.rolling.progress_deadline;
  c.automatic_rollback = environment_.policies.rollback.automatic;
  return c;
}

absl::Status ServiceController::TickRolling(store::Rollout rollout) {
  HUT_ASSIGN_OR_RETURN(RollingStatus status, FromJson(rollout.state));
  HUT_ASSIGN_OR_RETURN(std::vector<runtime::ReplicaStatus> observed,
                       runtime_.Replicas(service_.name));
  const int desired = Desired();
  rollout::RollingPlan plan = rollout::DecideRolling(
      PolicyFor(rollout.strategy, environment_.policies.rolling, desired), desired, status,
      Views(observed), clock_.Now());

  // Persist the decision before acting on it; say so after acting, so the
  // event log reads in order.
  auto save = [&](const RollingStatus& s) {
    return Save(rollout, ToJson(s), rollout::PhaseName(s.phase), s.reason,
                rollout::IsTerminal(s.phase));
  };
  HUT_RETURN_IF_ERROR(save(plan.status));
  std::string cannot_start;
  absl::Status acted = Carry(rollout, plan.actions, &cannot_start);
  AnnouncePhase(rollout, rollout::PhaseName(status.phase), rollout::PhaseName(plan.status.phase),
                plan.status.reason);
  if (!cannot_start.empty() && (plan.status.phase == Phase::kProgressing ||
                                plan.status.phase == Phase::kRollingBack)) {
    // A release that cannot be started will not start on the next tick
    // either: turn the rollout around now rather than at the deadline.
    RollingStatus turned = rollout::TurnAround(plan.status, cannot_start, clock_.Now());
    HUT_RETURN_IF_ERROR(save(turned));
    AnnouncePhase(rollout, rollout::PhaseName(plan.status.phase),
                  rollout::PhaseName(turned.phase), turned.reason);
    return absl::OkStatus();  // recorded as the rollout's reason
  }
  return acted;
}

absl::Status ServiceController::TickCanary(store::Rollout rollout) {
  HUT_ASSIGN_OR_RETURN(CanaryStatus status, rollout::CanaryStatusFromJson(rollout.state));
  HUT_ASSIGN_OR_RETURN(std::vector<runtime::ReplicaStatus> observed,
                       runtime_.Replicas(service_.name));
  const rollout::CanaryConfig config = CanaryConfig();
  rollout::CanaryObservation seen;
  seen.replicas = Views(observed);
  for (const runtime::ReplicaStatus& r : observed) {
    if (r.in_load_balancer && !r.draining) seen.weights[r.name] = r.weight;
  }
  std::tie(seen.command, seen.command_id) = PendingCommand(rollout.state);

  AnalysisStep step = analysis_.Step(rollout, status, config, Rollback());
  seen.analysis = step.analysis;
  if (step.decided) {
    const std::string decision(analysis::DecisionName(step.verdict->decision));
    Record(rollout, absl::StrCat("analysis.", decision),
           absl::StrCat("rollout ", rollout.id, " analysis: ", step.verdict->Message()),
           step.verdict->Json());
  }
  if (!cannot_start_.empty()) {  // the new release cannot start: as a failed canary
    seen.analysis = {rollout::Verdict::kRollback, cannot_start_};
    cannot_start_.clear();
  }
  const TimePoint now = clock_.Now();
  rollout::CanaryPlan plan = rollout::DecideCanary(config, Desired(), status, seen, now);
  if (!plan.command_status.ok()) {
    Record(rollout, "rollout.command-refused",
           absl::StrCat("rollout ", rollout.id, ": ", plan.command_status.message()));
  }

  nlohmann::json state = rollout::CanaryStatusToJson(plan.status);
  if (auto command = rollout.state.find("command"); command != rollout.state.end()) {
    state["command"] = *command;
  }
  state["progress"] = CanaryProgress(plan.status, config.policy,
                                     CanaryShare(observed, plan.status.target_revision));
  // The live view of the analysis changes with each scrape; between scrapes
  // (and after the analysis ends) the last one stays on show.
  if (step.verdict != nullptr && (step.scraped || step.decided)) {
    state["analysis"] = step.verdict->Json();
    state["analysis"]["kind"] = std::string(AnalysisKindName(step.kind));
  } else if (auto last = rollout.state.find("analysis"); last != rollout.state.end()) {
    state["analysis"] = *last;
  }
  // The decision and the scrapes it came from are saved together.
  if (absl::Status saved =
          Save(rollout, std::move(state), rollout::CanaryPhaseName(plan.status.phase),
               plan.status.reason, rollout::CanaryFinished(plan.status), analysis_.pending());
      !saved.ok()) {
    analysis_.SaveFailed();
    return saved;
  }
  analysis_.Saved();
  std::string cannot_start;
  absl::Status acted = Carry(rollout, plan.actions, &cannot_start);
  AnnouncePhase(rollout, rollout::CanaryPhaseName(status.phase),
                rollout::CanaryPhaseName(plan.status.phase), plan.status.reason);
  if (!cannot_start.empty()) {
    cannot_start_ = cannot_start;
    return absl::OkStatus();  // becomes the rollout's reason on the next tick
  }
  return acted;
}

absl::Status ServiceController::Carry(const store::Rollout& rollout,
                                      const std::vector<rollout::Action>& actions,
                                      std::string* cannot_start) {
  absl::Status first_error;
  for (const rollout::Action& action : actions) {
    absl::Status s = Apply(rollout, action);
    if (s.ok()) continue;
    const bool transient = absl::IsUnavailable(s) || absl::IsResourceExhausted(s);
    if (action.kind == ActionKind::kStartReplica && !transient) {
      *cannot_start = absl::StrCat("cannot start revision ", action.revision, ": ", s.message());
      return absl::OkStatus();
    }
    if (first_error.ok()) first_error = s;
  }
  return first_error;
}

absl::Status ServiceController::Save(store::Rollout& rollout, nlohmann::json state,
                                     std::string_view phase, const std::string& reason,
                                     bool finished,
                                     const std::vector<store::AnalysisSample>& samples) {
  const bool was_finished = rollout.finished_at.has_value();
  if (state == rollout.state && phase == rollout.phase && reason == rollout.reason &&
      finished == was_finished && samples.empty()) {
    return absl::OkStatus();
  }
  rollout.state = std::move(state);
  rollout.phase = std::string(phase);
  rollout.reason = reason;
  rollout.updated_at = clock_.Now();
  if (finished && !was_finished) rollout.finished_at = clock_.Now();
  if (!finished) rollout.finished_at.reset();
  HUT_RETURN_IF_ERROR(samples.empty() ? store_.UpdateRollout(rollout)
                                      : store_.UpdateRolloutWithSamples(rollout, samples));
  ++rollout.version;  // as stored now
  return absl::OkStatus();
}

void ServiceController::AnnouncePhase(const store::Rollout& rollout, std::string_view before,
                                      std::string_view after, const std::string& reason) {
  if (after == before) return;
  std::string message =
      absl::StrCat("rollout ", rollout.id, ": ", std::string(before), " -> ", std::string(after));
  if (!reason.empty()) absl::StrAppend(&message, ": ", reason);
  Record(rollout, absl::StrCat("rollout.", std::string(after)), message, {{"reason", reason}});
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
      t.health.failure_threshold = spec::HealthCheckFailures(environment_.policies, service_);
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

int64_t ServiceController::Record(const store::Rollout& rollout, std::string type,
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
  absl::StatusOr<store::Event> saved = store_.AppendEvent(std::move(event));
  if (!saved.ok()) {
    logger_.Error("cannot record event", {{"error", std::string(saved.status().message())}});
    return 0;
  }
  return saved->id;
}

}  // namespace hut::controller

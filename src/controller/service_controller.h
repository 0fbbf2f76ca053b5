#ifndef HUT_CONTROLLER_SERVICE_CONTROLLER_H_
#define HUT_CONTROLLER_SERVICE_CONTROLLER_H_

// Carries out rollouts of one service in one environment: records revisions
// and rollouts in the Store, and on every Tick() reconciles from the saved
// rollout status (STYLE.md rule 6): observe the runtime, decide (a pure
// strategy function), persist the new status, then act. A controller killed
// at any point resumes from the store on its next Tick().

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/common/clock.h"
#include "src/common/log.h"
#include "src/controller/dependencies.h"
#include "src/controller/rollout_analysis.h"
#include "src/controller/rollout_trace.h"
#include "src/rollout/canary.h"
#include "src/rollout/rolling.h"
#include "src/runtime/runtime.h"
#include "src/spec/spec.h"
#include "src/store/store.h"

namespace hut::controller {

// An alert that fired for this service (from the alert router).
struct AlertSignal {
  std::string name;      // alertname
  std::string severity;  // as labelled
  std::string version;   // its version label, "" when the rule has none
  TimePoint starts_at;   // when it began firing
  int64_t alert_id = 0;  // hut's id of it
};

struct DeployRequest {
  std::string version;
  std::map<std::string, std::string> env;  // --set VAR=VALUE
  std::optional<spec::Strategy> strategy;  // default: the environment's
};

// Revisions kept per service (`hut rollout history`), as Kubernetes' default.
inline constexpr int kHistoryLimit = 10;

// Not thread-safe: one reconcile worker owns it (STYLE.md rule 12); the
// references must outlive it.
class ServiceController {
 public:
  ServiceController(const spec::Spec& spec, const spec::Environment& environment,
                    const spec::Service& service, runtime::Runtime& runtime, store::Store& store,
                    const Clock& clock, Logger logger, RolloutAnalysisOptions analysis = {},
                    const Dependencies* dependencies = nullptr);

  // Records a new revision and starts a rollout to it. FailedPrecondition
  // while another rollout of the service runs (refused, not queued), and
  // while a promoted canary's previous revision is kept for its rollback
  // window.
  absl::StatusOr<store::Rollout> Deploy(const DeployRequest& request);
  // A new revision with the release of `to_revision` (default: the revision
  // before the current one), rolled out like a deploy. NotFound for an
  // unknown revision. Inside a canary's rollback window, going back to the
  // previous revision is a weight flip of the same rollout instead.
  absl::StatusOr<store::Rollout> Undo(std::optional<int> to_revision);
  // A new revision with the current revision's release, rolled out like an
  // undo: every replica replaced, one at a time (as `kubectl rollout
  // restart`). Brings back a service left without replicas. Refused while
  // a rollout runs, and before any revision has served.
  absl::StatusOr<store::Rollout> Restart();
  // Queues an operator's command (promote, promote --full, abort, retry,
  // undo) for the newest rollout; the next Tick() applies it. Refused with
  // FailedPrecondition when the rollout's phase does not allow it. A rolling
  // rollout takes only abort.
  absl::StatusOr<store::Rollout> Command(rollout::Command command);
  // A rollout under way listens to the alerts of its service: a canary
  // (steps or analysis) or a rolling update is rolled back, a canary in its
  // rollback window undone, when the alert's severity is one of the
  // rollback policy's on_alerts (paused instead when automatic is false);
  // a canary is paused when it is one of pause_on_alerts. Only an alert
  // that began firing after the rollout began counts, or one labelled with
  // the new revision's version; one labelled with another version does
  // not. Returns what it did ("" nothing), recorded as "rollout.alert" with
  // the alert's name.
  absl::StatusOr<std::string> React(const AlertSignal& alert);
  // One reconcile step of the newest rollout. Call on a timer. While a
  // dependency is blocked (Dependencies), nothing is decided or done: the
  // rollout waits, with a "rollout.waiting" event, and resumes
  // ("rollout.resumed") when it is back.
  absl::Status Tick();
  // Why the service's rollouts wait now, or nullopt.
  std::optional<std::string> Waiting() const;

  // The revision serving now: 0 before the first successful rollout.
  absl::StatusOr<int> CurrentRevision();

  // From now on each rollout is also a trace (rollout_trace.h) whose spans
  // go to `sink`; before the first Tick().
  void TraceRolloutsTo(SpanSink sink) { tracer_.emplace(std::move(sink)); }

 private:
  // Queues `command` for the canary `rollout` (validated), with `reason`
  // ("" : the operator's) and the event that tells of it.
  absl::Status QueueCanaryCommand(store::Rollout& rollout, const rollout::CanaryStatus& status,
                                  rollout::Command command, const std::string& reason,
                                  const std::string& event_type, const std::string& message,
                                  nlohmann::json data);
  absl::StatusOr<store::Rollout> StartRollout(const store::Revision& revision,
                                              spec::Strategy strategy);
  // Records a copy of `source` as a new revision (with `cause`) and rolls it
  // out without canary: the tail of Undo and Restart.
  absl::StatusOr<store::Rollout> Reissue(const store::Revision& source, std::string cause);
  // One tick of `latest`, the service's newest rollout; updates it as saved.
  absl::Status TickLatest(store::Rollout& latest);
  absl::Status TickRolling(store::Rollout& rollout, const runtime::Observation& observed);
  // Someone other than hut set the workload to another revision (kubectl
  // rollout undo): once it runs everywhere, `latest` ends and a finished
  // rollout to that revision (cause: out of band) is recorded, so hut
  // carries on from it rather than fighting it.
  absl::Status FollowOutOfBand(store::Rollout& latest, const runtime::OutOfBand& change);
  // After a wait for dependencies: a rolling rollout's progress deadline is
  // moved by `waited`; the resumption is recorded.
  absl::Status Resume(store::Rollout& rollout, Duration waited);
  absl::Status TickCanary(store::Rollout& rollout, const runtime::Observation& observed);
  // Has the runtime carry `plan` out and records what it changed.
  absl::Status Carry(const store::Rollout& rollout, const runtime::ServicePlan& plan);
  // What revision `number` runs (from the store once, then remembered).
  absl::StatusOr<const runtime::RevisionTemplate*> Template(int number);
  rollout::CanaryConfig CanaryConfig() const;
  // The environment's rollback policy with this service's health threshold.
  spec::RollbackPolicy Rollback() const;
  // The service's replica count: its autoscaler's when the runtime has one
  // (noted once per change as a "service.scaled" event), else the spec's.
  int Desired(const store::Rollout& rollout, const runtime::Observation& observed);
  // Saves a new state of `rollout`, with the analysis `samples` it came
  // from and the events noted since the last save (pending_), all or
  // nothing; nothing when nothing changed. Sets finished_at when `finished`
  // (and clears it when not: a retried canary runs again).
  absl::Status Save(store::Rollout& rollout, nlohmann::json state, store::RolloutPhase phase,
                    const std::string& reason, bool finished,
                    const std::vector<store::AnalysisSample>& samples = {});
  // Notes the phase change, if any, for the next Save.
  void AnnouncePhase(const store::Rollout& rollout, std::string_view before,
                     std::string_view after, const std::string& reason);
  store::Event MakeEvent(const store::Rollout& rollout, std::string type, std::string message,
                         nlohmann::json data = nlohmann::json::object()) const;
  void Logged(const store::Event& event);
  // Appends an event on its own (what the runtime did, a wait, a command);
  // returns its id (0 when it could not be saved: logged).
  int64_t Record(const store::Rollout& rollout, std::string type, std::string message,
                 nlohmann::json data = nlohmann::json::object());

  const spec::Spec& spec_;
  const spec::Environment& environment_;
  const spec::Service& service_;
  runtime::Runtime& runtime_;
  store::Store& store_;
  const Clock& clock_;
  Logger logger_;
  RolloutAnalysis analysis_;
  const Dependencies* dependencies_;  // may be null
  std::string waiting_;  // the reason announced in the last "rollout.waiting"
  TimePoint waiting_since_;
  std::map<int, runtime::RevisionTemplate> templates_;  // by revision number
  std::vector<store::Event> pending_;  // decision events, written with the next Save
  std::optional<store::Rollout> latest_;  // the newest rollout as saved, when latest_known_
  bool latest_known_ = false;
  std::string out_of_band_noted_;  // the last out-of-band change announced
  std::optional<int> scale_noted_;  // the last autoscaler count announced
  std::optional<RolloutTracer> tracer_;
};

}  // namespace hut::controller

#endif  // HUT_CONTROLLER_SERVICE_CONTROLLER_H_

#ifndef HUT_STORE_STORE_H_
#define HUT_STORE_STORE_H_

// hut's state: revisions, rollouts, the event (audit) log and leases.
// Implementations: SQLite (embedded default, sqlite_store.h) and PostgreSQL
// (postgres_store.h); OpenStore (open.h) picks one from a URL. Every method is
// safe for concurrent use.
//
// More than one writer. Several Store objects (several `hut server`s on one
// PostgreSQL, or two processes on one SQLite file) may write at once:
//  - rollout updates are version-checked (Rollout::version): a conflict is
//    Aborted and writes nothing;
//  - events are written in the same transaction as the state they describe
//    (CreateRolloutWithEvents, UpdateRolloutWithEvents), so the log never
//    tells of a change that was not saved, nor misses one that was;
//  - event ids become visible in commit order: once a reader has seen event
//    N, no event with an id below N commits later. EventsAfter(last seen id)
//    therefore never skips an event (the SSE stream resumes from an id);
//  - a lease elects the active controller, and its fencing token (Fence)
//    makes every write of a controller that lost the lease fail, inside the
//    write's own transaction, instead of overwriting its successor's work.

#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/common/clock.h"
#include "src/spec/spec.h"

namespace hut::store {

// A release of a service in an environment: the version and the variables
// given with `hut deploy --set`. Numbered from 1 per (environment, service);
// undo creates a new revision with the old release (as Kubernetes does).
struct Revision {
  std::string environment;
  std::string service;
  int number = 0;
  std::string version;
  std::map<std::string, std::string> env;  // --set VAR=VALUE
  std::string cause;                       // "deploy", "undo to 3", ...
  TimePoint created_at;
  bool operator==(const Revision&) const = default;
};

// Where a rollout is, whatever its strategy: rolling uses progressing,
// rolling-back and the three ends; canary every one but progressing.
enum class RolloutPhase {
  kProgressing,
  kStarting,
  kAnalysing,
  kPaused,
  kPromoting,
  kSucceeded,
  kRollingBack,
  kRolledBack,
  kFailed,
};
// "progressing", "starting", "analysing", "paused", "promoting", "succeeded",
// "rolling-back", "rolled-back", "failed": the names in the store and the API.
std::string_view PhaseName(RolloutPhase phase);
std::optional<RolloutPhase> ParsePhase(std::string_view name);
std::optional<spec::Strategy> ParseStrategy(std::string_view name);
std::ostream& operator<<(std::ostream& out, RolloutPhase phase);

// One rollout from one revision to another. `state` is the strategy's own
// persisted status (JSON), saved before the controller acts on it.
struct Rollout {
  int64_t id = 0;
  std::string environment;
  std::string service;
  int from_revision = 0;  // 0: first deployment
  int to_revision = 0;
  spec::Strategy strategy = spec::Strategy::kRolling;  // stored by name: "rolling", ...
  RolloutPhase phase = RolloutPhase::kProgressing;     // stored by name: "progressing", ...
  std::string reason;     // why it ended as it did; "" while running
  nlohmann::json state = nlohmann::json::object();
  TimePoint created_at;
  TimePoint updated_at;
  std::optional<TimePoint> finished_at;
  // Bumped by every update: 1 once created. An update names the version it
  // read and is refused (Aborted) when another writer came first.
  int64_t version = 0;
  bool operator==(const Rollout&) const = default;
};

// One line of the audit log: every decision and action, with its numbers.
struct Event {
  int64_t id = 0;  // increasing; the SSE stream resumes from an id
  TimePoint at;
  std::string environment;
  std::string service;
  int64_t rollout_id = 0;  // 0 when not about a rollout
  std::string type;        // "rollout.started", "replica.ready", "rollout.rolled-back", ...
  std::string message;     // human sentence with the numbers
  nlohmann::json data = nlohmann::json::object();
  bool operator==(const Event&) const = default;
};

// One observation a rollout's analysis read (opaque JSON to the store).
struct AnalysisSample {
  TimePoint at;
  nlohmann::json data;
  bool operator==(const AnalysisSample&) const = default;
};

// A named lease: at most one holder at a time, until `expires_at`.
// `token` is the fencing token: it increases by one every time the holder
// changes (never on a renewal), so a higher token always means a later holder.
struct Lease {
  std::string name;
  std::string holder;  // "" once released
  int64_t token = 0;
  TimePoint expires_at;
  bool operator==(const Lease&) const = default;
};

// A rollout as CreateRolloutWithEvents saved it, with its events.
struct CreatedRollout {
  Rollout rollout;
  std::vector<Event> events;
  bool operator==(const CreatedRollout&) const = default;
};


// ---- Alerts and their notifications (src/alerting) ----

// firing: not yet acknowledged (its deadline runs); acked: someone is on it;
// resolved: over. Stored by name: "firing", "acked", "resolved".
enum class AlertState { kFiring, kAcked, kResolved };
std::string_view AlertStateName(AlertState state);
std::optional<AlertState> ParseAlertState(std::string_view name);

// One alert as hut tracks it, from its first notification to its resolve.
// At most one alert per (environment, fingerprint) is open (not resolved).
struct Alert {
  int64_t id = 0;  // what `hut alerts ack ID` names
  std::string environment;
  std::string fingerprint;  // the same for the same label set
  std::string name;         // alertname
  std::string severity;
  std::string service;  // "" when not about one service
  nlohmann::json labels = nlohmann::json::object();
  nlohmann::json annotations = nlohmann::json::object();
  AlertState state = AlertState::kFiring;
  TimePoint starts_at;    // when it began firing
  TimePoint received_at;  // when hut recorded it (zero: now)
  TimePoint updated_at;   // zero: received_at
  // To be acknowledged by; none when its severity promises no response time
  // or once acknowledged or resolved.
  std::optional<TimePoint> deadline;
  int escalations = 0;  // pages sent again (and up the escalation policy)
  std::optional<TimePoint> acked_at;
  std::string acked_by;
  std::optional<TimePoint> resolved_at;
  int64_t version = 0;  // as Rollout::version
  bool operator==(const Alert&) const = default;
};

// One message in the outbox: queued in the transaction that decided it, sent
// by the dispatcher until the receiver takes it.
struct Notification {
  int64_t id = 0;   // sending order
  std::string key;  // unique: a message whose key is already queued is not queued again
  std::string environment;
  int64_t alert_id = 0;  // 0: about no one alert (the digest)
  std::string channel;   // "pagerduty", "slack"
  std::string recipient;  // within the channel: "" the first, "escalation-1", …
  nlohmann::json message = nlohmann::json::object();  // the body, without the channel's secret
  TimePoint created_at;       // zero: now
  TimePoint next_attempt_at;  // zero: created_at
  int attempts = 0;
  std::string last_error;
  std::optional<TimePoint> delivered_at;
  bool failed = false;  // given up: the receiver refused it as malformed
  bool operator==(const Notification&) const = default;
};

struct AlertQuery {
  std::string environment;  // required
  std::optional<AlertState> state;
  std::optional<TimePoint> received_since;  // received at or after
  int limit = 100;
};

// Writes and fencing. Every method that writes (all but the readers and the
// lease methods) first checks, in its own transaction, the fence set by
// Fence(); when the fenced lease's token has moved on, the write fails with
// FailedPrecondition ("fenced: ...") and writes nothing.
class Store {
 public:
  virtual ~Store() = default;

  // Appends a revision numbered one past the last of (environment, service)
  // and returns it with its number. Keeps at most `history_limit` revisions
  // of that service (the oldest go), never one a running rollout uses.
  virtual absl::StatusOr<Revision> AddRevision(Revision revision, int history_limit) = 0;
  virtual absl::StatusOr<std::optional<Revision>> GetRevision(const std::string& environment,
                                                              const std::string& service,
                                                              int number) = 0;
  // Newest first.
  virtual absl::StatusOr<std::vector<Revision>> ListRevisions(const std::string& environment,
                                                              const std::string& service) = 0;

  // Creates a rollout and returns it with its id. Fails with
  // FailedPrecondition when (environment, service) already has a rollout
  // that has not finished: one rollout at a time per service.
  virtual absl::StatusOr<Rollout> CreateRollout(Rollout rollout) = 0;
  // CreateRollout and AppendEvent of each of `events` (e.g. "rollout.started"),
  // all or nothing: when the rollout is refused, no event is written. An event
  // whose rollout_id is 0 gets the new rollout's id, and an empty environment
  // or service the rollout's. Returns the rollout and the events with their
  // ids, in order.
  virtual absl::StatusOr<CreatedRollout> CreateRolloutWithEvents(Rollout rollout,
                                                                 std::vector<Event> events) = 0;
  // Saves phase, reason, state, updated_at and finished_at of an existing
  // rollout, if its stored version is still rollout.version; the stored
  // version is then rollout.version + 1 (the caller bumps its copy to write
  // again). A conflict (another writer came first) is Aborted and writes
  // nothing: never a lost write. NotFound for an unknown rollout.
  virtual absl::Status UpdateRollout(const Rollout& rollout) = 0;
  // UpdateRollout and AppendAnalysisSample of each of `samples` (of this
  // rollout), all or nothing: a decision and the scrapes it came from are
  // saved together, with one write to disk.
  virtual absl::Status UpdateRolloutWithSamples(const Rollout& rollout,
                                                const std::vector<AnalysisSample>& samples) = 0;
  // UpdateRolloutWithSamples and AppendEvent of each of `events`, all or
  // nothing: a version conflict (Aborted) or any other failure writes neither
  // the rollout, nor a sample, nor an event. Events are completed as in
  // CreateRolloutWithEvents. Returns the events with their ids, in order.
  virtual absl::StatusOr<std::vector<Event>> UpdateRolloutWithEvents(
      const Rollout& rollout, const std::vector<AnalysisSample>& samples,
      std::vector<Event> events) = 0;
  virtual absl::StatusOr<std::optional<Rollout>> GetRollout(int64_t id) = 0;
  // The newest rollout of the service, finished or not.
  virtual absl::StatusOr<std::optional<Rollout>> LatestRollout(const std::string& environment,
                                                               const std::string& service) = 0;
  // The id and version of the newest rollout of the service ({0, 0}: none):
  // a cheap check that a copy read before is still what is stored.
  virtual absl::StatusOr<std::pair<int64_t, int64_t>> LatestRolloutVersion(
      const std::string& environment, const std::string& service) = 0;
  // The newest rollout of the service to `to_revision`, finished or not.
  virtual absl::StatusOr<std::optional<Rollout>> LatestRolloutTo(const std::string& environment,
                                                                 const std::string& service,
                                                                 int to_revision) = 0;
  // Rollouts not finished, in every environment: what a restarted server resumes.
  virtual absl::StatusOr<std::vector<Rollout>> UnfinishedRollouts() = 0;
  // The newest `limit` rollouts of `environment` (of `service` only, unless
  // it is ""), newest first.
  virtual absl::StatusOr<std::vector<Rollout>> ListRollouts(const std::string& environment,
                                                            const std::string& service,
                                                            int limit) = 0;

  // Appends an event and returns it with its id. Ids increase, and become
  // visible in the order of their ids (see "More than one writer" above).
  virtual absl::StatusOr<Event> AppendEvent(Event event) = 0;
  // Events with id > `after_id`, oldest first, at most `limit`; optionally of
  // one environment/service ("" matches all).
  virtual absl::StatusOr<std::vector<Event>> EventsAfter(int64_t after_id, int limit,
                                                         const std::string& environment = "",
                                                         const std::string& service = "") = 0;
  // Records, in order, what a rollout's analysis read; AnalysisSamples gives
  // them back in the same order (empty for an unknown rollout).
  virtual absl::Status AppendAnalysisSample(int64_t rollout_id, TimePoint at,
                                            const nlohmann::json& sample) = 0;
  virtual absl::StatusOr<std::vector<AnalysisSample>> AnalysisSamples(int64_t rollout_id) = 0;

  // The newest event's id (0: none), with the same optional filters: where a
  // follower starts to see only what happens next.
  virtual absl::StatusOr<int64_t> LastEventId(const std::string& environment = "",
                                              const std::string& service = "") = 0;

  // ---- Alerts and the outbox ----
  //
  // An alert by id, and the open (firing or acked) alert with a fingerprint.
  virtual absl::StatusOr<std::optional<Alert>> GetAlert(int64_t id) = 0;
  virtual absl::StatusOr<std::optional<Alert>> OpenAlert(const std::string& environment,
                                                         const std::string& fingerprint) = 0;
  // Newest first, at most query.limit (>= 1).
  virtual absl::StatusOr<std::vector<Alert>> ListAlerts(const AlertQuery& query) = 0;
  // Creates the alert (id 0; version 1) or updates it (all but id,
  // environment, fingerprint and received_at; version-checked as
  // UpdateRollout: Aborted on a conflict), queues `notifications` (their
  // alert_id and empty environment become the alert's; one whose key is
  // queued already is skipped) and appends `events` (an empty environment or
  // service becomes the alert's; data gains "alert_id"), all
  // or nothing. Creating a second open alert with the same fingerprint is
  // AlreadyExists. Returns the alert as saved.
  virtual absl::StatusOr<Alert> SaveAlert(Alert alert, std::vector<Notification> notifications,
                                          std::vector<Event> events) = 0;
  // Queues notifications about no one alert (the digest) and appends events,
  // all or nothing; returns how many notifications were new (keys).
  virtual absl::StatusOr<int> QueueNotifications(std::vector<Notification> notifications,
                                                 std::vector<Event> events) = 0;
  // Not delivered nor failed, of `environment`, oldest (lowest id) first.
  virtual absl::StatusOr<std::vector<Notification>> PendingNotifications(
      const std::string& environment, int limit) = 0;
  // Saves attempts, next_attempt_at, last_error, delivered_at and failed of
  // a queued notification (NotFound for an unknown id).
  virtual absl::Status UpdateNotification(const Notification& notification) = 0;

  // ---- Leases: one active controller among several servers ----
  //
  // Takes lease `name` for `holder` until now + ttl when it is free (never
  // taken, released, or expired at `now`), incrementing its token; renews it
  // (new expiry, same token) when `holder` already holds it, even expired:
  // no one else held it in between. Otherwise FailedPrecondition naming the
  // holder and its expiry. InvalidArgument for an empty name or holder or a
  // ttl <= 0. `now` comes from the caller's Clock, the same for every server
  // (leases assume clocks agree to well within a ttl).
  virtual absl::StatusOr<Lease> AcquireLease(std::string_view name, std::string_view holder,
                                             Duration ttl, TimePoint now) = 0;
  // Gives the lease up when `holder` holds it with `token`: it is free at
  // once, and the next holder's token is token + 1. Otherwise does nothing
  // (safe to repeat; a holder that lost it has nothing to release).
  virtual absl::Status ReleaseLease(std::string_view name, std::string_view holder,
                                    int64_t token) = 0;
  // The lease as stored, if it was ever taken.
  virtual absl::StatusOr<std::optional<Lease>> GetLease(std::string_view name) = 0;
  // From now on every write by this Store object checks, inside its own
  // transaction, that lease `name` still has token `token`, and fails with
  // FailedPrecondition ("fenced: <holder> now holds the lease ...") writing
  // nothing when it does not (or the lease does not exist). Only the token
  // counts: an expired lease no one else took still admits its holder's
  // writes. Replaces any earlier fence; reads and the lease methods are
  // never fenced. Call it with the token AcquireLease returned.
  virtual void Fence(std::string name, int64_t token) = 0;
};

}  // namespace hut::store

#endif  // HUT_STORE_STORE_H_

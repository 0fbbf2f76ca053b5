#ifndef HUT_STORE_STORE_H_
#define HUT_STORE_STORE_H_

// hut's state: revisions, rollouts and the event (audit) log. The server is
// the only writer. Implementations: SQLite (embedded default), later
// PostgreSQL. Every method is safe for concurrent use.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/common/clock.h"

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

// One rollout from one revision to another. `state` is the strategy's own
// persisted status (JSON), saved before the controller acts on it.
struct Rollout {
  int64_t id = 0;
  std::string environment;
  std::string service;
  int from_revision = 0;  // 0: first deployment
  int to_revision = 0;
  std::string strategy;   // "rolling", "replace", "canary"
  std::string phase;      // strategy phase name, e.g. "progressing", "rolled-back"
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
  virtual absl::StatusOr<std::optional<Rollout>> GetRollout(int64_t id) = 0;
  // The newest rollout of the service, finished or not.
  virtual absl::StatusOr<std::optional<Rollout>> LatestRollout(const std::string& environment,
                                                               const std::string& service) = 0;
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

  // Appends an event and returns it with its id.
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
};

}  // namespace hut::store

#endif  // HUT_STORE_STORE_H_

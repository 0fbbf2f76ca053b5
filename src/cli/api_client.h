#ifndef HUT_CLI_API_CLIENT_H_
#define HUT_CLI_API_CLIENT_H_

// The CLI's side of the control API (src/server/control_api.h): where the
// server and its admin token are (src/server/discovery.h), and one typed call
// per endpoint. Every call answers the API's JSON, or a status whose message
// is ready to show a user:
//   Unavailable       the server cannot be reached (with how to start it)
//   DeadlineExceeded  it did not answer in time
//   Unauthenticated   it refused the token (and says where the token came from)
//   NotFound, InvalidArgument, FailedPrecondition, ...  the API's own error message

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "src/common/secret.h"
#include "src/cli/cli.h"
#include "src/common/secret.h"
#include "src/server/discovery.h"

namespace hut::cli {

// The server to talk to and the admin token to show it.
struct ServerTarget {
  server::HostPort address;
  std::optional<Secret> token;  // nullopt: none found; the server will refuse
  // Where the token was read from ("$HUT_TOKEN", a file path, ...), or, when
  // none was found, every place that was looked at.
  std::string token_source;
};

// Resolves the address from HUT_ADDR (default 127.0.0.1:7480) and the token
// from, in order: HUT_TOKEN; the file $HUT_TOKEN_FILE; the token_file of the
// pointer file $HOME/.hut/servers/<host>-<port>.json; .hut/admin-token under
// `current_dir`. A token that is not found is not an
// error here (the server says whether it needs one); a bad HUT_ADDR or a token
// file that exists but cannot be used (unreadable, readable by others, empty)
// is.
absl::StatusOr<ServerTarget> ResolveServer(const Io& io, const std::string& current_dir);

// What `hut deploy` sends.
struct DeployRequest {
  std::string version;
  std::map<std::string, std::string> env;  // --set VAR=VALUE
  std::string strategy;                    // "": the environment's
};

// Receives the events that one read of an event stream completed (one or
// more, oldest first, each as in ApiClient::Events); false closes the stream.
using EventBatchCallback = std::function<bool(const std::vector<nlohmann::json>& events)>;

// One request per call, on a fresh connection (http::Fetch, http::FetchStream
// for StreamEvents). Thread-compatible.
class ApiClient {
 public:
  // `environment` ("" for none) is sent as ?env= on every call so that a
  // server running another environment refuses it.
  ApiClient(ServerTarget target, std::string environment,
            std::chrono::milliseconds timeout = std::chrono::seconds(15));

  const ServerTarget& target() const { return target_; }
  const std::string& environment() const { return environment_; }

  // GET /api/v1/services: {"environment", "services": [{"name", "current_revision", "rollout"}]}
  absl::StatusOr<nlohmann::json> Services();
  // GET /api/v1/rollouts: the newest `limit` rollouts (of `service` unless "").
  absl::StatusOr<nlohmann::json> Rollouts(const std::string& service, int limit);
  // GET .../rollout: {"rollout": {...} or null, "replicas": [...]}
  absl::StatusOr<nlohmann::json> Rollout(const std::string& service);
  // GET .../history: {"revisions": [...]}, newest first
  absl::StatusOr<nlohmann::json> History(const std::string& service);
  // POST .../deploy: {"rollout": {...}}
  absl::StatusOr<nlohmann::json> Deploy(const std::string& service, const DeployRequest& request);
  // POST .../undo: {"rollout": {...}}
  absl::StatusOr<nlohmann::json> Undo(const std::string& service, std::optional<int> to_revision);
  // POST …/rollout/restart: new replicas of the current revision.
  absl::StatusOr<nlohmann::json> Restart(const std::string& service);
  // POST .../rollout/{promote,abort,retry} (`command`): {"rollout", "command"}.
  // `full` (promote only): skip every remaining canary step.
  absl::StatusOr<nlohmann::json> Command(const std::string& service, const std::string& command,
                                         bool full = false);
  // GET .../revisions/{revision}/analysis: the recorded analysis run of the
  // newest rollout to `revision`; `attempt` 0 is the newest, `kind` "canary"
  // or "window".
  absl::StatusOr<nlohmann::json> Analysis(const std::string& service, int revision, int attempt,
                                          const std::string& kind);
  // GET .../logs with these query parameters (since, from, to, level, grep,
  // trace, version, after, limit): {"lines", "cursor", "truncated", "cold_days_read"}.
  absl::StatusOr<nlohmann::json> Logs(const std::string& service,
                                      const std::map<std::string, std::string>& query);
  // GET /api/v1/alerts?state=S&limit=N: {"environment", "alerts": [...]}, newest first.
  absl::StatusOr<nlohmann::json> Alerts(const std::string& state, int limit);
  // POST /api/v1/alerts/ID/ack: the alert, acknowledged.
  absl::StatusOr<nlohmann::json> AcknowledgeAlert(int64_t id, const std::string& by);
  // POST /api/v1/alerts/silences: {"silence_id"}.
  absl::StatusOr<nlohmann::json> Silence(const std::vector<std::string>& matchers,
                                         const std::string& length, const std::string& comment,
                                         const std::string& by);
  // POST /api/v1/alerts/test: what was sent.
  absl::StatusOr<nlohmann::json> TestAlert(const std::string& severity, const std::string& service);
  // GET /api/v1/secrets: {"environment", "backend", "secrets": [{name, versions}]}.
  absl::StatusOr<nlohmann::json> Secrets();
  // GET /api/v1/secrets/NAME[?reveal=true&by=WHO]: {name, backend, versions[, version, value]}.
  absl::StatusOr<nlohmann::json> SecretOf(const std::string& name, bool reveal, const std::string& by);
  // POST /api/v1/secrets/NAME/rotate: {"name", "kid"} once the rotation ended.
  absl::StatusOr<nlohmann::json> RotateSecret(const std::string& name, const std::string& by);
  // PUT /api/v1/secrets/NAME: {"name", "version"}.
  absl::StatusOr<nlohmann::json> SetSecret(const std::string& name, const Secret& value,
                                           const std::string& by);
  // GET /api/v1/traces/ID: {"trace_id", "spans", "logs", "spans_error"?}
  absl::StatusOr<nlohmann::json> Trace(const std::string& trace_id);
  // GET /api/v1/events: {"events": [...]} with id > `after`, oldest first, at
  // most `limit` (1..1000).
  absl::StatusOr<nlohmann::json> Events(int64_t after, const std::string& service, int limit);

  // GET /api/v1/events/stream?after=ID&service=S (server-sent events): the
  // events with id > `after`, oldest first, as the server records them,
  // handed to `on_events` on the calling thread. Blocks until:
  //   OK                `on_events` returned false, or the server ended the
  //                     stream (it is shutting down)
  //   DeadlineExceeded  nothing, not even a keepalive (the server sends one
  //                     every 15 s), arrived for `idle`; `idle` also bounds
  //                     connecting and the answer's head
  //   Unavailable       the server cannot be reached, the stream broke off,
  //                     or the server reported an error on it
  //   DataLoss          an event's data is not an event object
  //   ...               an HTTP error, as for the other calls
  // Events delivered before an error stay delivered: resume with the last
  // id seen as `after`. `on_events` may make other calls of this client
  // (each on its own connection) while the stream waits.
  absl::Status StreamEvents(int64_t after, const std::string& service,
                            std::chrono::milliseconds idle, const EventBatchCallback& on_events);

  // The id of the newest event of `service` (0: none), so that a follower can
  // start at the end of the log.
  absl::StatusOr<int64_t> LastEventId(const std::string& service);
  // Where a command that `follow`s a rollout it is about to start starts
  // reading events: LastEventId, or 0 when it will not follow.
  absl::StatusOr<int64_t> FollowFrom(const std::string& service, bool follow) {
    return follow ? LastEventId(service) : absl::StatusOr<int64_t>(0);
  }

 private:
  absl::StatusOr<nlohmann::json> Call(const std::string& method, const std::string& path,
                                      std::map<std::string, std::string> query,
                                      const nlohmann::json* body);

  ServerTarget target_;
  std::string environment_;
  std::chrono::milliseconds timeout_;
};

// ResolveServer from the process's current folder, and a client for the
// environment `env_flag` (--env), else $HUT_ENV, else none (the server's own).
absl::StatusOr<ApiClient> Connect(const std::string& env_flag, const Io& io);

}  // namespace hut::cli

#endif  // HUT_CLI_API_CLIENT_H_

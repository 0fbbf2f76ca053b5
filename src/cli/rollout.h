#ifndef HUT_CLI_ROLLOUT_H_
#define HUT_CLI_ROLLOUT_H_

// `hut rollout status|history|undo|promote|abort|retry|export`, and following a rollout until it ends
// (shared with `hut deploy --wait`). They talk to the server through
// ApiClient; see docs/cli.md.

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "src/cli/api_client.h"
#include "src/cli/cli.h"

namespace hut::cli {

// How FollowRollout keeps up with a rollout. The defaults are the CLI's.
struct FollowOptions {
  // The event stream is closed when it has been silent this long (the
  // server's keepalives come every 15 s); hut then asks for the events after
  // the last one seen and for the rollout (the safety net against a stream
  // that is stuck or buffered on the way) and opens the stream again.
  std::chrono::milliseconds safety_net{5000};
  // Once the rollout is seen finished but the event of its final phase has
  // not arrived: how long the stream may stay silent before hut ends
  // without that event.
  std::chrono::milliseconds end_grace{1000};
  // After the end: the events of the controller's last actions are read
  // until the stream has been quiet this long (the server looks for new
  // events every 200 ms).
  std::chrono::milliseconds end_quiet{500};
  // Waits before trying again when the server could not be reached or the
  // stream broke off: the first retry at once, then reconnect_min doubling
  // up to reconnect_max.
  std::chrono::milliseconds reconnect_min{100};
  std::chrono::milliseconds reconnect_max{2000};
  // Failed attempts in a row (stream or GET) before hut gives up: about
  // 30 s of an unreachable server with the defaults.
  int max_failures = 20;
  // Waits between attempts. Unset: std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

struct RolloutStatusOptions {
  std::string service;
  std::string environment;  // --env; "": $HUT_ENV, else the server's
  bool watch = false;       // follow the latest rollout until it ends
  bool json = false;        // -o json
};
// Prints the latest rollout (phase, revisions, reason) and a table of the
// replicas. Without --watch: kExitOk once printed. With --watch: follows the
// rollout (already finished: at once) and exits as FollowRollout.
int RunRolloutStatus(const RolloutStatusOptions& options, const Io& io);

struct RolloutHistoryOptions {
  std::string service;
  std::string environment;
  bool json = false;
};
// Prints the revisions, newest first, the current one marked "*".
int RunRolloutHistory(const RolloutHistoryOptions& options, const Io& io);

struct RolloutUndoOptions {
  std::string service;
  std::string environment;
  int to_revision = 0;  // 0: the revision before the current one
  bool wait = false;
  bool json = false;
};
// Starts a rollout back to an earlier revision; like RunDeploy.
int RunRolloutUndo(const RolloutUndoOptions& options, const Io& io);

struct RolloutRestartOptions {
  std::string service;
  std::string environment;
  bool wait = false;
  bool json = false;
};
// Starts a rollout of new replicas of the current revision; like RunDeploy.
int RunRolloutRestart(const RolloutRestartOptions& options, const Io& io);

struct RolloutCommandOptions {
  std::string service;
  std::string environment;
  std::string command;  // "promote", "abort" or "retry"
  bool full = false;    // promote: skip every remaining step
  bool wait = false;
  bool json = false;
};
// Sends an operator's command to the latest canary rollout. With --wait,
// follows it: abort expects the rollback (exit 0 when rolled back).
int RunRolloutCommand(const RolloutCommandOptions& options, const Io& io);

struct RolloutExportOptions {
  std::string service;
  std::string environment;
  int revision = 0;
  int attempt = 0;      // 0: the newest
  bool window = false;  // the rollback-window watch instead of the canary analysis
};
// Prints the recorded analysis run of the rollout to `revision` (JSON, the
// input of `hut analyze --replay`).
int RunRolloutExport(const RolloutExportOptions& options, const Io& io);

// Prints "<command>: <status message>" on io.err; returns kExitFailure.
int PrintError(const std::string& command, const absl::Status& status, const Io& io);

// What the server answered to a deploy or an undo ({"rollout": {...}}): one
// line on io.out (or the JSON with `json`), then, with `wait`, follows the
// new rollout from event `after` on (see FollowRollout). `version` is shown
// when known ("" otherwise).
int ReportStarted(ApiClient& client, const std::string& command, const nlohmann::json& answer,
                  const std::string& version, int64_t after, bool wait, bool json, const Io& io);

// Follows rollout `rollout_id` of `service` until it ends, from event
// `after` on, through the server's event stream (GET /api/v1/events/stream):
// each event of the rollout is printed once, in order, as it arrives; an
// event of a "rollout." type (a phase change, a wait, a command) and a
// silent stream make hut GET the rollout, which decides the end; the events
// of the controller's last actions are then read until the stream goes
// quiet (FollowOptions::end_quiet), and a final GET of the rollout is what
// hut reports. A stream that breaks off (the server restarts, a proxy cuts
// it) is reopened after the last event seen, with backoff (see
// FollowOptions); hut gives up when the server stays unreachable, or at once
// on an error that retrying cannot mend (a refused token).
//
// Text: prints each event of the rollout as a line; on a terminal
// (io.interactive) also a status line redrawn in place after each batch of
// events. JSON: prints only the final GET .../rollout answer. Returns
// kExitOk when it succeeded, kExitRolledBack when it was rolled back,
// kExitFailure when it failed or the server could not be asked. A canary
// ends when promoted (phase succeeded), though it keeps its previous
// revision warm for the rollback window. With `rollback_expected` (undo in
// the window, abort), rolled back is kExitOk.
int FollowRollout(ApiClient& client, const std::string& command, const std::string& service,
                  int64_t rollout_id, int64_t after, bool json, const Io& io,
                  bool rollback_expected = false, const FollowOptions& options = {});

}  // namespace hut::cli

#endif  // HUT_CLI_ROLLOUT_H_

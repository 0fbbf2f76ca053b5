#include "src/local/local_replica.h"

#include "absl/strings/str_cat.h"
#include "src/common/units.h"

namespace hut::local {

runtime::Replica ClassifyReplica(const LocalReplica& r, int threshold, Duration start_period,
                                 bool out_of_rotation, TimePoint now) {
  using runtime::ReplicaState;
  runtime::Replica out;
  out.name = r.name;
  out.revision = r.revision;
  out.version = r.version;
  out.started_at = r.started_at;
  out.restarts = r.restarts;
  out.reason = r.last_failure;
  if (r.draining) {
    out.state = ReplicaState::kDraining;
  } else if (!r.ready && r.restarts >= threshold) {
    out.state = ReplicaState::kCrashLooping;
    out.reason = absl::StrCat("crash-looping: exited ", r.restarts, " times (last: ",
                              r.last_failure, ")");
  } else if (r.ever_ready && r.consecutive_failures >= threshold) {
    out.state = ReplicaState::kFailing;
    out.reason = absl::StrCat(r.consecutive_failures, " consecutive failed health checks (last: ",
                              r.last_failure, ")");
  } else if (!r.ever_ready && r.consecutive_failures >= threshold &&
             now - r.process_started_at >= start_period) {
    // Failures inside the start period are a replica booting.
    out.state = ReplicaState::kFailing;
    out.reason = absl::StrCat("not ready ", FormatDuration(start_period), " after starting: ",
                              r.consecutive_failures, " consecutive failed health checks (last: ",
                              r.last_failure, ")");
  } else if (r.ready) {
    out.state = ReplicaState::kReady;
    out.reason.clear();  // a failure while it booted is history (details.last_failure)
  }
  out.serving = r.in_load_balancer && !out_of_rotation && out.state == ReplicaState::kReady;
  out.details = {{"address", absl::StrCat(r.address, ":", r.port)},
                 {"port", r.port},
                 {"pid", r.pid},
                 {"weight", r.weight},
                 {"in_load_balancer", r.in_load_balancer},
                 {"consecutive_failures", r.consecutive_failures},
                 {"ever_ready", r.ever_ready},
                 {"last_failure", r.last_failure}};
  return out;
}

}  // namespace hut::local

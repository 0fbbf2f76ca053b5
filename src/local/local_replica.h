#ifndef HUT_LOCAL_LOCAL_REPLICA_H_
#define HUT_LOCAL_LOCAL_REPLICA_H_

#include <cstdint>
#include <string>

#include "src/common/clock.h"
#include "src/runtime/runtime.h"

namespace hut::local {

// One replica process as the local runtime keeps it.
struct LocalReplica {
  std::string name;  // unique within the service
  int revision = 0;
  std::string version;
  std::string address;  // where HAProxy reaches it
  uint16_t port = 0;
  int pid = 0;
  TimePoint started_at;          // first start
  TimePoint process_started_at;  // the current process: equals started_at until a restart
  int restarts = 0;              // crashes so far (each restarted with backoff)
  bool ready = false;            // the last readiness check passed
  bool ever_ready = false;       // a readiness check has passed since the process started
  int consecutive_failures = 0;  // failed readiness checks (and crashes) in a row
  std::string last_failure;      // the most recent reason, e.g. "HTTP 503"
  bool in_load_balancer = false;
  int weight = 0;                // HAProxy weight, 0..kMaxWeight
  bool draining = false;         // leaving: no new requests, stopping
};

// How the Runtime seam sees a replica: its state from its counters, by its
// revision's health policy (`threshold` failed checks in a row; failures
// inside `start_period` after a (re)start are a replica booting), and the
// local facts as details. `out_of_rotation`: crashed, taken out of HAProxy.
runtime::Replica ClassifyReplica(const LocalReplica& replica, int threshold,
                                 Duration start_period, bool out_of_rotation, TimePoint now);

}  // namespace hut::local

#endif  // HUT_LOCAL_LOCAL_REPLICA_H_

#ifndef HUT_RUNTIME_RUNTIME_H_
#define HUT_RUNTIME_RUNTIME_H_

// Where replicas run and how traffic reaches them: the seam between the
// rollout logic and the platform (DESIGN.md). Implementations: local
// (processes + HAProxy) and, later, Kubernetes. One Runtime serves one
// environment. Every method is safe for concurrent use and returns quickly:
// slow work (draining, stopping) happens in the background and shows in
// Replicas().

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/common/clock.h"
#include "src/spec/spec.h"

namespace hut::runtime {

// One replica of one revision of a service.
struct ReplicaTemplate {
  std::string service;
  int revision = 0;
  std::string version;
  // Unexpanded: the runtime fills {{port}}, {{replica}}, … per replica.
  spec::Release release;
  // `hut deploy --set` variables; they override release.env.
  std::map<std::string, std::string> env;
  spec::HealthCheck health;
  Duration termination_grace{30'000};
};

struct ReplicaStatus {
  std::string name;  // unique within the service
  int revision = 0;
  std::string version;
  std::string address;  // where the load balancer reaches it
  uint16_t port = 0;
  int pid = 0;          // the process, where the runtime has one (local); else 0
  TimePoint started_at;          // first start: replicas leave oldest first
  TimePoint process_started_at;  // the current process: equals started_at until a restart
  int restarts = 0;              // crashes so far (each restarted with backoff)
  bool ready = false;            // the last readiness check passed
  bool ever_ready = false;       // a readiness check has passed since the process started
  int consecutive_failures = 0;  // failed readiness checks (and crashes) in a row
  std::string last_failure;      // the most recent reason, e.g. "HTTP 503"
  bool in_load_balancer = false;
  int weight = 0;                // load-balancer weight, 0..256
  bool draining = false;         // leaving: no new requests, stopping
};

class Runtime {
 public:
  virtual ~Runtime() = default;

  // Starts one replica and returns its name; it becomes ready later.
  virtual absl::StatusOr<std::string> StartReplica(const ReplicaTemplate& replica) = 0;
  // Puts a replica behind the load balancer with `weight` (0..256).
  virtual absl::Status AddToLoadBalancer(const std::string& service, const std::string& replica,
                                         int weight) = 0;
  virtual absl::Status SetWeight(const std::string& service, const std::string& replica,
                                 int weight) = 0;
  // No new requests; requests in flight finish (up to the grace period);
  // then SIGTERM, then SIGKILL after the grace period. Safe to repeat.
  virtual absl::Status DrainAndStop(const std::string& service, const std::string& replica) = 0;
  // For a replica that serves no traffic: SIGTERM, SIGKILL after the grace
  // period. Safe to repeat; an unknown replica is not an error.
  virtual absl::Status Stop(const std::string& service, const std::string& replica) = 0;
  // Every replica of the service that has not finished stopping.
  virtual absl::StatusOr<std::vector<ReplicaStatus>> Replicas(const std::string& service) = 0;
};

}  // namespace hut::runtime

#endif  // HUT_RUNTIME_RUNTIME_H_

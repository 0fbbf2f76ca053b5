#ifndef HUT_LOCAL_REPLICA_TRAFFIC_H_
#define HUT_LOCAL_REPLICA_TRAFFIC_H_

// What the local platform observes of each replica's traffic, for canary
// analysis: the load balancer's counters for the replica (responses by class,
// connection errors, broken responses: a crashing replica cannot report its
// own errors) and the replica's own latency histogram from its /metrics.
// Counters are cumulative and restart from zero when a replica rejoins the
// load balancer or restarts; the analysis takes differences.

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/local/haproxy.h"
#include "src/metrics/prometheus_text.h"
#include "src/local/local_replica.h"

namespace hut::local {

struct ReplicaTraffic {
  std::string replica;
  int revision = 0;
  std::array<int64_t, 6> responses{};  // [1]..[5]: 1xx..5xx answers; [0]: other
  int64_t connection_errors = 0;       // could not connect to the replica
  int64_t response_errors = 0;         // aborted or broken responses
  std::optional<metrics::Histogram> latency;  // nullopt when /metrics was unreadable
  std::string latency_error;                  // why, then
  int64_t answered() const;  // responses of every class
};

struct TrafficOptions {
  std::string latency_metric = "http_request_duration_seconds";
  std::string metrics_path = "/metrics";
  // Series of the histogram left out, e.g. {"route": {"/healthz", "/readyz"}}:
  // probes are not users' requests.
  metrics::SeriesFilter latency_filter;
  std::chrono::milliseconds scrape_timeout{1000};
};

// Thread-safe when `lb` is. `lb` must outlive it.
class TrafficObserver {
 public:
  TrafficObserver(Haproxy& lb, TrafficOptions options);

  // One observation of `replicas` of `service` (those in the load balancer
  // get counters; every replica's /metrics is read). An error only when the
  // load balancer cannot be asked; an unreadable /metrics is per replica.
  absl::StatusOr<std::vector<ReplicaTraffic>> Observe(
      const std::string& service, const std::vector<LocalReplica>& replicas) const;

 private:
  Haproxy& lb_;
  const TrafficOptions options_;
};

}  // namespace hut::local

#endif  // HUT_LOCAL_REPLICA_TRAFFIC_H_

#ifndef HUT_METRICS_SERVICE_TRAFFIC_H_
#define HUT_METRICS_SERVICE_TRAFFIC_H_

// A service's traffic over the last minute as the environment's Prometheus
// records it (the RED recording rules of monitoring/, by environment and
// service): what `hut rollout status` shows.

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "src/metrics/prometheus_client.h"

namespace hut::metrics {

struct ServiceTraffic {
  double requests_per_second = 0;
  double error_ratio = 0;             // 0..1
  std::optional<double> p99_seconds;  // none without requests
};

// nullopt when Prometheus has no requests series of the service (yet);
// Unavailable when it cannot be asked.
absl::StatusOr<std::optional<ServiceTraffic>> ReadServiceTraffic(const PrometheusClient& client,
                                                                 const std::string& environment,
                                                                 const std::string& service);

}  // namespace hut::metrics

#endif  // HUT_METRICS_SERVICE_TRAFFIC_H_
